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
// Prune removes it. Temporary files are removed as soon as no process holds
// them (their writer holds a flock on them while it lives).
const StaleTempAge = time.Hour

// TempDir makes a scratch directory under the store's tmp/ directory, on the
// same file system as the blobs. The caller removes it; Prune removes ones
// older than StaleTempAge left by killed processes.
func (s *Store) TempDir(prefix string) (string, error) {
	if strings.ContainsRune(prefix, os.PathSeparator) {
		return "", fmt.Errorf("cache: temp dir prefix %q contains a path separator", prefix)
	}
	d, err := os.MkdirTemp(s.path(tmpDir), "dir-"+prefix)
	if err != nil {
		return "", fmt.Errorf("cache: temp dir in %s: %w", s.path(tmpDir), err)
	}
	return d, nil
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

// sweepTemp removes the files under tmp/ that no live process holds and, if
// dirs is set, the directories whose modification time is older than
// dirAge. It returns how many entries and bytes it removed.
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
			if !dirs || now.Sub(info.ModTime()) < dirAge {
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
