// Command kit-plugin-format-board serves kit's board boot media formats
// (rpi4; see package formatboard) over the plugin protocol. kit starts it;
// run by hand it explains that and exits.
package main
