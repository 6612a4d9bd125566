package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

// TestLargeBlobs writes blobs past the write-behind threshold in chunks of
// every shape and checks content, digest, verification and clean-up.
func TestLargeBlobs(t *testing.T) {
	data := make([]byte, 5<<20+123)
	rand.NewChaCha8([32]byte{1}).Read(data)
	want := graph.FromBytes(data)
	tests := []struct {
		name   string
		chunks []int // sizes, repeated until data is written
		want   graph.Digest
		commit bool
		ok     bool
	}{
		{"one write", []int{len(data)}, want, true, true},
		{"small writes", []int{1, 4095, 100 << 10}, want, true, true},
		{"small then large", []int{1 << 20, 3 << 20, 7}, want, true, true},
		{"buffer-sized", []int{1 << 20}, "", true, true},
		{"wrong digest", []int{64 << 10}, graph.FromBytes([]byte("other")), true, false},
		{"closed without commit", []int{3 << 20}, want, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.Create(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for off, i := 0, 0; off < len(data); i++ {
				n := min(tt.chunks[i%len(tt.chunks)], len(data)-off)
				if k, err := w.Write(data[off : off+n]); err != nil || k != n {
					t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
				}
				off += n
			}
			if !tt.commit {
				w.Close()
			} else if out, err := w.Commit("big", "application/octet-stream", tt.want); tt.ok != (err == nil) {
				t.Fatalf("Commit = %v, want success %v", err, tt.ok)
			} else if err != nil && !errors.Is(err, cache.ErrDigestMismatch) {
				t.Fatalf("Commit = %v, want ErrDigestMismatch", err)
			} else if err == nil && (out.Digest != want || out.Size != int64(len(data))) {
				t.Fatalf("Commit = %s (%d bytes), want %s (%d bytes)", out.Digest, out.Size, want, len(data))
			}
			if got := listDir(t, s, "tmp"); len(got) != 0 {
				t.Errorf("tmp/ after the blob: %v", got)
			}
			if !tt.ok {
				if got := listDir(t, s, "blobs/sha256"); len(got) != 0 {
					t.Errorf("blobs after a failed blob: %v", got)
				}
				return
			}
			rc, err := s.Open(context.Background(), want)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored blob: %d bytes, %v; want the %d bytes written", len(got), err, len(data))
			}
		})
	}
}

// TestLargeBlobCancelled checks that a cancelled context stops a large blob.
func TestLargeBlobCancelled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunk := make([]byte, 3<<20)
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write(chunk); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel = %v, want context.Canceled", err)
	}
	if _, err := w.Commit("big", "", ""); err == nil {
		t.Fatal("Commit after cancel succeeded")
	}
	if got := listDir(t, s, "tmp"); len(got) != 0 {
		t.Errorf("tmp/ after a cancelled blob: %v", got)
	}
}

// BenchmarkLargeBlob writes and commits a 256 MiB blob in 64 KiB writes:
// the writing and hashing behind the producer bound its throughput.
func BenchmarkLargeBlob(b *testing.B) {
	chunk := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{2}).Read(chunk)
	const size = 256 << 20
	s := open(b, b.TempDir())
	b.SetBytes(size)
	for i := range b.N {
		w, err := s.Create(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		chunk[0] = byte(i) // a new blob every time
		for off := 0; off < size; off += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Commit("big", "", ""); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
}

// TestTrustDigest checks that a trusted blob takes the digest it is
// committed with (its content is not hashed), and cannot be committed
// without one.
func TestTrustDigest(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("layer"), 1<<20) // large: written behind
	want := graph.FromBytes(content)
	for _, c := range []struct {
		name string
		data []byte
	}{{"large", content}, {"small", []byte("config")}} {
		w, err := s.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.(graph.TrustingWriter).TrustDigest()
		if _, err := w.Write(c.data); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(c.name, "", ""); err == nil {
			t.Errorf("%s: a trusted blob committed without a digest", c.name)
		}
		w.Close()
	}
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.(graph.TrustingWriter).TrustDigest()
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	out, err := w.Commit("layer", "", want)
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != want || out.Size != int64(len(content)) {
		t.Errorf("committed %s (%d bytes), want %s (%d)", out.Digest, out.Size, want, len(content))
	}
	p, err := s.Path(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, content) {
		t.Errorf("stored blob differs (%v)", err)
	}
}

// TestReadFrom checks that io.Copy into a blob writer (ReadFrom) stores
// the same blob as writes, for blobs below and above the buffered head, and
// that a reader's error is returned and nothing is committed.
func TestReadFrom(t *testing.T) {
	for _, size := range []int{0, 100, 64 << 10, 64<<10 + 1, 3<<20 + 7} {
		s := newStore(t)
		content := make([]byte, size)
		for i := range content {
			content[i] = byte(i*31 + i>>9)
		}
		w, err := s.Create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// A reader returning little at a time, and no WriterTo.
		n, err := io.Copy(w, iotest.HalfReader(bytes.NewReader(content)))
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: copied %d, %v", size, n, err)
		}
		o, err := w.Commit("out", "", graph.FromBytes(content))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if o.Size != int64(size) {
			t.Fatalf("size %d: committed %d bytes", size, o.Size)
		}
		r, err := s.Open(context.Background(), o.Digest)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, content) {
			t.Fatalf("size %d: blob differs", size)
		}
	}
	s := newStore(t)
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	boom := errors.New("connection reset")
	if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(make([]byte, 200<<10)), iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Fatalf("copy from a failing reader: %v", err)
	}
}

// TestMirror checks that a mirrored blob writer copies every byte into the
// mirror, small and large blobs, hashed or trusted, and that a mirror that
// cannot be written fails only the mirror.
func TestMirror(t *testing.T) {
	large := make([]byte, 3<<20+77)
	rand.NewChaCha8([32]byte{5}).Read(large)
	small := large[:1000]
	for _, tt := range []struct {
		name    string
		data    []byte
		trusted bool
		broken  bool // the mirror is closed before the writes
		commit  bool
	}{
		{"small", small, false, false, true},
		{"large", large, false, false, true},
		{"large trusted", large, true, false, true},
		{"large broken mirror", large, false, true, true},
		{"small broken mirror", small, false, true, true},
		{"not committed", large, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.Create(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			mw := w.(graph.MirroringWriter)
			f, err := os.CreateTemp(t.TempDir(), "mirror")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			mw.Mirror(f)
			if tt.broken {
				f.Close()
			}
			want := graph.FromBytes(tt.data)
			if tt.trusted {
				w.(graph.TrustingWriter).TrustDigest()
			}
			for rest := tt.data; len(rest) > 0; {
				n := min(len(rest), 300<<10)
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if !tt.commit {
				w.Close()
				if _, ok := mw.Mirrored(); ok {
					t.Error("a blob closed without commit reports a mirror")
				}
				return
			}
			out, err := w.Commit("x", "", want)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := mw.Mirrored()
			if tt.broken {
				if ok {
					t.Error("a mirror that could not be written is reported intact")
				}
				return
			}
			if !ok || d != out.Digest {
				t.Fatalf("Mirrored = %s, %v; want %s, true", d, ok, out.Digest)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("mirror holds %d bytes (%v), want the blob's %d", len(got), err, len(tt.data))
			}
		})
	}
}
