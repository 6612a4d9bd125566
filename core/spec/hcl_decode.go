package spec

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// hclDecoder decodes one HCL spec file.
type hclDecoder struct {
	file  string
	data  []byte
	opts  HCLOptions
	diags hcl.Diagnostics
	files map[string]*hcl.File

	ctx    *hcl.EvalContext
	inputs []string
	// ranges maps a recorded position back to its whole range, so that
	// problems found by Validate get ranges and snippets.
	ranges map[Pos]hcl.Range
	// localPkgs are the packages each local refers to, transitively.
	localPkgs map[string][]string
}

func newHCLDecoder(file string, data []byte, opts HCLOptions) *hclDecoder {
	return &hclDecoder{file: file, data: data, opts: opts, files: map[string]*hcl.File{}}
}

func (d *hclDecoder) diagnostics() *Diagnostics {
	return &Diagnostics{Diags: d.diags, Files: d.files}
}

func (d *hclDecoder) addInput(path string) {
	if !slices.Contains(d.inputs, path) {
		d.inputs = append(d.inputs, path)
	}
}

func (d *hclDecoder) errorf(rng *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng,
	})
}

func rangePtr(r hcl.Range) *hcl.Range { return &r }

// Block types and attributes allowed in a system's body.
var systemBlockTypes = map[string]int{ // type → number of labels
	"kernel": 0, "onboot": 1, "onshutdown": 1, "service": 1, "file": 1,
	"volume": 1, "trust": 0, "output": 1, "upload": 1,
}

var topBlockTypes = map[string]int{"variable": 1, "locals": 0, "package": 1, "system": 1}

func (d *hclDecoder) decodeFile() *HCLFile {
	f, diags := hclsyntax.ParseConfig(d.data, d.file, hcl.InitialPos)
	d.files[d.file] = f
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	body := f.Body.(*hclsyntax.Body)
	out := &HCLFile{Path: d.file}
	d.ranges = map[Pos]hcl.Range{}

	var (
		variables, locals, packages, systems []*hclsyntax.Block
		implicit                             []hcl.Range // system content outside system blocks
	)
	for _, b := range body.Blocks {
		if !d.checkLabels(b, topBlockTypes, systemBlockTypes) {
			continue
		}
		switch b.Type {
		case "variable":
			variables = append(variables, b)
		case "locals":
			locals = append(locals, b)
		case "package":
			packages = append(packages, b)
		case "system":
			systems = append(systems, b)
		default:
			implicit = append(implicit, b.DefRange())
		}
	}
	for _, a := range sortedAttributes(body) {
		if a.Name != "init" {
			d.unsupportedAttribute(a, "at the top level", append([]string{"init"}, sortedKeys(topBlockTypes)...))
			continue
		}
		implicit = append(implicit, a.NameRange)
	}
	if len(systems) > 0 && len(implicit) > 0 {
		d.errorf(rangePtr(implicit[0]), "System content outside a system block",
			"This file has system blocks, so kernel, init, onboot, onshutdown, service, file, volume, trust, output and upload belong inside one of them.")
		return nil
	}

	d.ctx = &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: d.hclFunctions()}
	d.ctx.Variables["var"] = d.variables(variables)
	if d.diags.HasErrors() {
		return nil
	}
	out.Packages = d.packages(packages, body)
	if d.diags.HasErrors() {
		return nil
	}
	d.locals(locals)
	if d.diags.HasErrors() {
		return nil
	}

	if len(systems) == 0 {
		ns := d.system(HCLSystemName(d.file), body, Pos{File: d.file, Line: 1, Col: 1})
		out.Systems = append(out.Systems, ns)
	} else {
		seen := map[string]hcl.Range{}
		for _, b := range systems {
			name := b.Labels[0]
			if first, dup := seen[name]; dup {
				d.errorf(rangePtr(b.LabelRanges[0]), "Duplicate system", "A system named %q is already defined at %s.", name, rangeString(first))
				continue
			}
			seen[name] = b.LabelRanges[0]
			if !hclsyntax.ValidIdentifier(strings.ReplaceAll(name, "-", "_")) {
				d.errorf(rangePtr(b.LabelRanges[0]), "Invalid system name", "A system name starts with a letter and holds letters, digits, _ and -; got %q.", name)
				continue
			}
			out.Systems = append(out.Systems, d.system(name, b.Body, d.pos(b.DefRange())))
		}
	}
	if d.diags.HasErrors() {
		return nil
	}
	out.Inputs = append([]string{d.file}, d.inputs...)
	return out
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

