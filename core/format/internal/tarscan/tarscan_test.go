package tarscan

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func build(t testing.TB) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, data string) {
		h.ModTime = time.Unix(0, 0)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644}, "hello")
	add(&tar.Header{Name: "d", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "d/" + strings.Repeat("long", 40), Typeflag: tar.TypeReg}, strings.Repeat("x", 1000)) // PAX name
	add(&tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "a"}, "")
	add(&tar.Header{Name: "x", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}}, "")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// check scans src and compares every member with what archive/tar reads,
// and the offsets with each other; it returns the members' names, or the
// scan error.
func check(t *testing.T, src []byte) ([]string, error) {
	s := New(bytes.NewReader(src), int64(len(src)))
	tr := tar.NewReader(bytes.NewReader(src))
	var names []string
	var end int64
	for {
		e, err := s.Next()
		if err == io.EOF {
			if s.End() != end {
				t.Fatalf("End %d, last member ended at %d", s.End(), end)
			}
			return names, nil
		}
		if err != nil {
			return names, err
		}
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("scanner found %q, archive/tar: %v", e.Header.Name, err)
		}
		if e.Start != end || e.Data < e.Start+512 || e.End < e.Data || e.End > int64(len(src)) || e.End%512 != 0 {
			t.Fatalf("%q: offsets start %d data %d end %d after %d", e.Header.Name, e.Start, e.Data, e.End, end)
		}
		end = e.End
		want, err := io.ReadAll(tr)
		if err != nil {
			return names, err
		}
		if got := src[e.Data : e.Data+e.DataSize()]; h.Name != e.Header.Name || !bytes.Equal(got, want) {
			t.Fatalf("%q: data at %d differs from archive/tar's", h.Name, e.Data)
		}
		names = append(names, e.Header.Name)
	}
}

func TestScan(t *testing.T) {
	src := build(t)
	names, err := check(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 5 || names[2] != "d/"+strings.Repeat("long", 40) {
		t.Errorf("names %q", names)
	}
	// Truncated data is an error, not a short member.
	if _, err := check(t, src[:512+3]); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("truncated: %v", err)
	}
}

func FuzzScan(f *testing.F) {
	f.Add(build(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, src []byte) {
		check(t, src) //nolint:errcheck // errors are fine; inconsistencies fail inside
	})
}
