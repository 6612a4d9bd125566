package files

import (
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Errors wrapped by Resolve and the op, for errors.Is.
var (
	// ErrInvalid is a malformed entry: a bad path, mode or kind, or two
	// entries that cannot both exist.
	ErrInvalid = errors.New("invalid file entry")
	// ErrSourceChanged is a source file whose contents changed between
	// planning and the execution of the step.
	ErrSourceChanged = errors.New("source file changed since planning")
)

// EntryKind is what an entry creates.
type EntryKind string

// The kinds of entries.
const (
	KindDir     EntryKind = "dir"
	KindSymlink EntryKind = "symlink"
	KindFile    EntryKind = "file"
)

// Entry is a file entry with everything resolved: the path is clean, the
// mode defaulted, ids numeric, and contents either inline or a host file
// known by digest.
type Entry struct {
	// Path is where the entry goes, a clean path relative to the root.
	Path string `json:"path"`
	// Kind says what the entry creates.
	Kind EntryKind `json:"kind"`
	// Mode holds the permission bits (and setuid, setgid, sticky).
	Mode uint32 `json:"mode"`
	// UID and GID own the entry and the parent directories it creates.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// Target is the target of a symlink.
	Target string `json:"target,omitempty"`
	// Contents are the bytes of a file given inline (contents, metadata).
	Contents []byte `json:"contents,omitempty"`
	// Source is the host file holding the bytes of a file (source).
	Source *Source `json:"source,omitempty"`
	// Origin names the spec entry in messages ("files[3]", or with its
	// location "sys.yml:12:3: files[3]"). It is not part of the params.
	Origin string `json:"-"`
}

// Source is a host file read when the step runs. Its digest and size are
// part of the step's params; its path is not, so the key does not depend on
// where the file lives.
type Source struct {
	// Path is the absolute host path.
	Path string `json:"-"`
	// Digest is the sha256 of the contents at plan time.
	Digest graph.Digest `json:"digest"`
	// Size is the size at plan time.
	Size int64 `json:"size"`
}

// name is how messages refer to the entry.
func (e *Entry) name() string {
	origin := e.Origin
	if origin == "" {
		origin = "file entry"
	}
	return fmt.Sprintf("%s (%s)", origin, e.Path)
}

// parent is a directory the op creates because an entry needs it.
type parent struct {
	path     string
	mode     uint32
	uid, gid uint32
}

// layout is what an op writes: the entries that take effect, in name order,
// and the parent directories to create, in name order.
type layout struct {
	entries []*Entry
	parents []parent
}

// plan checks entries and computes the layout. A later entry with the same
// path replaces an earlier one; a parent directory takes the owner and the
// mode (plus execute bits) of the first entry that needs it; an explicit
// directory entry wins over a parent made for another entry.
func plan(entries []Entry) (*layout, error) {
	winner := map[string]int{}
	for i := range entries {
		e := &entries[i]
		if err := check(e); err != nil {
			return nil, err
		}
		winner[e.Path] = i
	}
	l := &layout{}
	made := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if winner[e.Path] != i {
			continue
		}
		l.entries = append(l.entries, e)
		for dir := path.Dir(e.Path); dir != "."; dir = path.Dir(dir) {
			if j, ok := winner[dir]; ok {
				if entries[j].Kind != KindDir {
					return nil, fmt.Errorf("%s: %w: it lies beneath %s, which is not a directory",
						e.name(), ErrInvalid, entries[j].name())
				}
				continue
			}
			if made[dir] {
				continue
			}
			made[dir] = true
			l.parents = append(l.parents, parent{path: dir, mode: dirMode(e.Mode), uid: e.UID, gid: e.GID})
		}
	}
	sort.Slice(l.entries, func(a, b int) bool { return l.entries[a].Path < l.entries[b].Path })
	sort.Slice(l.parents, func(a, b int) bool { return l.parents[a].path < l.parents[b].path })
	return l, nil
}

// check validates one resolved entry.
func check(e *Entry) error {
	if !cleanPath(e.Path) {
		return fmt.Errorf("%s: %w: path must be a clean relative path", e.name(), ErrInvalid)
	}
	if e.Mode > 0o7777 {
		return fmt.Errorf("%s: %w: mode %#o has bits beyond 07777", e.name(), ErrInvalid, e.Mode)
	}
	switch e.Kind {
	case KindDir:
		if e.Target != "" || e.Contents != nil || e.Source != nil {
			return fmt.Errorf("%s: %w: a directory has no target or contents", e.name(), ErrInvalid)
		}
	case KindSymlink:
		if e.Target == "" {
			return fmt.Errorf("%s: %w: symlink target is empty", e.name(), ErrInvalid)
		}
		if e.Contents != nil || e.Source != nil {
			return fmt.Errorf("%s: %w: a symlink has no contents", e.name(), ErrInvalid)
		}
	case KindFile:
		if e.Target != "" {
			return fmt.Errorf("%s: %w: a file has no symlink target", e.name(), ErrInvalid)
		}
		if e.Contents != nil && e.Source != nil {
			return fmt.Errorf("%s: %w: both inline contents and a source", e.name(), ErrInvalid)
		}
		if s := e.Source; s != nil {
			if err := s.Digest.Validate(); err != nil {
				return fmt.Errorf("%s: %w: source %s: %w", e.name(), ErrInvalid, s.Path, err)
			}
			if s.Size < 0 {
				return fmt.Errorf("%s: %w: source %s: negative size", e.name(), ErrInvalid, s.Path)
			}
		}
	default:
		return fmt.Errorf("%s: %w: unknown kind %q", e.name(), ErrInvalid, e.Kind)
	}
	return nil
}

// dirMode is the mode of a parent directory made for an entry of mode m:
// m plus the execute bit of every class that has any permission (as
// LinuxKit does).
func dirMode(m uint32) uint32 {
	if m&0o700 != 0 {
		m |= 0o100
	}
	if m&0o070 != 0 {
		m |= 0o010
	}
	if m&0o007 != 0 {
		m |= 0o001
	}
	return m
}

// cleanPath reports whether p is a clean, relative path inside the root.
func cleanPath(p string) bool {
	c, err := tarutil.CleanName(p)
	return err == nil && c != "" && c == p
}