func (d *hclDecoder) pos(r hcl.Range) Pos {
	return Pos{File: r.Filename, Line: r.Start.Line, Col: r.Start.Column}
}

// record notes where path was defined.
func (d *hclDecoder) record(src *SourceMap, path string, r hcl.Range) {
	p := d.pos(r)
	src.Set(path, p)
	// Of the ranges starting at one position (a block's type and its whole
	// header, say), the longest is kept.
	if old, ok := d.ranges[p]; !ok || r.End.Byte > old.End.Byte {
		d.ranges[p] = r
	}
}

func sortedAttributes(b *hclsyntax.Body) []*hclsyntax.Attribute {
	attrs := make([]*hclsyntax.Attribute, 0, len(b.Attributes))
	for _, a := range b.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].SrcRange.Start.Byte < attrs[j].SrcRange.Start.Byte })
	return attrs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkLabels reports a block of an unknown type or with the wrong number
// of labels. allowed lists the types allowed here; also, when set, lists
// types allowed elsewhere (for a hint).
func (d *hclDecoder) checkLabels(b *hclsyntax.Block, allowed, also map[string]int) bool {
	n, ok := allowed[b.Type]
	if !ok {
		n, ok = also[b.Type]
		if !ok {
			names := append(sortedKeys(allowed), sortedKeys(also)...)
			detail := fmt.Sprintf("Blocks of type %q are not expected here.", b.Type)
			if s := suggest(b.Type, names); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			d.errorf(rangePtr(b.TypeRange), "Unsupported block type", "%s", detail)
			return false
		}
	}
	if len(b.Labels) != n {
		what := "no labels"
		switch n {
		case 1:
			what = "one label, " + labelMeaning(b.Type)
		}
		r := b.TypeRange
		if len(b.Labels) > n {
			r = b.LabelRanges[n]
		} else if len(b.LabelRanges) > 0 {
			r = b.LabelRanges[len(b.LabelRanges)-1]
		}
		d.errorf(&r, "Wrong number of block labels", "A %s block takes %s; this one has %d.", b.Type, what, len(b.Labels))
		return false
	}
	for i, l := range b.Labels {
		if l == "" {
			d.errorf(rangePtr(b.LabelRanges[i]), "Empty block label", "The label of a %s block (%s) must not be empty.", b.Type, labelMeaning(b.Type))
			return false
		}
	}
	return true
}

func labelMeaning(typ string) string {
	switch typ {
	case "file":
		return "its path"
	case "output":
		return "the format"
	case "upload":
		return "the platform"
	}
	return "its name"
}

func (d *hclDecoder) unsupportedAttribute(a *hclsyntax.Attribute, where string, allowed []string) {
	detail := fmt.Sprintf("An attribute named %q is not expected %s.", a.Name, where)
	if s := suggest(a.Name, allowed); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	} else if len(allowed) > 0 {
		detail += " Allowed: " + strings.Join(allowed, ", ") + "."
	}
	d.errorf(rangePtr(a.NameRange), "Unsupported attribute", "%s", detail)
}

// eval evaluates expr in the decoder's context.
func (d *hclDecoder) eval(expr hcl.Expression) (cty.Value, bool) {
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.errorf(rangePtr(expr.Range()), "Value not known", "The value of this expression is not known when the spec is decoded.")
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	return v, true
}

