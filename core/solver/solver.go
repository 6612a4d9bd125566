package solver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/trace"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/graph"
)

// Option sets an optional setting of a Solver.
type Option func(*config)

type config struct {
	jobs    int
	noCache bool
	explain bool
	events  func(Event)
	mirror  func(n *graph.Node) string
}

// WithJobs bounds the number of ops that execute at once (default
// runtime.NumCPU(); n < 1 means the default). Nodes waiting for their inputs
// or for a store lock do not count. Ops that mostly wait for the network
// (graph.NetworkOp) are bounded by n too, but apart from the others.
func WithJobs(n int) Option { return func(c *config) { c.jobs = n } }

// WithNoCache makes the solver ignore the action cache when reading: every
// node it needs is executed again. Results are still recorded.
func WithNoCache() Option { return func(c *config) { c.noCache = true } }

// WithEvents sends the events of every node to fn. The solver serialises the
// calls (fn is never called concurrently with itself), so fn need not lock,
// but it must return quickly: it holds up every node that reports meanwhile.
func WithEvents(fn func(Event)) Option { return func(c *config) { c.events = fn } }

// WithExplain makes the solver say, on EventQueued and EventCached, why each
// node missed or hit the action cache. It costs one extra lookup per miss.
func WithExplain() Option { return func(c *config) { c.explain = true } }

// Solver runs plans against a Store. It is safe for concurrent use: Solve
// calls made at the same time share the work of nodes with equal keys (kit
// graph build), and a Solver remembers every result it produced or looked up,
// so a node is looked up or built at most once per Solver. Use one Solver per
// build invocation.
type Solver struct {
	store Store
	cfg   config
	slots *slots
	// netSlots bound the ops that mostly wait for the network
	// (graph.NetworkOp) apart from slots, so that downloads do not keep
	// the CPUs' slots from the steps that could run meanwhile.
	netSlots *slots
	eventMu  sync.Mutex

	mu       sync.Mutex
	inflight map[graph.Key]*call
	done     map[graph.Key]graph.Result
	prio     map[graph.Key]int64 // see priority

	// records are the recordings of the actions of executed nodes (see
	// record), guarded by mu.
	records map[graph.Key]*recording

	// mirrors are the files mirroring the blobs of nodes (WithMirror) that
	// no one took yet.
	mirrorMu sync.Mutex
	mirrors  map[mirrorKey][]*os.File
	taken    []*os.File // handed over by TakeMirror, open until DropMirrors
}

// recording is the recording of one node's action.
type recording struct {
	done chan struct{}
	err  error // set before done is closed
}

// call is one in-flight evaluation of a node, shared by every caller that
// asks for the node's key meanwhile. It runs under its own context, cancelled
// only when every caller has gone.
type call struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int // guarded by Solver.mu
	res     graph.Result
	err     error

	// announced is closed when the op announced its outputs (see
	// graph.Announcer), early then holds them.
	announced chan struct{}
	early     graph.Result
}

// New returns a Solver that runs ops against store.
func New(store Store, opts ...Option) *Solver {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.jobs < 1 {
		cfg.jobs = runtime.NumCPU()
	}
	return &Solver{
		store:    store,
		cfg:      cfg,
		slots:    newSlots(cfg.jobs),
		netSlots: newSlots(cfg.jobs),
		prio:     map[graph.Key]int64{},
		inflight: map[graph.Key]*call{},
		done:     map[graph.Key]graph.Result{},
		records:  map[graph.Key]*recording{},
	}
}

