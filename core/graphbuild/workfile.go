package graphbuild

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// WorkFileName is the workspace file at the root of a monorepo.
const WorkFileName = "kit.work.hcl"

// WorkFile is a decoded kit.work.hcl:
//
//	formats  = ["kernel+initrd"]      # default formats of its systems
//	systems  = ["systems/*.yml"]      # YAML specs, one system each (named after the file)
//	packages = ["packages/*"]         # kit pkg directories
//
//	system "web" {                    # a system of one or more YAML specs
//	  specs   = ["systems/base.yml", "systems/web.yml"]
//	  formats = ["kernel+initrd", "tar"]
//	}
//	package "tools" { dir = "third_party/tools" }
//
// Paths and globs are relative to the file's directory. HCL specs
// (*.kit.hcl) are found without being named.
type WorkFile struct {
	Formats  []string      `hcl:"formats,optional"`
	Systems  []string      `hcl:"systems,optional"`
	Packages []string      `hcl:"packages,optional"`
	System   []WorkSystem  `hcl:"system,block"`
	Package  []WorkPackage `hcl:"package,block"`
}

// WorkSystem is a system "NAME" { specs = [...] } block.
type WorkSystem struct {
	Name    string   `hcl:"name,label"`
	Specs   []string `hcl:"specs"`
	Formats []string `hcl:"formats,optional"`
	Range   hcl.Range
}

// WorkPackage is a package "NAME" { dir = "..." } block.
type WorkPackage struct {
	Name  string `hcl:"name,label"`
	Dir   string `hcl:"dir"`
	Range hcl.Range
}

// ParseWorkFile decodes a kit.work.hcl. Problems are reported as HCL
// diagnostics ("file:line:col: summary; detail").
func ParseWorkFile(path string, data []byte) (*WorkFile, error) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(data, path)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	var w WorkFile
	if diags := gohcl.DecodeBody(f.Body, nil, &w); diags.HasErrors() {
		return nil, diagError(diags)
	}
	// Block ranges, for messages.
	content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "system", LabelNames: []string{"name"}},
		{Type: "package", LabelNames: []string{"name"}},
	}})
	var errs hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		key := b.Type + " " + b.Labels[0]
		if prev, ok := seen[key]; ok {
			errs = append(errs, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Duplicate %s %q", b.Type, b.Labels[0]),
				Detail: fmt.Sprintf("already declared at %s", prev), Subject: b.DefRange.Ptr()})
			continue
		}
		seen[key] = b.DefRange
	}
	for i := range w.System {
		w.System[i].Range = seen["system "+w.System[i].Name]
		if len(w.System[i].Specs) == 0 {
			r := w.System[i].Range
			errs = append(errs, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "System without specs",
				Detail: fmt.Sprintf("system %q: specs must name at least one spec file", w.System[i].Name), Subject: &r})
		}
		if err := checkName(w.System[i].Name); err != nil {
			r := w.System[i].Range
			errs = append(errs, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid system name", Detail: err.Error(), Subject: &r})
		}
	}
	for i := range w.Package {
		w.Package[i].Range = seen["package "+w.Package[i].Name]
		if err := checkName(w.Package[i].Name); err != nil {
			r := w.Package[i].Range
			errs = append(errs, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid package name", Detail: err.Error(), Subject: &r})
		}
	}
	if errs.HasErrors() {
		return nil, diagError(errs)
	}
	return &w, nil
}

// LoadWorkFile reads and decodes a kit.work.hcl.
func LoadWorkFile(path string) (*WorkFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	return ParseWorkFile(path, data)
}

// diagError turns HCL diagnostics into an error listing the errors, one a
// line.
func diagError(diags hcl.Diagnostics) error {
	return &DiagError{Diags: diags}
}

// DiagError is a problem in a kit.work.hcl.
type DiagError struct{ Diags hcl.Diagnostics }

func (e *DiagError) Error() string {
	s := ""
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if s != "" {
			s += "\n"
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		if d.Subject != nil {
			msg = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, msg)
		}
		s += msg
	}
	return s
}

// checkName checks a system or package name: lower-case letters, digits,
// '.', '_' and '-', starting with a letter or digit (it names an output
// directory and a Bazel target).
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
		if i > 0 {
			ok = ok || c == '.' || c == '_' || c == '-'
		}
		if !ok {
			return fmt.Errorf("name %q: want letters, digits, '.', '_' and '-', starting with a letter or digit", name)
		}
	}
	return nil
}
