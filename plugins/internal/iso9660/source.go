package iso9660

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// Source is the content of a regular file. The writer opens it when it
// writes the file's extent (twice for a BIOS boot image, whose checksum it
// needs first) and reads exactly Size bytes.
type Source interface {
	Size() int64
	Open(ctx context.Context) (io.ReadCloser, error)
}

// FileSource is a Source reading the host file at path. Its size is taken
// now; a file that has changed size when it is written is an error.
func FileSource(path string) (Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("iso9660 source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("iso9660 source %s: not a regular file", path)
	}
	return fileSource{path: path, size: fi.Size()}, nil
}

type fileSource struct {
	path string
	size int64
}

func (s fileSource) Size() int64 { return s.size }

func (s fileSource) Open(ctx context.Context) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return os.Open(s.path)
}

// ReaderAtSource is a Source reading size bytes of r from offset 0 (use an
// io.SectionReader for a part of a larger file).
func ReaderAtSource(r io.ReaderAt, size int64) Source { return readerAtSource{r: r, size: size} }

type readerAtSource struct {
	r    io.ReaderAt
	size int64
}

func (s readerAtSource) Size() int64 { return s.size }

func (s readerAtSource) Open(ctx context.Context) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return io.NopCloser(io.NewSectionReader(s.r, 0, s.size)), nil
}

// BytesSource is a Source holding b (for small generated files such as
// configuration).
func BytesSource(b []byte) Source { return ReaderAtSource(bytes.NewReader(b), int64(len(b))) }
