// Package fat writes reproducible FAT16 and FAT32 file systems (with VFAT
// long file names) from a list of files, straight into an io.WriterAt: the
// layout is planned first (Plan), so callers can learn where a file's
// clusters lie before or after it is written (the SYSLINUX install needs
// that), and the data is then streamed once, never held in memory.
//
// The same files and options always give the same bytes: timestamps come from
// SOURCE_DATE_EPOCH, the volume serial number from a hash of the content, and
// clusters are allocated in sorted order (directories first, then files, each
// contiguous).
package fat
