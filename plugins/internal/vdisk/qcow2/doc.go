// Package qcow2 writes a raw disk as a QEMU qcow2 (version 3) image: 64 KiB clusters, 16-bit
// refcounts, no backing file and no compression, all-zero clusters left unallocated. The
// image is streamed to an io.Writer in one sequential pass after a scan of the source, with
// every metadata structure placed before the data it describes.
package qcow2
