// Package formatfs is the format-fs plugin: the kernel+FILESYSTEM output
// formats, a kernel, its command line and the root filesystem (without
// boot/) as a file system image the kernel mounts. It serves
// kernel+squashfs (SquashFS 4.0, zstd or gzip) and kernel+erofs
// (uncompressed EROFS). cmd/kit-plugin-format-fs serves it.
package formatfs
