package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// HCLOptions are the inputs of an HCL spec that do not come from the file:
// values of its variables. Precedence, lowest first, as in Terraform: a
// variable's default, KIT_VAR_name in Env, VarFiles in order, Vars.
type HCLOptions struct {
	// Vars are -var NAME=VALUE values. A value for a variable of a
	// primitive type (string, number, bool) is taken literally; for any
	// other type it is parsed as an HCL expression (as Terraform does).
	Vars map[string]string
	// VarFiles are HCL files of NAME = VALUE attributes, applied in order.
	VarFiles []string
	// Env is the environment ("KEY=value"); KIT_VAR_NAME sets variable
	// NAME. Variables not declared by the spec are ignored here (they may
	// be meant for another spec), unlike in Vars and VarFiles.
	Env []string
	// Packages resolves the image reference of a package block, the value
	// of package.NAME.image. When nil, the value is PackagePlaceholder(NAME)
	// (enough to validate a spec without planning its packages).
	Packages PackageResolver
}

// PackageResolver returns the image reference ("kit/redis:0123abcd...") of
// the kit pkg directory a package block names. It is called once per
// package block a system refers to, in the order of the blocks.
type PackageResolver func(p PackageBlock) (string, error)

// PackagePlaceholder is the value of package.NAME.image when no resolver
// is given.
func PackagePlaceholder(name string) string {
	return "kit.invalid/package/" + name + ":unresolved"
}

// HCLFile is a decoded HCL spec file: its systems and the packages it
// declares.
type HCLFile struct {
	// Path is the file, as given.
	Path string
	// Systems are the file's systems in order: one per system block, or a
	// single one named after the file when it has no system block.
	Systems []NamedSystem
	// Packages are the file's package blocks, in order.
	Packages []PackageBlock
	// Inputs are the local files the decoding read: the spec itself, then
	// var files and the files read by file() and templatefile(), in the
	// order first read (package directories are in Packages).
	Inputs []string
}

// NamedSystem is one system of an HCL file.
type NamedSystem struct {
	// Name is the system block's label, or the file's name without its
	// .kit.hcl (or .hcl) extension.
	Name string
	// System is the decoded, validated spec; positions in System.Sources
	// point into the HCL file.
	System *System
	// Outputs are the system's output blocks, in order.
	Outputs []OutputBlock
	// Uploads are the system's upload blocks, in order.
	Uploads []UploadBlock
	// Packages are the names of the package blocks the system refers to
	// (directly or through locals), sorted.
	Packages []string
	// Pos is where the system block starts (the file's start for an
	// implicit system).
	Pos Pos
}

// OutputBlock is an output "FORMAT" { ... } block: the configuration of an
// output format as a JSON object (attribute names kept as written),
// validated against the format's schema by the build.
type OutputBlock struct {
	Format string
	Config json.RawMessage
	Pos    Pos
}

// UploadBlock is an upload "PLATFORM" { ... } block: the configuration of
// an uploader as a JSON object.
type UploadBlock struct {
	Platform string
	Config   json.RawMessage
	Pos      Pos
}

// PackageBlock is a package "NAME" { dir = "...", registry = "..." } block
// naming a kit pkg directory.
type PackageBlock struct {
	Name string
	// Dir is the package directory, resolved relative to the spec file's
	// directory (absolute when the spec path is).
	Dir string
	// Registry is where the package's image is pushed (kit pkg build
	// --registry R): a resolver for builds that pull from registries
	// prefixes it ("127.0.0.1:5000" gives 127.0.0.1:5000/kit/redis:TAG);
	// one that builds the package in the same graph may ignore it.
	Registry string
	Pos      Pos
}

// System returns the system called name.
func (f *HCLFile) System(name string) (*NamedSystem, error) {
	for i := range f.Systems {
		if f.Systems[i].Name == name {
			return &f.Systems[i], nil
		}
	}
	return nil, fmt.Errorf("%s: no system %q (systems: %s)", f.Path, name, strings.Join(f.SystemNames(), ", "))
}

// SystemNames lists the names of the file's systems, in order.
func (f *HCLFile) SystemNames() []string {
	names := make([]string, len(f.Systems))
	for i, s := range f.Systems {
		names[i] = s.Name
	}
	return names
}

// IsHCL reports whether path names an HCL spec (by its .hcl extension).
func IsHCL(path string) bool { return strings.EqualFold(filepath.Ext(path), ".hcl") }

// HCLSystemName is the name of the implicit system of an HCL file without
// system blocks: its base name without .kit.hcl or .hcl.
func HCLSystemName(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".kit.hcl", ".hcl"} {
		if strings.HasSuffix(strings.ToLower(base), ext) {
			return base[:len(base)-len(ext)]
		}
	}
	return base
}

