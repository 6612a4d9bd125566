// Package seekbuf is a buffered io.ReadSeeker over an io.ReaderAt that
// knows its position, for archive/tar readers walking archives in the
// store: headers come from one read per run of small members, and data
// skipped by seeking is never read.
package seekbuf
