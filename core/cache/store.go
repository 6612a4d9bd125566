package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// LayoutVersion is the version of the cache directory layout this package
// reads and writes. It is stored in the file named by versionFile.
const LayoutVersion = 1

const (
	versionFile = "kit-cache-version"
	layoutFile  = "oci-layout"
	indexFile   = "index.json"
	blobsDir    = "blobs/sha256"
	actionsDir  = "actions"
	namesDir    = "names"
	locksDir    = "locks"
	tmpDir      = "tmp"

	ociLayoutContent = `{"imageLayoutVersion":"1.0.0"}`
	emptyIndex       = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
)

// ErrNewerLayout is returned by Open when the directory was written by a
// newer kit whose layout this one does not understand.
var ErrNewerLayout = errors.New("cache layout is newer than this kit supports")

// Store is an on-disk cache directory. Its methods are safe for concurrent
// use by goroutines, and several processes may open the same directory.
//
// The directory is an OCI image layout (oci-layout, index.json,
// blobs/sha256/<hex>) with kit's own entries beside it: actions/ (the action
// cache, one JSON file per key), names/ (the last action per node name, for
// explain), locks/ (flock files) and tmp/ (temporary files, never mistaken
// for results).
type Store struct {
	dir string

	keyMu   sync.Mutex
	keyLock map[string]*keyWaiter

	indexMu sync.Mutex   // serialises index.json updates inside the process
	shared  atomic.Int64 // shared store locks held through this Store

	ownerMu  sync.Mutex
	owner    *os.File // locks/owner-<ownerTag>.lock, flocked while the Store lives
	ownerTag string

	// linked counts the blobs linked into blobs/ by this Store; synced is
	// the count when blobs/ was last synced (see syncBlobs).
	linked, synced atomic.Int64

	// pend holds the blobs whose durability is under way (CreateDeferred).
	pend pendingSet
	// streams holds the blobs being written that readers may follow
	// (Expect).
	streams streamSet

	// boot is the boot ID under which the store writes lazily (see
	// Durability), "" when it syncs every blob and entry it writes.
	boot string
}

// DefaultDir returns the cache directory to use when none is given:
// $KIT_CACHE, else $XDG_CACHE_HOME/kit, else ~/.cache/kit.
func DefaultDir() string {
	if d := os.Getenv("KIT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "kit")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".cache", "kit")
	}
	return filepath.Join(os.TempDir(), "kit-cache-"+strconv.Itoa(os.Getuid()))
}

