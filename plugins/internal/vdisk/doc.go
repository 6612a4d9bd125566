// Package vdisk holds what kit's virtual-disk container writers (qcow2, vhd, vmdk, gce)
// share: finding the non-zero blocks of a raw disk, a content digest that names a disk
// deterministically, zero padding and sector arithmetic. The writers live in its
// subpackages; each streams its output and never holds a whole disk in memory.
package vdisk
