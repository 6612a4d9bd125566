package pkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kitbuild/kit/core/spec"
)

// DefinitionFile is the name of a package definition inside its directory.
const DefinitionFile = "pkg.yml"

// Definition is a decoded pkg.yml.
type Definition struct {
	// Dir is the package directory; relative file sources are read from it.
	Dir string
	// File is the path of the definition, used in errors.
	File string
	// Data is the definition's bytes (they enter the content tag).
	Data []byte

	// Image is the repository the image is named by ("kit/redis").
	Image string
	// Debian lists Debian packages unpacked into the debian layer.
	Debian *Debian
	// Kernel turns a Debian kernel package into the kernel-image layout.
	Kernel *Kernel
	// Go lists Go main packages built into the go layer.
	Go []GoBinary
	// Files lists local files, directories and symlinks (files layer).
	Files []File
	// Config is the image configuration.
	Config Config
}

// Debian is the `debian` section.
type Debian struct {
	// Packages are requests "name" or "name=version"; dependencies
	// (Depends, Pre-Depends) are added by the resolver.
	Packages []string
	// ExcludePaths are paths (and everything below them) left out of the
	// layer, e.g. "/usr/share/doc".
	ExcludePaths []string
	Pos          spec.Pos
}

// Kernel is the `kernel` section: a Debian kernel package laid out as a
// kernel image (`kernel`, `kernel.tar` of lib/modules, `System.map`).
type Kernel struct {
	// Debian is the package request, e.g. "linux-image-amd64". Of its
	// dependencies only the linux-image-* packages are kept.
	Debian string
	// Modules, when given, limits kernel.tar to these modules and their
	// dependencies (see KernelOp).
	Modules []string
	Pos     spec.Pos
}

// GoBinary is one entry of the `go` section.
type GoBinary struct {
	// Main is the main package: a path relative to the Go module holding the
	// package directory ("./cmd/kit-init") or an import path.
	Main string
	// Dest is the absolute path of the binary in the image.
	Dest string
	Pos  spec.Pos
}

// FileKind says what a File entry makes.
type FileKind string

// The kinds of File entries.
const (
	FileRegular FileKind = "file"
	FileDir     FileKind = "dir"
	FileSymlink FileKind = "symlink"
)

// File is one entry of the `files` section.
type File struct {
	Kind FileKind
	// Dest is the absolute path in the image.
	Dest string
	// Src is a regular file, relative to the package directory (regular
	// entries without Contents).
	Src string
	// Contents is inline content (regular entries without Src).
	Contents *string
	// Target is a symlink's target.
	Target string
	// Mode is the permission bits; default 0644 for files (0755 when the
	// source is executable), 0755 for directories.
	Mode     *uint32
	UID, GID uint32
	Pos      spec.Pos
}

// Config is the `config` section: the OCI image config.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	Workdir    string
	User       string
	Labels     map[string]string
	// Moby is the org.mobyproject.config label as JSON (validated with
	// spec.DecodeLabel); nil when not given.
	Moby json.RawMessage
}

// Load reads and decodes DIR/pkg.yml (or the file itself when dir names
// one).
func Load(dir string) (*Definition, error) {
	file := dir
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("package %s: %w", dir, err)
	} else if st.IsDir() {
		file = filepath.Join(dir, DefinitionFile)
	} else {
		dir = filepath.Dir(dir)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", dir, err)
	}
	d, err := Decode(file, data)
	if err != nil {
		return nil, err
	}
	d.Dir = dir
	return d, nil
}

// maxNodes bounds the nodes decoded (aliases expanded).
const maxNodes = 1 << 16

