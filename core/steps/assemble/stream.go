package assemble

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/internal/seekbuf"
)

// opener opens the contents of an entry; it may be called after the stream
// has moved on (to copy a hard link's lost target).
type opener func() (io.ReadCloser, error)

// stream yields the entries of one part in name order, names already
// placed under the part's prefix.
type stream interface {
	// next moves to the next entry and returns its header; io.EOF after
	// the last.
	next() (*tar.Header, error)
	// data reads the current entry's contents.
	data() (io.Reader, error)
	// saved returns an opener of the current entry's contents that stays
	// valid after next.
	saved() opener
	// source says where the current entry's contents lie in a blob of the
	// store, when they do (so a recipe can refer to them).
	source() (blobRange, bool)
	close() error
}

// tarStream reads a normalized tar file, placing it under prefix. It checks
// the normalized-tar rules the merge relies on: clean names in strictly
// increasing order, allowed types, hard-link targets before their links.
type tarStream struct {
	blob   blobRange // the whole tar
	reopen func() (*os.File, error)
	prefix string
	f      *os.File
	pr     *posReader
	tr     *tar.Reader
	hdr    *tar.Header
	off    int64 // where the current entry's contents start in file
	last   string
}

// openTar reads the tar that open opens (again for saved), placing it under
// prefix.
func openTar(open func() (*os.File, error), blob blobRange, prefix string, progress *int64) (*tarStream, error) {
	f, err := open()
	if err != nil {
		return nil, err
	}
	pr, err := newPosReader(f, progress)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &tarStream{blob: blob, reopen: open, prefix: prefix, f: f, pr: pr, tr: tar.NewReader(pr)}, nil
}

func (s *tarStream) next() (*tar.Header, error) {
	h, err := s.tr.Next()
	if err == io.EOF {
		s.hdr = nil
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("reading tar after %q: %w", s.last, err)
	}
	if err := checkHeader(h); err != nil {
		return nil, fmt.Errorf("entry %s: %w", h.Name, err)
	}
	if s.last != "" && h.Name <= s.last {
		return nil, fmt.Errorf("entry %s: names are not sorted and unique (it follows %s)", h.Name, s.last)
	}
	s.last = h.Name
	s.off = s.pr.pos()
	h.Name = join(s.prefix, h.Name)
	if h.Typeflag == tar.TypeLink {
		h.Linkname = join(s.prefix, h.Linkname)
	}
	s.hdr = h
	return h, nil
}

func (s *tarStream) data() (io.Reader, error) { return s.tr, nil }

func (s *tarStream) saved() opener {
	reopen, off, size := s.reopen, s.off, s.hdr.Size
	return func() (io.ReadCloser, error) {
		f, err := reopen()
		if err != nil {
			return nil, err
		}
		return sectionCloser{io.NewSectionReader(f, off, size), f}, nil
	}
}

func (s *tarStream) source() (blobRange, bool) {
	if s.blob.digest == "" {
		return blobRange{}, false
	}
	return blobRange{digest: s.blob.digest, size: s.blob.size, off: s.off, n: s.hdr.Size}, true
}

func (s *tarStream) close() error { return s.f.Close() }

// blobRange is n bytes at off of a blob of the store, of size bytes.
type blobRange struct {
	digest       graph.Digest
	size, off, n int64
}

type sectionCloser struct {
	*io.SectionReader
	io.Closer
}

// posReader reads a file for archive/tar through a seekbuf.Reader (one
// read for a run of headers; skipped data is never read) and counts what
// it consumes in progress.
type posReader struct {
	r        *seekbuf.Reader
	progress *int64
}

func newPosReader(f *os.File, progress *int64) (*posReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return &posReader{r: seekbuf.New(f, fi.Size(), 64<<10), progress: progress}, nil
}

func (r *posReader) pos() int64 { return r.r.Pos() }

func (r *posReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.progress != nil {
		*r.progress += int64(n)
	}
	return n, err
}

func (r *posReader) Seek(offset int64, whence int) (int64, error) {
	before := r.r.Pos()
	n, err := r.r.Seek(offset, whence)
	if err == nil && r.progress != nil {
		*r.progress += n - before
	}
	return n, err
}

// listEntry is an entry made by the op itself.
type listEntry struct {
	hdr  *tar.Header
	open opener     // nil for entries without contents
	blob *blobRange // where the contents lie in the store, if they do
}

// listStream yields entries made by the op: boot files, single-file parts,
// empty directories, synthesized parents.
type listStream struct {
	entries []listEntry
	i       int
	cur     io.ReadCloser
}

// newList sorts entries by name; names must be unique.
func newList(entries []listEntry) (*listStream, error) {
	sort.Slice(entries, func(a, b int) bool { return entries[a].hdr.Name < entries[b].hdr.Name })
	for i := 1; i < len(entries); i++ {
		if entries[i].hdr.Name == entries[i-1].hdr.Name {
			return nil, fmt.Errorf("entry %s: placed twice", entries[i].hdr.Name)
		}
	}
	return &listStream{entries: entries, i: -1}, nil
}

func (s *listStream) next() (*tar.Header, error) {
	if err := s.closeCur(); err != nil {
		return nil, err
	}
	s.i++
	if s.i >= len(s.entries) {
		return nil, io.EOF
	}
	h := *s.entries[s.i].hdr
	return &h, nil
}

func (s *listStream) data() (io.Reader, error) {
	e := s.entries[s.i]
	if e.open == nil {
		return bytes.NewReader(nil), nil
	}
	if s.cur == nil {
		rc, err := e.open()
		if err != nil {
			return nil, err
		}
		s.cur = rc
	}
	return s.cur, nil
}

func (s *listStream) saved() opener {
	if o := s.entries[s.i].open; o != nil {
		return o
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nil)), nil }
}

func (s *listStream) source() (blobRange, bool) {
	if b := s.entries[s.i].blob; b != nil {
		return *b, true
	}
	return blobRange{}, false
}

func (s *listStream) closeCur() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}

func (s *listStream) close() error { return s.closeCur() }

// bytesOpener opens inline contents.
func bytesOpener(b []byte) opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

var errShort = errors.New("contents shorter than the header's size")
