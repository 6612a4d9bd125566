package deb

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxControl bounds the uncompressed control.tar member read into memory.
const maxControl = 64 << 20

// Deb reads a .deb file from a stream: its control information first, then
// its data.tar, with dpkg's member order (debian-binary, control.tar.*,
// data.tar.*). Maintainer scripts (preinst, postinst, ...) are read only as
// names in Scripts and never run.
type Deb struct {
	ar *ArReader
	// Control is the package's control paragraph.
	Control Paragraph
	// Conffiles lists the package's configuration files; in the data
	// stream they are ordinary regular files.
	Conffiles []string
	// Scripts names the maintainer scripts the package carries.
	Scripts []string
	dataHdr *ArHeader
}

// OpenDeb reads the .deb stream r up to the start of its data member.
func OpenDeb(r io.Reader) (*Deb, error) {
	d := &Deb{ar: NewArReader(r)}
	hdr, err := d.ar.Next()
	if err != nil {
		return nil, fmt.Errorf("deb: %w", err)
	}
	if hdr.Name != "debian-binary" {
		return nil, fmt.Errorf("deb: first member is %q, want debian-binary", hdr.Name)
	}
	ver, err := io.ReadAll(io.LimitReader(d.ar, 64))
	if err != nil {
		return nil, fmt.Errorf("deb: debian-binary: %w", err)
	}
	if !strings.HasPrefix(string(ver), "2.") {
		return nil, fmt.Errorf("deb: unsupported format version %q", strings.TrimSpace(string(ver)))
	}
	for {
		hdr, err := d.ar.Next()
		if err == io.EOF {
			return nil, errors.New("deb: no data.tar member")
		}
		if err != nil {
			return nil, fmt.Errorf("deb: %w", err)
		}
		switch {
		case strings.HasPrefix(hdr.Name, "control.tar"):
			if err := d.readControl(hdr); err != nil {
				return nil, err
			}
		case strings.HasPrefix(hdr.Name, "data.tar"):
			if d.Control.Len() == 0 {
				return nil, errors.New("deb: data.tar before control.tar")
			}
			d.dataHdr = hdr
			return d, nil
		case strings.HasPrefix(hdr.Name, "_"):
			// Members starting with '_' are reserved and skipped by dpkg.
		default:
			return nil, fmt.Errorf("deb: unexpected member %q", hdr.Name)
		}
	}
}

func (d *Deb) readControl(hdr *ArHeader) error {
	zr, err := decompress(hdr.Name, "control.tar", d.ar)
	if err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(io.LimitReader(zr, maxControl))
	for {
		th, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("deb: %s: %w", hdr.Name, err)
		}
		name := cleanName(th.Name)
		switch name {
		case "control":
			ps, err := ParseParagraphs(tr)
			if err != nil {
				return fmt.Errorf("deb: %s: control: %w", hdr.Name, err)
			}
			if len(ps) != 1 {
				return fmt.Errorf("deb: %s: control: want one paragraph, have %d", hdr.Name, len(ps))
			}
			d.Control = ps[0]
		case "conffiles":
			b, err := io.ReadAll(tr)
			if err != nil {
				return fmt.Errorf("deb: %s: conffiles: %w", hdr.Name, err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "remove-on-upgrade") {
					d.Conffiles = append(d.Conffiles, f[0])
				}
			}
		case "preinst", "postinst", "prerm", "postrm", "config", "triggers":
			d.Scripts = append(d.Scripts, name)
		}
	}
	if d.Control.Len() == 0 {
		return fmt.Errorf("deb: %s: no control file", hdr.Name)
	}
	return nil
}

// WalkData calls fn for every entry of the package's data.tar, in archive
// order, with names cleaned ("./usr/bin/x" → "usr/bin/x", hard-link targets
// too; the root entry "./" is skipped). Entries whose names escape the root
// are refused. fn must not retain hdr past the call; r is valid only during
// it. WalkData may be called once.
func (d *Deb) WalkData(ctx context.Context, fn func(hdr *tar.Header, r io.Reader) error) error {
	if d.dataHdr == nil {
		return errors.New("deb: data already read")
	}
	name := d.dataHdr.Name
	d.dataHdr = nil
	zr, err := decompress(name, "data.tar", d.ar)
	if err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deb: %s: %w", name, err)
		}
		th, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deb: %s: %w", name, err)
		}
		clean := cleanName(th.Name)
		if clean == "" {
			continue
		}
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("deb: %s: entry %q escapes the root", name, th.Name)
		}
		th.Name = clean
		if th.Typeflag == tar.TypeDir {
			th.Name += "/"
		}
		if th.Typeflag == tar.TypeLink {
			th.Linkname = cleanName(th.Linkname)
		}
		if err := fn(th, tr); err != nil {
			return err
		}
	}
}

