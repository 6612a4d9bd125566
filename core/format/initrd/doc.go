// Package initrd holds the formats that boot a kernel with the root
// filesystem as initramfs: "kernel+initrd" (<name>-kernel,
// <name>-initrd.img, <name>-cmdline) and "tar-kernel-initrd"
// (<name>-initrd.tar), with LinuxKit's file names and layout. Importing it
// registers both.
package initrd
