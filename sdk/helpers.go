package sdk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// ErrStop, returned by a WalkTar callback, ends the walk without error.
var ErrStop = errors.New("stop walking")

// WalkTar calls fn for every entry of the tar archive at tarPath (plain or
// gzip-compressed), in archive order; r reads the entry's content. fn
// returning ErrStop ends the walk early and WalkTar returns nil.
func WalkTar(ctx context.Context, tarPath string, fn func(hdr *tar.Header, r io.Reader) error) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := walkTar(ctx, f, fn); err != nil {
		return fmt.Errorf("tar %s: %w", tarPath, err)
	}
	return nil
}

func walkTar(ctx context.Context, r io.Reader, fn func(hdr *tar.Header, r io.Reader) error) error {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer func() { _ = zr.Close() }()
		src = zr
	}
	tr := tar.NewReader(src)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(hdr, tr); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return fmt.Errorf("entry %s: %w", hdr.Name, err)
		}
	}
}

// cleanTarName normalizes an entry name: "./etc/x", "/etc/x" and "etc/x"
// are all "etc/x".
func cleanTarName(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// TarFile opens the regular file named name (with or without a leading
// "./" or "/") in the tar archive at tarPath (plain or gzip-compressed) and
// returns a reader of its content; the caller closes it. A hard link is
// followed to the file it links; when a name occurs more than once the last
// entry wins (as when unpacking). A symlink, a directory or a missing name
// is an error (a missing name wraps os.ErrNotExist).
func TarFile(ctx context.Context, tarPath, name string) (io.ReadCloser, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, err
	}
	r, err := tarFile(ctx, f, name)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("tar %s: %w", tarPath, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// tarFile returns a reader of the content of name in the archive r; it
// reads r until the caller is done with the returned reader.
func tarFile(ctx context.Context, r io.ReadSeeker, name string) (io.Reader, error) {
	want := cleanTarName(name)
	index := -1
	for hops := 0; index < 0; hops++ {
		if hops == 8 {
			return nil, fmt.Errorf("%s: too many hard link hops", name)
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		var (
			i, last int = 0, -1
			hdr     *tar.Header
		)
		err := walkTar(ctx, r, func(h *tar.Header, _ io.Reader) error {
			if cleanTarName(h.Name) == want {
				last, hdr = i, h
			}
			i++
			return nil
		})
		if err != nil {
			return nil, err
		}
		switch {
		case last < 0:
			return nil, fmt.Errorf("%s: %w", want, os.ErrNotExist)
		case hdr.Typeflag == tar.TypeReg:
			index = last
		case hdr.Typeflag == tar.TypeLink:
			want = cleanTarName(hdr.Linkname)
		case hdr.Typeflag == tar.TypeSymlink:
			return nil, fmt.Errorf("%s is a symlink to %s", want, hdr.Linkname)
		default:
			return nil, fmt.Errorf("%s is not a regular file (type %q)", want, hdr.Typeflag)
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	// Walk again to the entry and hand out the tar reader positioned
	// there; the walk's deferred gzip close is harmless for the plain
	// case and for gzip the reader must stay open, so walk by hand.
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		src = zr
	}
	tr := tar.NewReader(src)
	for i := 0; ; i++ {
		if _, err := tr.Next(); err != nil {
			return nil, fmt.Errorf("%s: archive changed while reading: %w", want, err)
		}
		if i == index {
			return tr, nil
		}
	}
}

// DecodeConfig decodes a component's JSON config into v, refusing unknown
// fields and trailing data. A nil, empty, null or {} config leaves v as it is,
// so set v's defaults before calling.
func DecodeConfig(config json.RawMessage, v any) error {
	if emptyConfig(config) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return errors.New("config: trailing data after the JSON value")
	}
	return nil
}
