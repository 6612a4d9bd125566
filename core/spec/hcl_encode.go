package spec

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// EncodeHCL returns s in kit's HCL form, formatted and deterministic: the
// sections of one implicit system (named after the file it is written
// to), in the order of the Go types: kernel, init, onboot, onshutdown,
// service, file and volume blocks, trust. Fields are written when set (a
// set but empty list as []), map keys sorted, multi-line strings as
// heredocs. Decoding the result gives s back (Sources aside).
func EncodeHCL(s *System) ([]byte, error) {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	sep := func() {
		if len(body.Attributes()) > 0 || len(body.Blocks()) > 0 {
			body.AppendNewline()
		}
	}
	if s.Kernel != nil {
		sep()
		writeFields(body.AppendNewBlock("kernel", nil).Body(), reflect.ValueOf(s.Kernel).Elem(), "")
	}
	if s.Init != nil {
		sep()
		body.SetAttributeRaw("init", valueTokens(reflect.ValueOf(s.Init)))
	}
	for _, sec := range []struct {
		typ     string
		entries []*Image
	}{{"onboot", s.Onboot}, {"onshutdown", s.Onshutdown}, {"service", s.Services}} {
		for i, img := range sec.entries {
			if img == nil {
				return nil, fmt.Errorf("spec: %s entry %d is empty", sec.typ, i)
			}
			sep()
			writeFields(body.AppendNewBlock(sec.typ, []string{img.Name}).Body(), reflect.ValueOf(img).Elem(), "name")
		}
	}
	for i, file := range s.Files {
		if file == nil {
			return nil, fmt.Errorf("spec: file entry %d is empty", i)
		}
		sep()
		writeFields(body.AppendNewBlock("file", []string{file.Path}).Body(), reflect.ValueOf(file).Elem(), "path")
	}
	for i, vol := range s.Volumes {
		if vol == nil {
			return nil, fmt.Errorf("spec: volume entry %d is empty", i)
		}
		sep()
		writeFields(body.AppendNewBlock("volume", []string{vol.Name}).Body(), reflect.ValueOf(vol).Elem(), "name")
	}
	if s.Trust != nil {
		sep()
		writeFields(body.AppendNewBlock("trust", nil).Body(), reflect.ValueOf(s.Trust).Elem(), "")
	}
	return hclwrite.Format(f.Bytes()), nil
}

// FormatHCL formats HCL source canonically (hclwrite.Format).
func FormatHCL(src []byte) []byte { return hclwrite.Format(src) }

// hclField order: the struct's fields in declaration order, with their HCL
// names, skipping skip (the field a block label holds).
type encField struct {
	name      string
	index     int
	omitEmpty bool
}

func encFields(t reflect.Type, skip string) []encField {
	var out []encField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == skip {
			continue
		}
		out = append(out, encField{name: snakeCase(name), index: i, omitEmpty: strings.Contains(opts, "omitempty")})
	}
	return out
}

// isUnset reports whether a field is left out: nil pointers, slices and
// maps always, zero scalars when the field is omitempty.
func isUnset(v reflect.Value, omitEmpty bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return v.IsNil()
	}
	return omitEmpty && v.IsZero()
}

func writeFields(body *hclwrite.Body, v reflect.Value, skip string) {
	for _, f := range encFields(v.Type(), skip) {
		fv := v.Field(f.index)
		if isUnset(fv, f.omitEmpty) {
			continue
		}
		body.SetAttributeRaw(f.name, valueTokens(fv))
	}
}

// valueTokens writes a Go value of the spec types as an HCL expression.
func valueTokens(v reflect.Value) hclwrite.Tokens {
	if v.Kind() == reflect.Pointer {
		return valueTokens(v.Elem())
	}
	if v.Type() == idValueType {
		id := v.Interface().(IDValue)
		if id.Number != nil {
			return hclwrite.TokensForValue(cty.NumberUIntVal(uint64(*id.Number)))
		}
		return stringTokens(id.Name)
	}
	switch v.Kind() {
	case reflect.Struct:
		var attrs []hclwrite.ObjectAttrTokens
		for _, f := range encFields(v.Type(), "") {
			fv := v.Field(f.index)
			if isUnset(fv, f.omitEmpty) {
				continue
			}
			attrs = append(attrs, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForIdentifier(f.name), Value: valueTokens(fv)})
		}
		return objectTokens(attrs)
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		var attrs []hclwrite.ObjectAttrTokens
		for _, k := range keys {
			attrs = append(attrs, hclwrite.ObjectAttrTokens{
				Name:  hclwrite.TokensForValue(cty.StringVal(k)),
				Value: valueTokens(v.MapIndex(reflect.ValueOf(k))),
			})
		}
		return objectTokens(attrs)
	case reflect.Slice:
		elems := make([]hclwrite.Tokens, v.Len())
		for i := range elems {
			elems[i] = valueTokens(v.Index(i))
		}
		return tupleTokens(elems)
	case reflect.String:
		return stringTokens(v.String())
	case reflect.Bool:
		return hclwrite.TokensForValue(cty.BoolVal(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return hclwrite.TokensForValue(cty.NumberIntVal(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return hclwrite.TokensForValue(cty.NumberUIntVal(v.Uint()))
	}
	panic(fmt.Sprintf("spec: cannot encode %s as HCL", v.Type()))
}

func objectTokens(attrs []hclwrite.ObjectAttrTokens) hclwrite.Tokens {
	if len(attrs) == 0 {
		return hclwrite.Tokens{
			{Type: hclsyntax.TokenOBrace, Bytes: []byte("{")},
			{Type: hclsyntax.TokenCBrace, Bytes: []byte("}")},
		}
	}
	return hclwrite.TokensForObject(attrs)
}

// maxInlineTuple is the width up to which a list of single-line values is
// written on one line.
const maxInlineTuple = 72

func tupleTokens(elems []hclwrite.Tokens) hclwrite.Tokens {
	inline := true
	width := 0
	for _, e := range elems {
		b := e.Bytes()
		if bytes.ContainsRune(b, '\n') {
			inline = false
			break
		}
		width += len(b) + 2
	}
	if inline && width <= maxInlineTuple {
		return hclwrite.TokensForTuple(elems)
	}
	toks := hclwrite.Tokens{
		{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")},
		{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")},
	}
	for _, e := range elems {
		toks = append(toks, e...)
		toks = append(toks,
			&hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")},
			&hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")})
	}
	return append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}

// stringTokens writes a string literal: a heredoc for multi-line text that
// ends in a newline, else a quoted string (template sequences escaped).
func stringTokens(s string) hclwrite.Tokens {
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") < 2 || strings.ContainsAny(s, "\r") {
		return hclwrite.TokensForValue(cty.StringVal(s))
	}
	delim := "EOT"
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for n := 1; containsLine(lines, delim); n++ {
		delim = fmt.Sprintf("EOT%d", n)
	}
	body := strings.NewReplacer("${", "$${", "%{", "%%{").Replace(s)
	return hclwrite.Tokens{
		{Type: hclsyntax.TokenOHeredoc, Bytes: []byte("<<" + delim + "\n")},
		{Type: hclsyntax.TokenStringLit, Bytes: []byte(body)},
		{Type: hclsyntax.TokenCHeredoc, Bytes: []byte(delim)},
	}
}

func containsLine(lines []string, delim string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == delim {
			return true
		}
	}
	return false
}