// packages decodes the package blocks and adds package.NAME to the
// context: {name, dir, image}, the image resolved only for the packages
// some expression in the file refers to.
func (d *hclDecoder) packages(blocks []*hclsyntax.Block, root *hclsyntax.Body) []PackageBlock {
	used := map[string]bool{}
	forEachExpr(root, func(e hclsyntax.Expression) {
		for _, name := range packageRefs(e) {
			used[name] = true
		}
	})
	var (
		out  []PackageBlock
		vals = map[string]cty.Value{}
		seen = map[string]hcl.Range{}
	)
	for _, b := range blocks {
		name := b.Labels[0]
		if first, dup := seen[name]; dup {
			d.errorf(rangePtr(b.LabelRanges[0]), "Duplicate package", "A package named %q is already declared at %s.", name, rangeString(first))
			continue
		}
		seen[name] = b.LabelRanges[0]
		if !hclsyntax.ValidIdentifier(name) {
			d.errorf(rangePtr(b.LabelRanges[0]), "Invalid package name", "A package name is an identifier (letters, digits, _ and -, starting with a letter) so that package.NAME can refer to it; got %q.", name)
			continue
		}
		if len(b.Body.Blocks) > 0 {
			d.errorf(rangePtr(b.Body.Blocks[0].TypeRange), "Unsupported block type", "A package block takes only the attribute dir.")
		}
		var dir, registry string
		for _, a := range sortedAttributes(b.Body) {
			if a.Name != "dir" && a.Name != "registry" {
				d.unsupportedAttribute(a, "in a package block", []string{"dir", "registry"})
				continue
			}
			v, ok := d.eval(a.Expr)
			if !ok {
				continue
			}
			if a.Name == "registry" {
				if v.IsNull() || v.Type() != cty.String || v.AsString() == "" || strings.ContainsAny(v.AsString(), " \t\n@") {
					d.errorf(rangePtr(a.Expr.Range()), "Invalid package registry", "registry must be a non-empty string such as \"127.0.0.1:5000\" or \"ghcr.io/me\".")
					continue
				}
				registry = strings.TrimSuffix(v.AsString(), "/")
				continue
			}
			if v.IsNull() || v.Type() != cty.String || v.AsString() == "" {
				d.errorf(rangePtr(a.Expr.Range()), "Invalid package directory", "dir must be a non-empty string: the kit pkg directory (holding pkg.yml), relative to this file.")
				continue
			}
			dir = d.resolvePath(v.AsString())
		}
		if dir == "" {
			if _, ok := b.Body.Attributes["dir"]; !ok {
				d.errorf(rangePtr(b.DefRange()), "Missing required argument", "A package block needs dir, the kit pkg directory (holding pkg.yml), relative to this file.")
			}
			continue
		}
		p := PackageBlock{Name: name, Dir: dir, Registry: registry, Pos: d.pos(b.DefRange())}
		image := PackagePlaceholder(name)
		if used[name] && d.opts.Packages != nil {
			ref, err := d.opts.Packages(p)
			if err != nil {
				d.errorf(rangePtr(b.DefRange()), "Cannot resolve package", "package %q (%s): %v", name, dir, err)
				continue
			}
			image = ref
		}
		out = append(out, p)
		vals[name] = cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal(name), "dir": cty.StringVal(dir), "image": cty.StringVal(image),
		})
	}
	d.ctx.Variables["package"] = cty.ObjectVal(vals)
	return out
}

// packageRefs returns the packages an expression refers to (package.NAME).
func packageRefs(e hcl.Expression) []string {
	var names []string
	for _, t := range e.Variables() {
		if t.RootName() != "package" || len(t) < 2 {
			continue
		}
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			names = append(names, a.Name)
		}
	}
	return names
}

// localRefs returns the locals an expression refers to (local.NAME).
func localRefs(e hcl.Expression) []string {
	var names []string
	for _, t := range e.Variables() {
		if t.RootName() != "local" || len(t) < 2 {
			continue
		}
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			names = append(names, a.Name)
		}
	}
	return names
}

// forEachExpr calls f for every attribute expression in body and its
// nested blocks.
func forEachExpr(body *hclsyntax.Body, f func(hclsyntax.Expression)) {
	for _, a := range sortedAttributes(body) {
		f(a.Expr)
	}
	for _, b := range body.Blocks {
		forEachExpr(b.Body, f)
	}
}

