// Command kit-plugin-format-iso serves kit's ISO formats (iso-bios, iso-efi,
// iso-efi-initrd, kernel+iso; see package formatiso) over the plugin
// protocol. kit starts it; run by hand it explains that and exits.
package main
