package deb

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

func TestArReader(t *testing.T) {
	ar := buildAr(arMember{"odd", []byte("abc")}, arMember{"empty", nil}, arMember{"even/", []byte("abcd")})
	r := NewArReader(bytes.NewReader(ar))
	var got []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != h.Size {
			t.Errorf("%s: read %d bytes, header says %d", h.Name, len(b), h.Size)
		}
		got = append(got, h.Name+"="+string(b))
	}
	if s := strings.Join(got, ","); s != "odd=abc,empty=,even=abcd" {
		t.Errorf("members = %s", s)
	}
	// Skipping unread members works too.
	r = NewArReader(bytes.NewReader(ar))
	for _, want := range []string{"odd", "empty", "even"} {
		h, err := r.Next()
		if err != nil || h.Name != want {
			t.Fatalf("Next = %+v, %v; want %s", h, err, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("end: err = %v, want io.EOF", err)
	}
}

func TestArReaderErrors(t *testing.T) {
	good := buildAr(arMember{"debian-binary", []byte("2.0\n")})
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "reading magic"},
		{"bad magic", []byte("!<arch>X" + string(good[8:])), "bad magic"},
		{"truncated header", good[:30], "reading header"},
		{"bad terminator", append(append([]byte(nil), good[:8+58]...), 'x', 'x'), "malformed member header"},
		{"bad size", bytes.Replace(good, []byte("4         `"), []byte("-4        `"), 1), "invalid size"},
		{"bsd long name", bytes.Replace(good, []byte("debian-binary   "), []byte("#1/13           "), 1), "extended names"},
		{"truncated member", good[:len(good)-2], "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewArReader(bytes.NewReader(tc.in))
			_, err := r.Next()
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func readDebEntries(t *testing.T, deb []byte) (*Deb, []string, error) {
	t.Helper()
	d, err := OpenDeb(bytes.NewReader(deb))
	if err != nil {
		return nil, nil, err
	}
	var entries []string
	err = d.WalkData(context.Background(), func(h *tar.Header, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		e := h.Name
		switch h.Typeflag {
		case tar.TypeReg:
			e += "=" + string(b)
		case tar.TypeSymlink:
			e += "->" + h.Linkname
		case tar.TypeLink:
			e += "=>" + h.Linkname
		}
		entries = append(entries, e)
		return nil
	})
	return d, entries, err
}

func TestDeb(t *testing.T) {
	files := []tarEntry{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "./etc/foo.conf", body: "conf\n"},
		{name: "./usr/bin/foo", body: "#!/bin/sh\n", mode: 0o755},
		{name: "./usr/bin/foo-link", typ: tar.TypeSymlink, link: "foo"},
		{name: "./usr/bin/foo-hard", typ: tar.TypeLink, link: "./usr/bin/foo"},
		{name: "usr/share/doc/", typ: tar.TypeDir, mode: 0o755},
	}
	want := "etc/ etc/foo.conf=conf\n usr/bin/foo=#!/bin/sh\n usr/bin/foo-link->foo usr/bin/foo-hard=>usr/bin/foo usr/share/doc/"
	for _, comp := range []string{"", ".gz", ".xz", ".zst"} {
		t.Run("data.tar"+comp, func(t *testing.T) {
			deb := testDeb{name: "foo", version: "1:2.0-1", fields: "Depends: libc6\n", files: files, conffiles: "/etc/foo.conf\nremove-on-upgrade /etc/old.conf\n", comp: comp}.build(t)
			d, entries, err := readDebEntries(t, deb)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(entries, " "); got != want {
				t.Errorf("entries\n got %q\nwant %q", got, want)
			}
			if d.Control.Value("Package") != "foo" || d.Control.Value("Version") != "1:2.0-1" || d.Control.Value("Depends") != "libc6" {
				t.Errorf("control: %v", d.Control.Fields())
			}
			if strings.Join(d.Conffiles, ",") != "/etc/foo.conf" {
				t.Errorf("conffiles = %q", d.Conffiles)
			}
			if strings.Join(d.Scripts, ",") != "postinst" {
				t.Errorf("scripts = %q", d.Scripts)
			}
			if err := d.WalkData(context.Background(), func(*tar.Header, io.Reader) error { return nil }); err == nil {
				t.Error("second WalkData succeeded")
			}
		})
	}
}

func TestDebWriteData(t *testing.T) {
	deb := testDeb{name: "foo", version: "1"}.build(t)
	d, err := OpenDeb(bytes.NewReader(deb))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := d.WriteData(context.Background(), tw); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name+":"+string(b))
	}
	if got := strings.Join(names, " "); got != "usr/: usr/share/: usr/share/foo:foo 1\n" {
		t.Errorf("tar = %q", got)
	}
}

