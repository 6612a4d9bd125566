package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kitbuild/kit/core/graph"
)

// Durability. The cache holds nothing that cannot be made again, but it
// must never serve a blob whose bytes are not its digest's, nor an action
// whose outputs are damaged. Writes that reach only the page cache survive
// the death of the process that made them (SIGKILL included): only a crash
// of the system (power loss, kernel panic) can lose them. Such a crash
// always starts a new boot, with a new boot ID.
//
// So where the boot ID is known (Linux), the store does not fsync blobs,
// action entries and index.json as it writes them ("lazy" durability): it
// notes instead, in boots/<machine>_<boot ID>, from when the writes of this
// boot may not be on the disk (the checkpoint). A store opened under
// another boot ID of the same machine recovers from every boot of the
// machine noted there (those of other machines sharing the cache are
// theirs to recover from): it hashes the blobs changed since that boot's
// checkpoint and removes those whose bytes are not their digest's (an
// action naming one is then a miss), removes the action entries it cannot
// decode, empties an index.json it cannot parse, and only then forgets the
// boot. The checkpoint moves on when a store opened long after it syncs the
// file system (syncfs), so that a recovery hashes little more than the
// last minutes of writes.
//
// This saves the fsyncs of every build, which on slow or throttled disks
// can take longer than the build; $KIT_CACHE_SYNC=1 restores them (each
// blob and entry synced before it is used), as does a system where the
// boot ID is unknown.

// bootsDir holds the boot notes of lazy durability.
const bootsDir = "boots"

// checkpointAge is how old the checkpoint of the current boot must be
// before a store opened moves it on.
const checkpointAge = 5 * time.Minute

// checkpointSlack is taken off the time a checkpoint is set at: file change
// times come from a coarser clock than time.Now.
const checkpointSlack = time.Second

// bootID returns the ID of the running boot, "" where unknown. Tests
// replace it.
var bootID = readBootID

// machineID names the machine in boot notes.
var machineID = readMachineID

// sync reports whether the store syncs what it writes as it writes it.
func (s *Store) sync() bool { return s.boot == "" }

// fsync syncs f unless the store's durability is lazy.
func (s *Store) fsync(f *os.File) error {
	if !s.sync() {
		return nil
	}
	return f.Sync()
}

// openDurability sets the store's durability up: it recovers from the
// boots noted by earlier processes, notes the current one and moves its
// checkpoint on when it is old.
func (s *Store) openDurability() error {
	if os.Getenv("KIT_CACHE_SYNC") == "1" {
		return nil
	}
	boot, machine := bootID(), machineID()
	if boot == "" || strings.ContainsAny(boot+machine, `/\_`) {
		return nil
	}
	prefix := machine + "_"
	boot = prefix + boot
	dir := s.path(bootsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil // a cache we cannot write to: nothing is written lazily
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cache %s: %w", s.dir, err)
	}
	var since time.Time
	var old []string
	var current *time.Time
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue // another machine's
		}
		t, err := readCheckpoint(filepath.Join(dir, e.Name()))
		if err != nil {
			// Damaged by a crash while it was written: everything since
			// the epoch is suspect.
			t = time.Unix(0, 0)
		}
		if e.Name() == boot {
			current = &t
			continue
		}
		old = append(old, e.Name())
		if since.IsZero() || t.Before(since) {
			since = t
		}
	}
	if len(old) > 0 {
		if err := s.recover(since); err != nil {
			return err
		}
		for _, b := range old {
			if err := os.Remove(filepath.Join(dir, b)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cache %s: %w", s.dir, err)
			}
		}
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	s.boot = boot
	switch {
	case current == nil:
		// Nothing this boot wrote lazily yet: from now on it may, once
		// that is noted.
		if err := s.writeCheckpoint(time.Now().Add(-checkpointSlack)); err != nil {
			s.boot = "" // not noted: write and sync as before
		}
	case time.Since(*current) > checkpointAge:
		// Everything written before now reaches the disk with syncfs; the
		// build need not wait for it.
		go func() {
			t := time.Now().Add(-checkpointSlack)
			if err := syncFS(s.path(bootsDir)); err == nil {
				_ = s.writeCheckpoint(t)
			}
		}()
	}
	return nil
}

// writeCheckpoint notes t as the checkpoint of the current boot, durably.
func (s *Store) writeCheckpoint(t time.Time) error {
	b := []byte(strconv.FormatInt(t.UnixNano(), 10) + "\n")
	if err := s.writeAtomic(filepath.Join(s.path(bootsDir), s.boot), b, syncAll); err != nil {
		return fmt.Errorf("cache %s: boot note: %w", s.dir, err)
	}
	return nil
}

func readCheckpoint(p string) (time.Time, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return time.Time{}, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("boot note %s: %q", p, b)
	}
	return time.Unix(0, n), nil
}

// recover checks what changed since the checkpoint since of a boot that
// may have ended in a crash: blobs whose content is not their digest's and
// undecodable action entries are removed. It syncs the removals.
func (s *Store) recover(since time.Time) error {
	changed := func(fi fs.FileInfo) bool {
		ct := changeTime(fi)
		return ct.IsZero() || !ct.Before(since)
	}
	blobs, err := os.ReadDir(s.path(blobsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache %s: recover: %w", s.dir, err)
	}
	for _, e := range blobs {
		p := filepath.Join(s.path(blobsDir), e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || !changed(fi) || !isHex64(e.Name()) {
			continue
		}
		ok, err := hashesTo(p, graph.Digest("sha256:"+e.Name()))
		if err != nil || !ok {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cache %s: recover: %w", s.dir, err)
			}
		}
	}
	actions, err := os.ReadDir(s.path(actionsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache %s: recover: %w", s.dir, err)
	}
	for _, e := range actions {
		p := filepath.Join(s.path(actionsDir), e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !changed(fi) {
			continue
		}
		if a, err := readAction(p); err == nil && a == nil {
			os.Remove(p)
		}
	}
	if fi, err := os.Lstat(s.path(indexFile)); err == nil && changed(fi) {
		if _, err := s.readIndex(); err != nil {
			// The names of the images go; their blobs stay, for prune.
			if err := s.writeAtomic(s.path(indexFile), []byte(emptyIndex), syncAll); err != nil {
				return fmt.Errorf("cache %s: recover: %w", s.dir, err)
			}
		}
	}
	if err := syncFS(s.dir); err != nil {
		return fmt.Errorf("cache %s: recover: %w", s.dir, err)
	}
	return nil
}

// hashesTo reports whether the file at p holds the content of d.
func hashesTo(p string, d graph.Digest) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	dg := graph.NewDigester()
	if _, err := io.Copy(dg, f); err != nil {
		return false, err
	}
	return dg.Digest() == d, nil
}
