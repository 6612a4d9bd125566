// Package formatdisk is the format-disk plugin: bootable raw disks (raw-bios,
// an MBR disk booting SYSLINUX; raw-efi, a GPT disk booting systemd-boot)
// and the virtual-disk formats that wrap them (qcow2-bios, qcow2-efi, vhd,
// dynamic-vhd, vmdk). A wrapping format needs its raw disk by format name,
// so kit builds each raw disk once and shares it. Derived is the building
// block of those wrappers, also used by the format-cloud plugin.
// cmd/kit-plugin-format-disk serves it.
package formatdisk
