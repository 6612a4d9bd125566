package solvertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// Stats counts the calls made to a Store, by method.
type Stats struct {
	Has, Path, Open, Create, TempDir int
	GetAction, PutAction, LastAction int
	Lock                             int
}

// Store implements the solver's Store interface on a directory: blobs are
// files named by their digest, actions are kept in memory, locks are
// per-key and in-process. It counts every call. It is safe for concurrent
// use.
type Store struct {
	// AfterLock, when set (before the store is used), is called with each
	// key right after its lock is taken: a test can record an action there
	// to simulate another process that built the node meanwhile.
	AfterLock func(key graph.Key)

	dir string

	mu      sync.Mutex
	stats   Stats
	lookups map[graph.Key]int
	actions map[graph.Key]*graph.Action
	last    map[string]*graph.Action
	locks   map[graph.Key]chan struct{}
}

// NewStore returns an empty Store keeping its files under dir (normally
// t.TempDir()).
func NewStore(dir string) *Store {
	return &Store{
		dir:     dir,
		lookups: map[graph.Key]int{},
		actions: map[graph.Key]*graph.Action{},
		last:    map[string]*graph.Action{},
		locks:   map[graph.Key]chan struct{}{},
	}
}

func (s *Store) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Store) blobPath(d graph.Digest) string {
	return filepath.Join(s.dir, "blobs", d.Hex())
}

// Has reports whether the blob d is present.
func (s *Store) Has(d graph.Digest) bool {
	s.count(func(st *Stats) { st.Has++ })
	return s.has(d)
}

func (s *Store) has(d graph.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Stat(s.blobPath(d))
	return err == nil
}

// Path returns the path of the blob d.
func (s *Store) Path(d graph.Digest) (string, error) {
	s.count(func(st *Stats) { st.Path++ })
	if err := d.Validate(); err != nil {
		return "", err
	}
	p := s.blobPath(d)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("blob %s: %w", d, err)
	}
	return p, nil
}

// Open opens the blob d.
func (s *Store) Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error) {
	s.count(func(st *Stats) { st.Open++ })
	if err := d.Validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return f, nil
}

// Create starts a new blob.
func (s *Store) Create(ctx context.Context) (graph.BlobWriter, error) {
	s.count(func(st *Stats) { st.Create++ })
	return s.create()
}

func (s *Store) create() (graph.BlobWriter, error) {
	if err := os.MkdirAll(filepath.Join(s.dir, "blobs"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "blobs"), ".new-*")
	if err != nil {
		return nil, err
	}
	return &writer{s: s, f: f, d: graph.NewDigester()}, nil
}

// TempDir makes a scratch directory under the store's directory.
func (s *Store) TempDir(prefix string) (string, error) {
	s.count(func(st *Stats) { st.TempDir++ })
	if err := os.MkdirAll(filepath.Join(s.dir, "tmp"), 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(filepath.Join(s.dir, "tmp"), prefix+"*")
}

// GetAction returns the action recorded under key, or nil when there is
// none or one of its outputs is missing.
func (s *Store) GetAction(key graph.Key) (*graph.Action, error) {
	s.mu.Lock()
	s.stats.GetAction++
	s.lookups[key]++
	a := s.actions[key]
	s.mu.Unlock()
	if a == nil {
		return nil, nil
	}
	for _, o := range a.Outputs {
		if !s.has(o.Digest) {
			return nil, nil
		}
	}
	return clone(a), nil
}

// PutAction records a; it becomes the last action of a.Name.
func (s *Store) PutAction(a *graph.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.PutAction++
	c := clone(a)
	s.actions[a.Key] = c
	s.last[a.Name] = c
	return nil
}

// LastAction returns the last action recorded for name, or nil.
func (s *Store) LastAction(name string) (*graph.Action, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.LastAction++
	if a := s.last[name]; a != nil {
		return clone(a), nil
	}
	return nil, nil
}

// Lock takes the lock of key, waiting until it is free or ctx is done.
func (s *Store) Lock(ctx context.Context, key graph.Key) (func(), error) {
	s.count(func(st *Stats) { st.Lock++ })
	for {
		s.mu.Lock()
		held, busy := s.locks[key]
		if !busy {
			ch := make(chan struct{})
			s.locks[key] = ch
			s.mu.Unlock()
			if s.AfterLock != nil {
				s.AfterLock(key)
			}
			return sync.OnceFunc(func() {
				s.mu.Lock()
				delete(s.locks, key)
				s.mu.Unlock()
				close(ch)
			}), nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stats returns the calls counted so far.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Lookups returns how many times GetAction was asked for key.
func (s *Store) Lookups(key graph.Key) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups[key]
}

// Action returns the action recorded under key, or nil, without counting.
func (s *Store) Action(key graph.Key) *graph.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.actions[key]; a != nil {
		return clone(a)
	}
	return nil
}

// Locked reports whether the lock of key is held.
func (s *Store) Locked(key graph.Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.locks[key]
	return ok
}

// Put stores b as a blob, without counting, and returns it as an output
// named name.
func (s *Store) Put(name string, b []byte) (graph.Output, error) {
	w, err := s.create()
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return graph.Output{}, err
	}
	return w.Commit(name, "", "")
}

// ReadBlob returns the content of the blob d, without counting.
func (s *Store) ReadBlob(d graph.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return os.ReadFile(s.blobPath(d))
}

// Remove deletes the blob d (to simulate a pruned cache).
func (s *Store) Remove(d graph.Digest) error {
	if err := d.Validate(); err != nil {
		return err
	}
	err := os.Remove(s.blobPath(d))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func clone(a *graph.Action) *graph.Action {
	c := *a
	c.Outputs = append([]graph.Output(nil), a.Outputs...)
	c.Components.Inputs = append([]graph.Key(nil), a.Components.Inputs...)
	c.Components.Params = bytes.Clone(a.Components.Params)
	return &c
}

// writer is a blob being written to a temporary file beside the blobs.
type writer struct {
	s    *Store
	f    *os.File
	d    *graph.Digester
	n    int64
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fs.ErrClosed
	}
	n, err := w.f.Write(p)
	w.d.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *writer) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	if w.done {
		return graph.Output{}, fs.ErrClosed
	}
	w.done = true
	got := w.d.Digest()
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return graph.Output{}, err
	}
	if want != "" && want != got {
		os.Remove(w.f.Name())
		return graph.Output{}, fmt.Errorf("blob %s: content has digest %s", want, got)
	}
	if err := os.Rename(w.f.Name(), w.s.blobPath(got)); err != nil {
		os.Remove(w.f.Name())
		return graph.Output{}, err
	}
	return graph.Output{Name: name, Digest: got, Size: w.n, MediaType: mediaType}, nil
}

func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
