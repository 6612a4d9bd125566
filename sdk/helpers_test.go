package sdk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type tarEntry struct {
	name, body, link string
	typ              byte
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTarFile(t *testing.T) {
	archive := makeTar(t, []tarEntry{
		{name: "./etc/", typ: tar.TypeDir},
		{name: "./etc/hostname", body: "box\n", typ: tar.TypeReg},
		{name: "boot/vmlinuz", body: "KERNEL", typ: tar.TypeReg},
		{name: "boot/hard", link: "boot/vmlinuz", typ: tar.TypeLink},
		{name: "boot/hard2", link: "./boot/hard", typ: tar.TypeLink},
		{name: "boot/soft", link: "vmlinuz", typ: tar.TypeSymlink},
		{name: "twice", body: "first", typ: tar.TypeReg},
		{name: "twice", body: "second", typ: tar.TypeReg},
		{name: "empty", typ: tar.TypeReg},
		{name: "loop1", link: "loop2", typ: tar.TypeLink},
		{name: "loop2", link: "loop1", typ: tar.TypeLink},
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(archive)
	_ = zw.Close()
	for kind, b := range map[string][]byte{"plain": archive, "gzip": gz.Bytes()} {
		path := writeFile(t, b)
		tests := []struct {
			name, want, err string
		}{
			{"etc/hostname", "box\n", ""},
			{"/etc/hostname", "box\n", ""},
			{"./etc/hostname", "box\n", ""},
			{"boot/hard", "KERNEL", ""},
			{"boot/hard2", "KERNEL", ""},
			{"twice", "second", ""},
			{"empty", "", ""},
			{"boot/soft", "", "symlink"},
			{"etc", "", "not a regular file"},
			{"missing", "", "file does not exist"},
			{"loop1", "", "too many hard link hops"},
		}
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				r, err := TarFile(context.Background(), path, tt.name)
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("err = %v, want %q", err, tt.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = r.Close() }()
				got, err := io.ReadAll(r)
				if err != nil || string(got) != tt.want {
					t.Fatalf("got %q %v, want %q", got, err, tt.want)
				}
			})
		}
	}
	if _, err := TarFile(context.Background(), path0(t), "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing archive: %v", err)
	}
}

func path0(t *testing.T) string { return filepath.Join(t.TempDir(), "none.tar") }

func TestWalkTarStop(t *testing.T) {
	path := writeFile(t, makeTar(t, []tarEntry{{name: "a", typ: tar.TypeReg}, {name: "b", typ: tar.TypeReg}}))
	var seen []string
	err := WalkTar(context.Background(), path, func(h *tar.Header, _ io.Reader) error {
		seen = append(seen, h.Name)
		return ErrStop
	})
	if err != nil || len(seen) != 1 {
		t.Fatalf("seen %v, err %v", seen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WalkTar(ctx, path, func(*tar.Header, io.Reader) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled walk: %v", err)
	}
}

// FuzzTarFile: no archive makes TarFile panic or loop.
func FuzzTarFile(f *testing.F) {
	f.Add(makeTar(f, []tarEntry{{name: "a", body: "x", typ: tar.TypeReg}, {name: "b", link: "a", typ: tar.TypeLink}}), "b")
	f.Add(makeTar(f, []tarEntry{{name: "l1", link: "l2", typ: tar.TypeLink}, {name: "l2", link: "l1", typ: tar.TypeLink}}), "l1")
	f.Add([]byte{0x1f, 0x8b, 0, 0}, "a")
	f.Fuzz(func(t *testing.T, archive []byte, name string) {
		r, err := tarFile(context.Background(), bytes.NewReader(archive), name)
		if err == nil {
			_, _ = io.Copy(io.Discard, r)
		}
	})
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		Size int    `json:"size"`
		Name string `json:"name"`
	}
	tests := []struct {
		in   string
		want cfg
		err  string
	}{
		{"", cfg{Size: 1}, ""},
		{"null", cfg{Size: 1}, ""},
		{" { } ", cfg{Size: 1}, ""},
		{` {"size": 5}`, cfg{Size: 5}, ""},
		{`{"name":"x"}`, cfg{Size: 1, Name: "x"}, ""},
		{`{"sise": 5}`, cfg{}, `unknown field "sise"`},
		{`{"size": "5"}`, cfg{}, "cannot unmarshal"},
		{`{} {}`, cfg{}, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := cfg{Size: 1}
			err := DecodeConfig([]byte(tt.in), &c)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || c != tt.want {
				t.Fatalf("got %+v %v, want %+v", c, err, tt.want)
			}
		})
	}
}
