package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// StaleTempAge is how old a temporary directory under tmp/ must be before
// Prune removes it even though the Store that made it is alive. Temporary
// files are removed as soon as no process holds them (their writer holds a
// flock on them while it lives), and temporary directories as soon as the
// Store that made them is gone (see TempDir).
const StaleTempAge = time.Hour

// ownerPrefix names the lock files (under locks/) that say a Store's
// temporary directories are in use: "owner-<id>.lock", held with an
// exclusive flock while the Store lives. A directory it makes is named
// "dir-<id>-<prefix><random>".
const ownerPrefix = "owner-"

// TempDir makes a scratch directory under the store's tmp/ directory, on the
// same file system as the blobs. The caller removes it. If the process dies
// first, the next Open (or Prune) of the cache removes it; Prune also removes
// ones older than StaleTempAge.
func (s *Store) TempDir(prefix string) (string, error) {
	if strings.ContainsRune(prefix, os.PathSeparator) {
		return "", fmt.Errorf("cache: temp dir prefix %q contains a path separator", prefix)
	}
	id, err := s.ownerID()
	if err != nil {
		return "", err
	}
	d, err := os.MkdirTemp(s.path(tmpDir), "dir-"+id+"-"+prefix)
	if err != nil {
		return "", fmt.Errorf("cache: temp dir in %s: %w", s.path(tmpDir), err)
	}
	return d, nil
}

// ownerID returns the id of this Store's owner lock, creating and locking
// the lock file on first use. The lock is held until the process exits.
func (s *Store) ownerID() (string, error) {
	s.ownerMu.Lock()
	defer s.ownerMu.Unlock()
	if s.owner != nil {
		return s.ownerTag, nil
	}
	dir := s.path(locksDir)
	for range 100 {
		f, err := os.CreateTemp(dir, ownerPrefix+"*.lock")
		if err != nil {
			return "", fmt.Errorf("cache: owner lock in %s: %w", dir, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil && sameFile(f, f.Name()) {
			s.owner = f
			s.ownerTag = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f.Name()), ownerPrefix), ".lock")
			return s.ownerTag, nil
		}
		// A sweeper removed the file before we locked it: use another one.
		f.Close()
	}
	return "", fmt.Errorf("cache: owner lock in %s: lost every race with the temp sweeper", dir)
}

// dirOwner returns the owner id in the name of a temporary directory made
// by TempDir, or false for a name without one.
func dirOwner(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "dir-")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "-")
	if !ok || id == "" || strings.Trim(id, "0123456789") != "" {
		return "", false
	}
	return id, true
}

// ownerAlive reports whether the Store with owner id still holds its lock.
func (s *Store) ownerAlive(id string) bool {
	s.ownerMu.Lock()
	mine := s.owner != nil && id == s.ownerTag
	s.ownerMu.Unlock()
	if mine {
		return true
	}
	f, err := os.Open(s.path(locksDir, ownerPrefix+id+".lock"))
	if err != nil {
		// Missing: its owner is gone. Unreadable: be safe.
		return !errors.Is(err, fs.ErrNotExist)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// createTemp creates a file under tmp/ and holds an exclusive flock on it for
// as long as it is open, which tells sweepTemp that its writer is alive.
func (s *Store) createTemp(prefix string) (*os.File, error) {
	for range 100 {
		f, err := os.CreateTemp(s.path(tmpDir), prefix)
		if err != nil {
			return nil, fmt.Errorf("cache: temp file in %s: %w", s.path(tmpDir), err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil && sameFile(f, f.Name()) {
			return f, nil
		}
		// A sweeper took the file between its creation and our lock, and
		// removes it: use another one.
		f.Close()
	}
	return nil, fmt.Errorf("cache: temp file in %s: lost every race with the temp sweeper", s.path(tmpDir))
}

// sweepTemp removes the files under tmp/ that no live process holds, the
// directories whose Store is gone (with their owner lock files) and, if dirs
// is set, the directories whose modification time is older than dirAge. It
// returns how many entries and bytes it removed.
func (s *Store) sweepTemp(dirAge time.Duration, dirs bool) (n int, size int64, err error) {
	root := s.path(tmpDir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return 0, 0, fmt.Errorf("cache: read %s: %w", root, err)
	}
	now := time.Now()
	for _, e := range ents {
		p := filepath.Join(root, e.Name())
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.IsDir() {
			id, owned := dirOwner(e.Name())
			orphan := owned && !s.ownerAlive(id)
			if !orphan && (!dirs || now.Sub(info.ModTime()) < dirAge) {
				continue
			}
			sz := treeSize(p)
			if err := removeAll(p); err != nil {
				return n, size, fmt.Errorf("cache: remove stale temp dir %s: %w", p, err)
			}
			n++
			size += sz
			continue
		}
		removed, err := tryRemoveLocked(p)
		if err != nil {
			return n, size, fmt.Errorf("cache: remove stale temp file %s: %w", p, err)
		}
		if removed {
			n++
			size += info.Size()
		}
	}
	// Owner locks of Stores that are gone; their directories went above.
	les, err := os.ReadDir(s.path(locksDir))
	if err != nil {
		return n, size, fmt.Errorf("cache: read %s: %w", s.path(locksDir), err)
	}
	for _, e := range les {
		if strings.HasPrefix(e.Name(), ownerPrefix) && strings.HasSuffix(e.Name(), ".lock") {
			if _, err := tryRemoveLocked(s.path(locksDir, e.Name())); err != nil {
				return n, size, fmt.Errorf("cache: remove owner lock %s: %w", e.Name(), err)
			}
		}
	}
	return n, size, nil
}

// treeSize returns the bytes of the regular files under p.
func treeSize(p string) int64 {
	var size int64
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	return size
}

// removeAll is os.RemoveAll that also removes trees containing directories
// without write permission (unpacked root file systems have some).
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
