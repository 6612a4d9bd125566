package deb

import (
	"fmt"
	"sort"
	"strings"
)

// Index is the set of packages a resolution chooses from, for one
// architecture. It is read-only once built.
type Index struct {
	arch      string
	byName    map[string][]*Package // highest version first
	providers map[string][]provider // virtual name → providers
}

type provider struct {
	pkg     *Package
	version string // provided version, "" when unversioned
}

// NewIndex indexes pkgs for arch. Packages of other architectures are
// ignored. When the same name and version appear more than once (several
// suites or mirrors), the first one wins, so list sources in preference
// order.
func NewIndex(arch string, pkgs []*Package) *Index {
	ix := &Index{arch: arch, byName: map[string][]*Package{}, providers: map[string][]provider{}}
	seen := map[string]bool{}
	for _, p := range pkgs {
		if p.Architecture != arch && p.Architecture != "all" {
			continue
		}
		key := p.Name + "\x00" + p.Version
		if seen[key] {
			continue
		}
		seen[key] = true
		ix.byName[p.Name] = append(ix.byName[p.Name], p)
		for _, rel := range p.Provides {
			for _, d := range rel {
				v := ""
				if d.Op == OpEq {
					v = d.Version
				}
				ix.providers[d.Name] = append(ix.providers[d.Name], provider{pkg: p, version: v})
			}
		}
	}
	for _, list := range ix.byName {
		sort.SliceStable(list, func(i, j int) bool {
			c, _ := CompareVersions(list[i].Version, list[j].Version)
			return c > 0
		})
	}
	for _, list := range ix.providers {
		sort.SliceStable(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if ra, rb := priorityRank(a.pkg.Priority), priorityRank(b.pkg.Priority); ra != rb {
				return ra < rb
			}
			if a.pkg.Name != b.pkg.Name {
				return a.pkg.Name < b.pkg.Name
			}
			c, _ := CompareVersions(a.pkg.Version, b.pkg.Version)
			return c > 0
		})
	}
	return ix
}

// Arch returns the architecture the index was built for.
func (ix *Index) Arch() string { return ix.arch }

// Versions returns the versions of name in the index, highest first.
func (ix *Index) Versions(name string) []string {
	var vs []string
	for _, p := range ix.byName[name] {
		vs = append(vs, p.Version)
	}
	return vs
}

func priorityRank(p string) int {
	switch p {
	case "required":
		return 0
	case "important":
		return 1
	case "standard":
		return 2
	case "optional":
		return 3
	}
	return 4
}

// Request asks for a package by name, optionally at an exact version.
type Request struct {
	Name    string
	Version string // "" for the highest available
}

func (r Request) String() string {
	if r.Version == "" {
		return r.Name
	}
	return r.Name + "=" + r.Version
}

// ParseRequest parses "name" or "name=version".
func ParseRequest(s string) (Request, error) {
	name, ver, hasVer := strings.Cut(strings.TrimSpace(s), "=")
	if !validName(name) {
		return Request{}, fmt.Errorf("package request %q: invalid package name", s)
	}
	if hasVer {
		if _, err := CompareVersions(ver, ver); err != nil {
			return Request{}, fmt.Errorf("package request %q: %w", s, err)
		}
	}
	return Request{Name: name, Version: ver}, nil
}

// UnsatisfiableError reports a dependency no package satisfies, with the
// chain of packages that led to it.
type UnsatisfiableError struct {
	// Chain is the path from a request to the failing dependency, e.g.
	// ["redis-server 5:7.0.15-1", "libc6 (>= 2.38)"].
	Chain  []string
	Reason string
}

func (e *UnsatisfiableError) Error() string {
	return fmt.Sprintf("unsatisfiable dependency %s: %s", strings.Join(e.Chain, " → "), e.Reason)
}

