package seekbuf

import (
	"errors"
	"io"
)

// New returns a Reader of the size bytes of ra with a buffer of bufSize.
func New(ra io.ReaderAt, size int64, bufSize int) *Reader {
	return &Reader{ra: ra, size: size, buf: make([]byte, bufSize)}
}

// Pos returns the position: where the next Read starts.
func (r *Reader) Pos() int64 { return r.pos }

// Reader is a buffered io.ReadSeeker over an io.ReaderAt that knows its
// position; seeking is free.
//
// archive/tar skips a member's data by seeking to its last byte and
// reading that byte: the read that follows a long seek fills only
// farFill bytes (the byte, the padding, the next header and its PAX
// records, mostly), not the whole buffer, which would read the start of
// the next member's data for nothing when it is large. Reads that follow
// on fill it whole: a run of small members costs one read.
type Reader struct {
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

func (r *Reader) Read(p []byte) (int, error) {
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

func (r *Reader) Seek(off int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = off
	case io.SeekCurrent:
		abs = r.pos + off
	case io.SeekEnd:
		abs = r.size + off
	default:
		return 0, errors.New("seekbuf: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("seekbuf: negative position")
	}
	if abs > r.bufOff+int64(r.bufLen) || abs < r.bufOff {
		r.far = true
	}
	r.pos = abs
	return abs, nil
}
