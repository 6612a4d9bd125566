package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kitbuild/kit/core/graph"
)

const storeLockName = "store.lock"

// Lock takes the per-key lock shared by every process using the store. It
// waits (polling with backoff) until the lock is free or ctx is done. The
// lock is released by calling unlock, or when the process exits.
func (s *Store) Lock(ctx context.Context, key graph.Key) (unlock func(), err error) {
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("cache: lock: %w", err)
	}
	name := key.Hex() + ".lock"
	// Goroutines of this process queue on a channel first, so that they are
	// woken promptly instead of polling the file lock against each other.
	release, err := s.lockInProcess(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cache: lock key %s: %w", key, err)
	}
	f, err := s.flock(ctx, name, unix.LOCK_EX)
	if err != nil {
		release()
		return nil, fmt.Errorf("cache: lock key %s: %w", key, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			unlockFile(f)
			release()
		})
	}, nil
}

// LockShared takes the store-wide lock in shared mode. Builds hold it while
// they run so that Prune (which takes it exclusively) never deletes what
// they use. It waits until no prune runs, or until ctx is done.
func (s *Store) LockShared(ctx context.Context) (unlock func(), err error) {
	f, err := s.flock(ctx, storeLockName, unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("cache %s: shared lock: %w", s.dir, err)
	}
	s.shared.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.shared.Add(-1)
			unlockFile(f)
		})
	}, nil
}

// lockExclusive takes the store-wide lock exclusively (for Prune).
func (s *Store) lockExclusive(ctx context.Context) (unlock func(), err error) {
	if s.shared.Load() > 0 {
		return nil, fmt.Errorf("cache %s: cannot take the exclusive lock while this process holds the shared lock", s.dir)
	}
	f, err := s.flock(ctx, storeLockName, unix.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("cache %s: exclusive lock (is a build running?): %w", s.dir, err)
	}
	return func() { unlockFile(f) }, nil
}

// keyWaiter is the in-process part of a per-key lock.
type keyWaiter struct {
	ch   chan struct{} // holds a token while the key is locked
	refs int
}

func (s *Store) lockInProcess(ctx context.Context, name string) (release func(), err error) {
	s.keyMu.Lock()
	w := s.keyLock[name]
	if w == nil {
		w = &keyWaiter{ch: make(chan struct{}, 1)}
		s.keyLock[name] = w
	}
	w.refs++
	s.keyMu.Unlock()
	drop := func() {
		s.keyMu.Lock()
		w.refs--
		if w.refs == 0 {
			delete(s.keyLock, name)
		}
		s.keyMu.Unlock()
	}
	select {
	case w.ch <- struct{}{}:
		return func() { <-w.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// flock opens locks/<name> and takes a flock on it in the given mode,
// polling with backoff until it succeeds or ctx is done. Because Prune may
// remove idle lock files, a lock taken on a file that is no longer the one
// at the path is dropped and retried.
func (s *Store) flock(ctx context.Context, name string, how int) (*os.File, error) {
	p := s.path(locksDir, name)
	delay := time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open lock file %s: %w", p, err)
		}
		for {
			err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
			if err == nil || !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
				break
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				f.Close()
				return nil, ctx.Err()
			case <-t.C:
			}
			delay = min(delay*2, 100*time.Millisecond)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", p, err)
		}
		if sameFile(f, p) {
			return f, nil
		}
		// The file was removed (by Prune) while we waited: try again.
		f.Close()
	}
}

// sameFile reports whether the open file f is still the file at path p.
func sameFile(f *os.File, p string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(p)
	if err != nil {
		return false
	}
	return os.SameFile(fi, pi)
}

func unlockFile(f *os.File) {
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	f.Close()
}

// tryRemoveLocked removes the file at p if no process holds a flock on it.
// Holders re-check the path after locking (see flock and createTemp), so
// removing it cannot let two holders in.
func tryRemoveLocked(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.EACCES) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, nil
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if !sameFile(f, p) {
		return false, nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}

const lockExclusiveMode = unix.LOCK_EX