// Decode decodes a package definition strictly: unknown or duplicate keys,
// wrong types (a number where a string goes, such as an unquoted mode),
// several documents and invalid values are errors located as
// file:line:col. The error is a spec.Errors. Dir of the result is the
// directory of file.
func Decode(file string, data []byte) (def *Definition, err error) {
	defer func() {
		if r := recover(); r != nil {
			def, err = nil, spec.Errors{{Pos: spec.Pos{File: file}, Msg: fmt.Sprintf("invalid YAML: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, spec.Errors{{Pos: spec.Pos{File: file, Line: 1, Col: 1}, Msg: "empty package definition: want at least `image`"}}
		}
		return nil, spec.Errors{yamlError(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, spec.Errors{{Pos: spec.Pos{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a package definition holds one YAML document; found a second"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, spec.Errors{yamlError(file, err)}
	}
	d := &decoder{file: file}
	def = &Definition{File: file, Dir: filepath.Dir(file), Data: data}
	root := &doc
	if len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	d.definition(root, def)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return def, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) *spec.Error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &spec.Error{Pos: spec.Pos{File: file, Line: n}, Msg: "invalid YAML: " + m[2]}
	}
	return &spec.Error{Pos: spec.Pos{File: file}, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// decoder walks yaml nodes, collecting located errors.
type decoder struct {
	file  string
	errs  spec.Errors
	nodes int
}

func (d *decoder) pos(n *yaml.Node) spec.Pos {
	return spec.Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errf(n *yaml.Node, format string, args ...any) {
	if len(d.errs) >= 50 {
		return
	}
	d.errs = append(d.errs, &spec.Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases; nil when the budget is spent or the alias loops.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 || n.Alias == nil {
			d.errf(n, "alias *%s cannot be resolved", n.Value)
			return nil
		}
		n = n.Alias
	}
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errf(n, "document too large (more than %d nodes once aliases are expanded)", maxNodes)
		}
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return n.Value
	}
	return "an unsupported node"
}

// mapping decodes a mapping whose keys must be among fields; what names it
// in errors. Null values count as unset.
func (d *decoder) mapping(n *yaml.Node, what string, fields map[string]func(k, v *yaml.Node)) bool {
	if n = d.resolve(n); n == nil {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "%s: want a mapping, got %s", what, describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], d.resolve(n.Content[i+1])
		if v == nil {
			continue
		}
		fn, ok := fields[k.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for f := range fields {
				names = append(names, f)
			}
			sort.Strings(names)
			d.errf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if isNull(v) {
			continue
		}
		fn(k, v)
	}
	return true
}

func (d *decoder) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.errf(n, "%s: want a string, got %s", what, describe(n))
		return ""
	}
	return n.Value
}

func (d *decoder) strList(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "%s: want a list of strings, got %s", what, describe(n))
		return nil
	}
	out := []string{}
	for i, c := range n.Content {
		if c = d.resolve(c); c == nil {
			continue
		}
		out = append(out, d.str(c, fmt.Sprintf("%s[%d]", what, i)))
	}
	return out
}

func (d *decoder) id(n *yaml.Node, what string) uint32 {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errf(n, "%s: want a number, got %s", what, describe(n))
		return 0
	}
	v, err := strconv.ParseUint(n.Value, 10, 32)
	if err != nil {
		d.errf(n, "%s: want a number from 0 to 4294967295, got %s", what, n.Value)
	}
	return uint32(v)
}

// absPath checks an absolute path in the image and returns it cleaned
// without the leading slash.
func (d *decoder) absPath(n *yaml.Node, what string) string {
	s := d.str(n, what)
	if s == "" {
		if n.ShortTag() == "!!str" {
			d.errf(n, "%s: empty path", what)
		}
		return ""
	}
	if !strings.HasPrefix(s, "/") || path.Clean(s) != s || s == "/" || strings.Contains(s, "\x00") {
		d.errf(n, "%s: want a clean absolute path below / such as /etc/x, got %q", what, s)
		return ""
	}
	return s
}

var imageName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

func (d *decoder) definition(n *yaml.Node, def *Definition) {
	if n = d.resolve(n); n == nil {
		return
	}
	if isNull(n) {
		d.errf(n, "empty package definition: want at least `image`")
		return
	}
	var imageKey *yaml.Node
	ok := d.mapping(n, "package", map[string]func(k, v *yaml.Node){
		"image": func(k, v *yaml.Node) {
			imageKey = k
			def.Image = d.str(v, "image")
			if def.Image != "" && !imageName.MatchString(def.Image) {
				d.errf(v, "image: %q is not a repository name such as kit/redis (lower case, no registry, no tag)", def.Image)
			}
		},
		"debian": func(k, v *yaml.Node) {
			deb := &Debian{Pos: d.pos(k)}
			def.Debian = deb
			d.mapping(v, "debian", map[string]func(k, v *yaml.Node){
				"packages": func(_, v *yaml.Node) {
					deb.Packages = d.strList(v, "debian.packages")
					for i, p := range deb.Packages {
						if p == "" || strings.ContainsAny(p, " \t,|()") {
							d.errf(v.Content[i], "debian.packages[%d]: %q is not a package name or name=version", i, p)
						}
					}
				},
				"exclude-paths": func(_, v *yaml.Node) {
					if v.Kind != yaml.SequenceNode {
						d.errf(v, "debian.exclude-paths: want a list of paths, got %s", describe(v))
						return
					}
					for i, c := range v.Content {
						if c = d.resolve(c); c != nil {
							deb.ExcludePaths = append(deb.ExcludePaths, d.absPath(c, fmt.Sprintf("debian.exclude-paths[%d]", i)))
						}
					}
				},
			})
			if len(deb.Packages) == 0 {
				d.errf(k, "debian: want at least one package in debian.packages")
			}
		},
		"kernel": func(k, v *yaml.Node) {
			kern := &Kernel{Pos: d.pos(k)}
			def.Kernel = kern
			d.mapping(v, "kernel", map[string]func(k, v *yaml.Node){
				"debian":  func(_, v *yaml.Node) { kern.Debian = d.str(v, "kernel.debian") },
				"modules": func(_, v *yaml.Node) { kern.Modules = d.strList(v, "kernel.modules") },
			})
			if kern.Debian == "" {
				d.errf(k, "kernel: want the Debian kernel package in kernel.debian (e.g. linux-image-amd64)")
			}
		},
		"go": func(k, v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "go: want a list of {main, dest}, got %s", describe(v))
				return
			}
			for i, c := range v.Content {
				if c = d.resolve(c); c == nil {
					continue
				}
				what := fmt.Sprintf("go[%d]", i)
				g := GoBinary{Pos: d.pos(c)}
				d.mapping(c, what, map[string]func(k, v *yaml.Node){
					"main": func(_, v *yaml.Node) { g.Main = d.str(v, what+".main") },
					"dest": func(_, v *yaml.Node) { g.Dest = d.absPath(v, what+".dest") },
				})
				if c.Kind == yaml.MappingNode && (g.Main == "" || g.Dest == "") {
					d.errf(c, "%s: want both main and dest", what)
				}
				def.Go = append(def.Go, g)
			}
		},
		"files": func(k, v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "files: want a list of entries, got %s", describe(v))
				return
			}
			for i, c := range v.Content {
				if c = d.resolve(c); c != nil {
					def.Files = append(def.Files, d.fileEntry(c, fmt.Sprintf("files[%d]", i)))
				}
			}
		},
		"config": func(k, v *yaml.Node) { d.config(v, &def.Config) },
	})
	if !ok {
		return
	}
	if def.Image == "" && imageKey == nil {
		d.errf(n, "package: missing `image` (the repository name, e.g. kit/redis)")
	}
	if def.Debian == nil && def.Kernel == nil && len(def.Go) == 0 && len(def.Files) == 0 {
		d.errf(n, "package: no content: give at least one of debian, kernel, go, files")
	}
	d.checkDests(def)
}

