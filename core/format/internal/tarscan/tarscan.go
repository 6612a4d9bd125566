package tarscan

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"

	"github.com/kitbuild/kit/core/internal/seekbuf"
)

// Entry is one member of a tar archive.
type Entry struct {
	Header *tar.Header
	// Start is the offset of the member's first header block, extension
	// headers (PAX, GNU long names) included.
	Start int64
	// Data is the offset of the member's data.
	Data int64
	// End is the offset just past the member's data and its padding; the
	// next member starts there.
	End int64
}

// DataSize is the number of data bytes stored for the member: its size for
// regular files, zero for header-only types (links, directories, devices).
func (e Entry) DataSize() int64 {
	if headerOnly(e.Header.Typeflag) {
		return 0
	}
	return e.Header.Size
}

// Scanner reads members one after the other. It never reads file data:
// the tar reader skips it by seeking.
type Scanner struct {
	r    *seekbuf.Reader
	size int64
	tr   *tar.Reader
	end  int64
	err  error
}

// New returns a scanner over the size bytes of ra.
func New(ra io.ReaderAt, size int64) *Scanner {
	r := seekbuf.New(ra, size, 64<<10)
	return &Scanner{r: r, size: size, tr: tar.NewReader(r)}
}

// Next returns the next member, or io.EOF after the last one. Sparse
// members are refused: their data is not stored contiguously.
func (s *Scanner) Next() (Entry, error) {
	if s.err != nil {
		return Entry{}, s.err
	}
	e, err := s.next()
	if err != nil {
		s.err = err
	}
	return e, err
}

func (s *Scanner) next() (Entry, error) {
	hdr, err := s.tr.Next()
	if err == io.EOF {
		return Entry{}, io.EOF
	}
	if err != nil {
		return Entry{}, fmt.Errorf("tar member after offset %d: %w", s.end, err)
	}
	if hdr.Typeflag == tar.TypeGNUSparse {
		return Entry{}, fmt.Errorf("tar member %q: sparse files are not supported", hdr.Name)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return Entry{}, fmt.Errorf("tar member %q: sparse files are not supported", hdr.Name)
		}
	}
	e := Entry{Header: hdr, Start: s.end, Data: s.r.Pos()}
	n := e.DataSize()
	if n < 0 {
		return Entry{}, fmt.Errorf("tar member %q: negative size", hdr.Name)
	}
	e.End = e.Data + (n+511)&^511
	if e.End > s.size || e.End < e.Data {
		return Entry{}, fmt.Errorf("tar member %q: %d data bytes (padded to 512) run past the end of the archive: %w", hdr.Name, n, io.ErrUnexpectedEOF)
	}
	s.end = e.End
	return e, nil
}

// End is the offset where the member after the last one returned would
// start (the end-of-archive blocks, once Next has returned io.EOF).
func (s *Scanner) End() int64 { return s.end }

func headerOnly(t byte) bool {
	switch t {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return true
	}
	return false
}