// Open opens the cache in dir, creating the directory and its layout when
// missing. It refuses a directory written with a newer layout version
// (ErrNewerLayout), and removes temporary files left by killed processes.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("cache: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	s := &Store{dir: abs, keyLock: map[string]*keyWaiter{}}
	// Check the version first so that a newer layout is never modified.
	if err := s.checkVersion(); err != nil {
		return nil, err
	}
	for _, d := range []string{blobsDir, actionsDir, namesDir, locksDir, tmpDir} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			return nil, fmt.Errorf("cache %s: %w", abs, err)
		}
	}
	if err := s.createOnce(map[string][]byte{
		layoutFile:  []byte(ociLayoutContent),
		indexFile:   []byte(emptyIndex),
		versionFile: []byte(strconv.Itoa(LayoutVersion) + "\n"),
	}); err != nil {
		return nil, err
	}
	if err := s.checkVersion(); err != nil {
		return nil, err
	}
	if _, _, err := s.sweepTemp(0, false); err != nil {
		return nil, err
	}
	if err := s.openDurability(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the absolute path of the cache directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// checkVersion reads the layout version file; a missing file is fine (the
// caller creates it).
func (s *Store) checkVersion() error {
	p := s.path(versionFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cache %s: %w", s.dir, err)
	}
	v, err := parseVersion(b)
	if err != nil {
		return fmt.Errorf("cache %s: %s: %w", s.dir, versionFile, err)
	}
	if v > LayoutVersion {
		return fmt.Errorf("cache %s: layout version %d, this kit supports up to %d (upgrade kit or use another cache directory): %w",
			s.dir, v, LayoutVersion, ErrNewerLayout)
	}
	return nil
}

// parseVersion parses the content of the layout version file: a positive
// decimal integer and an optional trailing newline.
func parseVersion(b []byte) (int, error) {
	t := strings.TrimSuffix(string(b), "\n")
	if t == "" || len(t) > 9 || strings.TrimLeft(t, "0123456789") != "" || t[0] == '0' {
		return 0, fmt.Errorf("invalid layout version %q", b)
	}
	return strconv.Atoi(t)
}

// createOnce creates each file of files (name under the store → content)
// that does not exist, atomically: a concurrent reader sees either no file
// or the whole content.
func (s *Store) createOnce(files map[string][]byte) error {
	// A new cache has none of them: their files are written and synced
	// at once (the file system commits the syncs together), then linked,
	// and the directory synced once.
	var missing []string
	for name := range files {
		if _, err := os.Lstat(s.path(name)); err != nil {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	tmps := make([]*os.File, len(missing))
	defer func() {
		for _, f := range tmps {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	var g errgroup.Group
	for i, name := range missing {
		g.Go(func() error {
			f, err := s.createTemp("init-")
			if err != nil {
				return err
			}
			tmps[i] = f
			if _, err := f.Write(files[name]); err != nil {
				return fmt.Errorf("cache: write %s: %w", f.Name(), err)
			}
			if err := f.Chmod(0o644); err != nil {
				return fmt.Errorf("cache: chmod %s: %w", f.Name(), err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("cache: sync %s: %w", f.Name(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, name := range missing {
		dst := s.path(name)
		if err := os.Link(tmps[i].Name(), dst); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cache: create %s: %w", dst, err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return syncDir(s.dir)
}

// Durability of writeAtomic.
const (
	// syncAll syncs the file and then its directory: the new content is on
	// the disk when writeAtomic returns.
	syncAll = iota
	// syncNone syncs nothing: after a crash the name may hold the new
	// content, the old one, or an empty or damaged file. For entries that
	// are only hints (names/), which readers check and ignore when damaged.
	syncNone
	// syncLazy syncs the file before it is renamed into place, not the
	// directory, unless the store's durability is lazy (see Durability):
	// then nothing. After a crash the name holds the new content or the old
	// one (synced), or possibly a damaged file (lazy), which recovery
	// removes (action entries) or empties (index.json). A lost action entry
	// is a cache miss.
	syncLazy
)

// writeAtomic replaces the file at dst with content through a temp file
// renamed into place, synced as durability says.
func (s *Store) writeAtomic(dst string, content []byte, durability int) error {
	f, err := s.createTemp("write-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		os.Remove(tmp)
	}()
	if _, err := f.Write(content); err != nil {
		return fmt.Errorf("cache: write %s: %w", tmp, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("cache: chmod %s: %w", tmp, err)
	}
	if durability == syncLazy && !s.sync() {
		durability = syncNone
	}
	if durability != syncNone {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("cache: sync %s: %w", tmp, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("cache: rename into %s: %w", dst, err)
	}
	if durability != syncAll {
		return nil
	}
	return syncDir(filepath.Dir(dst))
}

// syncBlobs syncs blobs/ unless no blob was linked by this Store since it
// was last synced, so that the links of the blobs an action names are on
// the disk before the action is. One sync covers every blob committed
// before it, however many.
func (s *Store) syncBlobs() error {
	if !s.sync() {
		return nil // the blobs are not synced either: see Durability
	}
	n := s.linked.Load()
	if s.synced.Load() >= n {
		return nil
	}
	if err := syncDir(s.path(blobsDir)); err != nil {
		return err
	}
	for {
		cur := s.synced.Load()
		if cur >= n || s.synced.CompareAndSwap(cur, n) {
			return nil
		}
	}
}

// syncDir fsyncs a directory so that a rename or link in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cache: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("cache: sync directory %s: %w", dir, err)
	}
	return nil
}

// isHex64 reports whether s is 64 lowercase hex digits.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	return bytes.IndexFunc([]byte(s), func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f')
	}) < 0
}
