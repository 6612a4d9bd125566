package deb

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Package is one binary package stanza of a Packages index.
type Package struct {
	Name         string
	Version      string
	Architecture string // "amd64", "all", ...
	MultiArch    string // "same", "foreign", "allowed" or ""
	Essential    bool
	Priority     string
	Depends      []Relation
	PreDepends   []Relation
	Provides     []Relation // alternatives never occur; each Relation has one Dep
	Filename     string     // relative to the repository URI, e.g. "pool/main/b/busybox/..."
	SHA256       string     // hex
	Size         int64
	// Source is the repository base URI the package was listed by; Filename
	// is fetched from Source + "/" + Filename.
	Source string
}

// ID names the package for humans: "name version arch".
func (p *Package) ID() string { return p.Name + " " + p.Version + " " + p.Architecture }

// ReadPackages parses a Packages index for arch, calling fn for every
// package of architecture arch or "all". source is recorded in each package.
func ReadPackages(r io.Reader, source, arch string, fn func(*Package) error) error {
	n := 0
	return ReadParagraphs(r, func(para Paragraph) error {
		n++
		p, err := packageFrom(para, source, arch)
		if err != nil {
			return fmt.Errorf("stanza %d: %w", n, err)
		}
		if p.Architecture != arch && p.Architecture != "all" {
			return nil
		}
		return fn(p)
	})
}

func packageFrom(para Paragraph, source, arch string) (*Package, error) {
	p := &Package{
		Name:         para.Value("Package"),
		Version:      para.Value("Version"),
		Architecture: para.Value("Architecture"),
		MultiArch:    para.Value("Multi-Arch"),
		Essential:    para.Value("Essential") == "yes",
		Priority:     para.Value("Priority"),
		Filename:     para.Value("Filename"),
		SHA256:       strings.ToLower(para.Value("SHA256")),
		Source:       source,
	}
	if !validName(p.Name) {
		return nil, fmt.Errorf("invalid package name %q", clip(p.Name))
	}
	if _, err := CompareVersions(p.Version, p.Version); err != nil {
		return nil, fmt.Errorf("package %s: %w", p.Name, err)
	}
	if p.Architecture == "" {
		return nil, fmt.Errorf("package %s %s: no Architecture", p.Name, p.Version)
	}
	if p.Filename == "" || strings.HasPrefix(p.Filename, "/") || containsDotDot(p.Filename) {
		return nil, fmt.Errorf("package %s %s: invalid Filename %q", p.Name, p.Version, clip(p.Filename))
	}
	if !isHex64(p.SHA256) {
		return nil, fmt.Errorf("package %s %s: missing or invalid SHA256", p.Name, p.Version)
	}
	size, err := strconv.ParseInt(para.Value("Size"), 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("package %s %s: invalid Size %q", p.Name, p.Version, clip(para.Value("Size")))
	}
	p.Size = size
	for _, f := range []struct {
		field string
		dst   *[]Relation
	}{{"Depends", &p.Depends}, {"Pre-Depends", &p.PreDepends}, {"Provides", &p.Provides}} {
		rels, err := ParseRelations(para.Value(f.field), arch)
		if err != nil {
			return nil, fmt.Errorf("package %s %s: %s: %w", p.Name, p.Version, f.field, err)
		}
		*f.dst = rels
	}
	return p, nil
}

func containsDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}
