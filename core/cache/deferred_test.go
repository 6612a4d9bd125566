package cache_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/cache/cachetest"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/solver"
)

// deferredStore creates every blob with deferred durability, as the
// solver does.
type deferredStore struct{ *cache.Store }

func (s deferredStore) Create(ctx context.Context) (graph.BlobWriter, error) {
	return s.CreateDeferred(ctx)
}

func TestConformanceDeferred(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) solver.Store {
		s := newStore(t)
		t.Cleanup(func() { s.WaitDurable() })
		return deferredStore{s}
	})
}

func putDeferred(t *testing.T, s *cache.Store, b []byte) graph.Output {
	t.Helper()
	w, err := s.CreateDeferred(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for off := 0; off < len(b); off += 1 << 16 {
		if _, err := w.Write(b[off:min(off+1<<16, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	o, err := w.Commit("out", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestDeferred checks that a pending blob is served at once, that recording
// an action waits until its outputs are durable, and that they are then in
// blobs/ with nothing left in tmp/.
func TestDeferred(t *testing.T) {
	s := newStore(t)
	content := bytes.Repeat([]byte("deferred "), 1<<18)
	o := putDeferred(t, s, content)
	if !s.Has(o.Digest) {
		t.Fatal("a pending blob is not present")
	}
	if n, err := s.Stat(o.Digest); err != nil || n != int64(len(content)) {
		t.Fatalf("Stat = %d, %v", n, err)
	}
	rc, err := s.Open(context.Background(), o.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("pending blob read back: %d bytes, %v", len(got), err)
	}
	// The same content again: nothing more to do.
	if o2 := putDeferred(t, s, content); o2.Digest != o.Digest {
		t.Fatalf("second commit: %s", o2.Digest)
	}
	key := graph.Key(graph.FromBytes([]byte("deferred action")))
	if err := s.PutAction(&graph.Action{Key: key, Name: "n", Outputs: []graph.Output{o}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256", o.Digest.Hex())); err != nil {
		t.Fatalf("the output of a recorded action is not in blobs/: %v", err)
	}
	if err := s.WaitDurable(); err != nil {
		t.Fatal(err)
	}
	if left := listDir(t, s, "tmp"); len(left) != 0 {
		t.Errorf("tmp/ after the blobs are durable: %v", left)
	}
	p, err := s.Path(o.Digest)
	if err != nil || filepath.Dir(p) != filepath.Join(s.Dir(), "blobs", "sha256") {
		t.Fatalf("Path = %q, %v", p, err)
	}
	if a, err := s.GetAction(key); err != nil || a == nil {
		t.Fatalf("GetAction = %v, %v", a, err)
	}
}

// TestDeferredPathWaits checks that Path of a pending blob returns the
// durable blob's path.
func TestDeferredPathWaits(t *testing.T) {
	s := newStore(t)
	o := putDeferred(t, s, bytes.Repeat([]byte("x"), 3<<20))
	p, err := s.Path(o.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil || filepath.Base(p) != o.Digest.Hex() {
		t.Fatalf("Path = %q (%v), want the blob in blobs/", p, err)
	}
}

// TestDeferredFailure makes the link of a pending blob fail: the blob is
// then missing, and the action naming it is not recorded.
func TestDeferredFailure(t *testing.T) {
	s := newStore(t)
	blobs := filepath.Join(s.Dir(), "blobs", "sha256")
	if err := os.Rename(blobs, blobs+".away"); err != nil {
		t.Fatal(err)
	}
	o := putDeferred(t, s, []byte("never linked"))
	if err := s.WaitDurable(); err == nil {
		t.Fatal("WaitDurable after a failed link: no error")
	}
	if err := os.Rename(blobs+".away", blobs); err != nil {
		t.Fatal(err)
	}
	if s.Has(o.Digest) {
		t.Fatal("a blob whose link failed is present")
	}
	key := graph.Key(graph.FromBytes([]byte("failed action")))
	if err := s.PutAction(&graph.Action{Key: key, Name: "n", Outputs: []graph.Output{o}}); err == nil {
		t.Fatal("PutAction of an action whose output failed: no error")
	}
	if a, _ := s.GetAction(key); a != nil {
		t.Fatal("the action was recorded")
	}
}
