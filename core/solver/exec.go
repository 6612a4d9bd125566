package solver

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// execution is the graph.Exec of one run of an op: blobs come from and go to
// the store, scratch directories are removed when the op returns, progress
// and log lines become events.
type execution struct {
	s *Solver
	n *graph.Node

	mu       sync.Mutex
	temps    []string
	finished bool
}

var _ graph.Exec = (*execution)(nil)

func (x *execution) Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error) {
	return x.s.store.Open(ctx, d)
}

func (x *execution) Path(d graph.Digest) (string, error) { return x.s.store.Path(d) }

func (x *execution) Create(ctx context.Context) (graph.BlobWriter, error) {
	return x.s.store.Create(ctx)
}

func (x *execution) TempDir() (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.finished {
		return "", errFinished
	}
	dir, err := x.s.store.TempDir(x.n.Components.Kind + "-")
	if err != nil {
		return "", fmt.Errorf("scratch directory: %w", err)
	}
	x.temps = append(x.temps, dir)
	return dir, nil
}

func (x *execution) Progress(done, total int64) {
	ev := nodeEvent(EventProgress, x.n)
	ev.Done, ev.Total = done, total
	x.report(ev)
}

func (x *execution) Logf(format string, args ...any) {
	ev := nodeEvent(EventLog, x.n)
	ev.Message = fmt.Sprintf(format, args...)
	x.report(ev)
}

// report emits ev unless the op has returned (a goroutine it leaked must not
// report after its node is done).
func (x *execution) report(ev Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.finished {
		x.s.emit(ev)
	}
}

// finish marks the op as returned and removes its scratch directories.
func (x *execution) finish() {
	x.mu.Lock()
	x.finished = true
	temps := x.temps
	x.temps = nil
	x.mu.Unlock()
	for _, dir := range temps {
		if err := os.RemoveAll(dir); err != nil {
			ev := nodeEvent(EventLog, x.n)
			ev.Message = fmt.Sprintf("remove scratch directory: %v", err)
			x.s.emit(ev)
		}
	}
}
