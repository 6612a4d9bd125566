package cache_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAddImageUnchanged checks that recording an image exactly as it is
// recorded leaves index.json alone (no rewrite, same order), and that any
// difference still rewrites it.
func TestAddImageUnchanged(t *testing.T) {
	s := newStore(t)
	a := putImage(t, s, "kit.test/a:1", 1)[0]
	b := putImage(t, s, "kit.test/b:1", 2)[0]
	index := filepath.Join(s.Dir(), "index.json")
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(index)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	refs := func() []string {
		t.Helper()
		imgs, err := s.Images()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, im := range imgs {
			out = append(out, im.Ref)
		}
		return out
	}
	tests := []struct {
		name      string
		add       func() error
		rewritten bool
		order     []string
	}{
		{"same image again", func() error { return s.AddImage("kit.test/a:1", a, "") }, false, []string{"kit.test/a:1", "kit.test/b:1"}},
		{"same with its media type", func() error { return s.AddImage("kit.test/b:1", b, "application/vnd.oci.image.manifest.v1+json") }, false, []string{"kit.test/a:1", "kit.test/b:1"}},
		{"another digest", func() error { return s.AddImage("kit.test/a:1", b, "") }, true, []string{"kit.test/b:1", "kit.test/a:1"}},
		{"another media type", func() error {
			return s.AddImage("kit.test/b:1", b, "application/vnd.docker.distribution.manifest.v2+json")
		}, true, []string{"kit.test/a:1", "kit.test/b:1"}},
		{"unnamed", func() error { return s.AddImage("", a, "") }, true, []string{"kit.test/a:1", "kit.test/b:1", ""}},
		{"unnamed again", func() error { return s.AddImage("", a, "") }, false, []string{"kit.test/a:1", "kit.test/b:1", ""}},
	}
	for _, tt := range tests {
		before := inode()
		if err := tt.add(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := inode() != before; got != tt.rewritten {
			t.Errorf("%s: index.json rewritten = %v, want %v", tt.name, got, tt.rewritten)
		}
		if got := refs(); len(got) != len(tt.order) {
			t.Errorf("%s: images %q, want %q", tt.name, got, tt.order)
		} else {
			for i := range got {
				if got[i] != tt.order[i] {
					t.Errorf("%s: images %q, want %q", tt.name, got, tt.order)
					break
				}
			}
		}
	}
}
