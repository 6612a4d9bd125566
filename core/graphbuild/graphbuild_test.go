package graphbuild

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseWorkFile(t *testing.T) {
	tests := []struct {
		name, src string
		err       string // substring of the error; "" for none
		systems   []string
		packages  []string
	}{
		{"empty", "", "", nil, nil},
		{"full", `
formats  = ["kernel+initrd"]
systems  = ["systems/*.yml"]
packages = ["packages/*"]
system "web" {
  specs   = ["a.yml", "b.yml"]
  formats = ["tar"]
}
package "tools" { dir = "third_party/tools" }
`, "", []string{"web"}, []string{"tools"}},
		{"unknown attribute", `colour = "red"`, `kit.work.hcl:1:1: Unsupported argument`, nil, nil},
		{"system without specs attribute", `system "web" {}`, `Missing required argument`, nil, nil},
		{"empty specs", `system "web" { specs = [] }`, `kit.work.hcl:1:1: System without specs`, nil, nil},
		{"duplicate system", "system \"a\" { specs = [\"x\"] }\nsystem \"a\" { specs = [\"y\"] }\n", `kit.work.hcl:2:1: Duplicate system "a"`, nil, nil},
		{"bad name", `system "Web/x" { specs = ["x"] }`, `Invalid system name`, nil, nil},
		{"wrong type", `formats = "tar"`, `kit.work.hcl:1:12: Unsuitable value type`, nil, nil},
		{"syntax", `system "a" {`, `kit.work.hcl:1:`, nil, nil},
		{"package without dir", `package "p" {}`, `Missing required argument`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWorkFile("kit.work.hcl", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sys, pkgs []string
			for _, s := range w.System {
				sys = append(sys, s.Name)
			}
			for _, p := range w.Package {
				pkgs = append(pkgs, p.Name)
			}
			if !slices.Equal(sys, tc.systems) || !slices.Equal(pkgs, tc.packages) {
				t.Errorf("systems %v packages %v, want %v %v", sys, pkgs, tc.systems, tc.packages)
			}
		})
	}
}

func FuzzParseWorkFile(f *testing.F) {
	f.Add([]byte("formats = [\"tar\"]\nsystem \"a\" { specs = [\"a.yml\"] }\npackage \"p\" { dir = \"p\" }\n"))
	f.Add([]byte(`systems = ["*.yml"]`))
	f.Add([]byte(`system "a" {`))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorkFile("kit.work.hcl", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, s := range w.System {
			if len(s.Specs) == 0 || checkName(s.Name) != nil {
				t.Fatalf("accepted system %+v", s)
			}
		}
	})
}

func TestSplitPackageRef(t *testing.T) {
	tests := []struct {
		ref, repo, tag string
		ok             bool
	}{
		{"kit/tools", "kit/tools", "", true},
		{"kit/tools:abc", "kit/tools", "abc", true},
		{"tools", "tools", "", true},
		{"ghcr.io/me/kit/tools:abc", "", "", false},
		{"127.0.0.1:5000/kit/tools:abc", "", "", false},
		{"localhost/kit/tools", "", "", false},
		{"kit/tools@sha256:0000000000000000000000000000000000000000000000000000000000000000", "", "", false},
	}
	for _, tc := range tests {
		repo, tag, ok := splitPackageRef(tc.ref)
		if repo != tc.repo || tag != tc.tag || ok != tc.ok {
			t.Errorf("splitPackageRef(%q) = %q, %q, %v; want %q, %q, %v", tc.ref, repo, tag, ok, tc.repo, tc.tag, tc.ok)
		}
	}
}

// writeTree writes files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const testSpec = "kernel:\n  image: r.example/kernel:1\ninit:\n  - r.example/init:1\n"

// chdir changes the working directory for the test (patterns are relative
// to it).
func chdir(t *testing.T, dir string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
}

func names(sel *Selection) []string {
	var out []string
	for _, p := range sel.Packages {
		out = append(out, "package "+p.Name)
	}
	for _, s := range sel.Systems {
		out = append(out, "system "+s.Name)
	}
	return out
}

