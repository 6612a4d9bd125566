package tarscan

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
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
	r   *posReader
	tr  *tar.Reader
	end int64
	err error
}

// New returns a scanner over the size bytes of ra.
func New(ra io.ReaderAt, size int64) *Scanner {
	r := &posReader{ra: ra, size: size, buf: make([]byte, 64<<10)}
	return &Scanner{r: r, tr: tar.NewReader(r)}
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
	e := Entry{Header: hdr, Start: s.end, Data: s.r.pos}
	n := e.DataSize()
	if n < 0 {
		return Entry{}, fmt.Errorf("tar member %q: negative size", hdr.Name)
	}
	e.End = e.Data + (n+511)&^511
	if e.End > s.r.size || e.End < e.Data {
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

// posReader is a buffered io.ReadSeeker over an io.ReaderAt that knows its
// position; seeking is free.
//
// archive/tar skips a member's data by seeking to its last byte and
// reading that byte: the read that follows a long seek fills only
// farFill bytes (the byte, the padding, the next header and its PAX
// records, mostly), not the whole buffer, which would read the start of
// the next member's data for nothing when it is large. Reads that follow
// on fill it whole: a run of small members costs one read.
type posReader struct {
	ra     io.ReaderAt
	size   int64
	pos    int64
	buf    []byte
	bufOff int64
	bufLen int
	far    bool // the last seek went past the buffer
}

// farFill is what a read right after a long seek fills of the buffer.
const farFill = 4 << 10

func (r *posReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.pos >= r.bufOff && r.pos < r.bufOff+int64(r.bufLen) {
		n := copy(p, r.buf[r.pos-r.bufOff:r.bufLen])
		r.pos += int64(n)
		return n, nil
	}
	dst := r.buf
	if r.far {
		dst, r.far = r.buf[:min(farFill, len(r.buf))], false
	}
	direct := len(p) >= len(dst)
	if direct {
		dst = p
	}
	if rem := r.size - r.pos; int64(len(dst)) > rem {
		dst = dst[:rem]
	}
	n, err := r.ra.ReadAt(dst, r.pos)
	if n == 0 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	if direct {
		r.pos += int64(n)
		return n, nil
	}
	r.bufOff, r.bufLen = r.pos, n
	n = copy(p, r.buf[:n])
	r.pos += int64(n)
	return n, nil
}

func (r *posReader) Seek(off int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = off
	case io.SeekCurrent:
		abs = r.pos + off
	case io.SeekEnd:
		abs = r.size + off
	default:
		return 0, errors.New("tarscan: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("tarscan: negative position")
	}
	if abs > r.bufOff+int64(r.bufLen) || abs < r.bufOff {
		r.far = true
	}
	r.pos = abs
	return abs, nil
}
