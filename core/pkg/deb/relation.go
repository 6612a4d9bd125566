package deb

import (
	"fmt"
	"strings"

	"pault.ag/go/debian/version"
)

// Op is a version relation operator of a dependency.
type Op string

// The relation operators of Debian policy §7.1. OpAny means "any version".
const (
	OpAny     Op = ""
	OpLess    Op = "<<"
	OpLessEq  Op = "<="
	OpEq      Op = "="
	OpGreatEq Op = ">="
	OpGreater Op = ">>"
)

// Dep is one possibility of a dependency: a package name with an optional
// architecture qualifier (":any", ":native", ":amd64") and version
// constraint.
type Dep struct {
	Name    string
	Arch    string // qualifier after ':', "" when none
	Op      Op
	Version string // "" when Op is OpAny
}

func (d Dep) String() string {
	s := d.Name
	if d.Arch != "" {
		s += ":" + d.Arch
	}
	if d.Op != OpAny {
		s += " (" + string(d.Op) + " " + d.Version + ")"
	}
	return s
}

// SatisfiedBy reports whether version v meets the dependency's version
// constraint. Unparsable versions never satisfy a constraint.
func (d Dep) SatisfiedBy(v string) bool {
	if d.Op == OpAny {
		return true
	}
	c, err := CompareVersions(v, d.Version)
	if err != nil {
		return false
	}
	switch d.Op {
	case OpLess:
		return c < 0
	case OpLessEq:
		return c <= 0
	case OpEq:
		return c == 0
	case OpGreatEq:
		return c >= 0
	case OpGreater:
		return c > 0
	}
	return false
}

// Relation is one comma-separated element of a relationship field: any one
// of its alternatives ("a | b") satisfies it.
type Relation []Dep

func (r Relation) String() string {
	parts := make([]string, len(r))
	for i, d := range r {
		parts[i] = d.String()
	}
	return strings.Join(parts, " | ")
}

// ParseRelations parses a relationship field such as Depends or Provides:
// "libc6 (>= 2.36), debconf | debconf-2.0, foo:any". Architecture
// restrictions ("[amd64 !arm64]") and build profiles ("<!nocheck>") are
// applied for arch: an alternative restricted away is dropped, a relation
// left without alternatives is dropped.
func ParseRelations(s, arch string) ([]Relation, error) {
	var out []Relation
	for _, rel := range strings.Split(s, ",") {
		rel = strings.TrimSpace(rel)
		if rel == "" {
			continue
		}
		var r Relation
		for _, alt := range strings.Split(rel, "|") {
			d, keep, err := parseDep(strings.TrimSpace(alt), arch)
			if err != nil {
				return nil, fmt.Errorf("relation %q: %w", clip(rel), err)
			}
			if keep {
				r = append(r, d)
			}
		}
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

func parseDep(s, arch string) (Dep, bool, error) {
	var d Dep
	// Build profiles apply to source packages only; drop them.
	if i := strings.IndexByte(s, '<'); i >= 0 && !strings.Contains(s[:i], "(") {
		s = strings.TrimSpace(s[:i])
	} else if j := strings.LastIndexByte(s, ')'); j >= 0 {
		if k := strings.IndexByte(s[j:], '<'); k >= 0 {
			s = strings.TrimSpace(s[:j+k])
		}
	}
	keep := true
	if i := strings.IndexByte(s, '['); i >= 0 {
		j := strings.IndexByte(s, ']')
		if j < i {
			return d, false, fmt.Errorf("unterminated architecture list in %q", clip(s))
		}
		keep = archListMatches(strings.Fields(s[i+1:j]), arch)
		s = strings.TrimSpace(s[:i] + s[j+1:])
	}
	name := s
	if i := strings.IndexByte(s, '('); i >= 0 {
		j := strings.IndexByte(s, ')')
		if j < i || strings.TrimSpace(s[j+1:]) != "" {
			return d, false, fmt.Errorf("malformed version constraint in %q", clip(s))
		}
		name = strings.TrimSpace(s[:i])
		op, ver, err := parseConstraint(s[i+1 : j])
		if err != nil {
			return d, false, fmt.Errorf("%q: %w", clip(s), err)
		}
		d.Op, d.Version = op, ver
	}
	name, d.Arch, _ = strings.Cut(name, ":")
	if !validName(name) {
		return d, false, fmt.Errorf("invalid package name %q", clip(name))
	}
	d.Name = name
	return d, keep, nil
}

func parseConstraint(s string) (Op, string, error) {
	s = strings.TrimSpace(s)
	var op Op
	for _, o := range []Op{OpLessEq, OpGreatEq, OpLess, OpGreater, OpEq, "<", ">"} {
		if strings.HasPrefix(s, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return "", "", fmt.Errorf("missing relation operator")
	}
	ver := strings.TrimSpace(s[len(op):])
	switch op { // obsolete forms, policy §7.1: "<" means "<=", ">" means ">="
	case "<":
		op = OpLessEq
	case ">":
		op = OpGreatEq
	}
	if _, err := version.Parse(ver); err != nil || ver == "" {
		return "", "", fmt.Errorf("invalid version %q", clip(ver))
	}
	return op, ver, nil
}

// archListMatches evaluates "[amd64 arm64]" or "[!i386]" for arch.
func archListMatches(list []string, arch string) bool {
	if len(list) == 0 {
		return true
	}
	negated := strings.HasPrefix(list[0], "!")
	for _, a := range list {
		a = strings.TrimPrefix(a, "!")
		if a == arch || a == "any" || a == "linux-any" || a == "any-"+arch {
			return !negated
		}
	}
	return negated
}

// validName reports whether s is a valid Debian package name (policy §5.6.1).
func validName(s string) bool {
	if len(s) < 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '+' || c == '-' || c == '.') && i > 0:
		case c >= 'A' && c <= 'Z': // tolerated in old indexes
		default:
			return false
		}
	}
	return true
}

// CompareVersions compares two Debian version strings
// ("[epoch:]upstream[-revision]") as dpkg does: negative when a < b, zero
// when equal, positive when a > b. It uses pault.ag/go/debian/version, a
// dpkg-compatible implementation.
func CompareVersions(a, b string) (int, error) {
	va, err := version.Parse(a)
	if err != nil {
		return 0, fmt.Errorf("version %q: %w", a, err)
	}
	vb, err := version.Parse(b)
	if err != nil {
		return 0, fmt.Errorf("version %q: %w", b, err)
	}
	return version.Compare(va, vb), nil
}
