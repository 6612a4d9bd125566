package solver

import (
	"context"
	"errors"
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
	c *call // nil when the op runs outside a call

	mu       sync.Mutex
	temps    []string
	finished bool
	// releases end the Expect of every blob the op announced.
	releases []func(error)
	// streamed are the readers of blobs that were being written when the
	// op opened them.
	streamed []streamIntact
	// mirrors are the blob writers of the op that mirror (WithMirror).
	mirrors []mirrorFile
}

var (
	_ graph.Exec      = (*execution)(nil)
	_ graph.Announcer = (*execution)(nil)
)

// expecter is implemented by stores that let readers follow blobs being
// written (core/cache.Store): see graph.Announcer.
type expecter interface {
	Expect(d graph.Digest) (release func(err error))
}

// Announce implements graph.Announcer: the users of the node that stream
// their inputs start on outs, reading the blobs still to be written as the
// op writes them.
func (x *execution) Announce(outs []graph.Output) error {
	st, ok := x.s.store.(expecter)
	if !ok || x.c == nil {
		return nil // the users wait for the op to return, as usual
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.finished {
		return errFinished
	}
	if x.releases != nil {
		return errors.New("announce: outputs announced twice")
	}
	x.releases = make([]func(error), 0, len(outs))
	for _, o := range outs {
		if err := o.Digest.Validate(); err != nil {
			return fmt.Errorf("announce: output %q: %w", o.Name, err)
		}
		x.releases = append(x.releases, st.Expect(o.Digest))
	}
	select {
	case <-x.c.announced:
		// A second execution of the node (see evaluate): its users have
		// the outputs already.
	default:
		x.c.early = graph.Result{Key: x.n.Key, Outputs: append([]graph.Output(nil), outs...)}
		close(x.c.announced)
	}
	return nil
}

func (x *execution) Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error) {
	rc, err := x.s.store.Open(ctx, d)
	if si, ok := rc.(streamIntact); ok && err == nil {
		x.mu.Lock()
		x.streamed = append(x.streamed, si)
		x.mu.Unlock()
	}
	return rc, err
}

// streamIntact is implemented by the readers of blobs that were still
// being written when opened (core/cache streams).
type streamIntact interface {
	StreamIntact() bool
}

// intact reports whether every streamed blob the op read was read as
// committed (see core/cache's streamReader.StreamIntact).
func (x *execution) intact() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, si := range x.streamed {
		if !si.StreamIntact() {
			return false
		}
	}
	return true
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
	var w graph.BlobWriter
	var err error
	if d, ok := x.s.store.(deferredCreator); ok {
		w, err = d.CreateDeferred(ctx)
	} else {
		w, err = x.s.store.Create(ctx)
	}
	if err == nil {
		x.mirrorCreate(w)
	}
	return w, err
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

// finish marks the op as returned, with err, ends the streams of the blobs
// it announced and removes its scratch directories.
func (x *execution) finish(err error) {
	x.mu.Lock()
	x.finished = true
	temps, releases := x.temps, x.releases
	x.temps = nil
	x.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("%s failed: %w", x.n.Name, err)
	}
	for _, release := range releases {
		release(err)
	}
	x.finishMirrors(err)
	for _, dir := range temps {
		if err := os.RemoveAll(dir); err != nil {
			ev := nodeEvent(EventLog, x.n)
			ev.Message = fmt.Sprintf("remove scratch directory: %v", err)
			x.s.emit(ev)
		}
	}
}
