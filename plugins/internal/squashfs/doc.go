// Package squashfs writes reproducible SquashFS 4.0 images (zstd or gzip)
// from kit's normalized root filesystem tars, or entry by entry: regular
// files (with fragments and sparse blocks), directories, symlinks, hard
// links, device nodes, fifos, owners, modes, times clamped to
// SOURCE_DATE_EPOCH and extended attributes. File data is compressed and
// written as it streams in (copies of earlier files share their data); only
// the metadata is kept in memory.
//
// Not written: the NFS export table and the directory index of large
// directories (the kernel reads directories without one).
package squashfs
