package cachetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/solver"
)

// Run checks that the stores made by newStore behave as solver.Store
// promises. newStore is called once per subtest and must return an empty
// store.
func Run(t *testing.T, newStore func(t *testing.T) solver.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s solver.Store)
	}{
		{"BlobRoundTrip", testBlobRoundTrip},
		{"CommitVerifiesDigest", testCommitVerifies},
		{"CloseWithoutCommitDiscards", testCloseDiscards},
		{"CommitSameBlobTwice", testCommitTwice},
		{"MissingBlob", testMissingBlob},
		{"CancelledCreate", testCancelledCreate},
		{"ActionRoundTrip", testActionRoundTrip},
		{"ActionWithMissingOutputIsMiss", testActionMissingOutput},
		{"LastAction", testLastAction},
		{"LockExcludes", testLockExcludes},
		{"LockHonoursContext", testLockContext},
		{"TempDir", testTempDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// Put writes b as a blob named name and fails the test on error.
func Put(t *testing.T, s solver.Store, name string, b []byte) graph.Output {
	t.Helper()
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	o, err := w.Commit(name, "application/octet-stream", "")
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return o
}

func testBlobRoundTrip(t *testing.T, s solver.Store) {
	content := bytes.Repeat([]byte("kit blob "), 10000)
	o := Put(t, s, "rootfs.tar", content)
	want := graph.Output{Name: "rootfs.tar", Digest: graph.FromBytes(content), Size: int64(len(content)), MediaType: "application/octet-stream"}
	if o != want {
		t.Fatalf("Commit returned %+v, want %+v", o, want)
	}
	if !s.Has(o.Digest) {
		t.Fatalf("Has(%s) = false after commit", o.Digest)
	}
	p, err := s.Path(o.Digest)
	if err != nil {
		t.Fatalf("Path: %v", err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content at Path: %d bytes, err %v; want %d bytes", len(got), err, len(content))
	}
	rc, err := s.Open(context.Background(), o.Digest)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	got, err = io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content from Open: %d bytes, err %v; want %d bytes", len(got), err, len(content))
	}
}

func testCommitVerifies(t *testing.T, s solver.Store) {
	other := graph.FromBytes([]byte("something else"))
	tests := []struct {
		name    string
		want    graph.Digest // "" stands for the right digest
		wantErr bool
	}{
		{"right digest", "", false},
		{"wrong digest", other, true},
		{"malformed digest", "sha256:xyz", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := []byte("the real content of " + tt.name)
			if tt.want == "" {
				tt.want = graph.FromBytes(content)
			}
			w, err := s.Create(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write(content); err != nil {
				t.Fatal(err)
			}
			o, err := w.Commit("x", "", tt.want)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Commit with want %s succeeded: %+v", tt.want, o)
				}
				if s.Has(graph.FromBytes(content)) || s.Has(other) {
					t.Fatalf("a failed commit left a visible blob")
				}
				return
			}
			if err != nil || o.Digest != tt.want {
				t.Fatalf("Commit = %+v, %v", o, err)
			}
		})
	}
}

func testCloseDiscards(t *testing.T, s solver.Store) {
	content := []byte("never committed")
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s.Has(graph.FromBytes(content)) {
		t.Fatal("a blob closed without commit is visible")
	}
	if _, err := w.Commit("x", "", ""); err == nil {
		t.Fatal("Commit after Close succeeded")
	}
	// Close after Commit keeps the blob.
	o := Put(t, s, "y", []byte("kept"))
	if !s.Has(o.Digest) {
		t.Fatal("blob missing after commit")
	}
}

func testCommitTwice(t *testing.T, s solver.Store) {
	content := []byte("same bytes")
	a := Put(t, s, "a", content)
	b := Put(t, s, "b", content)
	if a.Digest != b.Digest || a.Size != b.Size || b.Name != "b" {
		t.Fatalf("second commit = %+v, first %+v", b, a)
	}
	if !s.Has(a.Digest) {
		t.Fatal("blob missing after a second commit")
	}
}

func testMissingBlob(t *testing.T, s solver.Store) {
	d := graph.FromBytes([]byte("absent"))
	if s.Has(d) {
		t.Fatal("Has of an absent blob")
	}
	if _, err := s.Path(d); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Path of an absent blob: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.Open(context.Background(), d); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of an absent blob: %v, want fs.ErrNotExist", err)
	}
}

func testCancelledCreate(t *testing.T, s solver.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	content := []byte("cancelled write")
	w, err := s.Create(ctx)
	if err == nil {
		defer w.Close()
		cancel()
		_, werr := w.Write(content)
		_, cerr := w.Commit("x", "", "")
		if werr == nil && cerr == nil {
			t.Fatal("write and commit succeeded after cancellation")
		}
	}
	cancel()
	if s.Has(graph.FromBytes(content)) {
		t.Fatal("a cancelled write became visible")
	}
}

