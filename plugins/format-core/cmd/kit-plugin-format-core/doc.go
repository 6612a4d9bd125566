// Command kit-plugin-format-core serves kit's built-in formats (tar, docker,
// kernel+initrd, tar-kernel-initrd; see package formatcore) over the plugin
// protocol, for KIT_BUILTIN_FORMATS=off. kit starts it; run by hand it
// explains that and exits.
package main
