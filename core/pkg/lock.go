package pkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/kitbuild/kit/core/pkg/deb"
)

// LockFile is the name of the lock beside pkg.yml.
const LockFile = "pkg.lock"

// lockVersion is the version of the pkg.lock format.
const lockVersion = 1

// Lock is the content of pkg.lock: per Debian architecture, the pinned
// packages of the debian and kernel sections, with the requests they were
// resolved for (a changed request list makes the entry stale).
type Lock struct {
	Version int                  `json:"version"`
	Arch    map[string]*ArchLock `json:"arch"`
}

// ArchLock is the lock of one architecture.
type ArchLock struct {
	Debian *LockSet `json:"debian,omitempty"`
	Kernel *LockSet `json:"kernel,omitempty"`
}

// LockSet is one resolution: the requests and the packages chosen.
type LockSet struct {
	Requests []string     `json:"requests"`
	Packages []deb.Locked `json:"packages"`
}

// matches reports whether the set was resolved for requests.
func (s *LockSet) matches(requests []string) bool {
	return s != nil && slices.Equal(s.Requests, requests)
}

// ReadLock reads the lock at path; a missing file is an empty lock.
func ReadLock(path string) (*Lock, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Lock{Version: lockVersion, Arch: map[string]*ArchLock{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l, err := ParseLock(b)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return l, nil
}

// ParseLock decodes and validates a lock.
func ParseLock(b []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("invalid lock: %w", err)
	}
	if l.Version != lockVersion {
		return nil, fmt.Errorf("lock version %d: this kit reads version %d", l.Version, lockVersion)
	}
	if l.Arch == nil {
		l.Arch = map[string]*ArchLock{}
	}
	for arch, a := range l.Arch {
		if a == nil {
			return nil, fmt.Errorf("arch %s: empty entry", arch)
		}
		for what, s := range map[string]*LockSet{"debian": a.Debian, "kernel": a.Kernel} {
			if s == nil {
				continue
			}
			// reuse deb's validation of pinned packages
			pb, err := json.Marshal(deb.Lock{Packages: s.Packages})
			if err != nil {
				return nil, err
			}
			if _, err := deb.ParseLock(pb); err != nil {
				return nil, fmt.Errorf("arch %s %s: %w", arch, what, err)
			}
		}
	}
	return &l, nil
}

// Marshal encodes the lock as indented JSON with a final newline; equal
// locks give equal bytes.
func (l *Lock) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// write replaces the file at path atomically.
func (l *Lock) write(path string) error {
	b, err := l.Marshal()
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lock %s: %w", path, err)
	}
	return nil
}
