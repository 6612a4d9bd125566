package graphbuild

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// dirSet is what directory patterns cover.
type dirSet struct {
	recursive []string // DIR/...
	direct    []string // DIR
	files     []string // FILE
}

// covers reports whether file f is under the set.
func (d dirSet) covers(f string) bool {
	for _, r := range d.recursive {
		if f == r || strings.HasPrefix(f, r+string(filepath.Separator)) {
			return true
		}
	}
	for _, x := range d.direct {
		if filepath.Dir(f) == x {
			return true
		}
	}
	return contains(d.files, f)
}

// coversDir reports whether the directory dir is under the set.
func (d dirSet) coversDir(dir string) bool {
	for _, r := range d.recursive {
		if dir == r || strings.HasPrefix(dir, r+string(filepath.Separator)) {
			return true
		}
	}
	return contains(d.direct, dir)
}

// isPathPattern reports whether a pattern names files rather than a
// system: it starts with "." or "/", holds a separator, or names an
// existing file.
func isPathPattern(p string) bool {
	if strings.HasPrefix(p, ".") || filepath.IsAbs(p) || strings.ContainsRune(p, '/') {
		return true
	}
	_, err := os.Stat(p)
	return err == nil
}

// patternDirs returns what the path patterns cover (none: "./...").
func patternDirs(patterns []string) (dirSet, error) {
	var d dirSet
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	for _, p := range patterns {
		if !isPathPattern(p) {
			continue
		}
		if base, ok := strings.CutSuffix(p, "..."); ok {
			a, err := filepath.Abs(strings.TrimSuffix(base, "/"))
			if err != nil {
				return d, err
			}
			if base == "" {
				a, _ = filepath.Abs(".")
			}
			d.recursive = append(d.recursive, a)
			continue
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return d, err
		}
		st, err := os.Stat(a)
		if err != nil {
			return d, fmt.Errorf("pattern %s: %w", p, err)
		}
		if st.IsDir() {
			d.direct = append(d.direct, a)
		} else {
			d.files = append(d.files, a)
		}
	}
	return d, nil
}

// Selection is what a set of patterns selects in a workspace.
type Selection struct {
	Systems  []*System
	Packages []*Package
}

// Select returns the systems and packages patterns name. A pattern is
//
//   - DIR/... : every system whose spec lies under DIR, and every package
//     there ("./..." is everything under the working directory);
//   - DIR: the systems whose spec lies in DIR, or the package in DIR;
//   - FILE: the systems of that spec file (a YAML file the workspace does
//     not list becomes a system named after the file);
//   - NAME: the system (else the package) called NAME.
//
// No pattern means "./...". Packages the selected systems use are selected
// too. A pattern that selects nothing is an error.
func (ws *Workspace) Select(patterns ...string) (*Selection, error) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	sel := &Selection{}
	addSys := func(s *System) {
		for _, x := range sel.Systems {
			if x == s {
				return
			}
		}
		sel.Systems = append(sel.Systems, s)
	}
	addPkg := func(p *Package) {
		for _, x := range sel.Packages {
			if x == p {
				return
			}
		}
		sel.Packages = append(sel.Packages, p)
	}
	for _, pat := range patterns {
		n := 0
		if !isPathPattern(pat) {
			if s := ws.System(pat); s != nil {
				addSys(s)
				n++
			} else if p := ws.Package(pat); p != nil {
				addPkg(p)
				n++
			}
			if n == 0 {
				return nil, fmt.Errorf("pattern %q: no system or package of that name in %s", pat, ws.Root)
			}
			continue
		}
		d, err := patternDirs([]string{pat})
		if err != nil {
			return nil, err
		}
		for _, s := range ws.Systems {
			for _, f := range s.Specs {
				if d.covers(f) {
					addSys(s)
					n++
					break
				}
			}
		}
		for _, p := range ws.Packages {
			if d.coversDir(p.Dir) {
				addPkg(p)
				n++
			}
		}
		if n == 0 && len(d.files) == 1 && !strings.HasSuffix(d.files[0], HCLSuffix) {
			// A YAML spec the workspace does not list.
			f := d.files[0]
			s := &System{Name: specName(f), Specs: []string{f}, DefinedIn: f, LockPath: lockPathOf(f), Formats: ws.defaultFormats()}
			if prev := ws.System(s.Name); prev != nil {
				return nil, fmt.Errorf("pattern %s: a system named %q exists already (%s)", pat, s.Name, rel(ws.Root, prev.DefinedIn))
			}
			ws.Systems = append(ws.Systems, s)
			addSys(s)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("pattern %s: no system or package there (workspace %s)", pat, ws.Root)
		}
	}
	if err := ws.LoadSpecs(sel.Systems); err != nil {
		return nil, err
	}
	for _, s := range sel.Systems {
		for _, name := range s.Packages {
			if p := ws.Package(name); p != nil {
				addPkg(p)
			}
		}
	}
	sortSystems(sel.Systems)
	sortPackages(sel.Packages)
	return sel, nil
}
