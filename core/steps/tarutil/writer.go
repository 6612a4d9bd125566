package tarutil

import (
	"archive/tar"
	"fmt"
	"io"
)

// Writer writes a normalized tar. Every header goes through Normalize (on a
// copy), and an entry whose name does not sort strictly after the previous
// one, or a hard link whose target does not sort before it, is refused with
// ErrOrder. (Whether a hard link's target was actually written is not
// checked, to keep memory flat; Verify checks it.)
type Writer struct {
	tw    *tar.Writer
	epoch int64
	last  string
	n     int
}

// NewWriter returns a Writer on w whose times are clamped to epoch.
func NewWriter(w io.Writer, epoch int64) *Writer {
	return &Writer{tw: tar.NewWriter(w), epoch: epoch}
}

// WriteHeader normalizes a copy of h and writes it. The entry's content, if
// any, follows through Write.
func (w *Writer) WriteHeader(h *tar.Header) error {
	c := Clone(h)
	if err := Normalize(c, w.epoch); err != nil {
		return fmt.Errorf("entry %q: %w", h.Name, err)
	}
	if w.n > 0 && c.Name <= w.last {
		return fmt.Errorf("entry %q after %q: %w", c.Name, w.last, ErrOrder)
	}
	if c.Typeflag == tar.TypeLink && c.Linkname >= c.Name {
		return fmt.Errorf("hard link %q to %q: target must precede the link: %w", c.Name, c.Linkname, ErrOrder)
	}
	if err := w.tw.WriteHeader(c); err != nil {
		return fmt.Errorf("entry %q: %w", c.Name, err)
	}
	w.last = c.Name
	w.n++
	return nil
}

// Write writes content of the current entry.
func (w *Writer) Write(p []byte) (int, error) { return w.tw.Write(p) }

// Entries returns the number of entries written so far.
func (w *Writer) Entries() int { return w.n }

// Close writes the end-of-archive marker. It does not close the underlying
// writer.
func (w *Writer) Close() error { return w.tw.Close() }
