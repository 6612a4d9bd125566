// Package initramfs converts a normalized root filesystem tar into a Linux
// initramfs: a newc cpio archive (what the kernel's initramfs unpacker
// reads), optionally compressed with deterministic parallel gzip. Data is
// streamed from the tar in place; neither archive is held in memory.
package initramfs
