package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// FuzzUnpack feeds arbitrary bytes as the top layer of an image whose base
// layer holds directories, files, a symlink and a hard link. Unpacking must
// never panic; it either fails or produces a normalized tar without the
// dropped names, and it leaves nothing in its temp dir.
func FuzzUnpack(f *testing.F) {
	base := steptest.Tar(f, dir("etc", 0o755), file("etc/passwd", "root:x:0:0", 0o644), hardlink("etc/passwd-", "etc/passwd"),
		symlink("lib", "/usr/lib"), dir("usr/lib", 0o755), file("usr/lib/libc.so", "elf", 0o755), file("Dockerfile", "FROM", 0o644))
	seeds := [][]steptest.Entry{
		{whiteout("etc/passwd"), file("etc/passwd", "new", 0o600)},
		{opaque("usr/lib"), file("usr/lib/x", "x", 0o644)},
		{hardlink("a", "etc/passwd-"), hardlink("etc/z", "a")},
		{file("lib/evil", "x", 0o644)},
		{file("../x", "x", 0o644)},
		{symlink("etc", "/"), file("etc/shadow", "", 0o600)},
		{device("dev/sda", tar.TypeBlock, 8, 0)},
		{whiteout("lib"), dir("lib", 0o755), file("lib/ok", "ok", 0o644)},
	}
	for _, s := range seeds {
		t := steptest.Tar(f, s...)
		f.Add(t)
		f.Add(compress(f, "gzip", t))
	}
	f.Add([]byte{})
	f.Add(sparseTar())
	f.Fuzz(func(t *testing.T, top []byte) {
		tmp := t.TempDir()
		var out bytes.Buffer
		layers := []Layer{rawLayer("layer 0", base), rawLayer("layer 1", top)}
		op := Op{Image: "fuzz.test/img", SourceDateEpoch: 1e9}
		err := op.write(context.Background(), func() (io.Writer, error) { out.Reset(); return &out, nil }, layers, tmp, nil)
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("left %v in the temp dir", left)
		}
		if err != nil {
			var ee *EntryError
			if errors.As(err, &ee) && ee.Image != op.Image {
				t.Fatalf("EntryError does not name the image: %v", err)
			}
			return
		}
		tr := tar.NewReader(bytes.NewReader(out.Bytes()))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == "Dockerfile" || h.Name == "dev/console" || strings.HasPrefix(h.Name, "etc/hostname") && h.Name != "etc/hostname" {
				t.Fatalf("dropped name %q in the output", h.Name)
			}
			if filepath.IsAbs(h.Name) || strings.Contains("/"+h.Name+"/", "/../") {
				t.Fatalf("escaping name %q in the output", h.Name)
			}
		}
		if _, err := tarutil.Verify(bytes.NewReader(out.Bytes()), op.SourceDateEpoch); err != nil {
			t.Fatalf("output not normalized: %v", err)
		}
	})
}

func rawLayer(name string, b []byte) Layer {
	return Layer{Name: name, Size: int64(len(b)), Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}
