// Package vhd writes a raw disk as a Microsoft Virtual Hard Disk (VHD, the format qemu calls
// "vpc"): fixed (the raw bytes and a 512-byte footer), dynamic (sparse, 2 MiB blocks) and the
// Azure flavour (fixed, virtual size a whole number of MiB). Timestamps come from
// SOURCE_DATE_EPOCH and the disk's unique ID from its content, so output is reproducible.
//
// Virtual size: the footer's current size is always exactly the disk size. Readers that
// size a VHD by its CHS geometry instead (qemu before 10.0, for creators other than a few
// it knows; Virtual PC) would see a disk cut to the geometry, which the specification's
// algorithm often makes smaller; so the footer carries the specification's geometry when
// it covers the disk exactly and otherwise the maximum geometry, which qemu reads as "use
// the current size", as Hyper-V and Azure always do. qemu-img then reports the exact size
// for every disk. ExactGeometrySize gives sizes whose specification geometry is exact.
//
// qemu probes a fixed VHD as "raw" (its only header is the footer at the end), as it does
// for the fixed VHDs qemu itself makes: open them with -f vpc. Dynamic ones probe as vpc.
package vhd
