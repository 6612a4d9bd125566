package fetch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"gopkg.in/yaml.v3"

	"github.com/kitbuild/kit/core/graph"
)

// LockVersion is the version of the lock file format.
const LockVersion = 1

const lockHeader = `# kit lock file: the digest each image reference resolved to.
# Written by kit build; refresh with "kit build --update-lock".
# Keep it beside the spec, under version control.
`

// LockEntry pins one image reference.
type LockEntry struct {
	// Ref is the canonical reference ("index.docker.io/library/redis:7").
	Ref string `yaml:"ref"`
	// Digest is what the reference resolved to: an index or a manifest.
	Digest graph.Digest `yaml:"digest"`
	// MediaType is Digest's media type.
	MediaType string `yaml:"mediaType,omitempty"`
	// Platforms maps a platform ("linux/amd64") to the manifest chosen from
	// the index for it; empty when Digest is a manifest.
	Platforms map[string]graph.Digest `yaml:"platforms,omitempty"`
}

func (e LockEntry) clone() LockEntry {
	if e.Platforms != nil {
		p := make(map[string]graph.Digest, len(e.Platforms))
		for k, v := range e.Platforms {
			p[k] = v
		}
		e.Platforms = p
	}
	return e
}

// PluginPin pins one plugin binary: builds refuse to run a binary of that
// plugin name whose checksum differs.
type PluginPin struct {
	// Name is the plugin's name (the NAME of its kit-plugin-NAME binary).
	Name string `yaml:"name"`
	// Digest is the sha256 of the binary.
	Digest graph.Digest `yaml:"sha256"`
	// Version and Protocol are what the plugin reported when it was pinned;
	// they are for humans reading the file and are not checked.
	Version  string `yaml:"version,omitempty"`
	Protocol int    `yaml:"protocol,omitempty"`
}

type lockFile struct {
	Version int         `yaml:"version"`
	Images  []LockEntry `yaml:"images"`
	Plugins []PluginPin `yaml:"plugins,omitempty"`
}

// Lock maps image references to the digests they resolved to, and plugin
// names to the checksums of their binaries. It is safe for concurrent use.
type Lock struct {
	mu      sync.Mutex
	entries map[string]LockEntry
	plugins map[string]PluginPin
}

// NewLock returns an empty lock.
func NewLock() *Lock {
	return &Lock{entries: map[string]LockEntry{}, plugins: map[string]PluginPin{}}
}

// LockPath returns the lock file path for a spec file: the spec's path with
// its extension (.yml, .yaml, .hcl) replaced by ".lock".
func LockPath(spec string) string {
	switch ext := filepath.Ext(spec); strings.ToLower(ext) {
	case ".yml", ".yaml", ".hcl", ".json":
		spec = strings.TrimSuffix(spec, ext)
	}
	return spec + ".lock"
}

// LoadLock reads a lock file; a missing file gives an empty lock.
func LoadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewLock(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	l, err := ParseLock(data)
	if err != nil {
		var le *LockError
		if errors.As(err, &le) {
			le.Path = path
		}
		return nil, err
	}
	return l, nil
}

// LockError is a problem with a lock file, with its position when known.
type LockError struct {
	Path      string // set by LoadLock
	Line, Col int    // 0 when unknown
	Err       error
}

func (e *LockError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	} else {
		b.WriteString("lock file: ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *LockError) Unwrap() error { return e.Err }

// ParseLock parses the contents of a lock file. References are
// canonicalised; duplicates, malformed digests and unknown fields are
// errors, reported as a *LockError.
func ParseLock(data []byte) (*Lock, error) {
	l := NewLock()
	var f lockFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return l, nil // empty file
		}
		return nil, &LockError{Err: err}
	}
	// A second pass for the position of each entry.
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	pos := entryPositions(&doc, "images")
	ppos := entryPositions(&doc, "plugins")
	fail := func(i int, format string, args ...any) error {
		e := &LockError{Err: fmt.Errorf(format, args...)}
		if i < len(pos) {
			e.Line, e.Col = pos[i][0], pos[i][1]
		}
		return e
	}
	if f.Version != LockVersion {
		return nil, &LockError{Err: fmt.Errorf("unsupported lock file version %d (want %d)", f.Version, LockVersion)}
	}
	for i, e := range f.Images {
		ref, err := ParseRef(e.Ref)
		if err != nil {
			return nil, fail(i, "%w", err)
		}
		e.Ref = ref.Name()
		if _, dup := l.entries[e.Ref]; dup {
			return nil, fail(i, "image %s is locked twice", e.Ref)
		}
		if err := e.Digest.Validate(); err != nil {
			return nil, fail(i, "image %s: %w", e.Ref, err)
		}
		if len(e.Platforms) > 0 {
			ps := make(map[string]graph.Digest, len(e.Platforms))
			for k, d := range e.Platforms {
				p, err := v1.ParsePlatform(k)
				if err != nil || p.OS == "" || p.Architecture == "" {
					return nil, fail(i, "image %s: bad platform %q", e.Ref, k)
				}
				if err := d.Validate(); err != nil {
					return nil, fail(i, "image %s, platform %s: %w", e.Ref, k, err)
				}
				if _, dup := ps[p.String()]; dup {
					return nil, fail(i, "image %s: platform %s is locked twice", e.Ref, p)
				}
				ps[p.String()] = d
			}
			e.Platforms = ps
		} else {
			e.Platforms = nil
		}
		l.entries[e.Ref] = e
	}
	for i, p := range f.Plugins {
		failp := func(format string, args ...any) error {
			e := &LockError{Err: fmt.Errorf(format, args...)}
			if i < len(ppos) {
				e.Line, e.Col = ppos[i][0], ppos[i][1]
			}
			return e
		}
		if err := ValidPluginName(p.Name); err != nil {
			return nil, failp("%w", err)
		}
		if _, dup := l.plugins[p.Name]; dup {
			return nil, failp("plugin %s is locked twice", p.Name)
		}
		if err := p.Digest.Validate(); err != nil {
			return nil, failp("plugin %s: %w", p.Name, err)
		}
		l.plugins[p.Name] = p
	}
	return l, nil
}

