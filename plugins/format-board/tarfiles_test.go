package formatboard_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	formatboard "github.com/kitbuild/kit/plugins/format-board"
)

type entry struct {
	name, body, link string
	typ              byte
}

func writeTar(t testing.TB, entries []entry, gz bool) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	b := buf.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		b = z.Bytes()
	}
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTarFiles(t *testing.T) {
	entries := []entry{
		{name: "./fw/", typ: tar.TypeDir},
		{name: "./fw/a.dtb", body: "A", typ: tar.TypeReg},
		{name: "fw/hard.dtb", link: "fw/a.dtb", typ: tar.TypeLink},
		{name: "fw/rel.dtb", link: "../real/b.bin", typ: tar.TypeSymlink},
		{name: "/fw/abs.dtb", link: "/real/b.bin", typ: tar.TypeSymlink},
		{name: "fw/chain.dtb", link: "rel.dtb", typ: tar.TypeSymlink},
		{name: "fw/dup.dtb", body: "old", typ: tar.TypeReg},
		{name: "real/b.bin", body: "B", typ: tar.TypeReg},
		{name: "fw/dup.dtb", body: "new", typ: tar.TypeReg},
		{name: "other/c.dtb", body: "C", typ: tar.TypeReg},
	}
	want := map[string]string{"fw/a.dtb": "A", "fw/hard.dtb": "A", "fw/rel.dtb": "B", "fw/abs.dtb": "B", "fw/chain.dtb": "B", "fw/dup.dtb": "new"}
	for _, gz := range []bool{false, true} {
		got, err := formatboard.ReadTarFiles(context.Background(), writeTar(t, entries, gz), func(n string) bool {
			return strings.HasPrefix(n, "fw/") && strings.HasSuffix(n, ".dtb")
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("gzip %v: got %d files, want %d: %q", gz, len(got), len(want), got)
		}
		for n, b := range want {
			if string(got[n]) != b {
				t.Errorf("gzip %v: %s = %q, want %q", gz, n, got[n], b)
			}
		}
	}

	for _, tc := range []struct {
		name    string
		entries []entry
		errHas  string
	}{
		{"dangling link", []entry{{name: "fw/x.dtb", link: "nowhere", typ: tar.TypeSymlink}}, "links to /fw/nowhere, which is not in the archive"},
		{"device node", []entry{{name: "fw/x.dtb", typ: tar.TypeChar}}, "/fw/x.dtb is not a regular file"},
		{"loop", []entry{
			{name: "fw/x.dtb", link: "y.dtb", typ: tar.TypeSymlink},
			{name: "fw/y.dtb", link: "x.dtb", typ: tar.TypeSymlink},
		}, "more than 8 links to follow"},
	} {
		_, err := formatboard.ReadTarFiles(context.Background(), writeTar(t, tc.entries, false), func(n string) bool { return strings.HasPrefix(n, "fw/") })
		if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.errHas)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := formatboard.ReadTarFiles(ctx, writeTar(t, entries, false), func(string) bool { return true }); err == nil {
		t.Error("a cancelled read succeeded")
	}
}

// FuzzReadTarFiles: any archive bytes give files or an error, never a
// panic or a hang.
func FuzzReadTarFiles(f *testing.F) {
	f.Add(readFile(f, writeTar(f, []entry{
		{name: "a", body: "A", typ: tar.TypeReg},
		{name: "b", link: "a", typ: tar.TypeLink},
		{name: "c", link: "/b", typ: tar.TypeSymlink},
	}, false)))
	f.Add(readFile(f, writeTar(f, []entry{{name: "x/y", body: "Y", typ: tar.TypeReg}}, true)))
	f.Add([]byte{0x1f, 0x8b})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "fuzz.tar")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := formatboard.ReadTarFiles(context.Background(), p, func(string) bool { return true })
		if err == nil {
			for n := range got {
				if strings.HasPrefix(n, "/") || strings.Contains(n, "..") {
					t.Errorf("name %q is not clean", n)
				}
			}
		}
	})
}

func readFile(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