// locals evaluates the locals blocks in dependency order.
func (d *hclDecoder) locals(blocks []*hclsyntax.Block) {
	attrs := map[string]*hclsyntax.Attribute{}
	var order []string
	for _, b := range blocks {
		for _, blk := range b.Body.Blocks {
			d.errorf(rangePtr(blk.TypeRange), "Unsupported block type", "A locals block holds only attributes (NAME = expression).")
		}
		for _, a := range sortedAttributes(b.Body) {
			if first, dup := attrs[a.Name]; dup {
				d.errorf(rangePtr(a.NameRange), "Duplicate local value", "A local value named %q is already defined at %s.", a.Name, rangeString(first.NameRange))
				continue
			}
			attrs[a.Name] = a
			order = append(order, a.Name)
		}
	}
	vals := map[string]cty.Value{}
	d.localPkgs = map[string][]string{}
	state := map[string]int{} // 1 evaluating, 2 done
	var visit func(name string, stack []string) bool
	visit = func(name string, stack []string) bool {
		a := attrs[name]
		switch state[name] {
		case 2:
			_, ok := vals[name]
			return ok
		case 1:
			cycle := append(stack[slices.Index(stack, name):], name)
			d.errorf(rangePtr(a.NameRange), "Cycle in local values", "local.%s refers to itself: %s.", name, "local."+strings.Join(cycle, " → local."))
			return false
		}
		state[name] = 1
		pkgs := packageRefs(a.Expr)
		ok := true
		for _, dep := range localRefs(a.Expr) {
			if attrs[dep] == nil {
				continue // reported by the evaluation below
			}
			if !visit(dep, append(stack, name)) {
				ok = false
				continue
			}
			pkgs = append(pkgs, d.localPkgs[dep]...)
		}
		state[name] = 2
		if !ok {
			return false
		}
		d.localPkgs[name] = pkgs
		d.ctx.Variables["local"] = cty.ObjectVal(vals)
		v, good := d.eval(a.Expr)
		if !good {
			return false
		}
		vals[name] = v
		return true
	}
	for _, name := range order {
		visit(name, nil)
	}
	d.ctx.Variables["local"] = cty.ObjectVal(vals)
}

// system decodes a system's body.
func (d *hclDecoder) system(name string, body *hclsyntax.Body, at Pos) NamedSystem {
	ns := NamedSystem{Name: name, Pos: at}
	s := &System{Sources: &SourceMap{}}
	ns.System = s
	before := len(d.diags)

	// The implicit system's body is the file's: it skips the file's own
	// blocks.
	sysBody := &hclsyntax.Body{Attributes: body.Attributes, SrcRange: body.SrcRange, EndRange: body.EndRange}
	for _, b := range body.Blocks {
		if _, top := topBlockTypes[b.Type]; !top {
			sysBody.Blocks = append(sysBody.Blocks, b)
		}
	}
	body = sysBody

	pkgs := map[string]bool{}
	forEachExpr(body, func(e hclsyntax.Expression) {
		for _, p := range packageRefs(e) {
			pkgs[p] = true
		}
		for _, l := range localRefs(e) {
			for _, p := range d.localPkgs[l] {
				pkgs[p] = true
			}
		}
	})
	ns.Packages = sortedKeys(pkgs)

	for _, a := range sortedAttributes(body) {
		if a.Name != "init" {
			d.unsupportedAttribute(a, "in a system", []string{"init"})
			continue
		}
		d.attribute(a, reflect.ValueOf(&s.Init).Elem(), "init", s.Sources)
	}
	var kernel, trust *hclsyntax.Block
	outputs := map[string]hcl.Range{}
	uploads := map[string]hcl.Range{}
	for _, b := range body.Blocks {
		if !d.checkLabels(b, systemBlockTypes, nil) {
			continue
		}
		switch b.Type {
		case "kernel":
			if kernel != nil {
				d.errorf(rangePtr(b.TypeRange), "Duplicate kernel block", "A system has one kernel block; the first is at %s.", rangeString(kernel.TypeRange))
				continue
			}
			kernel = b
			s.Kernel = &Kernel{}
			d.record(s.Sources, "kernel", b.DefRange())
			d.blockBody(b, reflect.ValueOf(s.Kernel).Elem(), "kernel", "", s.Sources)
		case "trust":
			if trust != nil {
				d.errorf(rangePtr(b.TypeRange), "Duplicate trust block", "A system has one trust block; the first is at %s.", rangeString(trust.TypeRange))
				continue
			}
			trust = b
			s.Trust = &Trust{}
			d.record(s.Sources, "trust", b.DefRange())
			d.blockBody(b, reflect.ValueOf(s.Trust).Elem(), "trust", "", s.Sources)
		case "onboot", "onshutdown", "service":
			list := map[string]*[]*Image{"onboot": &s.Onboot, "onshutdown": &s.Onshutdown, "service": &s.Services}[b.Type]
			key := map[string]string{"onboot": "onboot", "onshutdown": "onshutdown", "service": "services"}[b.Type]
			path := fmt.Sprintf("%s[%d]", key, len(*list))
			img := &Image{Name: b.Labels[0]}
			*list = append(*list, img)
			d.record(s.Sources, key, b.TypeRange)
			d.record(s.Sources, path, b.DefRange())
			d.record(s.Sources, path+".name", b.LabelRanges[0])
			d.blockBody(b, reflect.ValueOf(img).Elem(), path, "name", s.Sources)
		case "file":
			path := fmt.Sprintf("files[%d]", len(s.Files))
			f := &File{Path: b.Labels[0]}
			s.Files = append(s.Files, f)
			d.record(s.Sources, "files", b.TypeRange)
			d.record(s.Sources, path, b.DefRange())
			d.record(s.Sources, path+".path", b.LabelRanges[0])
			d.blockBody(b, reflect.ValueOf(f).Elem(), path, "path", s.Sources)
		case "volume":
			path := fmt.Sprintf("volumes[%d]", len(s.Volumes))
			v := &Volume{Name: b.Labels[0]}
			s.Volumes = append(s.Volumes, v)
			d.record(s.Sources, "volumes", b.TypeRange)
			d.record(s.Sources, path, b.DefRange())
			d.record(s.Sources, path+".name", b.LabelRanges[0])
			d.blockBody(b, reflect.ValueOf(v).Elem(), path, "name", s.Sources)
		case "output":
			if first, dup := outputs[b.Labels[0]]; dup {
				d.errorf(rangePtr(b.LabelRanges[0]), "Duplicate output block", "The configuration of format %q is already given at %s.", b.Labels[0], rangeString(first))
				continue
			}
			outputs[b.Labels[0]] = b.LabelRanges[0]
			if cfg, ok := d.jsonBody(b); ok {
				ns.Outputs = append(ns.Outputs, OutputBlock{Format: b.Labels[0], Config: cfg, Pos: d.pos(b.DefRange())})
			}
		case "upload":
			if first, dup := uploads[b.Labels[0]]; dup {
				d.errorf(rangePtr(b.LabelRanges[0]), "Duplicate upload block", "An upload to %q is already configured at %s.", b.Labels[0], rangeString(first))
				continue
			}
			uploads[b.Labels[0]] = b.LabelRanges[0]
			if cfg, ok := d.jsonBody(b); ok {
				ns.Uploads = append(ns.Uploads, UploadBlock{Platform: b.Labels[0], Config: cfg, Pos: d.pos(b.DefRange())})
			}
		}
	}
	if len(d.diags) > before {
		return ns
	}
	if err := s.Validate(); err != nil {
		d.validationDiags(s, err)
	}
	return ns
}

