package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"
)

var update = flag.Bool("update", false, "rewrite golden files and schemas/kit-spec.json")

// schemaFile is the checked-in schema, relative to this package.
const schemaFile = "../../schemas/kit-spec.json"

// generateSchema reflects the JSON Schema of System from the Go types. Doc
// comments become descriptions; they are read from the package source in
// the working directory, which `go test` sets to this package's directory.
func generateSchema() ([]byte, error) {
	r := &jsonschema.Reflector{
		// Only the fields tagged jsonschema:"required" are required: most
		// fields may come from another spec file or from an image label.
		RequiredFromJSONSchemaTags: true,
		ExpandedStruct:             true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == idValueType {
				return &jsonschema.Schema{
					Description: "A uid or gid: a number, or a name (names are allocated ids from 100 upward; \"root\" and \"\" are 0).",
					OneOf: []*jsonschema.Schema{
						{Type: "integer", Minimum: "0", Maximum: "4294967295"},
						{Type: "string"},
					},
				}
			}
			return nil
		},
	}
	if err := r.AddGoComments("github.com/kitbuild/kit/core/spec", "."); err != nil {
		return nil, err
	}
	s := r.Reflect(&System{})
	s.ID = "https://github.com/kitbuild/kit/schemas/kit-spec.json"
	s.Title = "kit system spec"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// TestSchemaUpToDate fails when schemas/kit-spec.json is stale; refresh it
// with: go test ./core/spec -run TestSchemaUpToDate -update
func TestSchemaUpToDate(t *testing.T) {
	if _, err := os.Stat("types.go"); err != nil {
		t.Fatalf("the schema's descriptions come from this package's source, which is missing: %v", err)
	}
	got, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("../../schemas", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v; generate it with: go test ./core/spec -run TestSchemaUpToDate -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; regenerate it with: go test ./core/spec -run TestSchemaUpToDate -update", schemaFile)
	}
}

// TestSchemaShape checks what the generator must get right: strict objects
// everywhere, descriptions, ids as number-or-name, modes as octal strings,
// and the same keys as the YAML decoder.
func TestSchemaShape(t *testing.T) {
	b, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	objects := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "object" {
				if _, isMap := v["additionalProperties"].(map[string]any); !isMap && v["additionalProperties"] != false {
					t.Errorf("%s: object without additionalProperties: false", path)
				}
				objects++
			}
			for k, c := range v {
				walk(path+"/"+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path+"/[]", c)
			}
		}
	}
	walk("#", root)
	if objects < 20 {
		t.Errorf("only %d object schemas", objects)
	}

	prop := func(def, name string) map[string]any {
		t.Helper()
		d := root
		if def != "" {
			d, _ = defs[def].(map[string]any)
		}
		props, _ := d["properties"].(map[string]any)
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Fatalf("no property %s.%s", def, name)
		}
		return p
	}
	if d, _ := prop("", "kernel")["description"].(string); d != "Kernel is the kernel image and command line." {
		t.Errorf("kernel description = %q", d)
	}
	uid := prop("File", "uid")
	if ref, _ := uid["$ref"].(string); ref != "" {
		uid, _ = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
	if oneOf, _ := uid["oneOf"].([]any); len(oneOf) != 2 {
		t.Errorf("uid schema = %v, want oneOf integer/string", uid)
	}
	if p := prop("File", "mode")["pattern"]; p != "^0*[0-7]{1,4}$" {
		t.Errorf("mode pattern = %v", p)
	}
	image, _ := defs["Image"].(map[string]any)
	if req, _ := image["required"].([]any); len(req) != 2 {
		t.Errorf("Image required = %v, want name and image", req)
	}

	// The schema's keys are the decoder's keys.
	for def, typ := range map[string]reflect.Type{
		"":       reflect.TypeFor[System](),
		"Image":  reflect.TypeFor[Image](),
		"Memory": reflect.TypeFor[Memory](),
	} {
		d := root
		if def != "" {
			d, _ = defs[def].(map[string]any)
		}
		props, _ := d["properties"].(map[string]any)
		var keys []string
		for k := range props {
			keys = append(keys, k)
		}
		want := structInfoOf(typ).names
		if !sameSet(keys, want) {
			t.Errorf("%s: schema keys %v, decoder keys %v", typ, keys, want)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}
