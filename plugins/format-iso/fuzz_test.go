package formatiso

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/iso9660"
)

// FuzzAddRootfs feeds arbitrary bytes to kernel+iso's root filesystem
// reader: it must return an error or an image that writes, never panic.
func FuzzAddRootfs(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644, Size: 0},
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
	f.Add(bytes.Repeat([]byte{0}, 1024))
	f.Fuzz(func(t *testing.T, data []byte) {
		im := iso9660.New(0)
		if err := addRootfs(context.Background(), im, bytes.NewReader(data), int64(len(data))); err != nil {
			return
		}
		if _, err := im.Write(context.Background(), io.Discard); err != nil {
			t.Logf("write: %v", err)
		}
	})
}