// Solve produces the results of p's targets. It evaluates top-down and
// lazily: a node found in the action cache is returned without looking at
// its inputs; on a miss its inputs are solved in parallel, then it is
// executed under the store's lock for its key and its result recorded.
//
// The returned map holds the results of the targets and of every other node
// of p the Solver has evaluated (executed or found in the cache). The first
// error cancels the rest of the work and is returned as a *VertexError; when
// ctx is cancelled Solve returns ctx.Err() wrapped. Either way, no result is
// recorded once the failure or cancellation is seen, and Solve returns only
// after every execution it alone was waiting for has stopped.
func (s *Solver) Solve(ctx context.Context, p *graph.Plan) (map[graph.Key]graph.Result, error) {
	if p == nil {
		return nil, errors.New("solve: no plan")
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range p.Targets {
		g.Go(func() error {
			_, err := s.node(gctx, t)
			return err
		})
	}
	err := g.Wait()
	// The actions of the nodes of p that were executed are recorded before
	// Solve returns, and no blob is left on its way to the disk (a node
	// cancelled by a failure may have committed some).
	if rerr := s.waitRecorded(p); err == nil {
		err = rerr
	}
	if d, ok := s.store.(durableWaiter); ok {
		_ = d.WaitDurable() // what matters failed a recording above
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("solve: %w", ctx.Err())
	}
	if err != nil {
		return nil, err
	}
	out := make(map[graph.Key]graph.Result, len(p.Targets))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range p.Nodes {
		if r, ok := s.done[n.Key]; ok {
			out[n.Key] = r
		}
	}
	return out, nil
}

// node returns the result of n, joining the evaluation of n's key that is
// in flight, if any. When ctx is done the caller leaves; the last caller to
// leave cancels the evaluation and waits for it to stop.
func (s *Solver) node(ctx context.Context, n *graph.Node) (graph.Result, error) {
	r, c, err := s.join(ctx, n)
	if c == nil {
		return r, err
	}
	r, _, err = s.wait(ctx, n, c, false)
	return r, err
}

// join returns the result of n when it is known; otherwise it returns the
// call evaluating n (starting one if none is in flight), with the caller
// counted as one of its waiters: the caller then waits for it with wait.
func (s *Solver) join(ctx context.Context, n *graph.Node) (graph.Result, *call, error) {
	if err := ctx.Err(); err != nil {
		return graph.Result{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.done[n.Key]; ok {
		return r, nil, nil
	}
	c, ok := s.inflight[n.Key]
	if !ok {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call{done: make(chan struct{}), announced: make(chan struct{}), cancel: cancel}
		s.inflight[n.Key] = c
		go s.run(cctx, c, n)
	}
	c.waiters++
	return graph.Result{}, c, nil
}

// wait waits for the call c of n, joined by the caller. With early it
// returns as soon as c's op announced its outputs (announced is then true):
// the caller stays a waiter of c and must wait for it again, without
// early, or leave it.
func (s *Solver) wait(ctx context.Context, n *graph.Node, c *call, early bool) (r graph.Result, announced bool, err error) {
	ann := c.announced
	if !early {
		ann = nil
	}
	select {
	case <-c.done:
		return c.res, false, c.err
	case <-ann:
		return c.early, true, nil
	case <-ctx.Done():
	}
	s.leave(n, c)
	return graph.Result{}, false, ctx.Err()
}

// leave stops the caller waiting for the call c of n; the last caller to
// leave cancels it and waits for it to stop.
func (s *Solver) leave(n *graph.Node, c *call) {
	s.mu.Lock()
	c.waiters--
	last := c.waiters == 0 && s.inflight[n.Key] == c
	if last {
		// Nobody may join a call that is being cancelled: a later caller
		// starts afresh.
		delete(s.inflight, n.Key)
	}
	s.mu.Unlock()
	if last {
		c.cancel()
		<-c.done
	}
}

// priority is the weight of the heaviest chain of work that ends in n: its
// op's weight (graph.WeightedOp) plus its heaviest input's priority. Among
// the steps waiting for a slot, the one of highest priority starts first.
func (s *Solver) priority(n *graph.Node) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.priorityLocked(n)
}

func (s *Solver) priorityLocked(n *graph.Node) int64 {
	if p, ok := s.prio[n.Key]; ok {
		return p
	}
	var p int64
	for _, in := range n.Inputs {
		p = max(p, s.priorityLocked(in))
	}
	if w, ok := n.Op.(graph.WeightedOp); ok {
		p += max(0, w.Weight())
	}
	s.prio[n.Key] = p
	return p
}

// run evaluates n for the call c and publishes the outcome.
func (s *Solver) run(ctx context.Context, c *call, n *graph.Node) {
	res, err := s.evaluate(ctx, c, n)
	s.mu.Lock()
	if s.inflight[n.Key] == c {
		delete(s.inflight, n.Key)
	}
	if err == nil {
		s.done[n.Key] = res
	}
	c.res, c.err = res, err
	s.mu.Unlock()
	close(c.done)
	c.cancel()
}

// evaluate looks n up in the action cache and, on a miss, solves its inputs
// and executes it.
func (s *Solver) evaluate(ctx context.Context, c *call, n *graph.Node) (graph.Result, error) {
	if !s.cfg.noCache {
		res, hit, err := s.lookup(n)
		if err != nil || hit {
			return res, err
		}
	}
	queued := nodeEvent(EventQueued, n)
	if s.cfg.explain {
		queued.Explain = missReasons(s.store, n, s.cfg.noCache)
	}
	s.emit(queued)

	early := false
	if so, ok := n.Op.(graph.StreamingOp); ok {
		early = so.StreamsInputs()
	}
	inputs, streams, err := s.inputs(ctx, n, early)
	if err != nil {
		return graph.Result{}, s.canceled(n, err)
	}
	// Inputs still running are waited for before n's result may count, on
	// every path: n read only what they announced.
	defer func() {
		for i, c := range streams {
			if c != nil {
				s.leave(n.Inputs[i], c)
			}
		}
	}()
	complete := func() error {
		for i, c := range streams {
			if c == nil {
				continue
			}
			r, _, err := s.wait(ctx, n.Inputs[i], c, false)
			streams[i] = nil // left by wait, or done
			if err != nil {
				return err
			}
			if !sameOutputs(r.Outputs, inputs[i].Outputs) {
				return fmt.Errorf("%s: announced outputs other than it returned", n.Inputs[i].Name)
			}
			inputs[i] = r
		}
		return nil
	}
	unlock, err := s.store.Lock(ctx, n.Key)
	if err != nil {
		return graph.Result{}, s.fail(ctx, n, 0, fmt.Errorf("lock: %w", err))
	}
	recording := false
	defer func() {
		if !recording {
			unlock()
		}
	}()
	if !s.cfg.noCache {
		// Another process may have built the node while we waited.
		res, hit, err := s.lookup(n)
		if err != nil || hit {
			return res, err
		}
	}
	slots := s.slots
	if no, ok := n.Op.(graph.NetworkOp); ok && no.UsesNetwork() {
		slots = s.netSlots
	}
	prio := s.priority(n)
	if err := slots.acquire(ctx, prio); err != nil {
		return graph.Result{}, s.canceled(n, err)
	}
	start := time.Now()
	s.emit(nodeEvent(EventStart, n))
	outs, intact, err := s.exec(ctx, c, n, inputs)
	slots.release()
	if hasStreams(streams) {
		// What n read of an input that failed since is not to be trusted,
		// and a failure of n may only be the consequence of the input's.
		if ierr := complete(); ierr != nil {
			return graph.Result{}, s.canceled(n, ierr)
		}
		if !intact() {
			// An input started a blob over (a download that failed
			// verification, then retried) after n had read part of it:
			// whatever n made of it, or failed on, it runs again on the
			// complete inputs.
			x := nodeEvent(EventLog, n)
			x.Message = "an input was fetched again: starting over"
			s.emit(x)
			if err := slots.acquire(ctx, prio); err != nil {
				return graph.Result{}, s.canceled(n, err)
			}
			outs, _, err = s.exec(ctx, c, n, inputs)
			slots.release()
		}
	}
	took := time.Since(start)
	if err == nil {
		err = s.verify(outs)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return graph.Result{}, s.fail(ctx, n, took, err)
	}
	a := &graph.Action{
		Key:        n.Key,
		Name:       n.Name,
		Components: n.Components,
		Outputs:    outs,
		Created:    time.Now().UTC(),
	}
	recording = true
	s.record(n, a, took, unlock)
	done := nodeEvent(EventDone, n)
	done.Duration = took
	s.emit(done)
	return graph.Result{Key: n.Key, Outputs: outs}, nil
}

// record records the action of n, which executed in took, and then
// releases the lock of its key, on a goroutine: the nodes that use n's
// outputs go on meanwhile. With a store that defers the durability of blobs
// (core/cache.Store.CreateDeferred), recording waits until n's outputs are
// durable, while the nodes after n already read them. Solve waits for the
// recordings of its plan's nodes and fails when one did.
func (s *Solver) record(n *graph.Node, a *graph.Action, took time.Duration, unlock func()) {
	r := &recording{done: make(chan struct{})}
	s.mu.Lock()
	s.records[n.Key] = r
	s.mu.Unlock()
	go func() {
		defer close(r.done)
		defer unlock()
		if err := s.store.PutAction(a); err != nil {
			r.err = s.fail(context.Background(), n, took, fmt.Errorf("record action: %w", err))
		}
	}()
}

// waitRecorded waits for the recordings of the nodes of p and returns the
// first failure.
func (s *Solver) waitRecorded(p *graph.Plan) error {
	var first error
	for _, n := range p.Nodes {
		s.mu.Lock()
		r := s.records[n.Key]
		s.mu.Unlock()
		if r == nil {
			continue
		}
		<-r.done
		if r.err != nil && first == nil {
			first = r.err
		}
	}
	return first
}

// lookup asks the action cache for n.
func (s *Solver) lookup(n *graph.Node) (graph.Result, bool, error) {
	a, err := s.store.GetAction(n.Key)
	if err != nil {
		err = vertexError(n, fmt.Errorf("action cache: %w", err))
		ev := nodeEvent(EventError, n)
		ev.Err = err
		s.emit(ev)
		return graph.Result{}, false, err
	}
	if a == nil {
		return graph.Result{}, false, nil
	}
	ev := nodeEvent(EventCached, n)
	if s.cfg.explain {
		ev.Explain = []string{"cache hit"}
	}
	s.emit(ev)
	return graph.Result{Key: n.Key, Outputs: a.Outputs}, true, nil
}

// inputs solves the inputs of n in parallel. The first failure cancels the
// others and is returned as it is (it already names the input). With early,
// an input whose op announced its outputs counts as solved: its call is
// returned in streams (at its index), and the caller stays one of its
// waiters.
func (s *Solver) inputs(ctx context.Context, n *graph.Node, early bool) (res []graph.Result, streams []*call, err error) {
	res = make([]graph.Result, len(n.Inputs))
	streams = make([]*call, len(n.Inputs))
	g, gctx := errgroup.WithContext(ctx)
	for i, in := range n.Inputs {
		g.Go(func() error {
			r, c, err := s.join(gctx, in)
			if c != nil {
				var announced bool
				r, announced, err = s.wait(gctx, in, c, early)
				if announced {
					streams[i] = c
				}
			}
			res[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		for i, c := range streams {
			if c != nil {
				s.leave(n.Inputs[i], c)
			}
		}
		return nil, nil, err
	}
	return res, streams, nil
}

func sameOutputs(a, b []graph.Output) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Digest != b[i].Digest || a[i].Size != b[i].Size {
			return false
		}
	}
	return true
}

func hasStreams(streams []*call) bool {
	for _, c := range streams {
		if c != nil {
			return true
		}
	}
	return false
}

// exec runs n's op with an Exec backed by the store, turning a panic into an
// error.
//
// intact tells, once the inputs are complete, whether every blob the op
// read while it was being written was read as committed (see
// execution.intact).
func (s *Solver) exec(ctx context.Context, c *call, n *graph.Node, inputs []graph.Result) (outs []graph.Output, intact func() bool, err error) {
	x := &execution{s: s, n: n, c: c}
	intact = x.intact
	defer func() { x.finish(err) }()
	defer func() {
		if r := recover(); r != nil {
			x.Logf("panic: %v\n%s", r, debug.Stack())
			outs, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	// Under KIT_TRACE each run of a step is a region named after the step.
	region := trace.StartRegion(ctx, n.Name)
	outs, err = n.Op.Exec(ctx, x, inputs)
	region.End()
	return outs, intact, err
}

// verify checks that every output is well formed and present in the store.
func (s *Solver) verify(outs []graph.Output) error {
	seen := make(map[string]bool, len(outs))
	for _, o := range outs {
		if o.Name == "" {
			return fmt.Errorf("output %s has no name", o.Digest)
		}
		if seen[o.Name] {
			return fmt.Errorf("output %q returned twice", o.Name)
		}
		seen[o.Name] = true
		if err := o.Digest.Validate(); err != nil {
			return fmt.Errorf("output %q: %w", o.Name, err)
		}
		if !s.store.Has(o.Digest) {
			return fmt.Errorf("output %q (%s) is not in the store (not committed?)", o.Name, o.Digest)
		}
	}
	return nil
}

// fail reports the failure of n. When ctx is done the failure is a
// consequence of the cancellation: it is reported as such and ctx's error
// returned, so that one cancellation does not become a pile of errors.
func (s *Solver) fail(ctx context.Context, n *graph.Node, took time.Duration, err error) error {
	if ctx.Err() != nil {
		return s.canceled(n, ctx.Err())
	}
	err = vertexError(n, err)
	ev := nodeEvent(EventError, n)
	ev.Err, ev.Duration = err, took
	s.emit(ev)
	return err
}

// canceled reports that n will not complete because of err (a cancellation,
// or the failure of an input) and returns err unchanged.
func (s *Solver) canceled(n *graph.Node, err error) error {
	ev := nodeEvent(EventCanceled, n)
	ev.Err = err
	s.emit(ev)
	return err
}

// emit sends e to the event callback, one call at a time.
func (s *Solver) emit(e Event) {
	if s.cfg.events == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	s.cfg.events(e)
}

// errFinished is returned by Exec methods called after the op returned.
var errFinished = errors.New("solver: op already returned")
