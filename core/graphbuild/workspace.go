package graphbuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kitbuild/kit/core/pkg"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/fetch"
)

// DefaultFormat is the format of a system that names none.
const DefaultFormat = "kernel+initrd"

// HCLSuffix ends the name of an HCL spec file that discovery finds.
const HCLSuffix = ".kit.hcl"

// Workspace is what discovery found under a root: systems and packages.
type Workspace struct {
	// Root is the workspace's directory (absolute).
	Root string
	// WorkFile is Root/kit.work.hcl, or "" when there is none.
	WorkFile string
	// Systems are every system found, sorted by name.
	Systems []*System
	// Packages are every package found, sorted by name.
	Packages []*Package

	defaults []string // formats of systems that name none
}

func (ws *Workspace) defaultFormats() []string { return ws.defaults }

// System is one system of a workspace.
type System struct {
	// Name names the system's output directory and its nodes.
	Name string
	// Specs are the spec files (absolute), merged in order; for an HCL
	// system, the one .kit.hcl file holding it.
	Specs []string
	// DefinedIn is the file that declares the system: kit.work.hcl for a
	// system block, else Specs[0].
	DefinedIn string
	// WorkFile is the kit.work.hcl that names the system (a system block
	// or a systems glob), else "".
	WorkFile string
	// HCL is set for a system of a .kit.hcl file.
	HCL bool
	// Formats are the formats built (the spec's output blocks, the
	// system block's formats, kit.work.hcl's formats, or kernel+initrd).
	Formats []string
	// FormatConfig holds the configuration of formats with an output
	// block (HCL).
	FormatConfig map[string]json.RawMessage
	// LockPath is the system's lock file.
	LockPath string
	// Packages names the packages the system uses, sorted.
	Packages []string
	// Sources are the local files the spec reads besides the specs (files
	// entries with a source), absolute, sorted.
	Sources []string
	// Spec is the loaded spec (HCL package references are placeholders
	// until the system is planned).
	Spec *spec.System

	hclInputs []string // files the HCL decoder read besides the spec
}

// Inputs are every local file and directory a system's build reads
// directly: spec files, its lock file, sources, and the workspace file
// that declares it. Package directories are added by Affected.
func (s *System) Inputs() []string {
	in := append(append([]string{}, s.Specs...), s.LockPath)
	in = append(in, s.Sources...)
	for _, f := range []string{s.DefinedIn, s.WorkFile} {
		if f != "" && !contains(in, f) {
			in = append(in, f)
		}
	}
	return in
}

// Package is a kit pkg directory of a workspace.
type Package struct {
	// Name is the package block's label, else the directory's base name.
	Name string
	// Dir is the package directory (absolute).
	Dir string
	// Def is its decoded pkg.yml.
	Def *pkg.Definition
}

// LoadOptions configure discovery.
type LoadOptions struct {
	// Root is the workspace directory. Default: the nearest directory
	// holding kit.work.hcl from the working directory up, else the
	// working directory.
	Root string
	// Formats, when set, replace the formats of every system.
	Formats []string
	// Env is the environment HCL specs read KIT_VAR_name from.
	Env []string
}

// skipDir reports whether discovery skips a directory by its name.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "bazel-") ||
		name == "testdata" || name == "node_modules" || name == "vendor"
}

// FindRoot returns the nearest directory holding kit.work.hcl from dir
// up, or dir when there is none.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; {
		if st, err := os.Stat(filepath.Join(d, WorkFileName)); err == nil && !st.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs, nil
		}
		d = parent
	}
}

