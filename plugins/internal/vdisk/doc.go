// Package vdisk holds what kit's virtual-disk container writers (qcow2, vhd, vmdk, gce)
// share: finding the non-zero blocks of a raw disk, a content digest that names a disk
// deterministically, zero padding and sector arithmetic. The writers live in its
// subpackages; each streams its output to an io.Writer, reads the raw disk through an
// io.ReaderAt (twice at most: a scan, then the copy) and never holds the disk in memory.
//
// Sizes: qcow2, vhd (fixed and dynamic) and vmdk take a size that is a positive multiple of
// 512 and return an error wrapping ErrUnaligned otherwise: a disk is made of sectors, and
// padding would silently change the virtual size. Pad first with ZeroPad and RoundUp when
// that is wanted. vhd.WriteAzure and gce.Write pad any size themselves, as their platforms
// require (whole MiB, whole GiB).
package vdisk
