package solver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kitbuild/kit/core/graph"
)

// mirrorPrefix starts the names of mirror files.
const mirrorPrefix = ".kit-mirror-"

// WithMirror makes the ops of the nodes for which dir returns a directory
// write their blobs into that directory as well, as they write them: the
// store's blob writers copy what they write into a temporary file there
// (graph.MirroringWriter). Once a build is solved, its artifacts are then
// renamed into place (TakeMirror) instead of copied out of the store after
// the fact. dir returns "" for the nodes not to mirror.
func WithMirror(dir func(n *graph.Node) string) Option {
	return func(c *config) { c.mirror = dir }
}

// mirrorFile is the mirror of one blob writer of an execution.
type mirrorFile struct {
	w graph.MirroringWriter
	f *os.File
}

// mirrorKey names the mirrors of a node's blob.
type mirrorKey struct {
	node graph.Key
	blob graph.Digest
}

// mirrorCreate starts mirroring w, a writer of x's op, when the solver is
// to mirror x's node.
func (x *execution) mirrorCreate(w graph.BlobWriter) {
	if x.s.cfg.mirror == nil || x.c == nil {
		return
	}
	mw, ok := w.(graph.MirroringWriter)
	if !ok {
		return
	}
	dir := x.s.cfg.mirror(x.n)
	if dir == "" {
		return
	}
	f, err := createMirror(dir)
	if err != nil {
		return // the artifact is copied once the build is done, as without
	}
	mw.Mirror(f)
	x.mu.Lock()
	x.mirrors = append(x.mirrors, mirrorFile{mw, f})
	x.mu.Unlock()
}

// createMirror creates a mirror file in dir and holds an exclusive flock
// on it for as long as it is open, which tells SweepMirrors that its
// writer is alive.
func createMirror(dir string) (*os.File, error) {
	for range 100 {
		f, err := os.CreateTemp(dir, mirrorPrefix+"*")
		if err != nil {
			return nil, err
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil && sameFile(f) {
			return f, nil
		}
		f.Close()
		if err != nil && !errors.Is(err, unix.EWOULDBLOCK) {
			// A file system without flock: no mirror.
			os.Remove(f.Name())
			return nil, err
		}
		// A sweeper holds it, or removed it before we locked it: it goes;
		// make another.
	}
	return nil, os.ErrExist
}

func sameFile(f *os.File) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(f.Name())
	return err == nil && os.SameFile(a, b)
}

// SweepMirrors removes the mirror files in dir that no live process holds:
// those of a build that was killed.
func SweepMirrors(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), mirrorPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f) {
			os.Remove(p)
		}
		f.Close()
	}
}

// finishMirrors keeps the mirrors of the blobs x's op committed, once it
// returned without error, and removes the others.
func (x *execution) finishMirrors(err error) {
	x.mu.Lock()
	mirrors := x.mirrors
	x.mirrors = nil
	x.mu.Unlock()
	for _, m := range mirrors {
		d, ok := m.w.Mirrored()
		if err != nil || !ok {
			m.f.Close()
			os.Remove(m.f.Name())
			continue
		}
		// Kept open, and so locked, until it is renamed into place or
		// dropped.
		k := mirrorKey{x.n.Key, d}
		x.s.mirrorMu.Lock()
		if x.s.mirrors == nil {
			x.s.mirrors = map[mirrorKey][]*os.File{}
		}
		x.s.mirrors[k] = append(x.s.mirrors[k], m.f)
		x.s.mirrorMu.Unlock()
	}
}

// TakeMirror hands over a mirror of blob d written by the op of node key
// (see WithMirror): the path of a file that holds d's content, which the
// caller may rename (its lock holds until DropMirrors) and must remove if
// it does not. ok is false when there is none left.
func (s *Solver) TakeMirror(key graph.Key, d graph.Digest) (path string, ok bool) {
	s.mirrorMu.Lock()
	defer s.mirrorMu.Unlock()
	k := mirrorKey{key, d}
	files := s.mirrors[k]
	if len(files) == 0 {
		return "", false
	}
	f := files[0]
	s.mirrors[k] = files[1:]
	s.taken = append(s.taken, f)
	return f.Name(), true
}

// DropMirrors removes the mirrors no one took, and closes every mirror.
func (s *Solver) DropMirrors() {
	s.mirrorMu.Lock()
	defer s.mirrorMu.Unlock()
	for k, files := range s.mirrors {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
		delete(s.mirrors, k)
	}
	for _, f := range s.taken {
		f.Close()
	}
	s.taken = nil
}
