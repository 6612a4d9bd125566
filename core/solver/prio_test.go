package solver

import (
	"context"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/graph"
)

// TestSlotsOrder checks that waiters get slots highest priority first,
// in arrival order among equals, and that a cancelled waiter leaves the
// queue without taking a slot.
func TestSlotsOrder(t *testing.T) {
	s := newSlots(1)
	if err := s.acquire(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 8)
	cctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	start := func(prio int64, id int64) {
		go func() {
			if err := s.acquire(context.Background(), prio); err != nil {
				t.Error(err)
				return
			}
			got <- id
			s.release()
		}()
	}
	queued := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.mu.Lock()
			l := len(s.waiters)
			s.mu.Unlock()
			if l == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters, want %d", l, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// ids: priority*10 + arrival
	start(1, 11)
	queued(1)
	start(5, 51)
	queued(2)
	go func() { cancelled <- s.acquire(cctx, 9) }()
	queued(3)
	start(5, 52)
	queued(4)
	start(3, 31)
	queued(5)
	cancel()
	if err := <-cancelled; err != context.Canceled {
		t.Fatalf("cancelled waiter: %v", err)
	}
	queued(4)
	s.release()
	want := []int64{51, 52, 31, 11}
	for i, w := range want {
		select {
		case id := <-got:
			if id != w {
				t.Fatalf("grant %d went to %d, want %d", i, id, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("grant %d never came", i)
		}
	}
	// Every slot is back: two acquires in a row, one succeeds at once.
	if err := s.acquire(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if s.free != 0 || len(s.waiters) != 0 {
		t.Fatalf("free %d, waiters %d after the last acquire", s.free, len(s.waiters))
	}
}

type testOp struct {
	label string
	w     int64
}

func (o testOp) Kind() string            { return "test" }
func (o testOp) Version() string         { return "1" }
func (o testOp) Params() ([]byte, error) { return []byte(`"` + o.label + `"`), nil }
func (o testOp) Weight() int64           { return o.w }
func (o testOp) Exec(context.Context, graph.Exec, []graph.Result) ([]graph.Output, error) {
	return nil, nil
}

// TestPriority checks that a step's priority is its weight plus its
// heaviest input's.
func TestPriority(t *testing.T) {
	big := graph.NewVertex("big", testOp{"big", 50})
	small := graph.NewVertex("small", testOp{"small", 5})
	onBig := graph.NewVertex("on-big", testOp{"on-big", 0}, big)
	onBoth := graph.NewVertex("on-both", testOp{"on-both", 3}, onBig, small)
	p, err := graph.NewPlan(graph.Env{Platform: "linux/amd64"}, onBoth)
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil)
	want := map[string]int64{"big": 50, "small": 5, "on-big": 50, "on-both": 53}
	for _, n := range p.Nodes {
		if got := s.priority(n); got != want[n.Name] {
			t.Errorf("%s: priority %d, want %d", n.Name, got, want[n.Name])
		}
	}
}
