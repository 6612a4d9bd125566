// Command kit-plugin-format-disk serves kit's disk formats (raw-bios,
// raw-efi, qcow2-bios, qcow2-efi, vhd, dynamic-vhd, vmdk; see package
// formatdisk) over the plugin protocol. kit starts it; run by hand it
// explains that and exits.
package main
