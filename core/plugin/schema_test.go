package plugin

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSchema(t *testing.T) {
	s, err := CompileSchema(json.RawMessage(`{
		"type": "object",
		"additionalProperties": false,
		"properties": {
			"diskSize": {"type": "integer", "minimum": 1048576},
			"label": {"type": "string", "pattern": "^[a-z]+$"},
			"images": {"type": "object"}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasProperty("diskSize") || s.HasProperty("size") {
		t.Error("HasProperty")
	}
	for _, tc := range []struct{ config, want string }{
		{``, ""},
		{`{}`, ""},
		{`{"diskSize": 2147483648, "label": "boot"}`, ""},
		{`{"diskSize": "2G"}`, "at /diskSize: got string, want integer"},
		{`{"diskSize": 5}`, "at /diskSize: minimum"},
		{`{"label": "Boot"}`, "at /label: "},
		{`{"colour": 1}`, "additional properties 'colour' not allowed"},
		{`[1]`, "want a JSON object"},
		{`{`, "not JSON"},
	} {
		err := s.Validate(json.RawMessage(tc.config))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.config, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.config, err, tc.want)
		}
	}

	// No schema: only an empty configuration.
	none, err := CompileSchema(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := none.Validate(json.RawMessage(`{}`)); err != nil {
		t.Errorf("empty config against no schema: %v", err)
	}
	if err := none.Validate(json.RawMessage(`{"a":1}`)); err == nil {
		t.Error("a config against no schema passed")
	}

	// Bad schemas.
	for _, bad := range []string{`{"type": 5}`, `{"$ref": "file:///etc/passwd"}`, `{"properties": {"a": {"$ref": "http://example.com/x.json"}}}`, `nope`} {
		if _, err := CompileSchema(json.RawMessage(bad)); err == nil {
			t.Errorf("schema %s compiled", bad)
		}
	}
}

func FuzzSchemaValidate(f *testing.F) {
	f.Add(`{"type":"object","properties":{"a":{"type":"integer"}}}`, `{"a":1}`)
	f.Add(`{"type":"object","additionalProperties":false}`, `{"b":[1,2]}`)
	f.Add(`{"$defs":{"x":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/x"}}}`, `{"a":"s"}`)
	f.Fuzz(func(t *testing.T, schema, config string) {
		// Schemas are the plugin's, configs the user's: both small. (Huge
		// numbers in multipleOf make big.Rat arithmetic arbitrarily slow.)
		if len(schema) > 400 || len(config) > 400 || strings.Contains(schema, "multipleOf") {
			return
		}
		s, err := CompileSchema(json.RawMessage(schema))
		if err != nil {
			return
		}
		_ = s.Validate(json.RawMessage(config))
	})
}
