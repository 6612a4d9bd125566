package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// specFiles are the example-like specs every round-trip test reads.
func specFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../examples/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, "testdata/full.yml")
}

// withoutSources returns a copy of s without its SourceMap, for comparing.
func withoutSources(s *System) System {
	c := *s
	c.Sources = nil
	return c
}

func TestRoundTrip(t *testing.T) {
	for _, file := range specFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Decode(file, data)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, format := range []string{"yaml", "json"} {
				out, err := s.Encode(format)
				if err != nil {
					t.Fatal(err)
				}
				back, err := Decode("encoded."+format, out)
				if err != nil {
					t.Fatalf("%s does not decode: %v\n%s", format, err, out)
				}
				if !reflect.DeepEqual(withoutSources(back), withoutSources(s)) {
					t.Errorf("%s round trip differs:\n%s\nwas\n%s", format, dump(back), dump(s))
				}
				again, err := back.Encode(format)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, out) {
					t.Errorf("%s encoding is not stable:\n%s\nthen\n%s", format, out, again)
				}
			}
		})
	}
}

// TestCanonicalGolden pins the canonical forms, which files and caches
// depend on; refresh with -update after a deliberate change.
func TestCanonicalGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode("full.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(direct) || bytes.Contains(direct, []byte("\\u003c")) || bytes.HasSuffix(direct, []byte("\n")) {
		t.Errorf("MarshalJSON is not compact, unescaped JSON: %s", direct)
	}
	viaYAML, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	indented := mustEncode(t, s, "json")
	for name, got := range map[string][]byte{
		"full.golden.json": indented,
		"full.golden.yaml": mustEncode(t, s, "yaml"),
	} {
		golden := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestCanonicalGolden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the canonical form; run with -update if intended:\n%s", name, got)
		}
	}
	var compacted bytes.Buffer
	if err := json.Compact(&compacted, indented); err != nil || !bytes.Equal(compacted.Bytes(), direct) {
		t.Errorf("MarshalJSON differs from the compacted Encode(\"json\"): %v\n%s", err, direct)
	}
	if !bytes.Equal(viaYAML, mustEncode(t, s, "yaml")) {
		t.Error("yaml.Marshal(s) differs from s.Encode(\"yaml\")")
	}
	if _, err := s.Encode("toml"); err == nil {
		t.Error("Encode accepted an unknown format")
	}
}

func mustEncode(t *testing.T, s *System, format string) []byte {
	t.Helper()
	b, err := s.Encode(format)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIDValueMarshal(t *testing.T) {
	tests := []struct {
		id   IDValue
		json string
		yaml string
	}{
		{*NumericID(0), `0`, "0\n"},
		{*NumericID(4294967295), `4294967295`, "4294967295\n"},
		{*NamedID("nginx"), `"nginx"`, "nginx\n"},
		{*NamedID("1000"), `"1000"`, "\"1000\"\n"},
		{*NamedID(""), `""`, "\"\"\n"},
	}
	for _, tt := range tests {
		j, err := json.Marshal(tt.id)
		if err != nil || string(j) != tt.json {
			t.Errorf("json.Marshal(%v) = %s, %v; want %s", tt.id, j, err, tt.json)
		}
		y, err := yaml.Marshal(tt.id)
		if err != nil || string(y) != tt.yaml {
			t.Errorf("yaml.Marshal(%v) = %q, %v; want %q", tt.id, y, err, tt.yaml)
		}
		var fromJSON, fromYAML IDValue
		if err := json.Unmarshal(j, &fromJSON); err != nil || !reflect.DeepEqual(fromJSON, tt.id) {
			t.Errorf("json round trip of %s: %+v, %v", j, fromJSON, err)
		}
		if err := yaml.Unmarshal(y, &fromYAML); err != nil || !reflect.DeepEqual(fromYAML, tt.id) {
			t.Errorf("yaml round trip of %q: %+v, %v", y, fromYAML, err)
		}
	}
	for _, bad := range []string{`-1`, `4294967296`, `1.5`, `[1]`, `true`} {
		var id IDValue
		if err := json.Unmarshal([]byte(bad), &id); err == nil {
			t.Errorf("json.Unmarshal(%s) accepted", bad)
		}
		if err := yaml.Unmarshal([]byte(bad), &id); err == nil {
			t.Errorf("yaml.Unmarshal(%s) accepted", bad)
		}
	}
}
