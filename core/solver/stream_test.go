package solver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/solver"
)

// The streaming tests run on the real store: streams are a cache feature.

var streamBlob = bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB

// Ways a producer ends.
const (
	produceOK      = iota
	produceFail    // fails once its user has read part of the blob
	produceRestart // abandons a corrupt first copy once its user read part of it
)

// producer announces one blob ("out") and writes it in two halves; between
// them it waits until its user has read from the first one, which only a
// streaming engine allows (otherwise it fails after hang).
type producer struct {
	mode    int
	started chan struct{} // closed by the user at its first byte
}

// UsesNetwork puts the producer in the network's slots, as a fetch: with
// WithJobs(1) its user still gets a slot while it runs.
func (producer) UsesNetwork() bool { return true }

func (producer) Kind() string              { return "produce" }
func (producer) Version() string           { return "1" }
func (p producer) Params() ([]byte, error) { return fmt.Appendf(nil, `{"mode":%d}`, p.mode), nil }

func (p producer) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	d := graph.FromBytes(streamBlob)
	if err := x.(graph.Announcer).Announce([]graph.Output{{Name: "out", Digest: d, Size: int64(len(streamBlob))}}); err != nil {
		return nil, err
	}
	write := func(b []byte) (graph.BlobWriter, error) {
		w, err := x.Create(ctx)
		if err != nil {
			return nil, err
		}
		w.(graph.StreamingWriter).StreamAs(d)
		_, err = w.Write(b)
		return w, err
	}
	half := len(streamBlob) / 2
	first := streamBlob[:half]
	if p.mode == produceRestart {
		// A mirror serving something else: caught at the end, by the
		// digest.
		first = bytes.Clone(first)
		first[0] ^= 0xff
	}
	w, err := write(first)
	if err != nil {
		return nil, err
	}
	defer func() { w.Close() }()
	select {
	case <-p.started:
	case <-time.After(hang):
		return nil, errors.New("the user did not start while the blob was written")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch p.mode {
	case produceFail:
		return nil, errors.New("registry went away")
	case produceRestart:
		w.Close()
		if w, err = write(streamBlob[:half]); err != nil {
			return nil, err
		}
	}
	if _, err := w.Write(streamBlob[half:]); err != nil {
		return nil, err
	}
	out, err := w.Commit("out", "", d)
	if err != nil {
		return nil, err
	}
	return []graph.Output{out}, nil
}

// user streams its input's blob and stores its length; with prefix it
// reads only the first bytes and returns.
type user struct {
	started chan struct{}
	once    *sync.Once
	runs    *atomic.Int32
	prefix  bool
}

func (user) Kind() string            { return "use" }
func (user) Version() string         { return "1" }
func (user) Params() ([]byte, error) { return []byte(`{}`), nil }
func (user) StreamsInputs() bool     { return true }

func (u user) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	u.runs.Add(1)
	in, ok := inputs[0].Get("out")
	if !ok {
		return nil, errors.New("no input blob")
	}
	r, err := x.Open(ctx, in.Digest)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	first := make([]byte, 1000)
	if _, err := io.ReadFull(r, first); err != nil {
		return nil, err
	}
	u.once.Do(func() { close(u.started) })
	read := graph.NewDigester()
	read.Write(first)
	n := int64(len(first))
	if !u.prefix {
		m, err := io.Copy(read, r)
		if err != nil {
			return nil, err
		}
		n += m
	}
	w, err := x.Create(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	fmt.Fprintf(w, "%d %s", n, read.Digest())
	out, err := w.Commit("len", "", "")
	if err != nil {
		return nil, err
	}
	return []graph.Output{out}, nil
}

// streamPlan returns a plan of a user of a producer, the store, and the
// user's run count.
func streamPlan(t *testing.T, mode int, prefix bool) (*graph.Plan, *cache.Store, *atomic.Int32) {
	t.Helper()
	started := make(chan struct{})
	runs := new(atomic.Int32)
	prod := graph.NewVertex("produce", producer{mode: mode, started: started})
	use := graph.NewVertex("use", user{started: started, once: new(sync.Once), runs: runs, prefix: prefix}, prod)
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.WaitDurable() })
	return plan(t, use), st, runs
}

func TestStreamingUserStartsEarly(t *testing.T) {
	p, st, runs := streamPlan(t, produceOK, false)
	res, err := solver.New(st, solver.WithJobs(1)).Solve(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := res[p.Targets[0].Key].Get("len")
	b, err := readBlob(st, out.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if want := readOf(len(streamBlob)); string(b) != want {
		t.Fatalf("user read %s, want %s", b, want)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("user ran %d times", n)
	}
	if a, err := st.GetAction(p.Targets[0].Key); err != nil || a == nil {
		t.Fatalf("user not recorded: %v", err)
	}
}

// TestStreamingProducerFails checks that a user of a producer that fails is
// not recorded, whether it was reading (and fails too) or had already
// returned, and that the error is the producer's.
func TestStreamingProducerFails(t *testing.T) {
	for _, prefix := range []bool{false, true} {
		t.Run(fmt.Sprintf("prefix=%v", prefix), func(t *testing.T) {
			p, st, _ := streamPlan(t, produceFail, prefix)
			rec := &recorder{}
			_, err := solver.New(st, solver.WithEvents(rec.add)).Solve(context.Background(), p)
			var ve *solver.VertexError
			if !errors.As(err, &ve) || ve.Node != "produce" || !strings.Contains(err.Error(), "registry went away") {
				t.Fatalf("solve: %v, want the producer's failure", err)
			}
			if a, err := st.GetAction(p.Targets[0].Key); err != nil || a != nil {
				t.Fatalf("user of a failed input recorded: %v, %v", a, err)
			}
			if _, ok := rec.find("use", solver.EventError); ok {
				t.Fatal("the user's failure was reported besides the producer's")
			}
			if _, ok := rec.find("use", solver.EventCanceled); !ok {
				t.Fatal("the user was not reported as canceled")
			}
		})
	}
}

// readOf is what a user that read the first n bytes of streamBlob stores.
func readOf(n int) string {
	return fmt.Sprintf("%d %s", n, graph.FromBytes(streamBlob[:n]))
}

// TestStreamingRestart checks that a user whose input started its blob over
// (a corrupt copy, then the right one) runs again on the complete input:
// when it fails on the copy it was reading, and when it returned before it
// could notice, having read only the start of the corrupt copy.
func TestStreamingRestart(t *testing.T) {
	for _, prefix := range []bool{false, true} {
		t.Run(fmt.Sprintf("prefix=%v", prefix), func(t *testing.T) {
			p, st, runs := streamPlan(t, produceRestart, prefix)
			rec := &recorder{}
			res, err := solver.New(st, solver.WithEvents(rec.add)).Solve(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if n := runs.Load(); n != 2 {
				t.Fatalf("user ran %d times, want 2", n)
			}
			out, _ := res[p.Targets[0].Key].Get("len")
			b, err := readBlob(st, out.Digest)
			n := len(streamBlob)
			if prefix {
				n = 1000
			}
			if want := readOf(n); err != nil || string(b) != want {
				t.Fatalf("user's output %q, %v; want %q", b, err, want)
			}
			if _, ok := rec.find("use", solver.EventError); ok {
				t.Fatal("the user's first run was reported as an error")
			}
		})
	}
}

func readBlob(st *cache.Store, d graph.Digest) ([]byte, error) {
	r, err := st.Open(context.Background(), d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