func action(name string, key graph.Key, outs ...graph.Output) *graph.Action {
	return &graph.Action{
		Key:        key,
		Name:       name,
		Components: graph.KeyComponents{Kind: "test", Version: "1", Params: []byte(`{"n":"` + name + `"}`)},
		Outputs:    outs,
		Created:    time.Unix(1700000000, 0).UTC(),
	}
}

func testActionRoundTrip(t *testing.T, s solver.Store) {
	key := graph.FromBytes([]byte("key 1"))
	got, err := s.GetAction(key)
	if err != nil || got != nil {
		t.Fatalf("GetAction on an empty store = %v, %v; want nil, nil", got, err)
	}
	o1 := Put(t, s, "kernel", []byte("kernel bytes"))
	o2 := Put(t, s, "cmdline", []byte("console=ttyS0"))
	a := action("node", key, o1, o2)
	if err := s.PutAction(a); err != nil {
		t.Fatalf("PutAction: %v", err)
	}
	got, err = s.GetAction(key)
	if err != nil || got == nil {
		t.Fatalf("GetAction after PutAction = %v, %v", got, err)
	}
	if got.Key != key || got.Name != "node" || len(got.Outputs) != 2 || got.Outputs[0] != o1 || got.Outputs[1] != o2 {
		t.Fatalf("GetAction = %+v, want %+v", got, a)
	}
	if string(got.Components.Params) != string(a.Components.Params) || !got.Created.Equal(a.Created) {
		t.Fatalf("GetAction lost components or time: %+v", got)
	}
}

func testActionMissingOutput(t *testing.T, s solver.Store) {
	key := graph.FromBytes([]byte("key missing"))
	ghost := graph.Output{Name: "ghost", Digest: graph.FromBytes([]byte("never stored")), Size: 12}
	if err := s.PutAction(action("node", key, ghost)); err != nil {
		return // refusing the entry is fine too
	}
	got, err := s.GetAction(key)
	if err != nil || got != nil {
		t.Fatalf("GetAction of an entry whose output is missing = %+v, %v; want a miss", got, err)
	}
}

func testLastAction(t *testing.T, s solver.Store) {
	if a, err := s.LastAction("nobody"); err != nil || a != nil {
		t.Fatalf("LastAction of an unknown name = %v, %v", a, err)
	}
	o := Put(t, s, "out", []byte("out"))
	k1, k2 := graph.FromBytes([]byte("k1")), graph.FromBytes([]byte("k2"))
	for _, k := range []graph.Key{k1, k2} {
		if err := s.PutAction(action("assemble x", k, o)); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.LastAction("assemble x")
	if err != nil || a == nil || a.Key != k2 {
		t.Fatalf("LastAction = %+v, %v; want key %s", a, err, k2)
	}
	// The older entry is still served by key.
	if a, err := s.GetAction(k1); err != nil || a == nil {
		t.Fatalf("GetAction(k1) = %v, %v", a, err)
	}
}

func testLockExcludes(t *testing.T, s solver.Store) {
	key := graph.FromBytes([]byte("lock key"))
	var wg sync.WaitGroup
	inside, peak := 0, 0
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				unlock, err := s.Lock(context.Background(), key)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				peak = max(peak, inside)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				unlock()
			}
		}()
	}
	wg.Wait()
	if peak != 1 {
		t.Fatalf("%d goroutines held the same key lock at once", peak)
	}
	// Different keys do not exclude each other.
	u1, err := s.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer u1()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u2, err := s.Lock(ctx, graph.FromBytes([]byte("other key")))
	if err != nil {
		t.Fatalf("lock of another key while one is held: %v", err)
	}
	u2()
}

func testLockContext(t *testing.T, s solver.Store) {
	key := graph.FromBytes([]byte("ctx key"))
	unlock, err := s.Lock(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if u, err := s.Lock(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		if u != nil {
			u()
		}
		t.Fatalf("Lock of a held key with a deadline: %v, want context.DeadlineExceeded", err)
	}
	unlock()
	unlock() // idempotent
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	u, err := s.Lock(ctx2, key)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	u()
}

func testTempDir(t *testing.T, s solver.Store) {
	d, err := s.TempDir("step-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	defer os.RemoveAll(d)
	d2, err := s.TempDir("step-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d2)
	if d == d2 {
		t.Fatalf("TempDir returned %s twice", d)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
		t.Fatalf("TempDir is not writable: %v", err)
	}
}
