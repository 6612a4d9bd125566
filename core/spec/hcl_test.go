package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestHCLRoundTrip: every YAML example, encoded as HCL and decoded again,
// gives the same Go value; encoding that value gives the same text.
func TestHCLRoundTrip(t *testing.T) {
	for _, file := range specFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			text, err := EncodeHCL(want)
			if err != nil {
				t.Fatal(err)
			}
			hclPath := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(file), ".yml")+".kit.hcl")
			f, err := DecodeHCL(hclPath, text, HCLOptions{})
			if err != nil {
				t.Fatalf("decoding the HCL form: %v\n%s", err, text)
			}
			if len(f.Systems) != 1 || f.Systems[0].Name != strings.TrimSuffix(filepath.Base(file), ".yml") {
				t.Fatalf("systems = %v", f.SystemNames())
			}
			got := f.Systems[0].System
			if !reflect.DeepEqual(withoutSources(got), withoutSources(want)) {
				gj, _ := json.MarshalIndent(got, "", " ")
				wj, _ := json.MarshalIndent(want, "", " ")
				t.Fatalf("round trip changed the spec:\n got %s\nwant %s\nHCL:\n%s", gj, wj, text)
			}
			again, err := EncodeHCL(got)
			if err != nil || !bytes.Equal(again, text) {
				t.Fatalf("encoding is not stable (%v):\n%s\n---\n%s", err, text, again)
			}
			if !bytes.Equal(FormatHCL(text), text) {
				t.Errorf("EncodeHCL's output is not formatted")
			}
			// Positions point into the HCL text.
			if p := got.Sources.Get("kernel"); got.Kernel != nil && (p.File != hclPath || p.Line == 0) {
				t.Errorf("kernel recorded at %v", p)
			}
		})
	}
}

// TestHCLExamplesInSync: examples/NAME.kit.hcl is what kit convert makes of
// examples/NAME.yml. Refresh with: go test ./core/spec -run TestHCLExamplesInSync -update
func TestHCLExamplesInSync(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yml")
	for _, file := range files {
		got, err := ConvertYAML(file)
		if err != nil {
			t.Fatal(err)
		}
		out := strings.TrimSuffix(file, ".yml") + ".kit.hcl"
		if *update {
			if err := os.WriteFile(out, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing (%v); refresh with: go test ./core/spec -run TestHCLExamplesInSync -update", out, err)
			continue
		}
		// The committed HCL loads through Load, as kit build does.
		h, err := Load(out)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		y, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(withoutSources(h), withoutSources(y)) {
			t.Errorf("%s and %s differ", out, file)
		}
	}
}

// diagAt decodes src and returns its error diagnostics.
func diagsOf(t *testing.T, src string, opts HCLOptions) hcl.Diagnostics {
	t.Helper()
	_, err := DecodeHCL("spec.kit.hcl", []byte(src), opts)
	if err == nil {
		return nil
	}
	var d *Diagnostics
	if !errors.As(err, &d) {
		t.Fatalf("error is not *Diagnostics: %T %v", err, err)
	}
	var out hcl.Diagnostics
	for _, diag := range d.Diags {
		if diag.Severity == hcl.DiagError {
			out = append(out, diag)
		}
	}
	return out
}

// TestHCLDocExample: the HCL example of docs/spec.md decodes, validates and
// is formatted.
func TestHCLDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```hcl\n")
	src, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/spec.md has no hcl example")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "motd.tftpl"), []byte("Welcome to ${name}.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DecodeHCL(filepath.Join(dir, "doc.kit.hcl"), []byte(src), HCLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := f.Systems[0].System
	if f.Systems[0].Name != "redis-os" || *s.Files[0].Contents != "Welcome to redis-os.\n" || s.Services[0].Image != PackagePlaceholder("redis") {
		t.Errorf("decoded %+v", f.Systems[0])
	}
	if !bytes.Equal(FormatHCL([]byte(src)), []byte(src)) {
		t.Error("the example is not formatted")
	}
}
