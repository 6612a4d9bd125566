package solvertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// Op is a fake step. Its one output, "out", holds its label followed by the
// "out" outputs of its inputs in parentheses ("t(a(l),b(l))"), so the content
// of a result shows the path that built it. Every execution is counted.
type Op struct {
	// Label names the op in its output and in Runs; it is a parameter.
	Label string
	// Args are further parameters ("mode": "init").
	Args map[string]string
	// Step is the kind; "test" when empty.
	Step string
	// Runs, when set, counts executions by Label.
	Runs *Counter
	// Hook, when set, runs first in Exec; its error fails the op. Tests
	// use it to block, fail, observe the context or use x.
	Hook func(ctx context.Context, x graph.Exec) error
}

var _ graph.Op = Op{}

// Kind returns o.Step, or "test".
func (o Op) Kind() string {
	if o.Step == "" {
		return "test"
	}
	return o.Step
}

// Version returns "1".
func (o Op) Version() string { return "1" }

// Params returns Label and Args as one JSON object.
func (o Op) Params() ([]byte, error) {
	m := map[string]string{"label": o.Label}
	for k, v := range o.Args {
		m[k] = v
	}
	return json.Marshal(m) // map keys are sorted: canonical
}

// Exec counts the run, calls Hook and writes "out".
func (o Op) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if o.Runs != nil {
		o.Runs.Add(o.Label)
	}
	if o.Hook != nil {
		if err := o.Hook(ctx, x); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	b.WriteString(o.Label)
	if len(o.Args) > 0 {
		keys := make([]string, 0, len(o.Args))
		for k := range o.Args {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			sep := ","
			if i == 0 {
				sep = "["
			}
			fmt.Fprintf(&b, "%s%s=%s", sep, k, o.Args[k])
		}
		b.WriteString("]")
	}
	if len(inputs) > 0 {
		b.WriteString("(")
		for i, in := range inputs {
			if i > 0 {
				b.WriteString(",")
			}
			out, ok := in.Get("out")
			if !ok {
				return nil, fmt.Errorf("input %d has no output \"out\"", i)
			}
			if err := copyBlob(ctx, x, &b, out.Digest); err != nil {
				return nil, fmt.Errorf("input %d: %w", i, err)
			}
		}
		b.WriteString(")")
	}
	w, err := x.Create(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, err
	}
	out, err := w.Commit("out", "text/plain", "")
	if err != nil {
		return nil, err
	}
	return []graph.Output{out}, nil
}

func copyBlob(ctx context.Context, x graph.Exec, w io.Writer, d graph.Digest) error {
	r, err := x.Open(ctx, d)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// Counter counts events by name. The zero value is ready; it is safe for
// concurrent use.
type Counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one for name.
func (c *Counter) Add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

// Get returns the count of name.
func (c *Counter) Get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// Total returns the sum of all counts.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

// Counts returns a copy of the counts.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.n))
	for k, v := range c.n {
		m[k] = v
	}
	return m
}

// Gauge tracks how many things are in progress at once and the most ever
// seen. It is safe for concurrent use.
type Gauge struct {
	mu       sync.Mutex
	cur, max int
	watch    []gaugeWatch
}

type gaugeWatch struct {
	n  int
	ch chan struct{}
}

// Enter counts one more in progress.
func (g *Gauge) Enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur++
	if g.cur > g.max {
		g.max = g.cur
	}
	kept := g.watch[:0]
	for _, w := range g.watch {
		if g.cur >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	g.watch = kept
}

// Leave counts one fewer in progress.
func (g *Gauge) Leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur--
}

// Current returns how many are in progress.
func (g *Gauge) Current() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// Max returns the most ever in progress at once.
func (g *Gauge) Max() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

// Reached returns a channel closed once n are in progress at the same time
// (a barrier: parallelism is observed, not timed).
func (g *Gauge) Reached(n int) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	if g.max >= n {
		close(ch)
		return ch
	}
	g.watch = append(g.watch, gaugeWatch{n: n, ch: ch})
	return ch
}
