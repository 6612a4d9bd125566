package graph

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
)

// Key is the cache key of a vertex: a digest over everything that decides its
// output (see KeyComponents).
type Key = Digest

// Env holds the build-wide values that enter every cache key.
type Env struct {
	// Platform is the target platform, "linux/amd64" or "linux/arm64".
	Platform string `json:"platform"`
	// SourceDateEpoch is the timestamp (seconds since 1970) that clamps every
	// time recorded in an artifact.
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
}

// KeyComponents are the parts a cache key is computed from. They are kept
// beside each action cache entry so that a later miss can say which of them
// changed (kit explain).
type KeyComponents struct {
	Kind     string          `json:"kind"`
	Version  string          `json:"version"`
	Plugin   string          `json:"plugin,omitempty"`
	Params   json.RawMessage `json:"params"`
	Inputs   []Key           `json:"inputs"`
	Platform string          `json:"platform"`
	Epoch    int64           `json:"sourceDateEpoch"`
}

// Sum returns the key. Every component is length-prefixed, so no two
// different component lists hash the same bytes.
func (c KeyComponents) Sum() Key {
	d := NewDigester()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		d.Write(n[:])
		d.Write([]byte(s))
	}
	field("kit-key-v1")
	field(c.Kind)
	field(c.Version)
	field(c.Plugin)
	field(string(c.Params))
	field(strconv.Itoa(len(c.Inputs)))
	for _, in := range c.Inputs {
		field(string(in))
	}
	field(c.Platform)
	field(strconv.FormatInt(c.Epoch, 10))
	return d.Digest()
}

// Diff lists, in words, the components that differ between an old and a new
// set (used to explain a cache miss).
func (c KeyComponents) Diff(old KeyComponents) []string {
	var out []string
	if c.Kind != old.Kind {
		out = append(out, fmt.Sprintf("step kind %s → %s", old.Kind, c.Kind))
	}
	if c.Version != old.Version {
		out = append(out, fmt.Sprintf("implementation version %s → %s", old.Version, c.Version))
	}
	if c.Plugin != old.Plugin {
		out = append(out, "plugin binary or protocol changed")
	}
	if string(c.Params) != string(old.Params) {
		out = append(out, "parameters changed"+paramDiff(old.Params, c.Params))
	}
	if len(c.Inputs) != len(old.Inputs) {
		out = append(out, fmt.Sprintf("number of inputs %d → %d", len(old.Inputs), len(c.Inputs)))
	} else {
		for i := range c.Inputs {
			if c.Inputs[i] != old.Inputs[i] {
				out = append(out, fmt.Sprintf("input %d changed", i))
			}
		}
	}
	if c.Platform != old.Platform {
		out = append(out, fmt.Sprintf("platform %s → %s", old.Platform, c.Platform))
	}
	if c.Epoch != old.Epoch {
		out = append(out, fmt.Sprintf("SOURCE_DATE_EPOCH %d → %d", old.Epoch, c.Epoch))
	}
	return out
}

// paramDiff names the top-level fields that differ when both sides are JSON
// objects.
func paramDiff(a, b []byte) string {
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return ""
	}
	var names []string
	seen := map[string]bool{}
	for k, va := range ma {
		seen[k] = true
		if vb, ok := mb[k]; !ok || string(va) != string(vb) {
			names = append(names, k)
		}
	}
	for k := range mb {
		if !seen[k] {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sortStrings(names)
	s := " ("
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s + ")"
}
