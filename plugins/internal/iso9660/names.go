package iso9660

import (
	"sort"
	"strconv"
	"strings"
)

// ISO 9660 level 2 limits: a file identifier (name, ".", extension) of at
// most 30 characters before ";1", a directory identifier of at most 31.
const (
	maxFileIdent = 30
	maxDirIdent  = 31
	maxExt       = 8
)

// dChars maps a name to ISO 9660 d-characters (A-Z, 0-9, _).
func dChars(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// isoIdent is an ISO 9660 identifier split as the standard sorts it.
type isoIdent struct {
	name, ext string
	dir       bool
}

// String is the identifier as recorded ("NAME.EXT;1", or "NAME" for a
// directory).
func (id isoIdent) String() string {
	if id.dir {
		return id.name
	}
	return id.name + "." + id.ext + ";1"
}

func (id isoIdent) key() string { return id.name + "." + id.ext }

// baseIdent is the identifier a name maps to before collisions are
// resolved.
func baseIdent(name string, dir bool) isoIdent {
	if dir {
		n := dChars(name)
		if len(n) > maxDirIdent {
			n = n[:maxDirIdent]
		}
		return isoIdent{name: n, dir: true}
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	base, ext = dChars(base), dChars(ext)
	if len(ext) > maxExt {
		ext = ext[:maxExt]
	}
	if max := maxFileIdent - 1 - len(ext); len(base) > max {
		base = base[:max]
	}
	return isoIdent{name: base, ext: ext}
}

// uniqueIdents gives each of names (the children of one directory, in
// byte order; dirs says which are directories) a distinct identifier:
// a collision replaces the end of the name part with "_N" for the smallest
// free N. The result is in the order of names.
func uniqueIdents(names []string, dirs []bool) []isoIdent {
	out := make([]isoIdent, len(names))
	taken := map[string]bool{}
	for i, name := range names {
		id := baseIdent(name, dirs[i])
		if taken[id.key()] {
			limit := maxFileIdent - 1 - len(id.ext)
			if id.dir {
				limit = maxDirIdent
			}
			stem := id.name
			for n := 1; ; n++ {
				suffix := "_" + strconv.Itoa(n)
				s := stem
				if len(s)+len(suffix) > limit {
					s = s[:limit-len(suffix)]
				}
				cand := isoIdent{name: s + suffix, ext: id.ext, dir: id.dir}
				if !taken[cand.key()] {
					id = cand
					break
				}
			}
		}
		taken[id.key()] = true
		out[i] = id
	}
	return out
}

// lessIdent orders identifiers as ECMA-119 9.3 does: by name part, then
// extension, each padded with spaces.
func lessIdent(a, b isoIdent) bool {
	if c := comparePadded(a.name, b.name); c != 0 {
		return c < 0
	}
	return comparePadded(a.ext, b.ext) < 0
}

func comparePadded(a, b string) int {
	n := max(len(a), len(b))
	for i := range n {
		ca, cb := byte(' '), byte(' ')
		if i < len(a) {
			ca = a[i]
		}
		if i < len(b) {
			cb = b[i]
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return 0
}

// sortedNames returns the keys of m in byte order.
func sortedNames(m map[string]*node) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