// validationDiags turns Validate's errors into diagnostics with ranges.
func (d *hclDecoder) validationDiags(s *System, err error) {
	list, ok := err.(Errors)
	if !ok {
		d.errorf(nil, "Invalid spec", "%v", err)
		return
	}
	for _, e := range list {
		var rng *hcl.Range
		if r, ok := d.ranges[e.Pos]; ok {
			rng = &r
		}
		d.errorf(rng, "Invalid value", "%s", hclMessage(s, e.Msg))
	}
}

// hclMessage rewrites the field path a validation message starts with into
// HCL terms: `services[1].capabilities_add[0]: ...` becomes
// `service "redis": capabilities_add[0]: ...`.
func hclMessage(s *System, msg string) string {
	path, rest, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(path, " \"") {
		return msg
	}
	head, tail := path, ""
	if i := strings.IndexByte(path, ']'); i >= 0 {
		head, tail = path[:i+1], strings.TrimPrefix(path[i+1:], ".")
	}
	var block string
	var list, idx = head, -1
	if i := strings.IndexByte(head, '['); i >= 0 {
		list = head[:i]
		fmt.Sscanf(head[i:], "[%d]", &idx)
	}
	switch list {
	case "onboot", "onshutdown", "services":
		l := map[string][]*Image{"onboot": s.Onboot, "onshutdown": s.Onshutdown, "services": s.Services}[list]
		if idx >= 0 && idx < len(l) && l[idx] != nil {
			block = fmt.Sprintf("%s %q", strings.TrimSuffix(list, "s"), l[idx].Name)
			if list == "onboot" {
				block = fmt.Sprintf("onboot %q", l[idx].Name)
			}
		}
	case "files":
		if idx >= 0 && idx < len(s.Files) && s.Files[idx] != nil {
			block = fmt.Sprintf("file %q", s.Files[idx].Path)
		}
	case "volumes":
		if idx >= 0 && idx < len(s.Volumes) && s.Volumes[idx] != nil {
			block = fmt.Sprintf("volume %q", s.Volumes[idx].Name)
		}
	}
	if block == "" {
		return snakePath(path) + ": " + rest
	}
	if tail == "" {
		return block + ": " + rest
	}
	return block + ": " + snakePath(tail) + ": " + rest
}

