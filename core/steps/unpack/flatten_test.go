package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Entry constructors, short for the tables.
var (
	file     = steptest.File
	dir      = steptest.Dir
	symlink  = steptest.Symlink
	hardlink = steptest.Hardlink
	whiteout = steptest.Whiteout
	opaque   = steptest.Opaque
)

func device(name string, typ byte, major, minor int64) steptest.Entry {
	return steptest.Entry{Header: tar.Header{Name: name, Typeflag: typ, Devmajor: major, Devminor: minor, Mode: 0o666, ModTime: steptest.MTime}}
}

func withHeader(e steptest.Entry, f func(h *tar.Header)) steptest.Entry {
	f(&e.Header)
	return e
}

// memLayers turns entry lists into uncompressed in-memory layers.
func memLayers(t testing.TB, layers [][]steptest.Entry) []Layer {
	var out []Layer
	for i, entries := range layers {
		b := steptest.Tar(t, entries...)
		out = append(out, Layer{
			Name: fmt.Sprintf("layer %d", i),
			Size: int64(len(b)),
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		})
	}
	return out
}

// render describes an entry in one line: "name/ mode" for a directory,
// "name mode "data"" for a file, "name -> target" for a symlink,
// "name => target" for a hard link, "name chr 1:3" for a device, "name fifo".
func render(h *tar.Header, data []byte) string {
	var s string
	switch h.Typeflag {
	case tar.TypeDir:
		s = fmt.Sprintf("%s/ %o", h.Name, h.Mode)
	case tar.TypeReg:
		s = fmt.Sprintf("%s %o %q", h.Name, h.Mode, data)
	case tar.TypeSymlink:
		s = fmt.Sprintf("%s -> %s", h.Name, h.Linkname)
	case tar.TypeLink:
		s = fmt.Sprintf("%s => %s", h.Name, h.Linkname)
	case tar.TypeChar:
		s = fmt.Sprintf("%s chr %d:%d", h.Name, h.Devmajor, h.Devminor)
	case tar.TypeBlock:
		s = fmt.Sprintf("%s blk %d:%d", h.Name, h.Devmajor, h.Devminor)
	case tar.TypeFifo:
		s = h.Name + " fifo"
	default:
		s = fmt.Sprintf("%s type %q", h.Name, h.Typeflag)
	}
	if h.Uid != 0 || h.Gid != 0 {
		s += fmt.Sprintf(" %d:%d", h.Uid, h.Gid)
	}
	return s
}

