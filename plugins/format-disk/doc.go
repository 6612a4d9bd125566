// Package formatdisk is the format-disk plugin: bootable raw disks and the
// virtual-disk formats that wrap them. A wrapping format needs its raw disk
// by format name, so kit builds each raw disk once and shares it; Derived
// is the building block of those wrappers (the format-cloud plugin uses it
// too). cmd/kit-plugin-format-disk serves the plugin.
//
//	format       output            what
//	raw-bios     NAME-bios.img     MBR disk, one FAT partition with SYSLINUX, the kernel, the initrd (BIOS)
//	raw-efi      NAME-efi.img      GPT disk, an EFI System Partition (FAT32) with systemd-boot (UEFI)
//	qcow2-bios   NAME.qcow2        raw-bios as qcow2 (v3, all-zero clusters unallocated)
//	qcow2-efi    NAME-efi.qcow2    raw-efi as qcow2
//	vhd          NAME.vhd          raw-bios as a fixed VHD
//	dynamic-vhd  NAME-dynamic.vhd  raw-bios as a dynamic VHD
//	vmdk         NAME.vmdk         raw-bios as a monolithic streamOptimized VMDK
//
// The names are LinuxKit's but for dynamic-vhd, which LinuxKit writes to
// NAME.vhd too: kit keeps the two apart so both can be built at once.
//
// vhd, dynamic-vhd and vmdk wrap raw-bios because the platforms that take
// them boot by BIOS by default: Hyper-V's generation 1 VMs (the only ones
// that boot a VHD rather than a VHDX), Azure's generation 1 VMs, VMware's
// VMs (BIOS is their default firmware); LinuxKit's images for them boot by
// BIOS as well. A UEFI VM takes qcow2-efi, or raw-efi converted.
//
// Sizes: a raw disk's size is derived from its content (1 MiB before the
// boot partition, the smallest FAT file system that holds the boot files
// rounded up to a whole MiB plus 1 MiB free, and on a GPT disk 1 MiB for
// the backup table), or set by the diskSize property of its config, which
// kit build --disk-size sets; a size too small for the files fails and
// says the smallest that fits. The wrapping formats keep the raw disk's
// size as their virtual size. Every format here is for x86-64 systems:
// SYSLINUX and the systemd-boot the disks get are x86-64 code, and raw-bios
// and raw-efi refuse other architectures.
//
// The VMDK's embedded descriptor names its extent "disk.vmdk" whatever the
// artifact is called (the name is not known to the plugin): a monolithic
// streamOptimized VMDK is one self-contained file, which qemu and
// importers read by its header.
package formatdisk