// checkDests refuses two entries for the same path.
func (d *decoder) checkDests(def *Definition) {
	seen := map[string]spec.Pos{}
	add := func(dest string, p spec.Pos) {
		if dest == "" {
			return
		}
		if prev, ok := seen[dest]; ok {
			d.errs = append(d.errs, &spec.Error{Pos: p, Msg: fmt.Sprintf("%s is already given at %s", dest, prev)})
			return
		}
		seen[dest] = p
	}
	for _, g := range def.Go {
		add(g.Dest, g.Pos)
	}
	for _, f := range def.Files {
		add(f.Dest, f.Pos)
	}
}

func (d *decoder) fileEntry(n *yaml.Node, what string) File {
	f := File{Pos: d.pos(n)}
	var dest, dir, link, src, contents, target *yaml.Node
	set := func(p **yaml.Node) func(k, v *yaml.Node) { return func(_, v *yaml.Node) { *p = v } }
	if !d.mapping(n, what, map[string]func(k, v *yaml.Node){
		"dest": set(&dest), "dir": set(&dir), "symlink": set(&link),
		"src": set(&src), "contents": set(&contents), "target": set(&target),
		"mode": func(_, v *yaml.Node) {
			s := d.str(v, what+".mode")
			if s == "" {
				return
			}
			m, err := spec.ParseMode(s)
			if err != nil {
				d.errf(v, "%s.mode: %v", what, err)
				return
			}
			f.Mode = &m
		},
		"uid": func(_, v *yaml.Node) { f.UID = d.id(v, what+".uid") },
		"gid": func(_, v *yaml.Node) { f.GID = d.id(v, what+".gid") },
	}) {
		return f
	}
	count := 0
	for _, p := range []*yaml.Node{dest, dir, link} {
		if p != nil {
			count++
		}
	}
	if count != 1 {
		d.errf(n, "%s: want exactly one of dest (a file), dir or symlink", what)
		return f
	}
	switch {
	case dest != nil:
		f.Kind = FileRegular
		f.Dest = d.absPath(dest, what+".dest")
		if (src == nil) == (contents == nil) {
			d.errf(n, "%s: a file wants exactly one of src or contents", what)
		}
		if src != nil {
			f.Src = d.str(src, what+".src")
			if f.Src != "" && (filepath.IsAbs(f.Src) || !filepath.IsLocal(filepath.FromSlash(f.Src))) {
				d.errf(src, "%s.src: %q must be a path inside the package directory", what, f.Src)
			}
		}
		if contents != nil {
			s := d.str(contents, what+".contents")
			f.Contents = &s
		}
		if target != nil {
			d.errf(target, "%s: target is only for symlink entries", what)
		}
	case dir != nil:
		f.Kind = FileDir
		f.Dest = d.absPath(dir, what+".dir")
		for _, p := range []*yaml.Node{src, contents, target} {
			if p != nil {
				d.errf(p, "%s: a dir entry takes only mode, uid and gid", what)
			}
		}
	default:
		f.Kind = FileSymlink
		f.Dest = d.absPath(link, what+".symlink")
		if target == nil {
			d.errf(n, "%s: a symlink wants a target", what)
		} else {
			f.Target = d.str(target, what+".target")
		}
		for _, p := range []*yaml.Node{src, contents} {
			if p != nil {
				d.errf(p, "%s: a symlink entry takes only target, uid and gid", what)
			}
		}
	}
	return f
}