// snakePath converts the keys of a field path to their HCL names.
func snakePath(p string) string {
	p = strings.ReplaceAll(p, "capabilities.add", "capabilities_add")
	p = strings.ReplaceAll(p, "binds.add", "binds_add")
	parts := strings.Split(p, ".")
	for i, part := range parts {
		name, idx, _ := strings.Cut(part, "[")
		if idx != "" {
			idx = "[" + idx
		}
		parts[i] = snakeCase(name) + idx
	}
	return strings.Join(parts, ".")
}

// jsonBody turns the attributes of an output or upload block into a JSON
// object, names kept as written.
func (d *hclDecoder) jsonBody(b *hclsyntax.Block) ([]byte, bool) {
	for _, blk := range b.Body.Blocks {
		d.errorf(rangePtr(blk.TypeRange), "Unsupported block type", "An %s block holds only attributes; write nested settings as objects: %s = { ... }.", b.Type, blk.Type)
	}
	vals := map[string]cty.Value{}
	ok := true
	for _, a := range sortedAttributes(b.Body) {
		v, good := d.eval(a.Expr)
		if !good {
			ok = false
			continue
		}
		vals[a.Name] = v
	}
	if !ok || len(b.Body.Blocks) > 0 {
		return nil, false
	}
	obj := cty.EmptyObjectVal
	if len(vals) > 0 {
		obj = cty.ObjectVal(vals)
	}
	js, err := ctyjson.SimpleJSONValue{Value: obj}.MarshalJSON()
	if err != nil {
		d.errorf(rangePtr(b.DefRange()), "Invalid configuration", "%v", err)
		return nil, false
	}
	return js, true
}

// blockBody decodes the attributes of a block into the struct v; label
// names the field the block's label fills (not allowed as an attribute).
func (d *hclDecoder) blockBody(b *hclsyntax.Block, v reflect.Value, path, label string, src *SourceMap) {
	for _, blk := range b.Body.Blocks {
		hint := ""
		if _, ok := hclFieldsOf(v.Type()).fields[blk.Type]; ok {
			hint = fmt.Sprintf(" Write it as an attribute: %s = { ... } or %s = [ ... ].", blk.Type, blk.Type)
		}
		d.errorf(rangePtr(blk.TypeRange), "Unsupported block type", "A %s block holds only attributes.%s", b.Type, hint)
	}
	info := hclFieldsOf(v.Type())
	for _, a := range sortedAttributes(b.Body) {
		if a.Name == label {
			d.errorf(rangePtr(a.NameRange), "Unsupported attribute", "The %s of a %s block is its label: %s %q { ... }.", label, b.Type, b.Type, "...")
			continue
		}
		f, ok := info.fields[a.Name]
		if !ok {
			d.unsupportedAttribute(a, "in a "+b.Type+" block", info.namesExcept(label))
			continue
		}
		d.attribute(a, v.FieldByIndex(f.index), joinPath(path, f.yaml), src)
	}
}

// attribute evaluates an attribute and decodes its value into v.
func (d *hclDecoder) attribute(a *hclsyntax.Attribute, v reflect.Value, path string, src *SourceMap) {
	val, ok := d.eval(a.Expr)
	if !ok {
		return
	}
	d.record(src, path, a.Expr.Range())
	if val.IsNull() {
		return // null leaves the field unset
	}
	d.value(a.Expr, val, v, path, src)
}

