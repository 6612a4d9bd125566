package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kitbuild/kit/core/internal/jsonschema"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is the name a component's schema is compiled under; it never
// leaves the process.
const schemaURL = "kit-plugin:///config.schema.json"

// Schema is a component's compiled configuration schema.
type Schema struct {
	raw json.RawMessage
	sch *jsonschema.Schema
	// props are the names of the top-level properties it declares.
	props map[string]bool
}

// noLoader refuses every $ref outside the schema itself: a plugin's schema
// must not make kit read files or reach the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema refers to %s: a plugin's config schema must be self-contained", url)
}

// CompileSchema compiles a JSON Schema (draft 2020-12 unless it says
// otherwise with $schema). An empty schema accepts only an empty
// configuration.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{"type":"object","additionalProperties":false}`)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("config schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("config schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("config schema: %w", err)
	}
	s := &Schema{raw: raw, sch: sch, props: map[string]bool{}}
	if m, ok := doc.(map[string]any); ok {
		if p, ok := m["properties"].(map[string]any); ok {
			for k := range p {
				s.props[k] = true
			}
		}
	}
	return s, nil
}

// Raw returns the schema as the plugin gave it.
func (s *Schema) Raw() json.RawMessage { return s.raw }

// HasProperty reports whether the schema declares a top-level property.
func (s *Schema) HasProperty(name string) bool { return s.props[name] }

// Validate checks a configuration (a JSON object; empty means {}).
func (s *Schema) Validate(config json.RawMessage) error {
	config = bytes.TrimSpace(config)
	if len(config) == 0 {
		config = json.RawMessage("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return errors.New("want a JSON object")
	}
	if err := s.sch.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(validationMessage(ve))
		}
		return err
	}
	return nil
}

// validationMessage flattens a validation error into "at /a/b: cause; …"
// lines without the schema URL.
func validationMessage(ve *jsonschema.ValidationError) string {
	p := message.NewPrinter(language.English)
	var msgs []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			msgs = append(msgs, fmt.Sprintf("at %s: %s", loc, e.ErrorKind.LocalizedString(p)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return strings.Join(msgs, "; ")
}
