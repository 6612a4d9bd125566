package deb

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func FuzzReadParagraphs(f *testing.F) {
	f.Add([]byte("Package: a\nDescription: x\n y\n .\n\nPackage: b\n"))
	f.Add([]byte("# c\n\n\nA: 1\r\n"))
	f.Add([]byte(" x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseParagraphs(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Len() == 0 {
				t.Fatal("empty paragraph returned")
			}
			for _, k := range p.Fields() {
				if _, ok := p.Get(strings.ToUpper(k)); !ok {
					t.Fatalf("field %q not found case-insensitively", k)
				}
			}
		}
	})
}

func FuzzParseRelations(f *testing.F) {
	f.Add("libc6 (>= 2.34), a | b:any [amd64] <!nocheck>")
	f.Add("x (<< 1:2~rc-1)")
	f.Fuzz(func(t *testing.T, s string) {
		rels, err := ParseRelations(s, "amd64")
		if err != nil {
			return
		}
		for _, r := range rels {
			// The printed form parses back to the same relation.
			again, err := ParseRelations(r.String(), "amd64")
			if err != nil || len(again) != 1 || again[0].String() != r.String() {
				t.Fatalf("%q → %q → %v, %v", s, r.String(), again, err)
			}
		}
	})
}

func FuzzParseAptConf(f *testing.F) {
	f.Add(`Acquire { Check-Valid-Until "false"; }; // c` + "\n/* x */ A::B \"1\";")
	f.Add("APT { X { \"a\"; }; };\n#include \"x\";")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseAptConf(s)
	})
}

func FuzzArReader(f *testing.F) {
	f.Add(buildAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"odd", []byte("x")}))
	f.Add([]byte(arMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewArReader(bytes.NewReader(b))
		var total int64
		for {
			h, err := r.Next()
			if err != nil {
				return
			}
			n, err := io.Copy(io.Discard, r)
			if err == nil && n != h.Size {
				t.Fatalf("member %q: read %d bytes, header says %d", h.Name, n, h.Size)
			}
			total += n
			if total > int64(len(b)) {
				t.Fatalf("read %d bytes from a %d-byte archive", total, len(b))
			}
		}
	})
}

func FuzzOpenDeb(f *testing.F) {
	f.Add(testDeb{name: "a", version: "1"}.build(f))
	f.Add(testDeb{name: "b", version: "1", comp: ".xz"}.build(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := OpenDeb(bytes.NewReader(b))
		if err != nil {
			return
		}
		_ = d.WalkData(context.Background(), func(h *tar.Header, r io.Reader) error {
			if h.Name == "" || strings.HasPrefix(h.Name, "/") || strings.HasPrefix(h.Name, "../") {
				t.Fatalf("unclean name %q", h.Name)
			}
			_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			return err
		})
	})
}
