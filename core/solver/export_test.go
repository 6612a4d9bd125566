package solver

import "github.com/kitbuild/kit/core/graph"

// Waiters returns how many callers wait for the in-flight evaluation of key.
func Waiters(s *Solver, key graph.Key) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.inflight[key]; ok {
		return c.waiters
	}
	return 0
}