// Resolve chooses a package for every request and, recursively, for their
// Pre-Depends and Depends (Recommends and Suggests are not followed). The
// highest version satisfying every constraint seen is chosen; an already
// chosen package satisfying a relation is preferred over a new one, then
// alternatives in the order written, where a virtual package (Provides)
// with several providers yields to a later real alternative; among
// providers, higher Priority then name order decides. Essential packages are not added implicitly, and Conflicts and
// Breaks are not evaluated. The result is sorted by name.
func (ix *Index) Resolve(reqs []Request, opts ...ResolveOption) ([]*Package, error) {
	r := &resolver{ix: ix, chosen: map[string]*chosen{}, assumed: map[string]bool{}}
	for _, o := range opts {
		o(r)
	}
	for _, req := range reqs {
		if err := r.request(req); err != nil {
			return nil, err
		}
	}
	for len(r.queue) > 0 {
		c := r.queue[0]
		r.queue = r.queue[1:]
		rels := append(append([]Relation(nil), c.pkg.PreDepends...), c.pkg.Depends...)
		for _, rel := range rels {
			if err := r.satisfy(c, rel); err != nil {
				return nil, err
			}
		}
	}
	out := make([]*Package, 0, len(r.chosen))
	for _, c := range r.chosen {
		out = append(out, c.pkg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type chosen struct {
	pkg   *Package
	chain []string // how the package came in, ending with the package itself
}

type resolver struct {
	ix      *Index
	chosen  map[string]*chosen
	assumed map[string]bool
	queue   []*chosen
}

// ResolveOption sets an optional resolution setting.
type ResolveOption func(*resolver)

// Assume treats the named packages (or virtual packages) as already
// present: any dependency on them, at any version, is satisfied without
// adding them. It trims what an image does not need (dpkg, perl-base, ...)
// from the closure. Explicit requests for them are still honoured.
func Assume(names ...string) ResolveOption {
	return func(r *resolver) {
		for _, n := range names {
			r.assumed[n] = true
		}
	}
}

func (r *resolver) pick(p *Package, chain []string) {
	c := &chosen{pkg: p, chain: append(append([]string(nil), chain...), p.Name+" "+p.Version)}
	r.chosen[p.Name] = c
	r.queue = append(r.queue, c)
}

func (r *resolver) request(req Request) error {
	label := req.String() + " (requested)"
	if c, ok := r.chosen[req.Name]; ok {
		if req.Version == "" || c.pkg.Version == req.Version {
			return nil
		}
		return &UnsatisfiableError{Chain: []string{label}, Reason: fmt.Sprintf("conflicts with %s", strings.Join(c.chain, " → "))}
	}
	dep := Dep{Name: req.Name}
	if req.Version != "" {
		dep.Op, dep.Version = OpEq, req.Version
	}
	if p := r.best(dep); p != nil {
		r.pick(p, []string{label})
		return nil
	}
	if req.Version == "" {
		if ps := r.ix.providers[req.Name]; len(ps) > 0 {
			p := ps[0].pkg
			if c, ok := r.chosen[p.Name]; ok && c.pkg != p {
				return &UnsatisfiableError{Chain: []string{label}, Reason: fmt.Sprintf("provider %s conflicts with %s", p.ID(), strings.Join(c.chain, " → "))}
			}
			if _, ok := r.chosen[p.Name]; !ok {
				r.pick(p, []string{label})
			}
			return nil
		}
	}
	return &UnsatisfiableError{Chain: []string{label}, Reason: r.missing(dep)}
}

// best returns the highest version of d.Name satisfying d, or nil.
func (r *resolver) best(d Dep) *Package {
	if !r.archOK(d) {
		return nil
	}
	for _, p := range r.ix.byName[d.Name] {
		if d.SatisfiedBy(p.Version) {
			return p
		}
	}
	return nil
}

func (r *resolver) archOK(d Dep) bool {
	switch d.Arch {
	case "", "any", "native", r.ix.arch:
		return true
	}
	return false
}

// satisfiedByChosen reports whether a chosen package (by name or through
// Provides) satisfies d.
func (r *resolver) satisfiedByChosen(d Dep) bool {
	if !r.archOK(d) {
		return false
	}
	if r.assumed[d.Name] {
		return true
	}
	if c, ok := r.chosen[d.Name]; ok && d.SatisfiedBy(c.pkg.Version) {
		return true
	}
	for _, pr := range r.ix.providers[d.Name] {
		if c, ok := r.chosen[pr.pkg.Name]; ok && c.pkg == pr.pkg && providerSatisfies(pr, d) {
			return true
		}
	}
	return false
}

// providerSatisfies applies policy §7.5: an unversioned Provides satisfies
// only unversioned dependencies.
func providerSatisfies(pr provider, d Dep) bool {
	if d.Op == OpAny {
		return true
	}
	return pr.version != "" && d.SatisfiedBy(pr.version)
}

func (r *resolver) satisfy(from *chosen, rel Relation) error {
	for _, d := range rel {
		if r.satisfiedByChosen(d) {
			return nil
		}
	}
	// First pass: real packages and virtual ones with a single candidate
	// provider, in the order written. Second pass: virtual packages with a
	// choice of providers, so "virtual | real" prefers the real default.
	var reasons []string
	via := append(append([]string(nil), from.chain...), rel.String())
	for pass := 1; pass <= 2; pass++ {
		for _, d := range rel {
			if c, ok := r.chosen[d.Name]; ok {
				if pass == 1 {
					reasons = append(reasons, fmt.Sprintf("%s is already chosen at %s (via %s)", d.Name, c.pkg.Version, strings.Join(c.chain, " → ")))
				}
				continue
			}
			if p := r.best(d); p != nil {
				r.pick(p, via)
				return nil
			}
			provs := r.candidateProviders(d)
			if len(provs) == 1 || pass == 2 && len(provs) > 1 {
				r.pick(provs[0], via)
				return nil
			}
			if pass == 1 && len(provs) == 0 {
				reasons = append(reasons, r.missing(d))
			}
		}
	}
	return &UnsatisfiableError{Chain: via, Reason: strings.Join(reasons, "; ")}
}

// candidateProviders returns the packages that could be chosen to satisfy d
// through Provides, best first.
func (r *resolver) candidateProviders(d Dep) []*Package {
	if !r.archOK(d) {
		return nil
	}
	var out []*Package
	seen := map[string]bool{}
	for _, pr := range r.ix.providers[d.Name] {
		if !providerSatisfies(pr, d) || seen[pr.pkg.Name] {
			continue
		}
		seen[pr.pkg.Name] = true
		if _, taken := r.chosen[pr.pkg.Name]; taken {
			continue // a different version of the provider is chosen
		}
		out = append(out, pr.pkg)
	}
	return out
}

// missing explains why nothing satisfies d.
func (r *resolver) missing(d Dep) string {
	if !r.archOK(d) {
		return fmt.Sprintf("%s: architecture %q is not %s", d, d.Arch, r.ix.arch)
	}
	vs := r.ix.Versions(d.Name)
	var provs []string
	for _, pr := range r.ix.providers[d.Name] {
		provs = append(provs, pr.pkg.Name+" "+pr.pkg.Version)
	}
	switch {
	case len(vs) == 0 && len(provs) == 0:
		return fmt.Sprintf("no package %s in the index", d.Name)
	case len(vs) == 0:
		return fmt.Sprintf("%s is virtual; its providers (%s) do not satisfy %s", d.Name, strings.Join(provs, ", "), d)
	default:
		return fmt.Sprintf("no version of %s satisfies %s (available: %s)", d.Name, d, strings.Join(vs, ", "))
	}
}