// LoadHCL reads, decodes and validates the HCL spec at path. Every problem
// is reported in the error, a *Diagnostics.
func LoadHCL(path string, opts HCLOptions) (*HCLFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	return DecodeHCL(path, data, opts)
}

// DecodeHCL decodes and validates an HCL spec; path names it in positions
// and is the base of relative paths (file(), templatefile(), package dirs).
func DecodeHCL(path string, data []byte, opts HCLOptions) (*HCLFile, error) {
	d := newHCLDecoder(path, data, opts)
	f := d.decodeFile()
	if d.diags.HasErrors() {
		return nil, d.diagnostics()
	}
	return f, nil
}

// Diagnostics is the error of the HCL decoder: HCL diagnostics and the
// sources needed to print them with snippets.
type Diagnostics struct {
	Diags hcl.Diagnostics
	// Files maps file names to their parsed files, for snippets.
	Files map[string]*hcl.File
}

// Error prints one diagnostic a line: "file:line:col: summary; detail".
func (d *Diagnostics) Error() string {
	var lines []string
	for _, diag := range d.Diags {
		lines = append(lines, diagString(diag))
	}
	return strings.Join(lines, "\n")
}

func diagString(diag *hcl.Diagnostic) string {
	msg := diag.Summary
	if diag.Detail != "" {
		msg += "; " + strings.Join(strings.Fields(diag.Detail), " ")
	}
	if diag.Subject != nil {
		return fmt.Sprintf("%s:%d:%d: %s", diag.Subject.Filename, diag.Subject.Start.Line, diag.Subject.Start.Column, msg)
	}
	return msg
}

// Unwrap returns each error diagnostic as an *Error, so that errors.As
// finds one with its position.
func (d *Diagnostics) Unwrap() []error {
	var errs []error
	for _, diag := range d.Diags {
		if diag.Severity != hcl.DiagError {
			continue
		}
		e := &Error{Msg: diag.Summary}
		if diag.Detail != "" {
			e.Msg += ": " + diag.Detail
		}
		if diag.Subject != nil {
			e.Pos = Pos{File: diag.Subject.Filename, Line: diag.Subject.Start.Line, Col: diag.Subject.Start.Column}
		}
		errs = append(errs, e)
	}
	return errs
}

// WriteText prints the diagnostics as HCL tools do (a source snippet under
// each, the range underlined), wrapped at width columns (0: no wrapping),
// in color if asked.
func (d *Diagnostics) WriteText(w io.Writer, width uint, color bool) error {
	return hcl.NewDiagnosticTextWriter(w, d.Files, width, color).WriteDiagnostics(d.Diags)
}

// WriteError prints err to w: with snippets when it holds Diagnostics,
// else as its text. It is what the CLI uses for spec errors.
func WriteError(w io.Writer, err error, width uint, color bool) error {
	var d *Diagnostics
	if errors.As(err, &d) {
		return d.WriteText(w, width, color)
	}
	_, werr := fmt.Fprintln(w, err)
	return werr
}

// loadHCLSystem loads the single system of an HCL spec for Load.
func loadHCLSystem(path string) (*System, error) {
	f, err := LoadHCL(path, HCLOptions{Env: os.Environ(), Packages: defaultPackageResolver})
	if err != nil {
		return nil, err
	}
	if len(f.Systems) != 1 {
		return nil, fmt.Errorf("%s holds %d systems (%s); build one with --system NAME or use kit graph build", path, len(f.Systems), strings.Join(f.SystemNames(), ", "))
	}
	return f.Systems[0].System, nil
}

var defaultPackageResolver PackageResolver

// SetPackageResolver sets the resolver Load uses for package.NAME.image in
// HCL specs (the CLI sets one that plans the package with kit pkg). Without
// one, a spec that refers to a package cannot be loaded by Load.
func SetPackageResolver(r PackageResolver) { defaultPackageResolver = r }

// unwrapAll returns the errors err joins, or err itself.
func unwrapAll(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

// ConvertYAML reads the YAML spec at path and returns its HCL form (see
// EncodeHCL), headed by the YAML file's leading comment and a line naming
// the source; the result's implicit system is named after the file it is
// written to, so write it as NAME.kit.hcl to keep the name.
func ConvertYAML(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	body, err := EncodeHCL(s)
	if err != nil {
		return nil, err
	}
	var head strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		head.WriteString(line + "\n")
	}
	if head.Len() > 0 {
		head.WriteString("#\n")
	}
	fmt.Fprintf(&head, "# Converted from %s by kit convert.\n\n", filepath.Base(path))
	return append([]byte(head.String()), body...), nil
}
