// Command kit-plugin-format-fs serves kit's kernel+FILESYSTEM formats
// (kernel+squashfs and kernel+erofs; see package formatfs) over the plugin
// protocol. kit starts it; run by hand it explains that and exits.
package main
