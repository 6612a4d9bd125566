package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const arMagic = "!<arch>\n"

// ArHeader describes one member of an ar archive.
type ArHeader struct {
	Name string
	Size int64
	Mode int64
}

// ArReader reads the members of a common (System V / GNU) ar archive, the
// container format of .deb files, from a stream.
type ArReader struct {
	r       io.Reader
	remain  int64 // bytes left in the current member
	pad     bool  // the current member is followed by a padding byte
	started bool
	err     error
}

// NewArReader returns a reader of the ar archive r. The magic is checked
// by the first Next.
func NewArReader(r io.Reader) *ArReader { return &ArReader{r: r} }

// Next advances to the next member; it returns io.EOF at the end of the
// archive.
func (a *ArReader) Next() (*ArHeader, error) {
	if a.err != nil {
		return nil, a.err
	}
	if !a.started {
		a.started = true
		var magic [len(arMagic)]byte
		if _, err := io.ReadFull(a.r, magic[:]); err != nil {
			a.err = fmt.Errorf("ar: reading magic: %w", noEOF(err))
			return nil, a.err
		}
		if string(magic[:]) != arMagic {
			a.err = errors.New("ar: not an ar archive (bad magic)")
			return nil, a.err
		}
	}
	skip := a.remain
	if a.pad {
		skip++
	}
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, a.r, skip); err != nil {
			a.err = fmt.Errorf("ar: skipping member: %w", noEOF(err))
			return nil, a.err
		}
	}
	a.remain, a.pad = 0, false
	var hdr [60]byte
	n, err := io.ReadFull(a.r, hdr[:])
	if err == io.EOF && n == 0 {
		a.err = io.EOF
		return nil, io.EOF
	}
	if err != nil {
		a.err = fmt.Errorf("ar: reading header: %w", noEOF(err))
		return nil, a.err
	}
	if hdr[58] != '`' || hdr[59] != '\n' {
		a.err = errors.New("ar: malformed member header")
		return nil, a.err
	}
	name := strings.TrimRight(string(hdr[0:16]), " ")
	if strings.HasPrefix(name, "#1/") || name == "/" || name == "//" {
		a.err = fmt.Errorf("ar: member %q: extended names are not used by .deb files", name)
		return nil, a.err
	}
	name = strings.TrimSuffix(name, "/") // GNU ar terminates names with '/'
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		a.err = fmt.Errorf("ar: member %q: invalid size %q", name, bytes.TrimSpace(hdr[48:58]))
		return nil, a.err
	}
	mode, _ := strconv.ParseInt(strings.TrimSpace(string(hdr[40:48])), 8, 64)
	a.remain, a.pad = size, size%2 == 1
	return &ArHeader{Name: name, Size: size, Mode: mode}, nil
}

// Read reads from the current member.
func (a *ArReader) Read(p []byte) (int, error) {
	if a.err != nil && a.err != io.EOF {
		return 0, a.err
	}
	if a.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	n, err := a.r.Read(p)
	a.remain -= int64(n)
	if err == io.EOF && a.remain > 0 {
		a.err = fmt.Errorf("ar: member truncated: %w", io.ErrUnexpectedEOF)
		return n, a.err
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
