package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

// streamContent is a blob of several write-behind buffers.
func streamContent() ([]byte, graph.Digest) {
	b := make([]byte, 5<<20+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, graph.FromBytes(b)
}

// streamWriter starts a blob of s that readers of d follow.
func streamWriter(t *testing.T, s *cache.Store, d graph.Digest, deferred bool) graph.BlobWriter {
	t.Helper()
	var w graph.BlobWriter
	var err error
	if deferred {
		w, err = s.CreateDeferred(context.Background())
	} else {
		w, err = s.Create(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	w.(graph.StreamingWriter).StreamAs(d)
	return w
}

// reading reads r to its end on a goroutine; the count of bytes read so
// far is readable at any time, the content and error once done is closed.
type reading struct {
	n    chan int64 // every count reached
	done chan struct{}
	got  []byte
	err  error
}

func readAsync(r io.Reader) *reading {
	rd := &reading{n: make(chan int64, 1024), done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		buf := make([]byte, 256<<10)
		for {
			k, err := r.Read(buf)
			rd.got = append(rd.got, buf[:k]...)
			if k > 0 {
				select {
				case rd.n <- int64(len(rd.got)):
				default:
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				rd.err = err
				return
			}
		}
	}()
	return rd
}

// openReading opens the blob d of s and reads it on a goroutine.
func openReading(t *testing.T, s *cache.Store, ctx context.Context, d graph.Digest) *reading {
	t.Helper()
	r, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return readAsync(r)
}

// atLeast waits until rd has read n bytes.
func (rd *reading) atLeast(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case k := <-rd.n:
			if k >= n {
				return
			}
		case <-rd.done:
			t.Fatalf("reader stopped after %d bytes (%v), want at least %d first", len(rd.got), rd.err, n)
		case <-deadline:
			t.Fatalf("reader never got %d bytes", n)
		}
	}
}

func (rd *reading) wait(t *testing.T) {
	t.Helper()
	select {
	case <-rd.done:
	case <-time.After(20 * time.Second):
		t.Fatal("reader never finished")
	}
}

// TestStreamFollowsWriter checks that a reader of an expected blob gets its
// bytes while they are written, ends only once the blob is committed, and
// reads exactly the blob; for both kinds of writers.
func TestStreamFollowsWriter(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		t.Run(map[bool]string{false: "sync", true: "deferred"}[deferred], func(t *testing.T) {
			s := newStore(t)
			defer s.WaitDurable()
			content, d := streamContent()
			release := s.Expect(d)
			defer release(nil)
			rd := openReading(t, s, context.Background(), d)
			w := streamWriter(t, s, d, deferred)
			defer w.Close()
			half := len(content) / 2
			if _, err := w.Write(content[:half]); err != nil {
				t.Fatal(err)
			}
			// The write-behind buffers are 1 MiB: all but the last one of
			// the first half reach the file before the blob is complete.
			rd.atLeast(t, int64(half-1<<20))
			select {
			case <-rd.done:
				t.Fatalf("reader ended (%v) before the blob was complete", rd.err)
			default:
			}
			if _, err := w.Write(content[half:]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			select {
			case <-rd.done:
				t.Fatalf("reader ended (%v) before the blob was committed", rd.err)
			default:
			}
			if _, err := w.Commit("out", "", d); err != nil {
				t.Fatal(err)
			}
			rd.wait(t)
			if rd.err != nil {
				t.Fatal(rd.err)
			}
			if !bytes.Equal(rd.got, content) {
				t.Fatalf("read %d bytes that are not the blob's %d", len(rd.got), len(content))
			}
			// Opened after the commit: the blob itself.
			r2, err := s.Open(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r2)
			r2.Close()
			if err != nil || !bytes.Equal(b, content) {
				t.Fatalf("blob after the stream: %d bytes, %v", len(b), err)
			}
		})
	}
}

// TestStreamSmallBlob checks a blob that stays in the writer's buffer
// until it is committed.
func TestStreamSmallBlob(t *testing.T) {
	s := newStore(t)
	content := []byte("a small blob")
	d := graph.FromBytes(content)
	release := s.Expect(d)
	defer release(nil)
	rd := openReading(t, s, context.Background(), d)
	w := streamWriter(t, s, d, false)
	defer w.Close()
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit("out", "", d); err != nil {
		t.Fatal(err)
	}
	rd.wait(t)
	if rd.err != nil || string(rd.got) != string(content) {
		t.Fatalf("read %q, %v", rd.got, rd.err)
	}
}

// TestStreamRestart checks a writer that gives up and a second one that
// writes the blob (a retried download): a reader that read part of the
// first copy fails with graph.ErrStreamRestarted, one that read nothing
// yet follows the second copy.
func TestStreamRestart(t *testing.T) {
	s := newStore(t)
	content, d := streamContent()
	release := s.Expect(d)
	defer release(nil)
	rd1 := openReading(t, s, context.Background(), d)
	w := streamWriter(t, s, d, false)
	if _, err := w.Write(content[:3<<20]); err != nil {
		t.Fatal(err)
	}
	rd1.atLeast(t, 1)
	// Opened now, and read only once the first copy is gone.
	r2, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	w.Close()

	w2 := streamWriter(t, s, d, false)
	defer w2.Close()
	rd2 := readAsync(r2)
	if _, err := w2.Write(content); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Commit("out", "", d); err != nil {
		t.Fatal(err)
	}
	rd1.wait(t)
	if !errors.Is(rd1.err, graph.ErrStreamRestarted) {
		t.Fatalf("reader of the abandoned copy: %v, want ErrStreamRestarted", rd1.err)
	}
	rd2.wait(t)
	if rd2.err != nil || !bytes.Equal(rd2.got, content) {
		t.Fatalf("reader of the second copy: %d bytes, %v", len(rd2.got), rd2.err)
	}
}

// TestStreamFailure checks that readers fail with the producer's error when
// the blob is never committed (a digest mismatch here), and that nothing of
// it is left in the store.
func TestStreamFailure(t *testing.T) {
	s := newStore(t)
	content, d := streamContent()
	release := s.Expect(d)
	rd := openReading(t, s, context.Background(), d)
	w := streamWriter(t, s, d, false)
	bad := bytes.Clone(content)
	bad[len(bad)-1] ^= 1
	if _, err := w.Write(bad); err != nil {
		t.Fatal(err)
	}
	_, err := w.Commit("out", "", d)
	if !errors.Is(err, cache.ErrDigestMismatch) {
		t.Fatalf("commit of bad content: %v", err)
	}
	select {
	case <-rd.done:
		t.Fatalf("reader ended (%v) while its blob was still expected", rd.err)
	case <-time.After(20 * time.Millisecond):
	}
	producerErr := errors.New("the registry served something else")
	release(producerErr)
	rd.wait(t)
	if !errors.Is(rd.err, producerErr) {
		t.Fatalf("reader: %v, want the producer's error", rd.err)
	}
	if s.Has(d) {
		t.Fatal("the blob is present after its failed commit")
	}
	if _, err := s.Open(context.Background(), d); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after the stream ended: %v, want not exist", err)
	}
	// A release without an error, with nothing written, fails readers too.
	d2 := graph.FromBytes(append(content, 'x'))
	release2 := s.Expect(d2)
	r2, err := s.Open(context.Background(), d2)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	release2(nil)
	if _, err := r2.Read(make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "not written") {
		t.Fatalf("read of a blob never written: %v", err)
	}
}

// TestStreamCanceled checks that a waiting read returns when its context
// is done.
func TestStreamCanceled(t *testing.T) {
	s := newStore(t)
	_, d := streamContent()
	release := s.Expect(d)
	defer release(nil)
	ctx, cancel := context.WithCancel(context.Background())
	rd := openReading(t, s, ctx, d)
	cancel()
	rd.wait(t)
	if !errors.Is(rd.err, context.Canceled) {
		t.Fatalf("read after cancel: %v", rd.err)
	}
}

// TestExpectPresentBlob checks that expecting a blob the store has changes
// nothing.
func TestExpectPresentBlob(t *testing.T) {
	s := newStore(t)
	o, err := s.PutBytes(context.Background(), []byte("present"), "")
	if err != nil {
		t.Fatal(err)
	}
	release := s.Expect(o.Digest)
	release(errors.New("ignored"))
	r, err := s.Open(context.Background(), o.Digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(b) != "present" {
		t.Fatalf("read %q, %v", b, err)
	}
}
