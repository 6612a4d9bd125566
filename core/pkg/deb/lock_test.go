package deb

import (
	"bytes"
	"strings"
	"testing"
)

func TestLockRoundTrip(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	pkgs := []*Package{
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Architecture: "amd64", SHA256: sum, Size: 10, Filename: "pool/main/z/zlib/zlib1g.deb", Source: "http://deb.debian.org/debian"},
		{Name: "base-files", Version: "12.4+deb12u5", Architecture: "amd64", SHA256: sum, Size: 20, Filename: "pool/main/b/base-files/b.deb", Source: "http://deb.debian.org/debian"},
	}
	l := NewLock(pkgs)
	if l.Packages[0].Name != "base-files" {
		t.Fatalf("lock not sorted: %+v", l.Packages)
	}
	b1, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rev := Lock{Packages: []Locked{l.Packages[1], l.Packages[0]}}
	b2, _ := rev.Marshal()
	if !bytes.Equal(b1, b2) {
		t.Errorf("marshal depends on order:\n%s\n%s", b1, b2)
	}
	back, err := ParseLock(b1)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := back.Marshal()
	if !bytes.Equal(b1, b3) {
		t.Errorf("round trip changed the lock:\n%s\n%s", b1, b3)
	}
	empty, _ := Lock{}.Marshal()
	if string(empty) != "{\n  \"packages\": []\n}\n" {
		t.Errorf("empty lock = %q", empty)
	}
}

func TestParseLockErrors(t *testing.T) {
	ok := `{"name":"a","version":"1","arch":"amd64","sha256":"` + strings.Repeat("0", 64) + `","size":1,"filename":"pool/a.deb","source":"http://x"}`
	for _, tc := range []struct{ in, want string }{
		{`{"packages":[` + ok + `,` + ok + `]}`, "listed twice"},
		{`{"packages":[` + strings.Replace(ok, `"1"`, `"x"`, 1) + `]}`, `version "x"`},
		{`{"packages":[` + strings.Replace(ok, `"pool/a.deb"`, `"../a.deb"`, 1) + `]}`, "invalid filename"},
		{`{"packages":[` + strings.Replace(ok, `"http://x"`, `"file:///x"`, 1) + `]}`, "not an http(s) URI"},
		{`{"packages":[` + strings.Replace(ok, strings.Repeat("0", 64), "00", 1) + `]}`, "invalid sha256"},
		{`{"packages":[` + strings.Replace(ok, `"amd64"`, `""`, 1) + `]}`, "no arch"},
		{`{"packages":[],"extra":1}`, "unknown field"},
		{`{`, "deb lock"},
	} {
		if _, err := ParseLock([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}