// ValidPluginName checks a plugin name: lower-case letters, digits, '-',
// '_' and '.', starting with a letter or digit.
func ValidPluginName(name string) error {
	if name == "" {
		return errors.New("empty plugin name")
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		default:
			return fmt.Errorf("plugin name %q: want lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", name)
		}
	}
	return nil
}

// entryPositions returns the line and column of each element of the list
// under the top-level key.
func entryPositions(doc *yaml.Node, key string) [][2]int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.SequenceNode {
			var out [][2]int
			for _, n := range m.Content[i+1].Content {
				out = append(out, [2]int{n.Line, n.Column})
			}
			return out
		}
	}
	return nil
}

// Marshal returns the lock file contents: a header comment, then the
// entries sorted by reference.
func (l *Lock) Marshal() ([]byte, error) {
	l.mu.Lock()
	f := lockFile{Version: LockVersion, Images: make([]LockEntry, 0, len(l.entries))}
	for _, e := range l.entries {
		f.Images = append(f.Images, e.clone())
	}
	for _, p := range l.plugins {
		f.Plugins = append(f.Plugins, p)
	}
	l.mu.Unlock()
	sort.Slice(f.Images, func(i, j int) bool { return f.Images[i].Ref < f.Images[j].Ref })
	sort.Slice(f.Plugins, func(i, j int) bool { return f.Plugins[i].Name < f.Plugins[j].Name })
	var buf bytes.Buffer
	buf.WriteString(lockHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return buf.Bytes(), nil
}

// Save writes the lock file atomically. When the file already holds the
// same contents it is left untouched.
func (l *Lock) Save(path string) error {
	data, err := l.Marshal()
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	return nil
}

// key canonicalises ref when it parses, so lookups accept any spelling.
func key(ref string) string {
	if r, err := ParseRef(ref); err == nil {
		return r.Name()
	}
	return ref
}

// Get returns the entry for a reference (any spelling of it).
func (l *Lock) Get(ref string) (LockEntry, bool) {
	k := key(ref)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[k]
	return e.clone(), ok
}

// Platform returns the manifest locked for ref on platform ("linux/amd64").
func (l *Lock) Platform(ref, platform string) (graph.Digest, bool) {
	e, ok := l.Get(ref)
	if !ok {
		return "", false
	}
	d, ok := e.Platforms[platform]
	return d, ok
}

// Set replaces the entry for e.Ref (canonicalised).
func (l *Lock) Set(e LockEntry) {
	e = e.clone()
	e.Ref = key(e.Ref)
	if len(e.Platforms) == 0 {
		e.Platforms = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[e.Ref] = e
}

// Record notes that ref resolved to digest (of mediaType) and, when digest
// is an index, that manifest was chosen for platform. Platforms recorded for
// the same digest are kept; a new digest replaces the entry.
func (l *Lock) Record(ref string, digest graph.Digest, mediaType, platform string, manifest graph.Digest) {
	k := key(ref)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[k]
	if !ok || e.Digest != digest {
		e = LockEntry{Ref: k, Digest: digest}
	}
	e = e.clone()
	e.MediaType = mediaType
	if manifest != "" && manifest != digest && platform != "" {
		if e.Platforms == nil {
			e.Platforms = map[string]graph.Digest{}
		}
		e.Platforms[platform] = manifest
	}
	l.entries[k] = e
}

// Remove deletes the entry for ref.
func (l *Lock) Remove(ref string) {
	k := key(ref)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, k)
}

// Plugin returns the pin of the plugin called name.
func (l *Lock) Plugin(name string) (PluginPin, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.plugins[name]
	return p, ok
}

// SetPlugin replaces the pin of the plugin p.Name.
func (l *Lock) SetPlugin(p PluginPin) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.plugins[p.Name] = p
}

// Plugins returns the pinned plugins, sorted by name.
func (l *Lock) Plugins() []PluginPin {
	l.mu.Lock()
	out := make([]PluginPin, 0, len(l.plugins))
	for _, p := range l.plugins {
		out = append(out, p)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Retain deletes every image entry whose reference is not among refs (e.g.
// the images a spec no longer uses). Plugin pins are kept: a build selects
// formats on the command line, so a plugin one build does not use is still
// the spec's.
func (l *Lock) Retain(refs ...string) {
	keep := map[string]bool{}
	for _, r := range refs {
		keep[key(r)] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.entries {
		if !keep[k] {
			delete(l.entries, k)
		}
	}
}

// Refs returns the locked references, sorted.
func (l *Lock) Refs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.entries))
	for k := range l.entries {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