// Load discovers the workspace at opts.Root: the systems and packages
// kit.work.hcl declares, every *.kit.hcl file, every pkg.yml directory
// (when kit.work.hcl declares no packages) and, when kit.work.hcl
// declares no YAML systems, every YAML file the patterns name (YAML
// specs are not recognisable by their names alone). Patterns are as
// Select takes them.
func Load(opts LoadOptions, patterns ...string) (*Workspace, error) {
	root := opts.Root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = FindRoot(wd); err != nil {
			return nil, err
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	ws := &Workspace{Root: root}
	var wf *WorkFile
	if p := filepath.Join(root, WorkFileName); fileExists(p) {
		ws.WorkFile = p
		if wf, err = LoadWorkFile(p); err != nil {
			return nil, err
		}
	} else {
		wf = &WorkFile{}
	}
	defaults := wf.Formats
	if len(opts.Formats) > 0 {
		defaults = opts.Formats
	}
	if len(defaults) == 0 {
		defaults = []string{DefaultFormat}
	}
	ws.defaults = defaults

	// One walk: HCL specs, package directories, YAML candidates.
	var hclFiles, yamlFiles, pkgDirs []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		switch {
		case name == pkg.DefinitionFile:
			pkgDirs = append(pkgDirs, filepath.Dir(p))
		case strings.HasSuffix(name, HCLSuffix):
			hclFiles = append(hclFiles, p)
		case strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml"):
			yamlFiles = append(yamlFiles, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", root, err)
	}

	// Packages.
	byDir := map[string]*Package{}
	addPkg := func(name, dir, where string) error {
		dir = filepath.Clean(dir)
		if p, ok := byDir[dir]; ok {
			if name != "" && p.Name != name && where == ws.WorkFile {
				return fmt.Errorf("%s: package %q: %s is already package %q", where, name, rel(root, dir), p.Name)
			}
			return nil
		}
		def, err := pkg.Load(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if name == "" {
			name = filepath.Base(dir)
		}
		p := &Package{Name: name, Dir: dir, Def: def}
		byDir[dir] = p
		ws.Packages = append(ws.Packages, p)
		return nil
	}
	for _, b := range wf.Package {
		if err := addPkg(b.Name, abs(root, b.Dir), ws.WorkFile); err != nil {
			return nil, err
		}
	}
	for _, g := range wf.Packages {
		dirs, err := glob(root, g)
		if err != nil {
			return nil, fmt.Errorf("%s: packages %q: %w", ws.WorkFile, g, err)
		}
		for _, d := range dirs {
			if !fileExists(filepath.Join(d, pkg.DefinitionFile)) {
				continue
			}
			if err := addPkg("", d, ws.WorkFile); err != nil {
				return nil, err
			}
		}
	}
	if len(wf.Package) == 0 && len(wf.Packages) == 0 {
		for _, d := range pkgDirs {
			if err := addPkg("", d, filepath.Join(d, pkg.DefinitionFile)); err != nil {
				return nil, err
			}
		}
	}

	// Systems.
	byName := map[string]*System{}
	add := func(s *System) error {
		if prev, ok := byName[s.Name]; ok {
			return fmt.Errorf("two systems named %q: in %s and in %s", s.Name, rel(root, prev.DefinedIn), rel(root, s.DefinedIn))
		}
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("%s: system: %w", rel(root, s.DefinedIn), err)
		}
		if len(opts.Formats) > 0 {
			s.Formats = opts.Formats
		}
		if len(s.Formats) == 0 {
			s.Formats = defaults
		}
		byName[s.Name] = s
		ws.Systems = append(ws.Systems, s)
		return nil
	}
	for _, b := range wf.System {
		s := &System{Name: b.Name, DefinedIn: ws.WorkFile, WorkFile: ws.WorkFile, Formats: b.Formats}
		for _, sp := range b.Specs {
			s.Specs = append(s.Specs, abs(root, sp))
		}
		s.LockPath = fetch.LockPath(s.Specs[0])
		if err := add(s); err != nil {
			return nil, err
		}
	}
	yamlSystem := func(p, workFile string) error {
		s := &System{Name: specName(p), Specs: []string{p}, DefinedIn: p, WorkFile: workFile, LockPath: fetch.LockPath(p)}
		return add(s)
	}
	for _, g := range wf.Systems {
		files, err := glob(root, g)
		if err != nil {
			return nil, fmt.Errorf("%s: systems %q: %w", ws.WorkFile, g, err)
		}
		for _, f := range files {
			if err := yamlSystem(f, ws.WorkFile); err != nil {
				return nil, err
			}
		}
	}
	if len(wf.System) == 0 && len(wf.Systems) == 0 {
		// YAML specs under the patterns' directories.
		dirs, err := patternDirs(patterns)
		if err != nil {
			return nil, err
		}
		for _, f := range yamlFiles {
			if !dirs.covers(f) || inPackage(f, byDir) {
				continue
			}
			if err := yamlSystem(f, ""); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range hclFiles {
		hf, err := spec.LoadHCL(f, spec.HCLOptions{Env: opts.Env})
		if err != nil {
			return nil, err
		}
		for _, b := range hf.Packages {
			if err := addPkg(b.Name, b.Dir, fmt.Sprintf("%s:%d:%d", f, b.Pos.Line, b.Pos.Col)); err != nil {
				return nil, err
			}
		}
		for _, ns := range hf.Systems {
			s := &System{Name: ns.Name, Specs: []string{f}, DefinedIn: f, HCL: true, Spec: ns.System,
				LockPath: HCLLockPath(f, ns.Name, len(hf.Systems))}
			for _, in := range hf.Inputs {
				if a, err := filepath.Abs(in); err == nil && a != f && !contains(s.hclInputs, a) {
					s.hclInputs = append(s.hclInputs, a)
				}
			}
			for _, o := range ns.Outputs {
				s.Formats = append(s.Formats, o.Format)
				if len(o.Config) > 0 {
					if s.FormatConfig == nil {
						s.FormatConfig = map[string]json.RawMessage{}
					}
					s.FormatConfig[o.Format] = o.Config
				}
			}
			for _, name := range ns.Packages {
				for _, b := range hf.Packages {
					if b.Name == name {
						s.Packages = append(s.Packages, byDir[filepath.Clean(b.Dir)].Name)
					}
				}
			}
			if err := add(s); err != nil {
				return nil, err
			}
		}
	}
	sortSystems(ws.Systems)
	sortPackages(ws.Packages)
	for i := 1; i < len(ws.Packages); i++ {
		if a, b := ws.Packages[i-1], ws.Packages[i]; a.Name == b.Name {
			return nil, fmt.Errorf("two packages named %q: %s and %s (name one in a package block of %s)", a.Name, rel(root, a.Dir), rel(root, b.Dir), WorkFileName)
		}
	}
	return ws, nil
}

// HCLLockPath is the lock file of a system of an HCL file: the file's
// lock (x.kit.hcl → x.kit.lock) when it holds one system, else one per
// system beside it (x.kit.NAME.lock), since a lock keeps only the images
// its system uses. kit build uses the same rule.
func HCLLockPath(file, name string, systems int) string {
	p := fetch.LockPath(file)
	if systems <= 1 {
		return p
	}
	return strings.TrimSuffix(p, ".lock") + "." + name + ".lock"
}

// LoadSpecs loads the spec of every system of ss that has none yet, and
// finds the packages each uses and the local files each reads.
func (ws *Workspace) LoadSpecs(ss []*System) error {
	var errs []error
	for _, s := range ss {
		if s.Spec == nil {
			sys, err := spec.Load(s.Specs...)
			if err != nil {
				errs = append(errs, fmt.Errorf("system %s: %w", s.Name, err))
				continue
			}
			s.Spec = sys
		}
		s.Sources = sources(s.Spec)
		for _, in := range s.hclInputs {
			if !contains(s.Sources, in) {
				s.Sources = append(s.Sources, in)
			}
		}
		sort.Strings(s.Sources)
		if !s.HCL {
			s.Packages = nil
			for _, ref := range imageRefs(s.Spec) {
				if p := ws.packageOf(ref); p != nil && !contains(s.Packages, p.Name) {
					s.Packages = append(s.Packages, p.Name)
				}
			}
		}
		sort.Strings(s.Packages)
	}
	return errors.Join(errs...)
}

// Package returns the package called name.
func (ws *Workspace) Package(name string) *Package {
	for _, p := range ws.Packages {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// System returns the system called name.
func (ws *Workspace) System(name string) *System {
	for _, s := range ws.Systems {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// packageOf returns the package an image reference names: one whose
// pkg.yml image is the reference's repository, written without a registry
// ("kit/tools" or "kit/tools:TAG"); nil for any other reference.
func (ws *Workspace) packageOf(ref string) *Package {
	repo, _, ok := splitPackageRef(ref)
	if !ok {
		return nil
	}
	for _, p := range ws.Packages {
		if p.Def.Image == repo {
			return p
		}
	}
	return nil
}

// splitPackageRef splits "repo[:tag]" when the reference could name a
// package: no digest, no registry host (a first component with '.' or
// ':', or localhost).
func splitPackageRef(ref string) (repo, tag string, ok bool) {
	if strings.Contains(ref, "@") {
		return "", "", false
	}
	repo = ref
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		repo, tag = ref[:i], ref[i+1:]
	}
	if first, _, found := strings.Cut(repo, "/"); found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return "", "", false
	}
	return repo, tag, true
}

// imageRefs lists the image references of a spec, in spec order.
func imageRefs(sys *spec.System) []string {
	var out []string
	if sys.Kernel != nil {
		out = append(out, sys.Kernel.Image)
	}
	out = append(out, sys.Init...)
	for _, sec := range [][]*spec.Image{sys.Onboot, sys.Onshutdown, sys.Services} {
		for _, e := range sec {
			out = append(out, e.Image)
		}
	}
	for _, v := range sys.Volumes {
		if v.Image != "" {
			out = append(out, v.Image)
		}
	}
	return out
}

// sources lists the host files the spec's files entries read, absolute
// (relative sources are taken from the directory of the spec file that
// declared the entry; "~/" is the home directory), sorted.
func sources(sys *spec.System) []string {
	var out []string
	home, _ := os.UserHomeDir()
	for i, f := range sys.Files {
		if f.Source == nil || *f.Source == "" {
			continue
		}
		src := *f.Source
		if rest, ok := strings.CutPrefix(src, "~/"); ok {
			if home == "" {
				continue
			}
			src = filepath.Join(home, rest)
		}
		if !filepath.IsAbs(src) {
			base := "."
			if p := sys.Sources.Get(fmt.Sprintf("files[%d]", i)); p.File != "" {
				base = filepath.Dir(p.File)
			}
			src = filepath.Join(base, src)
		}
		if a, err := filepath.Abs(src); err == nil && !contains(out, a) {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func lockPathOf(spec string) string { return fetch.LockPath(spec) }

func sortSystems(ss []*System) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
}

func sortPackages(ps []*Package) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
}

// specName is a YAML system's name: its file name without the extension.
func specName(p string) string {
	base := filepath.Base(p)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// inPackage reports whether f lies in a package directory.
func inPackage(f string, byDir map[string]*Package) bool {
	for d := filepath.Dir(f); ; d = filepath.Dir(d) {
		if _, ok := byDir[d]; ok {
			return true
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// glob expands a glob relative to root, sorted.
func glob(root, pattern string) ([]string, error) {
	m, err := filepath.Glob(abs(root, pattern))
	if err != nil {
		return nil, err
	}
	sort.Strings(m)
	return m, nil
}

func abs(root, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(root, p)
}

// rel returns p relative to root when it is under it.
func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
