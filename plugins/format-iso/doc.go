// Package formatiso is the format-iso plugin: the output formats that write
// ISO 9660 images. iso-bios boots kernel and initrd through ISOLINUX (with
// an isohybrid MBR), iso-efi and iso-efi-initrd through systemd-boot on an
// El Torito EFI System Partition built in Go, and kernel+iso puts the root
// filesystem on a plain Rock Ridge ISO beside the kernel and its command
// line. cmd/kit-plugin-format-iso serves it.
package formatiso
