package formatfs

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
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
		out, err := os.Create(filepath.Join(t.TempDir(), "img"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		_, _ = writeSquashfs(context.Background(), out, bytes.NewReader(data), 0)
	})
}

func TestInBoot(t *testing.T) {
	for name, want := range map[string]bool{
		"boot": true, "boot/": true, "./boot/kernel": true, "/boot/cmdline": true,
		"bootstrap": false, "etc/boot": false, "": false, "boot/../etc": false,
	} {
		if got := inBoot(name); got != want {
			t.Errorf("inBoot(%q) = %v, want %v", name, got, want)
		}
	}
}
