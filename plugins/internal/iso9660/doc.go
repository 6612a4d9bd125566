// Package iso9660 writes reproducible ISO 9660 images with Rock Ridge
// (long names, POSIX modes and owners, symlinks, device nodes, hard links),
// an El Torito boot catalog (a BIOS no-emulation image with its boot info
// table patched in, and an EFI system partition image) and an optional
// isohybrid MBR, streaming file contents from their sources to an io.Writer.
//
// Every date comes from SOURCE_DATE_EPOCH and every location from the sorted
// tree, so the same entries always give the same bytes.
//
// Limits: files are under 4 GiB (one extent each); there is no Joliet tree
// and no relocation of directories deeper than 8 levels (Linux, xorriso and
// isolinux read Rock Ridge and deep trees as they are). Linux reads at most
// 253 bytes of a Rock Ridge name (a 254- or 255-byte name shows its first
// 250) and misreads device minors above 255; xorriso reads both.
package iso9660
