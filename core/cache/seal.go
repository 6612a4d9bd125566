package cache

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Sealing lets a reader that needs the content of a blob verified (a copy
// out of the cache, for example) skip hashing it when nothing has written
// to it since the store verified it.
//
// The store verifies every byte of a blob before it becomes visible, then
// seals it: it sets the file's modification time to sealTime, a value no
// ordinary write leaves behind (writing to a file through the file system,
// truncating it or punching holes into it always moves its modification
// time to the present). A blob whose modification time still holds
// sealTime was therefore not written since it was verified.
//
// The trade-off, against hashing the blob on every read: changes that do
// not go through the file system (media errors, writes to the block
// device), and a writer that puts sealTime back on purpose (utimensat), go
// unnoticed. They would go unnoticed by every other reader of the cache as
// well: only copy-out verified blobs on every read. File systems that
// cannot store sealTime exactly (timestamps in whole seconds) never show a
// blob as sealed, so their blobs are hashed on every read, as before.
var sealTime = time.Unix(1, 0x6b6974) // 1970-01-01T00:00:01.007039348Z ("kit")

// racyAge is how old the modification and change times of a blob must be
// before a reader that hashed it may seal it: a write during the hashing
// moves them, unless it falls in the clock tick of the last change (file
// times come from a coarse clock, a few milliseconds on Linux). coarseAge
// replaces it for file systems that keep whole seconds.
const (
	racyAge   = 50 * time.Millisecond
	coarseAge = 3 * time.Second
)

// Sealed reports whether fi, the Stat of a blob of the store opened with
// Open, shows a blob that was not written since the store verified its
// content (see Seal). A reader may then take the content as verified;
// otherwise it must hash it.
func (s *Store) Sealed(fi fs.FileInfo) bool {
	return fi.Mode().IsRegular() && fi.ModTime().Equal(sealTime)
}

// Seal marks the blob open as f as verified, after its reader read it whole
// and found its digest; before is f's Stat from before the reading began.
// It does nothing when the file changed meanwhile, when its last change is
// too recent for a change during the reading to show (see racyAge), or
// where a blob cannot be sealed through its descriptor (outside Linux).
// The caller must not write to f.
func (s *Store) Seal(f *os.File, before fs.FileInfo) error {
	after, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cache: seal %s: %w", f.Name(), err)
	}
	if !sameState(before, after) || s.Sealed(after) {
		return nil
	}
	age := racyAge
	if before.ModTime().Nanosecond() == 0 {
		age = coarseAge
	}
	now := time.Now()
	if now.Sub(before.ModTime()) < age || now.Sub(changeTime(before)) < age {
		return nil
	}
	if err := setSeal(f); err != nil && err != errNoSeal {
		return fmt.Errorf("cache: seal %s: %w", f.Name(), err)
	}
	return nil
}

// sameState reports whether two Stats of one file show the same inode,
// size, modification and change time.
func sameState(a, b fs.FileInfo) bool {
	if a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) || !os.SameFile(a, b) {
		return false
	}
	return changeTime(a).Equal(changeTime(b))
}

// changeTime returns the inode change time of fi, the zero time where it
// is unknown.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return statCtime(st)
	}
	return time.Time{}
}
