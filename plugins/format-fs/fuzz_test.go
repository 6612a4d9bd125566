package formatfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/squashfs"
)

// FuzzWriteSquashfs feeds arbitrary bytes to kernel+squashfs' root
// filesystem reader: it must return an error or write an image, never
// panic.
func FuzzWriteSquashfs(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5, PAXRecords: map[string]string{"SCHILY.xattr.user.x": "1"}},
		{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"},
		{Name: "etc/group", Typeflag: tar.TypeLink, Linkname: "etc/passwd"},
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
	} {
		_ = tw.WriteHeader(h)
		if h.Size > 0 {
			_, _ = tw.Write([]byte("root\n"))
		}
	}
	_ = tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// A sparse file can declare terabytes of zeros, which the writer
		// then reads and compresses: slow, not wrong.
		if logicalSize(data) > 16<<20 {
			t.Skip("declares more than 16 MiB of file data")
		}
		var out memWriterAt
		_, _ = writeSquashfs(context.Background(), &out, bytes.NewReader(data), 0, squashfs.WithBlockSize(4096))
	})
}

// logicalSize adds up the sizes the tar data's headers declare (as far as
// it parses).
func logicalSize(data []byte) int64 {
	var n int64
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			return n
		}
		n += max(h.Size, 0)
		if n < 0 {
			return 1 << 62
		}
	}
}

// memWriterAt is an in-memory io.WriterAt.
type memWriterAt struct{ b []byte }

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

// FuzzWriteErofs feeds arbitrary bytes to kernel+erofs' root filesystem
// reader: it must return an error or write an image, never panic.
func FuzzWriteErofs(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5, PAXRecords: map[string]string{"SCHILY.xattr.user.x": "1"}},
		{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"},
		{Name: "etc/group", Typeflag: tar.TypeLink, Linkname: "etc/passwd"},
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
	} {
		_ = tw.WriteHeader(h)
		if h.Size > 0 {
			_, _ = tw.Write([]byte("root\n"))
		}
	}
	_ = tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// File data is spooled to disk before the image is written: a
		// sparse file declaring terabytes of zeros is slow, not wrong.
		if logicalSize(data) > 16<<20 {
			t.Skip("declares more than 16 MiB of file data")
		}
		_ = writeErofs(context.Background(), &memWriteSeeker{}, bytes.NewReader(data), 0, dir)
	})
}

// memWriteSeeker is an in-memory io.WriteSeeker.
type memWriteSeeker struct {
	memWriterAt
	off int64
}

func (m *memWriteSeeker) Write(p []byte) (int, error) {
	n, err := m.WriteAt(p, m.off)
	m.off += int64(n)
	return n, err
}

func (m *memWriteSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += m.off
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("seek before the start")
	}
	m.off = off
	return off, nil
}