func TestSelectAndAffected(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"kit.work.hcl":           "systems = [\"systems/*.yml\"]\nsystem \"both\" { specs = [\"systems/a.yml\", \"extra/b.yml\"] }\n",
		"systems/a.yml":          testSpec + "services:\n  - name: t\n    image: kit/tools\nfiles:\n  - path: etc/x\n    source: files/x.conf\n",
		"systems/c.yml":          testSpec + "services:\n  - name: t\n    image: kit/tools:0123\n",
		"systems/d.yml":          testSpec + "services:\n  - name: t\n    image: ghcr.io/x/kit/tools:1\n",
		"systems/files/x.conf":   "x\n",
		"extra/b.yml":            "files:\n  - path: etc/b\n    contents: b\n",
		"other/ignored.yml":      "not: a spec\n",
		"packages/tools/pkg.yml": "image: kit/tools\nfiles:\n  - {dest: /t, contents: t}\n",
		"packages/motd/pkg.yml":  "image: kit/motd\nfiles:\n  - {dest: /m, contents: m}\n",
		".hidden/pkg.yml":        "image: kit/hidden\n",
	})
	chdir(t, root)
	ws, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, s := range ws.Systems {
		all = append(all, s.Name)
	}
	if want := []string{"a", "both", "c", "d"}; !slices.Equal(all, want) {
		t.Fatalf("systems %v, want %v", all, want)
	}
	if len(ws.Packages) != 2 {
		t.Fatalf("%d packages, want 2 (.hidden skipped)", len(ws.Packages))
	}
	tests := []struct {
		patterns []string
		want     []string
	}{
		{nil, []string{"package motd", "package tools", "system a", "system both", "system c", "system d"}},
		{[]string{"./systems/..."}, []string{"package tools", "system a", "system both", "system c", "system d"}},
		{[]string{"d"}, []string{"system d"}},
		{[]string{"./extra"}, []string{"package tools", "system both"}},
		{[]string{"motd"}, []string{"package motd"}},
		{[]string{"./packages/..."}, []string{"package motd", "package tools"}},
	}
	for _, tc := range tests {
		sel, err := ws.Select(tc.patterns...)
		if err != nil {
			t.Fatalf("%v: %v", tc.patterns, err)
		}
		if got := names(sel); !slices.Equal(got, tc.want) {
			t.Errorf("Select(%v) = %v, want %v", tc.patterns, got, tc.want)
		}
	}
	for _, bad := range []string{"nosuch", "./other/..."} {
		if _, err := ws.Select(bad); err == nil {
			t.Errorf("Select(%q): no error", bad)
		}
	}
	sel, err := ws.Select()
	if err != nil {
		t.Fatal(err)
	}
	if s := ws.System("a"); !slices.Equal(s.Sources, []string{filepath.Join(root, "systems/files/x.conf")}) || !slices.Equal(s.Packages, []string{"tools"}) {
		t.Errorf("system a: sources %v packages %v", s.Sources, s.Packages)
	}
	if s := ws.System("d"); len(s.Packages) != 0 {
		t.Errorf("system d uses %v; a reference with a registry names no package", s.Packages)
	}
	affected := []struct {
		changed []string
		want    []string
	}{
		{[]string{"packages/tools/pkg.yml"}, []string{"package tools", "system a", "system both", "system c"}},
		{[]string{"packages/motd/x"}, []string{"package motd"}},
		{[]string{"systems/files/x.conf"}, []string{"system a", "system both"}},
		{[]string{"extra/b.yml"}, []string{"system both"}},
		{[]string{"systems/d.lock"}, []string{"system d"}},
		{[]string{"kit.work.hcl"}, []string{"system a", "system both", "system c", "system d"}},
		{[]string{"README.md", "packages/toolsX/y"}, nil},
	}
	for _, tc := range affected {
		var abs []string
		for _, c := range tc.changed {
			abs = append(abs, filepath.Join(root, c))
		}
		if got := names(ws.Affected(sel, abs)); !slices.Equal(got, tc.want) {
			t.Errorf("Affected(%v) = %v, want %v", tc.changed, got, tc.want)
		}
	}
}

func TestDotString(t *testing.T) {
	for in, want := range map[string]string{
		`a`:        `"a"`,
		`a"b`:      `"a\"b"`,
		`a\nb`:     `"a\nb"`,
		`a\b`:      `"a\\b"`,
		"a\nb\x01": `"a\nb "`,
	} {
		if got := dotString(in); got != want {
			t.Errorf("dotString(%q) = %s, want %s", in, got, want)
		}
	}
}
