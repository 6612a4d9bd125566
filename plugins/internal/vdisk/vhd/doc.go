// Package vhd writes a raw disk as a Microsoft Virtual Hard Disk (VHD, the format qemu calls
// "vpc"): fixed (the raw bytes and a 512-byte footer), dynamic (sparse, 2 MiB blocks) and the
// Azure flavour (fixed, virtual size a whole number of MiB). Timestamps come from
// SOURCE_DATE_EPOCH and the disk's unique ID from its content, so output is reproducible.
package vhd
