package cache_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

// sealedBlob reports whether the blob d of s shows as sealed.
func sealedBlob(t *testing.T, s *cache.Store, d graph.Digest) bool {
	t.Helper()
	p, err := s.Path(d)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return s.Sealed(fi)
}

func TestSeal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("blobs are sealed on Linux only")
	}
	ctx := context.Background()
	s := newStore(t)

	put, err := s.PutBytes(ctx, []byte("written through the store"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !sealedBlob(t, s, put.Digest) {
		t.Error("a blob written through the store is not sealed")
	}

	// A moved file's writer may still hold it: not sealed at commit.
	dir, err := s.TempDir("plugin-")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "out")
	if err := os.WriteFile(src, []byte("moved into the store"), 0o644); err != nil {
		t.Fatal(err)
	}
	moved, err := s.MoveFile(ctx, src, "")
	if err != nil {
		t.Fatal(err)
	}
	if sealedBlob(t, s, moved.Digest) {
		t.Fatal("a moved blob is sealed at commit")
	}
	p, _ := s.Path(moved.Digest)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}

	// Changed while it was read: not sealed.
	later := before.ModTime().Add(-time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(f, before); err != nil || sealedBlob(t, s, moved.Digest) {
		t.Fatalf("Seal of a blob changed while read = %v, sealed %v; want not sealed", err, sealedBlob(t, s, moved.Digest))
	}

	// Unchanged, but its last change is too recent to rule out a write
	// within the same clock tick: not sealed yet.
	if before, err = f.Stat(); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(f, before); err != nil || sealedBlob(t, s, moved.Digest) {
		t.Fatalf("Seal of a blob changed just now = %v, sealed %v; want not sealed", err, sealedBlob(t, s, moved.Digest))
	}

	time.Sleep(100 * time.Millisecond) // let the change time age
	if err := s.Seal(f, before); err != nil || !sealedBlob(t, s, moved.Digest) {
		t.Fatalf("Seal of an unchanged blob = %v, sealed %v; want sealed", err, sealedBlob(t, s, moved.Digest))
	}
}
