// Package iso9660 writes reproducible ISO 9660 images with Rock Ridge
// (long names, POSIX modes and owners, symlinks, device nodes, hard links),
// an El Torito boot catalog (a BIOS no-emulation image with its boot info
// table patched in, and an EFI system partition image) and an optional
// isohybrid MBR, streaming file contents from their sources to an io.Writer.
//
// Every date comes from SOURCE_DATE_EPOCH and every location from the sorted
// tree, so the same entries always give the same bytes.
package iso9660
