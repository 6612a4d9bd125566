package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// Deferred durability. A blob written through CreateDeferred is verified
// and sealed by Commit as any other, but the fsync that makes its bytes
// durable, and the link into blobs/ that follows it, happen on a goroutine
// after Commit returns. Meanwhile the blob is pending: this Store serves it
// (Has, Stat, Open; Path waits for it) from its temporary file, while other
// processes do not see it yet. PutAction waits until the outputs of the
// action are durable before it records the action, so the cache never
// names a blob that a crash could lose or leave incomplete.
//
// This lets the steps of a build go on while the disk writes what the steps
// before them made: the engine reads a step's outputs before they are
// durable, and records the step once they are.

// pendingBlob is a committed blob whose fsync and link are under way.
type pendingBlob struct {
	tmp  string // its temporary file, until the link is made
	size int64
	done chan struct{} // closed when the blob is linked, or failed
	err  error         // set before done is closed
}

// pendingSet holds the pending blobs of a Store.
type pendingSet struct {
	mu   sync.Mutex
	m    map[graph.Digest]*pendingBlob
	err  error      // the first failure
	idle *sync.Cond // signalled when m empties
}

func (p *pendingSet) get(d graph.Digest) *pendingBlob {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[d]
}

// CreateDeferred is Create for a blob whose durability Commit does not wait
// for: see the package's notes on deferred durability. A process must not
// exit before the blobs it needs on the disk are durable: PutAction and
// WaitDurable wait for them.
func (s *Store) CreateDeferred(ctx context.Context) (graph.BlobWriter, error) {
	w, err := s.create(ctx)
	if err != nil {
		return nil, err
	}
	w.deferred = true
	return w, nil
}

// commitLater makes the verified, sealed blob of w (digest d, output out)
// pending and starts its fsync and link.
func (s *Store) commitLater(w *blobWriter, d graph.Digest, out graph.Output) (graph.Output, error) {
	p := &pendingBlob{tmp: w.tmp, size: w.n, done: make(chan struct{})}
	s.pend.mu.Lock()
	if s.pend.m[d] != nil {
		// Another writer of this process committed the same blob.
		s.pend.mu.Unlock()
		w.streamEnd(true, w.n) // the file holds the verified content too
		w.discard()
		return out, nil
	}
	if s.pend.m == nil {
		s.pend.m = map[graph.Digest]*pendingBlob{}
	}
	s.pend.m[d] = p
	s.pend.mu.Unlock()
	// The goroutine owns the file from here on.
	w.done = true
	f, tmp := w.f, w.tmp
	go func() {
		err := s.fsync(f)
		if err == nil {
			err = s.link(tmp, d)
		}
		if err != nil {
			err = fmt.Errorf("cache: blob %s: %w", d, err)
		}
		f.Close()
		os.Remove(tmp)
		s.pend.mu.Lock()
		p.err = err
		if s.pend.err == nil {
			s.pend.err = err
		}
		delete(s.pend.m, d)
		if len(s.pend.m) == 0 && s.pend.idle != nil {
			s.pend.idle.Broadcast()
		}
		s.pend.mu.Unlock()
		close(p.done)
	}()
	return out, nil
}

// link links a synced blob file into blobs/. A hard link never replaces an
// existing blob; it falls back to a rename on file systems without hard
// links (same content, so replacing is safe).
func (s *Store) link(tmp string, d graph.Digest) error {
	dst := s.blobPath(d)
	if err := os.Link(tmp, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("move into place: %w", err)
		}
	}
	// The directory is synced once for every blob linked so far before an
	// action that names them is recorded (see syncBlobs): a link lost in a
	// crash before that only makes the blob missing, never wrong.
	s.linked.Add(1)
	return nil
}

// waitDurable waits until the blob d is durable if it is pending, and
// returns the error that kept it from becoming so.
func (s *Store) waitDurable(d graph.Digest) error {
	p := s.pend.get(d)
	if p == nil {
		return nil
	}
	<-p.done
	return p.err
}

// WaitDurable waits until no blob of this Store is pending, and returns the
// first failure to make one durable, ever. A process that wrote blobs
// through CreateDeferred calls it before it exits, so that it leaves no
// temporary file behind.
func (s *Store) WaitDurable() error {
	s.pend.mu.Lock()
	defer s.pend.mu.Unlock()
	for len(s.pend.m) > 0 {
		if s.pend.idle == nil {
			s.pend.idle = sync.NewCond(&s.pend.mu)
		}
		s.pend.idle.Wait()
	}
	return s.pend.err
}

// openPending opens the temporary file of a pending blob, or returns nil
// when d is not pending (any more).
func (s *Store) openPending(d graph.Digest) *os.File {
	p := s.pend.get(d)
	if p == nil {
		return nil
	}
	f, err := os.Open(p.tmp)
	if err != nil {
		return nil // linked (or failed) meanwhile
	}
	return f
}
