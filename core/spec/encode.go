package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"gopkg.in/yaml.v3"
)

// NumericID returns an IDValue holding the number n.
func NumericID(n uint32) *IDValue { return &IDValue{Number: &n} }

// NamedID returns an IDValue holding a name.
func NamedID(name string) *IDValue { return &IDValue{Name: name} }

// String returns the number in decimal, or the name.
func (id IDValue) String() string {
	if id.Number != nil {
		return strconv.FormatUint(uint64(*id.Number), 10)
	}
	return id.Name
}

// MarshalJSON writes a number as a JSON number and a name as a string.
func (id IDValue) MarshalJSON() ([]byte, error) {
	if id.Number != nil {
		return []byte(strconv.FormatUint(uint64(*id.Number), 10)), nil
	}
	return json.Marshal(id.Name)
}

// UnmarshalJSON reads a JSON number (0 to 2³²-1) or string.
func (id *IDValue) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*id = IDValue{Name: name}
		return nil
	}
	var n uint32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a uid/gid number (0 to 4294967295) or name, got %s", b)
	}
	*id = IDValue{Number: &n}
	return nil
}

// MarshalYAML writes a number as a YAML integer and a name as a string.
func (id IDValue) MarshalYAML() (any, error) {
	if id.Number != nil {
		return *id.Number, nil
	}
	return id.Name, nil
}

// UnmarshalYAML reads a YAML integer (0 to 2³²-1) or string.
func (id *IDValue) UnmarshalYAML(n *yaml.Node) error {
	d := newDecoder("", &SourceMap{})
	var v IDValue
	d.decode(n, reflect.ValueOf(&v).Elem(), "")
	if len(d.errs) > 0 {
		return fmt.Errorf("line %d: %s", n.Line, d.errs[0].Msg)
	}
	*id = v
	return nil
}

// plainSystem is System without its marshal methods.
type plainSystem System

// MarshalYAML gives System's canonical YAML form: fields in the order of
// the Go types, map keys sorted, unset fields omitted (a field set to an
// empty list is kept), IDValues as numbers or strings, no Sources.
func (s *System) MarshalYAML() (any, error) {
	return (*plainSystem)(s), nil
}

// MarshalJSON gives System's canonical JSON form (compact, the same rules as
// MarshalYAML, no HTML escaping), used for hashing.
func (s *System) MarshalJSON() ([]byte, error) {
	b, err := encodeJSON(s, "")
	return bytes.TrimSuffix(b, []byte("\n")), err
}

// Encode returns the canonical text of s in format "yaml" or "json" (the
// values of a file entry's metadata field): YAML as yaml.v3 writes it,
// JSON indented by four spaces, as LinuxKit writes them.
func (s *System) Encode(format string) ([]byte, error) {
	switch format {
	case "yaml":
		return yaml.Marshal((*plainSystem)(s))
	case "json":
		return encodeJSON(s, "    ")
	}
	return nil, fmt.Errorf("spec: unknown encoding %q (want yaml or json)", format)
}

func encodeJSON(s *System, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode((*plainSystem)(s)); err != nil {
		return nil, fmt.Errorf("spec: encoding JSON: %w", err)
	}
	return buf.Bytes(), nil
}
