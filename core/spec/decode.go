package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Limits that keep hostile input (alias bombs, error floods) cheap.
const (
	maxNodes  = 1 << 18 // node visits per document, aliases expanded
	maxErrors = 100     // problems reported per document
)

// Load reads the spec files at paths, decodes each, merges them in order
// (see Merge) and validates the result. Problems in all files are reported
// together. A path ending in .hcl is an HCL spec (see LoadHCL) that must
// hold exactly one system; its variables come from KIT_VAR_name.
func Load(paths ...string) (*System, error) {
	if len(paths) == 0 {
		return nil, errors.New("spec: no spec files given")
	}
	var (
		parts []*System
		errs  Errors
	)
	for _, p := range paths {
		if IsHCL(p) {
			s, err := loadHCLSystem(p)
			if err != nil {
				if len(paths) == 1 {
					return nil, err // Diagnostics, printed with snippets
				}
				var list Errors
				for _, e := range unwrapAll(err) {
					var se *Error
					if errors.As(e, &se) {
						list = append(list, se)
					}
				}
				if len(list) == 0 {
					return nil, err
				}
				errs = append(errs, list...)
				continue
			}
			parts = append(parts, s)
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
		s, err := Decode(p, data)
		if err != nil {
			var list Errors
			if !errors.As(err, &list) {
				return nil, err
			}
			errs = append(errs, list...)
			continue
		}
		parts = append(parts, s)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	s, err := Merge(parts...)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Decode decodes one YAML spec file strictly: unknown keys, values of the
// wrong type (a number where a string goes, such as an unquoted mode 0644,
// included), duplicate keys, more than one document and syntax errors are
// all errors, each located as file:line:col; file names the data in
// positions. Anchors, aliases and merge keys (<<) are supported. A key with
// an empty (null) value is treated as unset. Decode does not validate values
// (see System.Validate): a spec may be one of several files merged later.
// The error, if any, is an Errors listing every problem found.
//
// Sources of the result records the position of every entry and field:
// "services[2]" (the entry), "services[2].capabilities" (the key, for lists
// and mappings; the value, for scalars), "services[2].capabilities[0]".
func Decode(file string, data []byte) (*System, error) {
	s := &System{Sources: &SourceMap{}}
	d := newDecoder(file, s.Sources)
	root, err := parseDocument(file, data)
	if err != nil {
		return nil, err
	}
	if root.Kind == yaml.MappingNode {
		d.decode(root, reflect.ValueOf(s).Elem(), "")
	} else {
		d.errf(root, "want a mapping of spec sections (kernel, init, onboot, ...) at the top level, got %s", describe(root))
	}
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseDocument parses data into its single document's root node.
func parseDocument(file string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 reports its own errors by panicking and recovering; guard
		// against anything it fails to recover so bad input never crashes kit.
		if r := recover(); r != nil {
			root, err = nil, Errors{{Pos: Pos{File: file}, Msg: fmt.Sprintf("invalid YAML: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, Errors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "empty document: a spec needs at least one section (kernel, init, onboot, services, ...)"}}
		}
		return nil, Errors{syntaxError(file, data, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		return nil, Errors{syntaxError(file, data, err)}
	case !isEmptyDocument(&extra):
		return nil, Errors{{Pos: Pos{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a spec file holds one YAML document; found a second (give several spec files instead)"}}
	}
	if isEmptyDocument(&doc) {
		at := &doc
		if len(doc.Content) > 0 {
			at = doc.Content[0]
		}
		return nil, Errors{{Pos: Pos{File: file, Line: max(at.Line, 1), Col: max(at.Column, 1)}, Msg: "empty document: a spec needs at least one section (kernel, init, onboot, services, ...)"}}
	}
	return doc.Content[0], nil
}

func isEmptyDocument(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decoder walks a yaml.Node tree into the spec types by reflection, using
// their yaml tags, recording positions and collecting errors.
type decoder struct {
	file   string
	src    *SourceMap
	errs   Errors
	nodes  int
	stop   bool
	active map[*yaml.Node]bool // collections being decoded (alias cycles)
}

func newDecoder(file string, src *SourceMap) *decoder {
	return &decoder{file: file, src: src, active: map[*yaml.Node]bool{}}
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errf(n *yaml.Node, format string, args ...any) {
	if d.stop {
		return
	}
	if len(d.errs) >= maxErrors {
		d.errs = append(d.errs, &Error{Pos: d.pos(n), Msg: "too many errors"})
		d.stop = true
		return
	}
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// pathErrf reports a problem with the value at path.
func (d *decoder) pathErrf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errf(n, "%s", msg)
}

// visit counts a node against the budget.
func (d *decoder) visit(n *yaml.Node) bool {
	if d.stop {
		return false
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.errf(n, "document too large (more than %d nodes once aliases are expanded)", maxNodes)
		d.stop = true
		return false
	}
	return true
}

// resolve follows aliases; it returns nil (having reported why) for an alias
// that refers to a node containing it.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.active[n.Alias] {
			d.errf(n, "alias *%s refers to a node that contains it", n.Value)
			return nil
		}
		n = n.Alias
	}
	return n
}

var idValueType = reflect.TypeFor[IDValue]()

// decode decodes n (never null) into v.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		e := reflect.New(t.Elem())
		d.decode(n, e.Elem(), path)
		v.Set(e)
		return
	}
	if !d.visit(n) {
		return
	}
	if n = d.resolve(n); n == nil {
		return
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		d.active[n] = true
		defer delete(d.active, n)
	}
	if t == idValueType {
		d.decodeID(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.mismatch(n, t, path)
			return
		}
		d.decodeStruct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.mismatch(n, t, path)
			return
		}
		m := reflect.MakeMap(t)
		for _, p := range d.pairs(n, path) {
			val := p.value
			kpath := joinPath(path, p.key.Value)
			d.src.Set(kpath, d.pos(p.key))
			e := reflect.New(t.Elem()).Elem()
			d.decode(val, e, kpath)
			m.SetMapIndex(reflect.ValueOf(p.key.Value), e)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.mismatch(n, t, path)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			d.src.Set(ipath, d.pos(item))
			d.decode(item, s.Index(i), ipath)
		}
		v.Set(s)
	case reflect.String:
		if !d.scalar(n, "!!str", t, path) {
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if !d.scalar(n, "!!bool", t, path) {
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.mismatch(n, t, path)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.scalar(n, "!!int", t, path) {
			return
		}
		p := reflect.New(t)
		if err := n.Decode(p.Interface()); err != nil {
			d.pathErrf(n, path, "want %s, got %s", intRange(t), n.Value)
			return
		}
		v.Set(p.Elem())
	default:
		d.pathErrf(n, path, "cannot decode into %s", t)
	}
}

// scalar checks that n is a scalar with the given tag.
func (d *decoder) scalar(n *yaml.Node, tag string, t reflect.Type, path string) bool {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == tag {
		return true
	}
	d.mismatch(n, t, path)
	return false
}

// mismatch reports a value of the wrong type, with a hint where one helps.
func (d *decoder) mismatch(n *yaml.Node, t reflect.Type, path string) {
	msg := fmt.Sprintf("want %s, got %s", want(t), describe(n))
	if n.Kind == yaml.ScalarNode && t.Kind() == reflect.String {
		switch n.ShortTag() {
		case "!!int", "!!float", "!!bool":
			if isModePath(path) && n.ShortTag() == "!!int" {
				msg = fmt.Sprintf("want an octal string, got the number %s (YAML reads it as %s); quote it: %q", n.Value, yamlInt(n), n.Value)
			} else {
				msg += fmt.Sprintf("; quote it: %q", n.Value)
			}
		}
	}
	d.pathErrf(n, path, "%s", msg)
}

func isModePath(path string) bool {
	return path == "mode" || strings.HasSuffix(path, ".mode")
}

func yamlInt(n *yaml.Node) string {
	var i int64
	if err := n.Decode(&i); err != nil {
		return n.Value
	}
	return strconv.FormatInt(i, 10)
}

// decodeID decodes a uid or gid: a number or a name.
func (d *decoder) decodeID(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			v.Set(reflect.ValueOf(IDValue{Name: n.Value}))
			return
		case "!!int":
			var u uint32
			if err := n.Decode(&u); err != nil {
				d.pathErrf(n, path, "want a number from 0 to %d or a name, got %s", uint32(math.MaxUint32), n.Value)
				return
			}
			v.Set(reflect.ValueOf(IDValue{Number: &u}))
			return
		}
	}
	d.mismatch(n, idValueType, path)
}

// decodeStruct decodes a mapping into a struct, strictly.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	info := structInfoOf(v.Type())
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		f, ok := info.fields[key]
		if !ok {
			d.unknownKey(p.key, key, path, info)
			continue
		}
		fpath := joinPath(path, key)
		val := d.resolve(p.value)
		if val == nil {
			continue
		}
		if val.Kind == yaml.ScalarNode {
			d.src.Set(fpath, d.pos(val))
		} else {
			d.src.Set(fpath, d.pos(p.key))
		}
		if val.Kind == yaml.ScalarNode && val.ShortTag() == "!!null" {
			continue // an empty value leaves the field unset
		}
		d.decode(p.value, v.FieldByIndex(f.index), fpath)
	}
}

func (d *decoder) unknownKey(k *yaml.Node, key, path string, info *structInfo) {
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	if s := suggest(key, info.names); s != "" {
		d.errf(k, "unknown key %q %s (did you mean %q?)", key, where, s)
		return
	}
	d.errf(k, "unknown key %q %s; allowed: %s", key, where, strings.Join(info.names, ", "))
}

type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's key/value pairs with YAML merge keys ("<<")
// expanded, reporting non-string and duplicate keys.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var (
		explicit []pair
		merged   []pair
		seen     = map[string]*yaml.Node{}
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.visit(n.Content[i]) {
			return nil
		}
		k := d.resolve(n.Content[i])
		if k == nil {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(n.Content[i+1], path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.pathErrf(k, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errf(k, "duplicate key %q in %s (first at line %d)", k.Value, orTop(path), first.Line)
			continue
		}
		seen[k.Value] = k
		explicit = append(explicit, pair{k, n.Content[i+1]})
	}
	for _, p := range merged {
		if seen[p.key.Value] == nil {
			seen[p.key.Value] = p.key
			explicit = append(explicit, p)
		}
	}
	return explicit
}

// mergePairs returns the pairs a merge key's value contributes: a mapping,
// or a list of mappings where earlier ones win.
func (d *decoder) mergePairs(v *yaml.Node, path string) []pair {
	v = d.resolve(v)
	if v == nil {
		return nil
	}
	if d.active[v] {
		d.errf(v, "merge refers to a mapping that contains it")
		return nil
	}
	d.active[v] = true
	defer delete(d.active, v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = d.resolve(item)
			if item == nil {
				continue
			}
			if item.Kind != yaml.MappingNode {
				d.pathErrf(item, path, "a merge (<<) takes a mapping or a list of mappings, got %s", describe(item))
				continue
			}
			for _, p := range d.mergePairs(item, path) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.pathErrf(v, path, "a merge (<<) takes a mapping or a list of mappings, got %s", describe(v))
	return nil
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// describe says what a node is, for "got ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return "null"
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	default:
		return fmt.Sprintf("a value tagged %s", tag)
	}
}

// want says what a type expects, for "want ..." messages.
func want(t reflect.Type) string {
	if t == idValueType {
		return "a number or a name"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.Struct:
		return "a mapping"
	case reflect.Map:
		return "a mapping of " + plural(t.Elem())
	case reflect.Slice:
		return "a list of " + plural(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	default:
		return intRange(t)
	}
}

func plural(t reflect.Type) string {
	if t == idValueType {
		return "numbers or names"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return plural(t.Elem())
	case reflect.Struct, reflect.Map:
		return "mappings"
	case reflect.Slice:
		return "lists"
	case reflect.String:
		return "strings"
	case reflect.Bool:
		return "booleans"
	default:
		return "integers"
	}
}

func intRange(t reflect.Type) string {
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer from %d to %d", -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer from 0 to %d", uint64(math.MaxUint64)>>(64-bits))
	}
	return t.String()
}

// structInfo maps a struct's yaml keys to its fields.
type structInfo struct {
	fields map[string]fieldInfo
	names  []string // sorted keys
}

type fieldInfo struct {
	index []int
}

var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{fields: map[string]fieldInfo{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		si.fields[name] = fieldInfo{index: f.Index}
		si.names = append(si.names, name)
	}
	sort.Strings(si.names)
	structInfos.Store(t, si)
	return si
}

// suggest returns the allowed key closest to key, if it is close enough to
// be a likely typo (or differs only in case).
func suggest(key string, names []string) string {
	best, bestDist := "", math.MaxInt
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return n
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	limit := 1
	if len(key) >= 5 {
		limit = 2
	}
	if bestDist <= limit {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