// value decodes val, the value of expr (or of a part of it), into v.
func (d *hclDecoder) value(expr hcl.Expression, val cty.Value, v reflect.Value, path string, src *SourceMap) {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		e := reflect.New(t.Elem())
		d.value(expr, val, e.Elem(), path, src)
		v.Set(e)
		return
	}
	rng := rangePtr(expr.Range())
	ty := val.Type()
	if t == idValueType {
		switch ty {
		case cty.String:
			v.Set(reflect.ValueOf(IDValue{Name: val.AsString()}))
		case cty.Number:
			n, ok := intOf(val, 0, math.MaxUint32)
			if !ok {
				d.errorf(rng, "Invalid value", "%s: want a number from 0 to %d or a name, got %s", snakePath(path), uint32(math.MaxUint32), val.AsBigFloat().Text('g', -1))
				return
			}
			u := uint32(n)
			v.Set(reflect.ValueOf(IDValue{Number: &u}))
		default:
			d.mismatch(rng, val, t, path)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if !ty.IsObjectType() && !ty.IsMapType() {
			d.mismatch(rng, val, t, path)
			return
		}
		info := hclFieldsOf(t)
		for it := val.ElementIterator(); it.Next(); {
			k, e := it.Element()
			key := k.AsString()
			sub, keyRange := subExpr(expr, key, d.ctx)
			f, ok := info.fields[key]
			if !ok {
				detail := fmt.Sprintf("%s: unknown key %q", snakePath(path), key)
				if s := suggest(key, info.names); s != "" {
					detail += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					detail += "; allowed: " + strings.Join(info.names, ", ")
				}
				r := keyRange
				if r == nil {
					r = rng
				}
				d.errorf(r, "Unsupported attribute", "%s", detail)
				continue
			}
			fpath := joinPath(path, f.yaml)
			d.record(src, fpath, sub.Range())
			if e.IsNull() {
				continue
			}
			d.value(sub, e, v.FieldByIndex(f.index), fpath, src)
		}
	case reflect.Map:
		if !ty.IsObjectType() && !ty.IsMapType() {
			d.mismatch(rng, val, t, path)
			return
		}
		m := reflect.MakeMap(t)
		for it := val.ElementIterator(); it.Next(); {
			k, e := it.Element()
			key := k.AsString()
			sub, _ := subExpr(expr, key, d.ctx)
			kpath := joinPath(path, key)
			d.record(src, kpath, sub.Range())
			if e.IsNull() {
				d.errorf(rangePtr(sub.Range()), "Invalid value", "%s: null is not allowed in a map", snakePath(kpath))
				continue
			}
			ev := reflect.New(t.Elem()).Elem()
			d.value(sub, e, ev, kpath, src)
			m.SetMapIndex(reflect.ValueOf(key), ev)
		}
		v.Set(m)
	case reflect.Slice:
		if !ty.IsTupleType() && !ty.IsListType() && !ty.IsSetType() {
			d.mismatch(rng, val, t, path)
			return
		}
		n := val.LengthInt()
		s := reflect.MakeSlice(t, n, n)
		i := 0
		for it := val.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			sub := subIndex(expr, i)
			ipath := fmt.Sprintf("%s[%d]", path, i)
			d.record(src, ipath, sub.Range())
			if e.IsNull() {
				d.errorf(rangePtr(sub.Range()), "Invalid value", "%s: null is not allowed in a list", snakePath(ipath))
				continue
			}
			d.value(sub, e, s.Index(i), ipath, src)
		}
		v.Set(s)
	case reflect.String:
		if ty != cty.String {
			d.mismatch(rng, val, t, path)
			return
		}
		v.SetString(val.AsString())
	case reflect.Bool:
		if ty != cty.Bool {
			d.mismatch(rng, val, t, path)
			return
		}
		v.SetBool(val.True())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if ty != cty.Number {
			d.mismatch(rng, val, t, path)
			return
		}
		bits := t.Bits()
		n, ok := intOf(val, -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
		if !ok {
			d.errorf(rng, "Invalid value", "%s: want %s, got %s", snakePath(path), intRange(t), val.AsBigFloat().Text('g', -1))
			return
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if ty != cty.Number {
			d.mismatch(rng, val, t, path)
			return
		}
		n, ok := uintOf(val, uint64(math.MaxUint64)>>(64-t.Bits()))
		if !ok {
			d.errorf(rng, "Invalid value", "%s: want %s, got %s", snakePath(path), intRange(t), val.AsBigFloat().Text('g', -1))
			return
		}
		v.SetUint(n)
	default:
		d.errorf(rng, "Invalid value", "%s: cannot decode into %s", snakePath(path), t)
	}
}

func intOf(v cty.Value, lo, hi int64) (int64, bool) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i < lo || i > hi {
		return 0, false
	}
	return i, true
}

