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

// deferredCreator is implemented by stores that can leave the durability
// of a blob to after its Commit (core/cache.Store): PutAction then waits for
// it, so that the steps after a node read its outputs while the disk writes
// them.
type deferredCreator interface {
	CreateDeferred(ctx context.Context) (graph.BlobWriter, error)
}

// durableWaiter is implemented by the stores that implement
// deferredCreator: WaitDurable returns when no blob is on its way to the
// disk.
type durableWaiter interface {
	WaitDurable() error
}

func (x *execution) Create(ctx context.Context) (graph.BlobWriter, error) {
	if d, ok := x.s.store.(deferredCreator); ok {
		return d.CreateDeferred(ctx)
	}
	return x.s.store.Create(ctx)
}

// fileMover is implemented by stores that can take a file into the store
// without copying it (core/cache.Store).
type fileMover interface {
	MoveFile(ctx context.Context, path string, want graph.Digest) (graph.Output, error)
}

// MoveFile takes the file at path (normally in one of the op's scratch
// directories) into the store as a blob, verified against want unless it is
// empty; the file is gone from path afterwards. Plugin format steps use it
// for their outputs, which can be whole disk images: the store renames
// instead of copying when it can.
func (x *execution) MoveFile(ctx context.Context, path string, want graph.Digest) (graph.Output, error) {
	if m, ok := x.s.store.(fileMover); ok {
		return m.MoveFile(ctx, path, want)
	}
	f, err := os.Open(path)
	if err != nil {
		return graph.Output{}, err
	}
	defer f.Close()
	w, err := x.s.store.Create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := io.Copy(w, f); err != nil {
		return graph.Output{}, err
	}
	out, err := w.Commit("", "", want)
	if err != nil {
		return graph.Output{}, err
	}
	return out, os.Remove(path)
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