// WriteData copies the package's data.tar entries, names cleaned as in
// WalkData, into tw. Headers are otherwise passed through unchanged;
// normalising owners and times is the caller's job.
func (d *Deb) WriteData(ctx context.Context, tw *tar.Writer) error {
	return d.WalkData(ctx, func(hdr *tar.Header, r io.Reader) error {
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("deb: entry %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, r); err != nil {
				return fmt.Errorf("deb: entry %s: %w", hdr.Name, err)
			}
		}
		return nil
	})
}

// cleanName turns a tar name of a .deb ("./usr/bin/x", "usr/lib/") into a
// clean relative path; the root becomes "".
func cleanName(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return ""
	}
	// path.Clean of an absolute path never keeps "..", so detect escapes
	// on the relative form.
	if rel := path.Clean(strings.TrimPrefix(name, "./")); rel == ".." || strings.HasPrefix(rel, "../") {
		return rel
	}
	return c[1:]
}

// decompress opens member (e.g. "data.tar.xz") of the given base name.
func decompress(member, base string, r io.Reader) (io.ReadCloser, error) {
	switch strings.TrimPrefix(member, base) {
	case "":
		return io.NopCloser(r), nil
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", member, err)
		}
		return zr, nil
	case ".xz":
		zr, err := newXZReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", member, err)
		}
		return io.NopCloser(zr), nil
	case ".zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDict))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", member, err)
		}
		return zr.IOReadCloser(), nil
	case ".bz2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	}
	return nil, fmt.Errorf("%s: unsupported compression", member)
}

// maxDict bounds the dictionary / window a compressed stream may ask the
// decoder to allocate: 64 MiB is what xz -9 and zstd -19 use.
const maxDict = 64 << 20

// newXZReader opens an xz stream, refusing one whose first block asks for
// a dictionary larger than maxDict (ulikunitz/xz allocates whatever the
// header says). Later blocks of multi-block streams are not inspected; all
// xz input kit decodes is first verified against a signed index.
func newXZReader(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	// Stream header (12 bytes), then the first block header: size byte,
	// flags, optional sizes, filter flags.
	if hdr, err := br.Peek(13); err == nil && hdr[12] != 0 {
		size := (int(hdr[12]) + 1) * 4
		if bh, err := br.Peek(12 + size); err == nil {
			if dict, ok := xzFirstDict(bh[12:]); ok && dict > maxDict {
				return nil, fmt.Errorf("xz dictionary of %d bytes exceeds the %d-byte limit", dict, maxDict)
			}
		}
	}
	return xz.NewReader(br)
}

// xzFirstDict returns the LZMA2 dictionary size of an xz block header
// whose only (or last) filter is LZMA2.
func xzFirstDict(bh []byte) (int64, bool) {
	if len(bh) < 2 {
		return 0, false
	}
	flags := bh[1]
	nfilters := int(flags&3) + 1
	p := 2
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && p < len(bh); i++ {
			c := bh[p]
			p++
			v |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	if flags&0x40 != 0 {
		if _, ok := varint(); !ok {
			return 0, false
		}
	}
	if flags&0x80 != 0 {
		if _, ok := varint(); !ok {
			return 0, false
		}
	}
	for i := 0; i < nfilters; i++ {
		id, ok1 := varint()
		psize, ok2 := varint()
		if !ok1 || !ok2 || p+int(psize) > len(bh) {
			return 0, false
		}
		if id == 0x21 && psize == 1 {
			bits := uint(bh[p] & 0x3f)
			if bits > 40 {
				return 0, false
			}
			if bits == 40 {
				return 1<<32 - 1, true
			}
			return int64(2|(bits&1)) << (bits/2 + 11), true
		}
		p += int(psize)
	}
	return 0, false
}
