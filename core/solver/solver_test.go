package solver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/core/solver/solvertest"
)

var _ solver.Store = (*solvertest.Store)(nil)

// hang bounds how long a test waits for something that must happen; reaching
// it is a failure (a hang), never a measurement.
const hang = 20 * time.Second

var env = graph.Env{Platform: "linux/amd64"}

// vx returns a vertex named label running a fake op.
func vx(runs *solvertest.Counter, label string, inputs ...*graph.Vertex) *graph.Vertex {
	return graph.NewVertex(label, solvertest.Op{Label: label, Runs: runs}, inputs...)
}

// hooked returns a vertex whose op runs hook first.
func hooked(runs *solvertest.Counter, label string, hook func(context.Context, graph.Exec) error, inputs ...*graph.Vertex) *graph.Vertex {
	return graph.NewVertex(label, solvertest.Op{Label: label, Runs: runs, Hook: hook}, inputs...)
}

func plan(t *testing.T, targets ...*graph.Vertex) *graph.Plan {
	t.Helper()
	p, err := graph.NewPlan(env, targets...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// content returns the "out" output of the result of key.
func content(t *testing.T, st *solvertest.Store, res map[graph.Key]graph.Result, key graph.Key) string {
	t.Helper()
	r, ok := res[key]
	if !ok {
		t.Fatalf("no result for %s", key.Short())
	}
	out, ok := r.Get("out")
	if !ok {
		t.Fatalf("result %s has no output \"out\"", key.Short())
	}
	b, err := st.ReadBlob(out.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitCtx blocks until ctx is done and returns its error; a test that is
// never cancelled fails instead of hanging.
func waitCtx(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(hang):
		return errors.New("test: never cancelled")
	}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []solver.Event
}

func (r *recorder) add(e solver.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// types returns the types of the events about node, in order.
func (r *recorder) types(node string) []solver.EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []solver.EventType
	for _, e := range r.events {
		if e.Node == node && e.Type != solver.EventLog && e.Type != solver.EventProgress {
			out = append(out, e.Type)
		}
	}
	return out
}

func (r *recorder) count(t solver.EventType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (r *recorder) find(node string, t solver.EventType) (solver.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Node == node && e.Type == t {
			return e, true
		}
	}
	return solver.Event{}, false
}

func TestSharedInputsRunOnce(t *testing.T) {
	for _, jobs := range []int{1, 2, 8} {
		t.Run(fmt.Sprintf("jobs=%d", jobs), func(t *testing.T) {
			st := solvertest.NewStore(t.TempDir())
			runs := &solvertest.Counter{}
			l := vx(runs, "l")
			l2 := vx(runs, "l") // another vertex with the same work
			a := vx(runs, "a", l)
			b := vx(runs, "b", l2)
			top := vx(runs, "t", a, b, l)
			p := plan(t, top)

			// A deadlock (a slot held while waiting for inputs) fails
			// rather than hangs.
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			res, err := solver.New(st, solver.WithJobs(jobs)).Solve(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := runs.Counts(), map[string]int{"l": 1, "a": 1, "b": 1, "t": 1}; !mapsEqual(got, want) {
				t.Errorf("runs = %v, want %v", got, want)
			}
			if got, want := content(t, st, res, p.Targets[0].Key), "t(a(l),b(l),l)"; got != want {
				t.Errorf("target content = %q, want %q", got, want)
			}
			if len(res) != 4 {
				t.Errorf("%d results, want 4 (every node was executed)", len(res))
			}
			if got := st.Stats().PutAction; got != 4 {
				t.Errorf("PutAction called %d times, want 4", got)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestWarmSolveLooksOnlyAtTargets(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	build := func() *graph.Plan {
		l := vx(runs, "l")
		return plan(t, vx(runs, "t", vx(runs, "a", l), vx(runs, "b", l)))
	}
	cold, err := solver.New(st).Solve(context.Background(), build())
	if err != nil {
		t.Fatal(err)
	}
	p := build()
	key := p.Targets[0].Key
	runs = &solvertest.Counter{}
	p = build()
	before := st.Stats()
	rec := &recorder{}
	warm, err := solver.New(st, solver.WithEvents(rec.add)).Solve(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	after := st.Stats()
	if n := runs.Total(); n != 0 {
		t.Errorf("warm solve executed %d ops: %v", n, runs.Counts())
	}
	if d := after.GetAction - before.GetAction; d != 1 {
		t.Errorf("warm solve made %d action lookups, want 1 (the target only)", d)
	}
	for name, d := range map[string]int{
		"Open":   after.Open - before.Open,
		"Path":   after.Path - before.Path,
		"Create": after.Create - before.Create,
		"Lock":   after.Lock - before.Lock,
		"Put":    after.PutAction - before.PutAction,
	} {
		if d != 0 {
			t.Errorf("warm solve called %s %d times, want 0", name, d)
		}
	}
	if len(warm) != 1 {
		t.Errorf("warm solve returned %d results, want 1 (the target)", len(warm))
	}
	if got, want := content(t, st, warm, key), content(t, st, cold, key); got != want {
		t.Errorf("warm content %q, cold %q", got, want)
	}
	if got := rec.types("t"); !slices.Equal(got, []solver.EventType{solver.EventCached}) {
		t.Errorf("events of t = %v, want [cached]", got)
	}
	if len(rec.events) != 1 {
		t.Errorf("%d events, want 1", len(rec.events))
	}
}

func TestChangedLeafRebuildsItsPath(t *testing.T) {
	// l1 → a ─┐
	// l2 → b ─┴→ t
	build := func(runs *solvertest.Counter, v1, v2 string) (*graph.Plan, map[string]graph.Key) {
		l1 := graph.NewVertex("l1", solvertest.Op{Label: "l1", Args: map[string]string{"v": v1}, Runs: runs})
		l2 := graph.NewVertex("l2", solvertest.Op{Label: "l2", Args: map[string]string{"v": v2}, Runs: runs})
		p := plan(t, vx(runs, "t", vx(runs, "a", l1), vx(runs, "b", l2)))
		keys := map[string]graph.Key{}
		for _, n := range p.Nodes {
			keys[n.Name] = n.Key
		}
		return p, keys
	}
	tests := []struct {
		name           string
		v1, v2         string
		ran            map[string]int
		notLookedUp    []string
		content        string
		previousResult bool
	}{
		{"first leaf", "2", "1", map[string]int{"l1": 1, "a": 1, "t": 1}, []string{"l2"}, "t(a(l1[v=2]),b(l2[v=1]))", false},
		{"second leaf", "1", "2", map[string]int{"l2": 1, "b": 1, "t": 1}, []string{"l1"}, "t(a(l1[v=1]),b(l2[v=2]))", false},
		{"none", "1", "1", map[string]int{}, []string{"l1", "l2", "a", "b"}, "t(a(l1[v=1]),b(l2[v=1]))", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := solvertest.NewStore(t.TempDir())
			p, _ := build(&solvertest.Counter{}, "1", "1")
			if _, err := solver.New(st).Solve(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			runs := &solvertest.Counter{}
			p, keys := build(runs, tt.v1, tt.v2)
			before := map[string]int{}
			for name, k := range keys {
				before[name] = st.Lookups(k)
			}
			res, err := solver.New(st).Solve(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if got := runs.Counts(); !mapsEqual(got, tt.ran) {
				t.Errorf("ran %v, want %v", got, tt.ran)
			}
			for _, name := range tt.notLookedUp {
				if d := st.Lookups(keys[name]) - before[name]; d != 0 {
					t.Errorf("%s was looked up %d times; the inputs of a hit must not be", name, d)
				}
			}
			if got := content(t, st, res, keys["t"]); got != tt.content {
				t.Errorf("content %q, want %q", got, tt.content)
			}
		})
	}
}

func TestJobsBoundIsRespectedAndReached(t *testing.T) {
	for _, jobs := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("jobs=%d", jobs), func(t *testing.T) {
			st := solvertest.NewStore(t.TempDir())
			g := &solvertest.Gauge{}
			release := make(chan struct{})
			hold := func(ctx context.Context, _ graph.Exec) error {
				g.Enter()
				defer g.Leave()
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(hang):
					return errors.New("never released")
				}
			}
			var leaves []*graph.Vertex
			for i := range 2*jobs + 3 {
				leaves = append(leaves, hooked(nil, fmt.Sprintf("leaf%d", i), hold))
			}
			// A chain on top: waiting for inputs must not hold a slot.
			top := vx(nil, "top", vx(nil, "mid", leaves...))
			p := plan(t, top)

			done := make(chan error, 1)
			go func() {
				_, err := solver.New(st, solver.WithJobs(jobs)).Solve(context.Background(), p)
				done <- err
			}()
			// The bound must be reached: jobs ops hold their slots...
			select {
			case <-g.Reached(jobs):
			case err := <-done:
				t.Fatalf("Solve returned (%v) before %d ops ran at once", err, jobs)
			case <-time.After(hang):
				t.Fatalf("never saw %d ops at once (max %d)", jobs, g.Max())
			}
			// ...and respected: once every leaf is past its lookups (so at
			// the slot, or in its op) no more than jobs are in their op.
			deadline := time.Now().Add(hang)
			for _, n := range p.Nodes {
				if !strings.HasPrefix(n.Name, "leaf") {
					continue
				}
				for st.Lookups(n.Key) < 2 {
					if time.Now().After(deadline) {
						t.Fatalf("%s never reached its slot", n.Name)
					}
					time.Sleep(time.Millisecond)
				}
			}
			if got := g.Current(); got != jobs {
				t.Errorf("%d ops run at once, want %d", got, jobs)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := g.Max(); got != jobs {
				t.Errorf("at most %d ops ran at once, want exactly %d", got, jobs)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestFirstErrorCancelsSiblings(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	started := make(chan struct{})
	var sawCancel atomic.Bool
	slow := hooked(runs, "slow", func(ctx context.Context, _ graph.Exec) error {
		close(started)
		err := waitCtx(ctx)
		sawCancel.Store(errors.Is(err, context.Canceled))
		return err
	})
	fail := hooked(runs, "fail", func(ctx context.Context, _ graph.Exec) error {
		<-started
		return fmt.Errorf("step broke: %w", errBoom)
	})
	other := vx(runs, "other", vx(runs, "leaf"))
	p := plan(t, vx(runs, "t", slow, fail, other))
	rec := &recorder{}

	_, err := solver.New(st, solver.WithJobs(4), solver.WithEvents(rec.add)).Solve(context.Background(), p)
	if err == nil {
		t.Fatal("Solve succeeded, want an error")
	}
	if got, want := err.Error(), "fail: step broke: boom"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	var ve *solver.VertexError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *VertexError", err)
	}
	failKey, _ := nodeKey(p, "fail")
	if ve.Node != "fail" || ve.Kind != "test" || ve.Key != failKey {
		t.Errorf("VertexError = {%q %q %s}, want {fail test %s}", ve.Node, ve.Kind, ve.Key.Short(), failKey.Short())
	}
	if !errors.Is(err, errBoom) {
		t.Error("the error does not wrap the op's error")
	}
	if !sawCancel.Load() {
		t.Error("the running sibling was not cancelled")
	}
	for _, n := range []string{"t", "slow", "fail"} {
		k, _ := nodeKey(p, n)
		if st.Action(k) != nil {
			t.Errorf("an action was recorded for %s", n)
		}
		if st.Locked(k) {
			t.Errorf("the lock of %s is still held", n)
		}
	}
	if runs.Get("t") != 0 {
		t.Error("t ran although an input failed")
	}
	if n := rec.count(solver.EventError); n != 1 {
		t.Errorf("%d error events, want 1 (only the failing node)", n)
	}
	for _, n := range []string{"t", "slow"} {
		if got := rec.types(n); len(got) == 0 || got[len(got)-1] != solver.EventCanceled {
			t.Errorf("events of %s = %v, want to end with canceled", n, got)
		}
	}
}

func nodeKey(p *graph.Plan, name string) (graph.Key, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n.Key, true
		}
	}
	return "", false
}

func TestCancelStopsEverything(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	g := &solvertest.Gauge{}
	block := func(ctx context.Context, _ graph.Exec) error {
		g.Enter()
		defer g.Leave()
		return waitCtx(ctx)
	}
	p := plan(t, vx(runs, "t", hooked(runs, "a", block), hooked(runs, "b", block)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-g.Reached(2)
		cancel()
	}()
	rec := &recorder{}
	_, err := solver.New(st, solver.WithJobs(4), solver.WithEvents(rec.add)).Solve(ctx, p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	var ve *solver.VertexError
	if errors.As(err, &ve) {
		t.Errorf("cancellation returned a VertexError: %v", err)
	}
	if n := g.Current(); n != 0 {
		t.Errorf("%d ops still running after Solve returned", n)
	}
	if st.Stats().PutAction != 0 {
		t.Error("an action was recorded")
	}
	for _, n := range p.Nodes {
		if st.Locked(n.Key) {
			t.Errorf("the lock of %s is still held", n.Name)
		}
	}
	if n := rec.count(solver.EventError); n != 0 {
		t.Errorf("%d error events on cancellation, want 0", n)
	}
	if runs.Get("t") != 0 {
		t.Error("t ran")
	}
}

func TestConcurrentSolvesShareWork(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	gate := make(chan struct{})
	shared := func() *graph.Vertex {
		return hooked(runs, "shared", func(ctx context.Context, _ graph.Exec) error {
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	// Two plans, built apart, meet in a node with the same key.
	p1 := plan(t, vx(runs, "t1", shared()))
	p2 := plan(t, vx(runs, "t2", shared()))
	key, _ := nodeKey(p1, "shared")
	s := solver.New(st, solver.WithJobs(4))

	errs := make(chan error, 2)
	for _, p := range []*graph.Plan{p1, p2} {
		go func() {
			_, err := s.Solve(context.Background(), p)
			errs <- err
		}()
	}
	waitWaiters(t, s, key, 2)
	close(gate)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, want := runs.Counts(), map[string]int{"shared": 1, "t1": 1, "t2": 1}; !mapsEqual(got, want) {
		t.Errorf("runs = %v, want %v", got, want)
	}
}

// waitWaiters waits until n callers wait for the in-flight node key.
func waitWaiters(t *testing.T, s *solver.Solver, key graph.Key, n int) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for solver.Waiters(s, key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters on %s, want %d", solver.Waiters(s, key), key.Short(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCanceledWaiterDoesNotFailOthers(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	gate := make(chan struct{})
	var sharedCanceled atomic.Bool
	shared := func() *graph.Vertex {
		return hooked(runs, "shared", func(ctx context.Context, _ graph.Exec) error {
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				sharedCanceled.Store(true)
				return ctx.Err()
			}
		})
	}
	p1 := plan(t, shared())
	p2 := plan(t, vx(runs, "t2", shared()))
	key := p1.Targets[0].Key
	s := solver.New(st, solver.WithJobs(4))

	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	err1 := make(chan error, 1)
	go func() {
		_, err := s.Solve(ctx1, p1)
		err1 <- err
	}()
	err2 := make(chan error, 1)
	var res2 map[graph.Key]graph.Result
	go func() {
		var err error
		res2, err = s.Solve(context.Background(), p2)
		err2 <- err
	}()
	waitWaiters(t, s, key, 2)
	cancel1()
	if err := <-err1; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Solve returned %v, want context.Canceled", err)
	}
	if n := solver.Waiters(s, key); n != 1 {
		t.Fatalf("%d waiters left, want 1", n)
	}
	close(gate)
	if err := <-err2; err != nil {
		t.Fatalf("the other Solve failed: %v", err)
	}
	if sharedCanceled.Load() {
		t.Error("the shared op was cancelled although a caller still waited")
	}
	if got := runs.Get("shared"); got != 1 {
		t.Errorf("shared ran %d times, want 1", got)
	}
	if got, want := content(t, st, res2, p2.Targets[0].Key), "t2(shared)"; got != want {
		t.Errorf("content %q, want %q", got, want)
	}
}

func TestResultBuiltByAnotherProcessWhileWaitingForLock(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	p := plan(t, vx(runs, "t", vx(runs, "l")))
	key := p.Targets[0].Key
	st.AfterLock = func(k graph.Key) {
		if k != key {
			return
		}
		out, err := st.Put("out", []byte("from elsewhere"))
		if err != nil {
			t.Error(err)
			return
		}
		if err := st.PutAction(&graph.Action{Key: k, Name: "t", Outputs: []graph.Output{out}}); err != nil {
			t.Error(err)
		}
	}
	rec := &recorder{}
	res, err := solver.New(st, solver.WithEvents(rec.add)).Solve(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if runs.Get("t") != 0 {
		t.Error("t ran although its result appeared while waiting for its lock")
	}
	if got := content(t, st, res, key); got != "from elsewhere" {
		t.Errorf("content %q, want the other process's", got)
	}
	if got, want := rec.types("t"), []solver.EventType{solver.EventQueued, solver.EventCached}; !slices.Equal(got, want) {
		t.Errorf("events of t = %v, want %v", got, want)
	}
}

func TestNoCacheRunsEverythingAndStillRecords(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	build := func(runs *solvertest.Counter) *graph.Plan {
		return plan(t, vx(runs, "t", vx(runs, "a"), vx(runs, "b")))
	}
	if _, err := solver.New(st).Solve(context.Background(), build(nil)); err != nil {
		t.Fatal(err)
	}
	runs := &solvertest.Counter{}
	before := st.Stats()
	if _, err := solver.New(st, solver.WithNoCache()).Solve(context.Background(), build(runs)); err != nil {
		t.Fatal(err)
	}
	after := st.Stats()
	if got := runs.Total(); got != 3 {
		t.Errorf("%d ops ran, want 3", got)
	}
	if d := after.GetAction - before.GetAction; d != 0 {
		t.Errorf("%d action lookups with --no-cache, want 0", d)
	}
	if d := after.PutAction - before.PutAction; d != 3 {
		t.Errorf("%d actions recorded, want 3", d)
	}
}

func TestSolverRemembersResults(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	p := plan(t, vx(runs, "t", vx(runs, "a")))
	s := solver.New(st, solver.WithNoCache())
	for i := range 2 {
		res, err := s.Solve(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 {
			t.Errorf("solve %d: %d results, want 2", i, len(res))
		}
	}
	if got := runs.Total(); got != 2 {
		t.Errorf("%d ops ran over two solves on one Solver, want 2", got)
	}
}

func TestMissingOutputBlobIsAMiss(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	p := plan(t, vx(runs, "t"))
	res, err := solver.New(st).Solve(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := res[p.Targets[0].Key].Get("out")
	if err := st.Remove(out.Digest); err != nil {
		t.Fatal(err)
	}
	ex, err := solver.Explain(context.Background(), st, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"previous result no longer in the cache"}; len(ex) != 1 || !slices.Equal(ex[0].Reasons, want) {
		t.Errorf("explain = %+v, want reasons %q", ex, want)
	}
	if _, err := solver.New(st).Solve(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := runs.Get("t"); got != 2 {
		t.Errorf("t ran %d times, want 2", got)
	}
}

// badOp returns whatever outputs its function makes.
type badOp struct {
	label string
	outs  func(ctx context.Context, x graph.Exec) ([]graph.Output, error)
}

func (o badOp) Kind() string            { return "bad" }
func (o badOp) Version() string         { return "1" }
func (o badOp) Params() ([]byte, error) { return []byte(`{"label":"` + o.label + `"}`), nil }
func (o badOp) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	return o.outs(ctx, x)
}

func TestOutputsAreVerified(t *testing.T) {
	write := func(ctx context.Context, x graph.Exec, name string, commit bool) (graph.Output, error) {
		w, err := x.Create(ctx)
		if err != nil {
			return graph.Output{}, err
		}
		defer w.Close()
		if _, err := w.Write([]byte("data " + name)); err != nil {
			return graph.Output{}, err
		}
		if !commit {
			d := graph.FromBytes([]byte("data " + name))
			return graph.Output{Name: name, Digest: d}, nil
		}
		return w.Commit(name, "", "")
	}
	tests := []struct {
		name string
		outs func(ctx context.Context, x graph.Exec) ([]graph.Output, error)
		want string
	}{
		{"not committed", func(ctx context.Context, x graph.Exec) ([]graph.Output, error) {
			o, err := write(ctx, x, "x", false)
			return []graph.Output{o}, err
		}, `bad: output "x" (sha256:`},
		{"twice", func(ctx context.Context, x graph.Exec) ([]graph.Output, error) {
			o, err := write(ctx, x, "x", true)
			return []graph.Output{o, o}, err
		}, `bad: output "x" returned twice`},
		{"no name", func(ctx context.Context, x graph.Exec) ([]graph.Output, error) {
			o, err := write(ctx, x, "", true)
			return []graph.Output{o}, err
		}, `has no name`},
		{"bad digest", func(ctx context.Context, x graph.Exec) ([]graph.Output, error) {
			return []graph.Output{{Name: "x", Digest: "md5:00"}}, nil
		}, `bad: output "x": digest "md5:00"`},
		{"panic", func(ctx context.Context, x graph.Exec) ([]graph.Output, error) {
			panic("oops")
		}, `bad: panic: oops`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := solvertest.NewStore(t.TempDir())
			p := plan(t, graph.NewVertex("bad", badOp{label: tt.name, outs: tt.outs}))
			_, err := solver.New(st).Solve(context.Background(), p)
			var ve *solver.VertexError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v, want a VertexError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if st.Stats().PutAction != 0 {
				t.Error("a bad result was recorded")
			}
		})
	}
}

func TestExecFacilities(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	var dir string
	var late graph.Exec
	op := hooked(nil, "t", func(ctx context.Context, x graph.Exec) error {
		var err error
		if dir, err = x.TempDir(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "scratch"), []byte("x"), 0o644); err != nil {
			return err
		}
		x.Progress(5, 10)
		x.Logf("hello %d", 42)
		late = x
		return nil
	})
	rec := &recorder{}
	if _, err := solver.New(st, solver.WithEvents(rec.add)).Solve(context.Background(), plan(t, op)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch directory %s left behind (%v)", dir, err)
	}
	if e, ok := rec.find("t", solver.EventProgress); !ok || e.Done != 5 || e.Total != 10 {
		t.Errorf("progress event %+v, want 5/10", e)
	}
	if e, ok := rec.find("t", solver.EventLog); !ok || e.Message != "hello 42" {
		t.Errorf("log event %+v, want \"hello 42\"", e)
	}
	want := []solver.EventType{solver.EventQueued, solver.EventStart, solver.EventDone}
	if got := rec.types("t"); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	// An op that keeps its Exec past its return gets nothing out of it.
	n := len(rec.events)
	late.Logf("too late")
	if _, err := late.TempDir(); err == nil {
		t.Error("TempDir worked after the op returned")
	}
	if len(rec.events) != n {
		t.Error("an event was emitted after the op returned")
	}
}

func TestEventsAreSerialised(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	chatty := func(ctx context.Context, x graph.Exec) error {
		for i := range 50 {
			x.Progress(int64(i), 50)
		}
		return nil
	}
	var leaves []*graph.Vertex
	for i := range 8 {
		leaves = append(leaves, hooked(nil, fmt.Sprintf("l%d", i), chatty))
	}
	var inside, overlaps atomic.Int32
	var events atomic.Int32
	fn := func(solver.Event) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		events.Add(1)
		time.Sleep(10 * time.Microsecond) // widen the window for an overlap
		inside.Add(-1)
	}
	if _, err := solver.New(st, solver.WithJobs(8), solver.WithEvents(fn)).Solve(context.Background(), plan(t, leaves...)); err != nil {
		t.Fatal(err)
	}
	if overlaps.Load() != 0 {
		t.Errorf("the event callback was called concurrently %d times", overlaps.Load())
	}
	if got, want := events.Load(), int32(8*(3+50)); got != want {
		t.Errorf("%d events, want %d", got, want)
	}
}

func TestExplain(t *testing.T) {
	// l → m(mode) → t
	build := func(lv, mode string, extra bool) *graph.Plan {
		l := graph.NewVertex("l", solvertest.Op{Label: "l", Args: map[string]string{"v": lv}})
		m := graph.NewVertex("m", solvertest.Op{Label: "m", Args: map[string]string{"mode": mode}}, l)
		targets := []*graph.Vertex{vx(nil, "t", m)}
		if extra {
			targets = append(targets, vx(nil, "new", m))
		}
		return plan(t, targets...)
	}
	type want struct {
		node    string
		hit     bool
		reasons []string
	}
	tests := []struct {
		name     string
		p        *graph.Plan
		noCache  bool
		explains []want
	}{
		{"unchanged", build("1", "container", false), false, []want{
			{"t", true, []string{"cache hit"}},
		}},
		{"params", build("1", "init", false), false, []want{
			{"l", true, []string{"cache hit"}},
			{"m", false, []string{"parameters changed (mode)"}},
			{"t", false, []string{"input 0 changed"}},
		}},
		{"leaf", build("2", "container", false), false, []want{
			{"l", false, []string{"parameters changed (v)"}},
			{"m", false, []string{"input 0 changed"}},
			{"t", false, []string{"input 0 changed"}},
		}},
		{"new node", build("1", "container", true), false, []want{
			{"m", true, []string{"cache hit"}},
			{"t", true, []string{"cache hit"}},
			{"new", false, []string{"no previous build of this node"}},
		}},
		{"no cache", build("1", "container", false), true, []want{
			{"l", false, []string{"--no-cache"}},
			{"m", false, []string{"--no-cache"}},
			{"t", false, []string{"--no-cache"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := solvertest.NewStore(t.TempDir())
			if _, err := solver.New(st).Solve(context.Background(), build("1", "container", false)); err != nil {
				t.Fatal(err)
			}
			var opts []solver.Option
			if tt.noCache {
				opts = append(opts, solver.WithNoCache())
			}
			before := st.Stats()
			ex, err := solver.Explain(context.Background(), st, tt.p, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if after := st.Stats(); after.PutAction != before.PutAction || after.Lock != before.Lock || after.Create != before.Create {
				t.Error("Explain did more than look things up")
			}
			var got []want
			for _, e := range ex {
				got = append(got, want{e.Node, e.Hit, e.Reasons})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.explains) {
				t.Errorf("Explain =\n%v\nwant\n%v", got, tt.explains)
			}

			// Solve WithExplain says the same in its events.
			rec := &recorder{}
			opts = append(opts, solver.WithExplain(), solver.WithEvents(rec.add))
			if _, err := solver.New(st, opts...).Solve(context.Background(), tt.p); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.explains {
				typ := solver.EventQueued
				if w.hit {
					typ = solver.EventCached
				}
				e, ok := rec.find(w.node, typ)
				if !ok {
					t.Errorf("no %v event for %s", typ, w.node)
					continue
				}
				if !slices.Equal(e.Explain, w.reasons) {
					t.Errorf("%v event of %s explains %q, want %q", typ, w.node, e.Explain, w.reasons)
				}
			}
		})
	}
}

func TestVertexErrorMessage(t *testing.T) {
	key := graph.FromBytes([]byte("k"))
	tests := []struct {
		err  *solver.VertexError
		want string
	}{
		{&solver.VertexError{Node: "unpack docker.io/library/redis@sha256:abc", Kind: "unpack", Key: key, Err: errBoom},
			"unpack docker.io/library/redis@sha256:abc: boom"},
		{&solver.VertexError{Kind: "files", Key: key, Err: errBoom}, "files " + key.Short() + ": boom"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, errBoom) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
	}
}

func TestCanceledBeforeStart(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	runs := &solvertest.Counter{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := solver.New(st).Solve(ctx, plan(t, vx(runs, "t")))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if runs.Total() != 0 || st.Stats().GetAction != 0 {
		t.Error("work was done under a cancelled context")
	}
}

// slowRecords holds PutAction of the node named slow until release is
// closed, and fails it when fail is set.
type slowRecords struct {
	*solvertest.Store
	slow    string
	release chan struct{}
	fail    bool
	entered chan struct{}
}

func (s *slowRecords) PutAction(a *graph.Action) error {
	if a.Name == s.slow {
		close(s.entered)
		<-s.release
		if s.fail {
			return errors.New("disk full")
		}
	}
	return s.Store.PutAction(a)
}

// TestRecordingOverlapsDependents checks that the nodes using a node's
// outputs run while its action is being recorded, that Solve returns only
// once it is recorded, and that a failure to record fails Solve.
func TestRecordingOverlapsDependents(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprint("fail=", fail), func(t *testing.T) {
			st := &slowRecords{Store: solvertest.NewStore(t.TempDir()), slow: "leaf", release: make(chan struct{}),
				fail: fail, entered: make(chan struct{})}
			var runs solvertest.Counter
			var recordedBefore atomic.Bool
			leaf := vx(&runs, "leaf")
			top := hooked(&runs, "top", func(ctx context.Context, _ graph.Exec) error {
				select {
				case <-st.entered:
				case <-time.After(hang):
					return errors.New("leaf's action was never being recorded")
				}
				leafKey, _ := nodeKey(plan(t, leaf), "leaf")
				a, _ := st.Store.GetAction(leafKey)
				recordedBefore.Store(a != nil)
				return nil
			}, leaf)
			p := plan(t, top)
			done := make(chan error, 1)
			go func() {
				_, err := solver.New(st).Solve(context.Background(), p)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("Solve returned before leaf was recorded: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			close(st.release)
			var err error
			select {
			case err = <-done:
			case <-time.After(hang):
				t.Fatal("Solve hangs")
			}
			if recordedBefore.Load() {
				t.Error("top ran after leaf's action was recorded: no overlap")
			}
			if fail != (err != nil) {
				t.Fatalf("Solve = %v, want failure %v", err, fail)
			}
			if fail && !strings.Contains(err.Error(), "disk full") {
				t.Errorf("Solve = %v, want the recording's error", err)
			}
		})
	}
}

// weighted is a test op with a weight (graph.WeightedOp).
type weighted struct {
	solvertest.Op
	w int64
}

func (o weighted) Weight() int64 { return o.w }

// TestHeaviestChainsStartFirst checks that the steps waiting for a slot
// start in the order of their weight (see TestPriority for chains).
func TestHeaviestChainsStartFirst(t *testing.T) {
	st := solvertest.NewStore(t.TempDir())
	var mu sync.Mutex
	var order []string
	release := make(chan struct{})
	first := make(chan struct{}, 1)
	hook := func(label string) func(context.Context, graph.Exec) error {
		return func(ctx context.Context, _ graph.Exec) error {
			mu.Lock()
			order = append(order, label)
			mu.Unlock()
			select {
			case first <- struct{}{}:
				// The first to start holds the only slot until every
				// other step waits for it.
				select {
				case <-release:
				case <-time.After(hang):
					return errors.New("never released")
				}
			default:
			}
			return nil
		}
	}
	leaf := func(label string, w int64) *graph.Vertex {
		return graph.NewVertex(label, weighted{solvertest.Op{Label: label, Hook: hook(label)}, w})
	}
	step := func(label string, in *graph.Vertex) *graph.Vertex {
		return graph.NewVertex(label, solvertest.Op{Label: label, Hook: hook(label)}, in)
	}
	// The leaves' weights: small and big. Each leaf has an unweighted step
	// on top (an unpack on a fetch).
	top := vx(nil, "top",
		leaf("w10", 10), leaf("w40", 40), leaf("w20", 20), leaf("w30", 30),
		step("on-w5", leaf("w5", 5)), step("on-w50", leaf("w50", 50)))
	p := plan(t, top)
	done := make(chan error, 1)
	go func() {
		_, err := solver.New(st, solver.WithJobs(1)).Solve(context.Background(), p)
		done <- err
	}()
	// Every leaf but the one holding the slot waits at it (its second
	// lookup is done).
	deadline := time.Now().Add(hang)
	for {
		waiting := 0
		for _, n := range p.Nodes {
			if strings.HasPrefix(n.Name, "w") && st.Lookups(n.Key) >= 2 {
				waiting++
			}
		}
		if waiting == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d leaves reached their slot", waiting)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// After the first (whichever got the slot), the leaves that waited
	// with it start by weight.
	var leaves []string
	for _, l := range order[1:] {
		if strings.HasPrefix(l, "w") {
			leaves = append(leaves, l)
		}
	}
	var want []string
	for _, l := range []string{"w50", "w40", "w30", "w20", "w10", "w5"} {
		if l != order[0] {
			want = append(want, l)
		}
	}
	if !slices.Equal(leaves, want) {
		t.Fatalf("started in the order %v, want the leaves after the first in the order %v", order, want)
	}
}