func (d *decoder) config(n *yaml.Node, c *Config) {
	d.mapping(n, "config", map[string]func(k, v *yaml.Node){
		"entrypoint": func(_, v *yaml.Node) { c.Entrypoint = d.strList(v, "config.entrypoint") },
		"cmd":        func(_, v *yaml.Node) { c.Cmd = d.strList(v, "config.cmd") },
		"env": func(_, v *yaml.Node) {
			c.Env = d.strList(v, "config.env")
			for i, e := range c.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					d.errf(v.Content[i], "config.env[%d]: want KEY=value, got %q", i, e)
				}
			}
		},
		"workdir": func(_, v *yaml.Node) { c.Workdir = d.str(v, "config.workdir") },
		"user":    func(_, v *yaml.Node) { c.User = d.str(v, "config.user") },
		"labels": func(_, v *yaml.Node) {
			c.Labels = map[string]string{}
			if v.Kind != yaml.MappingNode {
				d.errf(v, "config.labels: want a mapping of strings, got %s", describe(v))
				return
			}
			for i := 0; v.Kind == yaml.MappingNode && i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], d.resolve(v.Content[i+1])
				if val == nil {
					continue
				}
				if k.Value == spec.LabelKey {
					d.errf(k, "config.labels: set %s with config.moby", spec.LabelKey)
					continue
				}
				c.Labels[k.Value] = d.str(val, "config.labels."+k.Value)
			}
		},
		"moby": func(k, v *yaml.Node) {
			var val any
			if err := v.Decode(&val); err != nil {
				d.errf(v, "config.moby: %v", err)
				return
			}
			b, err := json.Marshal(val)
			if err != nil {
				d.errf(v, "config.moby: %v", err)
				return
			}
			if _, err := spec.DecodeLabel(b, spec.LabelKey); err != nil {
				d.errf(v, "config.moby: %v", err)
				return
			}
			c.Moby = b
		},
	})
}
