// Package isoboot builds bootable ISO images of a kernel and an initrd:
// BIOS builds one that boots through ISOLINUX (with an isohybrid MBR, so it
// also boots from a disk), EFI one whose El Torito EFI entry is a FAT image
// holding systemd-boot, its entry, the kernel and the initrd (ESPFiles lists
// what goes into that image). The bootloaders come from tars of Debian's
// packages, read at their Debian paths; nothing is taken from the host.
package isoboot