// flattenLines flattens layers with Flatten and renders the result; it also
// checks that the entries would make a normalized tar.
func flattenLines(t testing.TB, opt FlattenOptions, layers ...[]steptest.Entry) ([]string, error) {
	t.Helper()
	if opt.TempDir == "" {
		opt.TempDir = t.TempDir()
	}
	var lines []string
	var buf bytes.Buffer
	tw := tarutil.NewWriter(&buf, opt.SourceDateEpoch)
	err := Flatten(context.Background(), memLayers(t, layers), opt, func(h *tar.Header, r io.Reader) error {
		var data []byte
		if r != nil {
			var err error
			if data, err = io.ReadAll(r); err != nil {
				return err
			}
		}
		lines = append(lines, render(h, data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	})
	if err != nil {
		return lines, err
	}
	if err := tw.Close(); err != nil {
		return lines, err
	}
	if _, err := tarutil.Verify(&buf, opt.SourceDateEpoch); err != nil {
		t.Errorf("Flatten's output is not normalized: %v", err)
	}
	return lines, nil
}

func TestFlatten(t *testing.T) {
	type L = []steptest.Entry
	tests := []struct {
		name   string
		layers []L
		want   []string
	}{
		{
			name:   "sorted, parents synthesized, root skipped",
			layers: []L{{dir("./", 0o755), file("b/c/d", "x", 0o600), file("./a", "1", 0o644), dir("b/", 0o700)}},
			want:   []string{`a 644 "1"`, `b/ 700`, `b/c/ 755`, `b/c/d 600 "x"`},
		},
		{
			name:   "a later layer replaces a file",
			layers: []L{{file("f", "old", 0o644), file("g", "g", 0o644)}, {file("f", "new", 0o600)}},
			want:   []string{`f 600 "new"`, `g 644 "g"`},
		},
		{
			name:   "the last duplicate of a layer wins",
			layers: []L{{file("f", "one", 0o644), file("f", "two", 0o644)}},
			want:   []string{`f 644 "two"`},
		},
		{
			name:   "upper directory metadata, children merged",
			layers: []L{{dir("d", 0o700), file("d/a", "a", 0o644)}, {dir("d", 0o755), file("d/b", "b", 0o644)}},
			want:   []string{`d/ 755`, `d/a 644 "a"`, `d/b 644 "b"`},
		},
		{
			name:   "whiteout deletes a file of a lower layer",
			layers: []L{{file("a", "a", 0o644), file("b", "b", 0o644)}, {whiteout("a")}},
			want:   []string{`b 644 "b"`},
		},
		{
			name:   "whiteout deletes a directory with everything below it",
			layers: []L{{dir("d", 0o755), file("d/x", "x", 0o644), dir("d/e", 0o755), file("d/e/y", "y", 0o644), file("dd", "", 0o644)}, {whiteout("d")}},
			want:   []string{`dd 644 ""`},
		},
		{
			name:   "whiteout does not delete its own layer's entry",
			layers: []L{{file("a", "old", 0o644)}, {file("a", "new", 0o644), whiteout("a")}},
			want:   []string{`a 644 "new"`},
		},
		{
			name:   "deleted then recreated as a directory without an entry",
			layers: []L{{file("a", "file", 0o644)}, {whiteout("a"), file("a/x", "x", 0o644)}},
			want:   []string{`a/ 755`, `a/x 644 "x"`},
		},
		{
			name:   "whiteout of a name that does not exist",
			layers: []L{{file("a", "a", 0o644)}, {whiteout("nothing/here")}},
			want:   []string{`a 644 "a"`},
		},
		{
			name: "opaque directory hides lower entries only",
			layers: []L{
				{dir("d", 0o755), file("d/old", "o", 0o644), dir("d/sub", 0o755), file("d/sub/x", "x", 0o644), file("e", "e", 0o644)},
				{dir("d", 0o750), opaque("d"), file("d/new", "n", 0o644)},
			},
			want: []string{`d/ 750`, `d/new 644 "n"`, `e 644 "e"`},
		},
		{
			name:   "opaque root",
			layers: []L{{file("a", "a", 0o644)}, {opaque("."), file("b", "b", 0o644)}},
			want:   []string{`b 644 "b"`},
		},
		{
			name:   "AUFS metadata directories are ignored",
			layers: []L{{file("a", "a", 0o644)}, {dir(".wh..wh.plnk", 0o700), file(".wh..wh.plnk/1.2", "", 0o644), file("d/.wh..wh.aufs", "", 0o644)}},
			want:   []string{`a 644 "a"`},
		},
		{
			name:   "a file replaces a directory and its contents",
			layers: []L{{dir("d", 0o755), file("d/x", "x", 0o644)}, {file("d", "now a file", 0o644)}},
			want:   []string{`d 644 "now a file"`},
		},
		{
			name:   "a symlink replaces a directory (usr merge)",
			layers: []L{{dir("lib", 0o755), file("lib/libc.so", "c", 0o755), dir("usr/lib", 0o755)}, {symlink("lib", "usr/lib")}},
			want:   []string{`lib -> usr/lib`, `usr/ 755`, `usr/lib/ 755`},
		},
		{
			name:   "a directory replaces a symlink and gets children",
			layers: []L{{symlink("a", "/etc")}, {dir("a", 0o755), file("a/x", "x", 0o644)}},
			want:   []string{`a/ 755`, `a/x 644 "x"`},
		},
		{
			name:   "within a layer a file replaces the directory before it",
			layers: []L{{dir("d", 0o755), file("d/x", "x", 0o644), file("d", "f", 0o644)}},
			want:   []string{`d 644 "f"`},
		},
		{
			name:   "a directory replaces a file, lower children of the old directory stay deleted",
			layers: []L{{dir("d", 0o755), file("d/old", "o", 0o644)}, {file("d", "f", 0o644)}, {dir("d", 0o700), file("d/new", "n", 0o644)}},
			want:   []string{`d/ 700`, `d/new 644 "n"`},
		},
		{
			name:   "hard link sorted before its target swaps roles",
			layers: []L{{file("z/orig", "data", 0o755), hardlink("a/link", "z/orig")}},
			want:   []string{`a/ 755`, `a/link 755 "data"`, `z/ 755`, `z/orig => a/link`},
		},
		{
			name:   "hard link after its target",
			layers: []L{{file("a", "data", 0o644), hardlink("b", "a"), hardlink("c", "b")}},
			want:   []string{`a 644 "data"`, `b => a`, `c => a`},
		},
		{
			name:   "hard link to a lower layer's file",
			layers: []L{{file("a", "data", 0o644)}, {hardlink("b", "/a")}},
			want:   []string{`a 644 "data"`, `b => a`},
		},
		{
			name:   "hard link keeps the old content when its target is replaced",
			layers: []L{{file("x", "old", 0o644), hardlink("y", "x")}, {file("x", "new", 0o644)}},
			want:   []string{`x 644 "new"`, `y 644 "old"`},
		},
		{
			name:   "hard link becomes the file when its target is deleted",
			layers: []L{{file("x", "data", 0o600), hardlink("y", "x"), hardlink("z", "x")}, {whiteout("x")}},
			want:   []string{`y 600 "data"`, `z => y`},
		},
		{
			name:   "hard link to a symlink",
			layers: []L{{symlink("s", "/target"), hardlink("a", "s")}},
			want:   []string{`a -> /target`, `s => a`},
		},
		{
			name: "metadata kept, times clamped, names cleared",
			layers: []L{{withHeader(file("f", "x", 0o4755), func(h *tar.Header) {
				h.Uid, h.Gid, h.Uname, h.Gname = 1000, 50, "user", "staff"
				h.ModTime = time.Unix(2e9, 0)
			})}},
			want: []string{`f 4755 "x" 1000:50`},
		},
		{
			name:   "well-known devices and fifos",
			layers: []L{{device("dev/null", tar.TypeChar, 1, 3), device("dev/console", tar.TypeChar, 5, 1), device("run/fifo", tar.TypeFifo, 0, 0)}},
			want:   []string{`dev/ 755`, `dev/console chr 5:1`, `dev/null chr 1:3`, `run/ 755`, `run/fifo fifo`},
		},
		{
			name:   "symlinks may point anywhere",
			layers: []L{{symlink("up", "../../../../etc/shadow"), symlink("abs", "/proc/self/root")}},
			want:   []string{`abs -> /proc/self/root`, `up -> ../../../../etc/shadow`},
		},
		{
			name:   "absolute names are rooted",
			layers: []L{{file("/etc/passwd", "root", 0o644)}},
			want:   []string{`etc/ 755`, `etc/passwd 644 "root"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flattenLines(t, FlattenOptions{Image: "test", SourceDateEpoch: 1.8e9}, tt.layers...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestFlattenTimes(t *testing.T) {
	var got []*tar.Header
	err := Flatten(context.Background(), memLayers(t, [][]steptest.Entry{{
		withHeader(file("new", "", 0o644), func(h *tar.Header) { h.ModTime = time.Unix(2e9, 5); h.AccessTime = time.Unix(2e9, 0) }),
		withHeader(file("old", "", 0o644), func(h *tar.Header) { h.ModTime = time.Unix(100, 5) }),
		file("sub/x", "", 0o644),
	}}), FlattenOptions{SourceDateEpoch: 1000, TempDir: t.TempDir()}, func(h *tar.Header, r io.Reader) error {
		got = append(got, h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"new": 1000, "old": 100, "sub": 1000}
	for _, h := range got {
		if w, ok := want[h.Name]; ok && (h.ModTime.Unix() != w || h.ModTime.Nanosecond() != 0) {
			t.Errorf("%s: mtime %v, want %d", h.Name, h.ModTime, w)
		}
		if !h.AccessTime.IsZero() || h.Uname != "" {
			t.Errorf("%s: access time or user name kept", h.Name)
		}
	}
}

func TestFlattenXattrs(t *testing.T) {
	caps := "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	var got map[string]string
	err := Flatten(context.Background(), memLayers(t, [][]steptest.Entry{{
		withHeader(file("bin/ping", "elf", 0o755), func(h *tar.Header) {
			h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": caps, "comment": "dropped"}
		}),
	}}), FlattenOptions{TempDir: t.TempDir()}, func(h *tar.Header, r io.Reader) error {
		if h.Name == "bin/ping" {
			got = h.PAXRecords
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["SCHILY.xattr.security.capability"] != caps {
		t.Errorf("PAX records %q; want only the capability", got)
	}
}

func TestFlattenDrop(t *testing.T) {
	got, err := flattenLines(t, FlattenOptions{Drop: func(n string) bool { return n == "a" || n == "d" }},
		[]steptest.Entry{file("a", "data", 0o644), hardlink("b", "a"), hardlink("c", "a"), dir("d", 0o700), file("d/x", "x", 0o644)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`b 644 "data"`, `c => b`, `d/ 755`, `d/x 644 "x"`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestFlattenRefuses(t *testing.T) {
	type L = []steptest.Entry
	tests := []struct {
		name   string
		layers []L
		opt    FlattenOptions
		entry  string
		err    error
		msg    string
	}{
		{name: "dotdot", layers: []L{{file("../etc/passwd", "x", 0o644)}}, entry: "../etc/passwd", err: tarutil.ErrUnsafeName, msg: `".." component`},
		{name: "dotdot inside", layers: []L{{file("a/../../x", "x", 0o644)}}, entry: "a/../../x", err: tarutil.ErrUnsafeName},
		{name: "absolute dotdot", layers: []L{{file("/../x", "x", 0o644)}}, entry: "/../x", err: tarutil.ErrUnsafeName},
		{name: "harmless-looking dotdot", layers: []L{{file("a/../b", "x", 0o644)}}, entry: "a/../b", err: tarutil.ErrUnsafeName},
		{name: "dotdot symlink name", layers: []L{{symlink("../x", "/")}}, entry: "../x", err: tarutil.ErrUnsafeName},
		{name: "dotdot whiteout", layers: []L{{file("a", "", 0o644)}, {whiteout("../a")}}, entry: "../.wh.a", err: tarutil.ErrUnsafeName},
		{name: "long name", layers: []L{{file(strings.Repeat("abcdefgh/", 500)+"f", "", 0o644)}}, entry: strings.Repeat("abcdefgh/", 500) + "f", err: tarutil.ErrUnsafeName, msg: "limit 4096"},
		{name: "long component", layers: []L{{file(strings.Repeat("x", 300), "", 0o644)}}, entry: strings.Repeat("x", 300), err: tarutil.ErrUnsafeName, msg: "limit 255"},
		{name: "hard link escaping", layers: []L{{hardlink("x", "../../etc/shadow")}}, entry: "x", err: tarutil.ErrUnsafeName},
		{name: "hard link to a missing file", layers: []L{{hardlink("x", "etc/shadow")}}, entry: "x", err: ErrHardLink, msg: `"etc/shadow" is not in the image`},
		{name: "hard link before its target", layers: []L{{hardlink("x", "y"), file("y", "", 0o644)}}, entry: "x", err: ErrHardLink},
		{name: "hard link to a deleted file", layers: []L{{file("a", "", 0o644)}, {whiteout("a"), hardlink("b", "a")}}, entry: "b", err: ErrHardLink},
		{name: "hard link to a directory", layers: []L{{dir("d", 0o755), hardlink("x", "d")}}, entry: "x", err: ErrHardLink, msg: "is a directory"},
		{name: "hard link to itself", layers: []L{{file("x", "", 0o644)}, {hardlink("x", "x")}}, entry: "x", err: ErrHardLink, msg: "itself"},
		{name: "write through a symlink", layers: []L{{symlink("etc", "/host/etc"), file("etc/passwd", "x", 0o644)}}, entry: "etc/passwd", err: ErrThroughSymlink, msg: `"etc" is a symlink`},
		{name: "write through a lower layer's symlink", layers: []L{{symlink("a", "../../..")}, {file("a/b/c", "x", 0o644)}}, entry: "a/b/c", err: ErrThroughSymlink},
		{name: "write through a symlink to a directory", layers: []L{{dir("d", 0o755), symlink("d/up", "..")}, {dir("d/up/x", 0o755)}}, entry: "d/up/x", err: ErrThroughSymlink},
		{name: "hard link through a symlink", layers: []L{{file("f", "", 0o644), symlink("s", "/")}, {hardlink("s/x", "f")}}, entry: "s/x", err: ErrThroughSymlink},
		{name: "whiteout through a symlink", layers: []L{{symlink("s", "/etc")}, {whiteout("s/passwd")}}, entry: "s/.wh.passwd", err: ErrThroughSymlink},
		{name: "opaque through a symlink", layers: []L{{symlink("s", "/etc")}, {opaque("s")}}, entry: "s/.wh..wh..opq", err: ErrThroughSymlink},
		{name: "below a file", layers: []L{{file("f", "", 0o644), file("f/x", "", 0o644)}}, entry: "f/x", err: ErrNotDir},
		{name: "block device", layers: []L{{device("dev/sda", tar.TypeBlock, 8, 0)}}, entry: "dev/sda", err: ErrDevice, msg: "block device 8:0"},
		{name: "unknown char device", layers: []L{{device("dev/mem", tar.TypeChar, 1, 1)}}, entry: "dev/mem", err: ErrDevice},
		{name: "well-known name, wrong numbers", layers: []L{{device("dev/null", tar.TypeChar, 1, 1)}}, entry: "dev/null", err: ErrDevice},
		{name: "well-known numbers, other place", layers: []L{{device("tmp/null", tar.TypeChar, 1, 3)}}, entry: "tmp/null", err: ErrDevice},
		{name: "block device with a well-known name", layers: []L{{device("dev/null", tar.TypeBlock, 1, 3)}}, entry: "dev/null", err: ErrDevice},
		{name: "unknown entry type", layers: []L{{{Header: tar.Header{Name: "x", Typeflag: 'Z'}}}}, entry: "x", err: tarutil.ErrType},
		{name: "empty whiteout", layers: []L{{file(".wh.", "", 0o644)}}, entry: ".wh.", err: ErrWhiteout},
		{name: "too much content", layers: []L{{file("a", "12345", 0o644)}, {file("b", "123456", 0o644)}}, opt: FlattenOptions{MaxSize: 10}, entry: "b", err: ErrLimit, msg: "more than 10 bytes"},
		{name: "too many entries", layers: []L{{file("a", "", 0o644), file("b", "", 0o644)}, {file("c", "", 0o644)}}, opt: FlattenOptions{MaxEntries: 2}, entry: "c", err: ErrLimit, msg: "more than 2 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := tt.opt
			opt.Image = "registry.test/evil:1"
			_, err := flattenLines(t, opt, tt.layers...)
			var ee *EntryError
			if !errors.As(err, &ee) || !errors.Is(err, tt.err) {
				t.Fatalf("err = %v; want an EntryError wrapping %v", err, tt.err)
			}
			if ee.Entry != tt.entry || ee.Image != opt.Image || !strings.HasPrefix(ee.Layer, "layer ") {
				t.Errorf("error names image %q, %q, entry %q; want entry %q", ee.Image, ee.Layer, ee.Entry, tt.entry)
			}
			for _, s := range []string{opt.Image, fmt.Sprintf("%q", tt.entry), tt.msg} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not contain %q", err, s)
				}
			}
		})
	}
}

// sparseTar returns a tar holding a PAX (0.1) GNU sparse file of 1 TiB with
// one byte of data; archive/tar cannot write one.
func sparseTar() []byte {
	header := func(name string, typ byte, size int) []byte {
		b := make([]byte, 512)
		copy(b, name)
		copy(b[100:], "0000644\x00")
		copy(b[108:], "0000000\x00")
		copy(b[116:], "0000000\x00")
		copy(b[124:], fmt.Sprintf("%011o\x00", size))
		copy(b[136:], "00000000000\x00")
		b[156] = typ
		copy(b[257:], "ustar\x0000")
		copy(b[148:], "        ")
		sum := 0
		for _, c := range b {
			sum += int(c)
		}
		copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
		return b
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	var recs string
	for _, kv := range [][2]string{{"GNU.sparse.major", "0"}, {"GNU.sparse.minor", "1"}, {"GNU.sparse.name", "big"},
		{"GNU.sparse.size", "1099511627776"}, {"GNU.sparse.numblocks", "1"}, {"GNU.sparse.map", "1099511627775,1"}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 2
		if len(fmt.Sprint(n)+rec) != n {
			n++
		}
		recs += fmt.Sprint(n) + rec
	}
	out := header("PaxHeaders/big", 'x', len(recs))
	out = append(out, pad([]byte(recs))...)
	out = append(out, header("big", '0', 1)...)
	out = append(out, pad([]byte("x"))...)
	return append(out, make([]byte, 1024)...)
}

func TestFlattenRefusesSparse(t *testing.T) {
	l := Layer{Name: "layer 0", Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sparseTar())), nil }}
	err := Flatten(context.Background(), []Layer{l}, FlattenOptions{TempDir: t.TempDir()}, func(*tar.Header, io.Reader) error { return nil })
	if !errors.Is(err, tarutil.ErrType) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("err = %v; want a refused sparse file", err)
	}
}

func TestFlattenBadArchive(t *testing.T) {
	good := steptest.Tar(t, file("a", "hello world", 0o644))
	tests := []struct {
		name, msg string
		data      []byte
	}{
		{"truncated", "unexpected EOF", good[:515]},
		{"garbage", "layer 0", bytes.Repeat([]byte{0xAB}, 1024)},
		{"broken gzip", "gzip", []byte{0x1f, 0x8b, 0, 0}},
		{"xz", "xz", []byte("\xfd7zXZ\x00\x00\x00\x00\x00")},
	}
	for _, tt := range tests {
		l := Layer{Name: "layer 0", Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tt.data)), nil }}
		err := Flatten(context.Background(), []Layer{l}, FlattenOptions{Image: "img", TempDir: t.TempDir()}, func(*tar.Header, io.Reader) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "img") {
			t.Errorf("%s: err = %v; want an error naming img and %q", tt.name, err, tt.msg)
		}
	}
}

func TestFlattenCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Flatten(ctx, memLayers(t, [][]steptest.Entry{{file("a", "", 0o644)}}), FlattenOptions{TempDir: t.TempDir()},
		func(*tar.Header, io.Reader) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
}

// cancelAfter cancels a context once n bytes were read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestFlattenCancelInsideAFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := steptest.Tar(t, file("big", strings.Repeat("x", 16<<20), 0o644))
	l := Layer{Name: "layer 0", Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&cancelAfter{r: bytes.NewReader(b), n: 1 << 20, cancel: cancel}), nil
	}}
	err := Flatten(ctx, []Layer{l}, FlattenOptions{TempDir: t.TempDir()}, func(*tar.Header, io.Reader) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
}

func TestFlattenRemovesSpool(t *testing.T) {
	dir := t.TempDir()
	_, err := flattenLines(t, FlattenOptions{TempDir: dir}, []steptest.Entry{file("a", "x", 0o644)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = flattenLines(t, FlattenOptions{TempDir: dir}, []steptest.Entry{file("../a", "x", 0o644)})
	if err == nil {
		t.Fatal("no error")
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("Flatten left %v in its temp dir", left)
	}
}
