package tarutil

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCleanName(t *testing.T) {
	long := strings.Repeat("a", MaxComponentLen+1)
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "etc/passwd", want: "etc/passwd"},
		{in: "./etc/passwd", want: "etc/passwd"},
		{in: "/etc/passwd", want: "etc/passwd"},
		{in: "//etc//passwd/", want: "etc/passwd"},
		{in: "etc/./passwd", want: "etc/passwd"},
		{in: "etc/", want: "etc"},
		{in: ".", want: ""},
		{in: "./", want: ""},
		{in: "/", want: ""},
		{in: "", want: ""},
		{in: "..", bad: true},
		{in: "../etc", bad: true},
		{in: "etc/../../x", bad: true},
		{in: "a/../b", bad: true},
		{in: "/../x", bad: true},
		{in: "a/..", bad: true},
		{in: "a\x00b", bad: true},
		{in: "a/" + long, bad: true},
		{in: strings.Repeat("a/", MaxNameLen/2+1), bad: true},
		{in: "..a/b..", want: "..a/b.."},
		{in: ".wh..wh..opq", want: ".wh..wh..opq"},
	}
	for _, tt := range tests {
		got, err := CleanName(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrUnsafeName) {
				t.Errorf("CleanName(%q) = %q, %v; want ErrUnsafeName", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestClamp(t *testing.T) {
	tests := []struct {
		in    time.Time
		epoch int64
		want  int64
	}{
		{time.Unix(100, 999), 1000, 100},
		{time.Unix(2000, 5), 1000, 1000},
		{time.Unix(1000, 0), 1000, 1000},
		{time.Unix(-5, 0), 0, -5},
		{time.Time{}, 77, 77},
	}
	for _, tt := range tests {
		got := Clamp(tt.in, tt.epoch)
		if got.Unix() != tt.want || got.Nanosecond() != 0 {
			t.Errorf("Clamp(%v, %d) = %v; want %d", tt.in, tt.epoch, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	mtime := time.Unix(5000, 123)
	tests := []struct {
		name string
		in   tar.Header
		want tar.Header
		err  error
	}{
		{
			name: "regular file",
			in: tar.Header{Name: "./usr/bin/x", Typeflag: typeRegA, Mode: 0o100755, Size: 3, Uid: 7, Gid: 8,
				Uname: "u", Gname: "g", ModTime: mtime, AccessTime: mtime, ChangeTime: mtime, Format: tar.FormatGNU,
				PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00", "comment": "hi", "atime": "1"}},
			want: tar.Header{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3, Uid: 7, Gid: 8,
				ModTime: time.Unix(1000, 0).UTC(), PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00"}},
		},
		{
			name: "directory keeps sticky bit, drops size",
			in:   tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o41777, Size: 9, ModTime: time.Unix(10, 0), Linkname: "x"},
			want: tar.Header{Name: "tmp", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: time.Unix(10, 0).UTC()},
		},
		{
			name: "hard link target cleaned",
			in:   tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "/a", Devmajor: 3},
			want: tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a", ModTime: time.Unix(1000, 0).UTC()},
		},
		{
			name: "deprecated xattrs move to PAX records",
			//lint:ignore SA1019 headers built by old code set only the deprecated field
			in:   tar.Header{Name: "f", Typeflag: tar.TypeReg, Xattrs: map[string]string{"user.a": "1"}},
			want: tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: time.Unix(1000, 0).UTC(), PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1"}},
		},
		{
			name: "device keeps numbers",
			in:   tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666},
			want: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: time.Unix(1000, 0).UTC()},
		},
		{name: "dotdot", in: tar.Header{Name: "../x", Typeflag: tar.TypeReg}, err: ErrUnsafeName},
		{name: "root", in: tar.Header{Name: "./", Typeflag: tar.TypeDir}, err: ErrUnsafeName},
		{name: "hard link escaping", in: tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "../../etc/shadow"}, err: ErrUnsafeName},
		{name: "empty symlink", in: tar.Header{Name: "x", Typeflag: tar.TypeSymlink}, err: ErrUnsafeName},
		{name: "global header", in: tar.Header{Name: "x", Typeflag: tar.TypeXGlobalHeader}, err: ErrType},
		{name: "unknown type", in: tar.Header{Name: "x", Typeflag: 'Z'}, err: ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.in
			err := Normalize(&h, 1000)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v; want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !headersEqual(&h, &tt.want) {
				t.Errorf("got  %+v\nwant %+v", h, tt.want)
			}
		})
	}
}

func headersEqual(a, b *tar.Header) bool {
	if len(a.PAXRecords) != len(b.PAXRecords) {
		return false
	}
	for k, v := range a.PAXRecords {
		if b.PAXRecords[k] != v {
			return false
		}
	}
	return a.Name == b.Name && a.Typeflag == b.Typeflag && a.Mode == b.Mode && a.Size == b.Size &&
		a.Uid == b.Uid && a.Gid == b.Gid && a.Uname == b.Uname && a.Gname == b.Gname &&
		a.ModTime.Equal(b.ModTime) && a.AccessTime.IsZero() && a.ChangeTime.IsZero() &&
		a.Linkname == b.Linkname && a.Devmajor == b.Devmajor && a.Devminor == b.Devminor &&
		a.Format == tar.FormatUnknown && noXattrs(a)
}

func noXattrs(h *tar.Header) bool {
	//lint:ignore SA1019 checks that the deprecated field is cleared
	return len(h.Xattrs) == 0
}

type entry struct {
	h    tar.Header
	data string
}

func writeAll(t *testing.T, epoch int64, entries []entry) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, epoch)
	for _, e := range entries {
		h := e.h
		h.Size = int64(len(e.data))
		if err := w.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(e.data)); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestWriter(t *testing.T) {
	long := strings.Repeat("d/", 80) + "f"
	ok := []entry{
		{h: tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{h: tar.Header{Name: "a/f", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1e9, 0), Uname: "root"}, data: "hello"},
		{h: tar.Header{Name: "a/g", Typeflag: tar.TypeLink, Linkname: "a/f"}},
		{h: tar.Header{Name: "b", Typeflag: tar.TypeSymlink, Linkname: "/etc/x"}},
		{h: tar.Header{Name: long, Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.x": "y"}}, data: "z"},
	}
	out, err := writeAll(t, 1000, ok)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Verify(bytes.NewReader(out), 1000)
	if err != nil || n != len(ok) {
		t.Fatalf("Verify = %d, %v; want %d entries", n, err, len(ok))
	}
	// The same input gives the same bytes.
	again, err := writeAll(t, 1000, ok)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("second write differs (err %v)", err)
	}

	bad := []struct {
		name    string
		entries []entry
		err     error
	}{
		{"unsorted", []entry{{h: tar.Header{Name: "b", Typeflag: tar.TypeDir}}, {h: tar.Header{Name: "a", Typeflag: tar.TypeDir}}}, ErrOrder},
		{"duplicate", []entry{{h: tar.Header{Name: "a", Typeflag: tar.TypeDir}}, {h: tar.Header{Name: "./a/", Typeflag: tar.TypeDir}}}, ErrOrder},
		{"link before target", []entry{{h: tar.Header{Name: "a", Typeflag: tar.TypeLink, Linkname: "b"}}}, ErrOrder},
		{"escaping name", []entry{{h: tar.Header{Name: "a/../../b", Typeflag: tar.TypeReg}}}, ErrUnsafeName},
	}
	for _, tt := range bad {
		if _, err := writeAll(t, 1000, tt.entries); !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v; want %v", tt.name, err, tt.err)
		}
	}
}

// rawTar writes headers as given, without normalization.
func rawTar(t testing.TB, hs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerifyRefuses(t *testing.T) {
	e := time.Unix(100, 0)
	dir := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeDir, ModTime: e} }
	reg := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeReg, ModTime: e} }
	tests := []struct {
		name string
		hs   []tar.Header
	}{
		{"unclean name", []tar.Header{reg("./a")}},
		{"trailing slash", []tar.Header{dir("a/")}},
		{"unsorted", []tar.Header{reg("b"), reg("a")}},
		{"duplicate", []tar.Header{reg("a"), reg("a")}},
		{"below a file", []tar.Header{reg("a"), reg("a/b")}},
		{"dangling hard link", []tar.Header{{Name: "b", Typeflag: tar.TypeLink, Linkname: "a", ModTime: e}}},
		{"hard link to dir", []tar.Header{dir("a"), {Name: "b", Typeflag: tar.TypeLink, Linkname: "a", ModTime: e}}},
		{"uname", []tar.Header{{Name: "a", Typeflag: tar.TypeReg, Uname: "root", ModTime: e}}},
		{"future mtime", []tar.Header{{Name: "a", Typeflag: tar.TypeReg, ModTime: time.Unix(2000, 0)}}},
		{"subsecond mtime", []tar.Header{{Name: "a", Typeflag: tar.TypeReg, ModTime: time.Unix(10, 5), Format: tar.FormatPAX}}},
		{"atime", []tar.Header{{Name: "a", Typeflag: tar.TypeReg, ModTime: e, AccessTime: e, Format: tar.FormatPAX}}},
		{"foreign PAX record", []tar.Header{{Name: "a", Typeflag: tar.TypeReg, ModTime: e, PAXRecords: map[string]string{"comment": "x"}}}},
		{"mode type bits", []tar.Header{{Name: "a", Typeflag: tar.TypeReg, Mode: 0o100644, ModTime: e}}},
		{"escaping", []tar.Header{reg("../a")}},
	}
	for _, tt := range tests {
		if _, err := Verify(bytes.NewReader(rawTar(t, tt.hs...)), 1000); !errors.Is(err, ErrNotNormalized) {
			t.Errorf("%s: err = %v; want ErrNotNormalized", tt.name, err)
		}
	}
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a/b", "./a", "/../a", "a//b/", ".", "..a", ".wh.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CleanName(s)
		if err != nil {
			return
		}
		if c != "" && !isClean(c) {
			t.Fatalf("CleanName(%q) = %q, which is not clean", s, c)
		}
		if c2, err := CleanName(c); err != nil || c2 != c {
			t.Fatalf("CleanName not idempotent: %q → %q → %q, %v", s, c, c2, err)
		}
		for comp := range strings.SplitSeq(c, "/") {
			if comp == ".." {
				t.Fatalf("CleanName(%q) = %q keeps ..", s, c)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(rawTar(f, tar.Header{Name: "a", Typeflag: tar.TypeDir}, tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Verify(bytes.NewReader(data), 1000)
		if err != nil {
			return
		}
		// Whatever Verify accepts, a Writer must reproduce entry for entry.
		tr := tar.NewReader(bytes.NewReader(data))
		var buf bytes.Buffer
		w := NewWriter(&buf, 1000)
		for i := 0; i < n; i++ {
			h, err := tr.Next()
			if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
				t.Fatal(err)
			}
			if err := w.WriteHeader(h); err != nil {
				t.Fatalf("Writer refuses what Verify accepted: %v", err)
			}
		}
	})
}
