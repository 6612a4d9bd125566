// Package bootdisk writes the raw boot disks of the raw-bios and raw-efi
// formats in pure Go: a kernel, an initrd and a command line on a FAT boot
// partition with SYSLINUX (MBR disk, BIOS) or systemd-boot (GPT disk, UEFI),
// whose files come from a bootloader image's root file system by their
// Debian paths. The disk's bytes depend only on the input.
package bootdisk