func TestDebErrors(t *testing.T) {
	ctl := compress(t, ".gz", buildTar(t, []tarEntry{{name: "./control", body: "Package: x\nVersion: 1\n"}}))
	data := buildTar(t, []tarEntry{{name: "./ok", body: "x"}})
	for _, tc := range []struct {
		name    string
		deb     []byte
		want    string
		walkErr bool
	}{
		{"not ar", []byte("hello"), "reading magic", false},
		{"no debian-binary", buildAr(arMember{"control.tar.gz", ctl}), "first member is \"control.tar.gz\"", false},
		{"format 3", buildAr(arMember{"debian-binary", []byte("3.0\n")}), "unsupported format version", false},
		{"no data", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar.gz", ctl}), "no data.tar member", false},
		{"data first", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"data.tar", data}), "data.tar before control.tar", false},
		{"unknown member", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"evil", nil}), "unexpected member \"evil\"", false},
		{"lzma", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar.lzma", nil}), "control.tar.lzma: unsupported compression", false},
		{"no control file", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar", buildTar(t, []tarEntry{{name: "./md5sums", body: ""}})}), "no control file", false},
		{"escaping entry", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar.gz", ctl},
			arMember{"data.tar", buildTar(t, []tarEntry{{name: "./../../etc/passwd", body: "x"}})}), "escapes the root", true},
		{"corrupt data", buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar.gz", ctl},
			arMember{"data.tar.xz", []byte("not xz")}), "data.tar.xz", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readDebEntries(t, tc.deb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A cancelled context stops the walk.
	deb := buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar.gz", ctl}, arMember{"data.tar", data})
	d, err := OpenDeb(bytes.NewReader(deb))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.WalkData(ctx, func(*tar.Header, io.Reader) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: err = %v", err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"./":             "",
		".":              "",
		"./usr/bin/x":    "usr/bin/x",
		"usr//lib/":      "usr/lib",
		"/abs/path":      "abs/path",
		"./a/../b":       "b",
		"./../x":         "../x",
		"a/../../x":      "../x",
		"./usr/./share/": "usr/share",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

// xzWithDict rewrites the LZMA2 dictionary byte of a single-block xz
// stream and fixes the block header's CRC32.
func xzWithDict(t *testing.T, b []byte, dictByte byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	hs := (int(b[12]) + 1) * 4
	i := bytes.Index(b[12:12+hs], []byte{0x21, 0x01})
	if i < 0 {
		t.Fatal("no LZMA2 filter in the block header")
	}
	b[12+i+2] = dictByte
	binary.LittleEndian.PutUint32(b[12+hs-4:], crc32.ChecksumIEEE(b[12:12+hs-4]))
	return b
}

func TestXZDictLimit(t *testing.T) {
	plain := []byte("hello, world\n")
	x := compress(t, ".xz", plain)
	for _, tc := range []struct {
		name    string
		dict    byte
		wantErr bool
	}{
		{"8 MiB", 22, false},
		{"64 MiB", 28, false},
		{"96 MiB", 29, true},
		{"4 GiB", 40, true},
	} {
		r, err := newXZReader(bytes.NewReader(xzWithDict(t, x, tc.dict)))
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "exceeds the 67108864-byte limit") {
				t.Errorf("%s: err = %v, want the dictionary limit", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: got %q, %v", tc.name, got, err)
		}
	}
}
