// Package vdisktest is the test kit of the virtual-disk writers: deterministic sparse test
// disks, and helpers that run qemu-img (and other host tools) to judge what the writers made.
package vdisktest
