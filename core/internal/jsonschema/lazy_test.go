package jsonschema

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain checks, before any test compiles a schema, that loading the
// package compiled no meta-schema: that is the change from upstream.
func TestMain(m *testing.M) {
	for _, d := range []*Draft{Draft4, Draft6, Draft7, Draft2019, Draft2020} {
		if d.sch != nil {
			fmt.Fprintf(os.Stderr, "the meta-schema of %s was compiled before any use\n", d.url)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func compile(t *testing.T, schema string) (*Schema, error) {
	t.Helper()
	doc, err := UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("mem:///s.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("mem:///s.json")
}

func TestCompileAndValidate(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		good, bad    string
		want         string
	}{
		{"2020-12 with $defs", `{"type":"object","properties":{"n":{"$ref":"#/$defs/small"}},"$defs":{"small":{"type":"integer","maximum":3}}}`,
			`{"n":2}`, `{"n":5}`, "maximum"},
		{"draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"s":{"type":"string","pattern":"^[a-z]+$"}}}`,
			`{"s":"abc"}`, `{"s":"ABC"}`, "does not match pattern"},
		{"draft-04", `{"$schema":"http://json-schema.org/draft-04/schema#","properties":{"e":{"enum":["a","b"]}}}`,
			`{"e":"a"}`, `{"e":"c"}`, "value must be one of"},
		{"format", `{"properties":{"ip":{"type":"string","format":"ipv4"}}}`,
			`{"ip":"10.0.0.1"}`, `{"ip":"10.0.0"}`, "ipv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch, err := compile(t, tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			good, _ := UnmarshalJSON(strings.NewReader(tc.good))
			if err := sch.Validate(good); err != nil {
				t.Errorf("%s: %v", tc.good, err)
			}
			bad, _ := UnmarshalJSON(strings.NewReader(tc.bad))
			if err := sch.Validate(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want one with %q", tc.bad, err, tc.want)
			}
		})
	}
}

// TestInvalidSchema checks that schemas are still checked against their
// meta-schema once the drafts are compiled on demand.
func TestInvalidSchema(t *testing.T) {
	for _, s := range []string{
		`{"type":"integr"}`,
		`{"properties":{"a":{"minimum":"3"}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","required":"a"}`,
	} {
		if _, err := compile(t, s); err == nil {
			t.Errorf("%s compiled", s)
		}
	}
}
