package solver

import (
	"container/heap"
	"context"
	"sync"
)

// slots is a counting semaphore whose waiters are served by priority,
// highest first, and in arrival order among equals: the steps behind the
// heaviest chains of work start first (graph.WeightedOp).
type slots struct {
	mu      sync.Mutex
	free    int
	waiters waitHeap
	seq     uint64
}

func newSlots(n int) *slots { return &slots{free: n} }

type waiter struct {
	prio  int64
	seq   uint64
	ready chan struct{} // closed when the slot is granted
	index int           // in the heap, -1 once granted or gone
}

type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio > h[j].prio
	}
	return h[i].seq < h[j].seq
}
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// acquire takes a slot, waiting behind the waiters of higher priority, or
// returns ctx's error.
func (s *slots) acquire(ctx context.Context, prio int64) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiters) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	s.seq++
	w := &waiter{prio: prio, seq: s.seq, ready: make(chan struct{})}
	heap.Push(&s.waiters, w)
	s.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if w.index < 0 {
			// Granted meanwhile: hand it on.
			s.mu.Unlock()
			s.release()
		} else {
			heap.Remove(&s.waiters, w.index)
			s.mu.Unlock()
		}
		return ctx.Err()
	}
}

// release gives a slot back, to the first waiter if there is one.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiters) > 0 {
		w := heap.Pop(&s.waiters).(*waiter)
		close(w.ready)
		return
	}
	s.free++
}
