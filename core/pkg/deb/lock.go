package deb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Locked pins one package to exact bytes: a later build fetches
// Source/Filename and accepts it only with this SHA256 and Size.
type Locked struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Filename string `json:"filename"`
	Source   string `json:"source"`
}

// Lock is the resolved, pinned set of Debian packages of a build, sorted
// by name.
type Lock struct {
	Packages []Locked `json:"packages"`
}

// NewLock pins the resolved packages pkgs.
func NewLock(pkgs []*Package) Lock {
	l := Lock{Packages: make([]Locked, 0, len(pkgs))}
	for _, p := range pkgs {
		l.Packages = append(l.Packages, Locked{
			Name: p.Name, Version: p.Version, Arch: p.Architecture,
			SHA256: p.SHA256, Size: p.Size, Filename: p.Filename, Source: p.Source,
		})
	}
	l.sort()
	return l
}

func (l *Lock) sort() {
	sort.Slice(l.Packages, func(i, j int) bool {
		a, b := l.Packages[i], l.Packages[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
}

// Marshal encodes the lock as indented JSON with a final newline; the
// same lock always gives the same bytes.
func (l Lock) Marshal() ([]byte, error) {
	l.Packages = append([]Locked(nil), l.Packages...)
	l.sort()
	if l.Packages == nil {
		l.Packages = []Locked{}
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("deb lock: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseLock decodes and validates a lock written by Marshal.
func ParseLock(b []byte) (Lock, error) {
	var l Lock
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Lock{}, fmt.Errorf("deb lock: %w", err)
	}
	seen := map[string]bool{}
	for i, p := range l.Packages {
		if err := p.validate(); err != nil {
			return Lock{}, fmt.Errorf("deb lock: package %d (%s): %w", i, p.Name, err)
		}
		if seen[p.Name+":"+p.Arch] {
			return Lock{}, fmt.Errorf("deb lock: package %s:%s listed twice", p.Name, p.Arch)
		}
		seen[p.Name+":"+p.Arch] = true
	}
	l.sort()
	return l, nil
}

func (p Locked) validate() error {
	switch {
	case !validName(p.Name):
		return fmt.Errorf("invalid name %q", p.Name)
	case p.Arch == "":
		return fmt.Errorf("no arch")
	case !isHex64(p.SHA256):
		return fmt.Errorf("invalid sha256 %q", p.SHA256)
	case p.Size < 0:
		return fmt.Errorf("negative size")
	case p.Filename == "" || strings.HasPrefix(p.Filename, "/") || containsDotDot(p.Filename):
		return fmt.Errorf("invalid filename %q", p.Filename)
	case !strings.HasPrefix(p.Source, "http://") && !strings.HasPrefix(p.Source, "https://"):
		return fmt.Errorf("source %q is not an http(s) URI", p.Source)
	}
	if _, err := CompareVersions(p.Version, p.Version); err != nil {
		return err
	}
	return nil
}