func uintOf(v cty.Value, hi uint64) (uint64, bool) {
	bf := v.AsBigFloat()
	if !bf.IsInt() || bf.Sign() < 0 {
		return 0, false
	}
	u, acc := bf.Uint64()
	if acc != big.Exact || u > hi {
		return 0, false
	}
	return u, true
}

// mismatch reports a value of the wrong type.
func (d *hclDecoder) mismatch(rng *hcl.Range, val cty.Value, t reflect.Type, path string) {
	msg := fmt.Sprintf("%s: want %s, got %s", snakePath(path), hclWant(t), describeValue(val))
	if t.Kind() == reflect.String || (t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String) {
		switch val.Type() {
		case cty.Number:
			s := val.AsBigFloat().Text('f', -1)
			if isModePath(path) {
				s = fmt.Sprintf("%04s", s)
			}
			msg += fmt.Sprintf("; quote it: %q", s)
		case cty.Bool:
			msg += fmt.Sprintf("; quote it: \"%t\"", val.True())
		}
	}
	d.errorf(rng, "Incorrect value type", "%s", msg)
}

// hclWant says what a type expects, in HCL terms.
func hclWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		if t == idValueType {
			return "a number or a name"
		}
		return "an object"
	case reflect.Map:
		return "an object (a map) of " + plural(t.Elem())
	case reflect.Pointer:
		return hclWant(t.Elem())
	}
	return want(t)
}

func describeValue(v cty.Value) string {
	ty := v.Type()
	switch {
	case ty == cty.String:
		s := v.AsString()
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return fmt.Sprintf("the string %q", s)
	case ty == cty.Number:
		return "the number " + v.AsBigFloat().Text('g', -1)
	case ty == cty.Bool:
		return fmt.Sprintf("the boolean %t", v.True())
	case ty.IsObjectType() || ty.IsMapType():
		return "an object"
	case ty.IsTupleType() || ty.IsListType() || ty.IsSetType():
		return "a list"
	}
	return "a value of type " + ty.FriendlyName()
}

// subExpr returns the part of an object constructor giving key, and the
// range of the key, or expr itself when the value is not written as an
// object constructor (a variable, a function call, ...).
func subExpr(expr hcl.Expression, key string, ctx *hcl.EvalContext) (hcl.Expression, *hcl.Range) {
	if o, ok := expr.(*hclsyntax.ObjectConsExpr); ok {
		for i := len(o.Items) - 1; i >= 0; i-- { // the last of duplicates wins
			item := o.Items[i]
			k := hcl.ExprAsKeyword(item.KeyExpr)
			if k == "" {
				v, diags := item.KeyExpr.Value(ctx)
				if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
					continue
				}
				k = v.AsString()
			}
			if k == key {
				return item.ValueExpr, rangePtr(item.KeyExpr.Range())
			}
		}
	}
	return expr, nil
}

// subIndex returns element i of a tuple constructor, or expr itself.
func subIndex(expr hcl.Expression, i int) hcl.Expression {
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i]
	}
	return expr
}

// hclFields maps the HCL names of a struct's fields to the fields.
type hclFields struct {
	fields map[string]hclField
	names  []string // sorted
}

type hclField struct {
	index []int
	yaml  string // the YAML key, used in field paths
}

func (f *hclFields) namesExcept(name string) []string {
	var out []string
	for _, n := range f.names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

var hclFieldCache sync.Map // reflect.Type → *hclFields

func hclFieldsOf(t reflect.Type) *hclFields {
	if f, ok := hclFieldCache.Load(t); ok {
		return f.(*hclFields)
	}
	si := structInfoOf(t)
	f := &hclFields{fields: map[string]hclField{}}
	for _, y := range si.names {
		n := snakeCase(y)
		f.fields[n] = hclField{index: si.fields[y].index, yaml: y}
		f.names = append(f.names, n)
	}
	sort.Strings(f.names)
	hclFieldCache.Store(t, f)
	return f
}

// snakeCase gives the HCL name of a YAML key: "capabilities.add" →
// "capabilities_add", "oomScoreAdj" → "oom_score_adj", "disableOOMKiller"
// → "disable_oom_killer", "containerID" → "container_id".
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch {
		case r == '.' || r == '-':
			b.WriteByte('_')
			continue
		case unicode.IsUpper(r):
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i > 0 && i+1 < len(rs) && unicode.IsUpper(rs[i-1]) && unicode.IsLower(rs[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var _ = function.Function{}
