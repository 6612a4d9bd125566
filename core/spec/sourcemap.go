package spec

import (
	"iter"
	"maps"
	"slices"
	"strings"
)

// All yields every recorded path and its position, sorted by path.
func (m *SourceMap) All() iter.Seq2[string, Pos] {
	return func(yield func(string, Pos) bool) {
		if m == nil {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m.pos)) {
			if !yield(k, m.pos[k]) {
				return
			}
		}
	}
}

// Len is the number of recorded paths.
func (m *SourceMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.pos)
}

// Nearest returns where path was defined or, when path itself was not
// recorded (a value filled in later, say), where its closest recorded
// ancestor was: "services[2].binds[5]" falls back to "services[2].binds",
// then "services[2]". It returns the zero Pos when nothing matches.
func (m *SourceMap) Nearest(path string) Pos {
	if m == nil {
		return Pos{}
	}
	for path != "" {
		if p, ok := m.pos[path]; ok {
			return p
		}
		path = parentPath(path)
	}
	return Pos{}
}

// parentPath strips the last index or key from a field path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// joinPath appends a key to a field path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
