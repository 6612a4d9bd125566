package deb

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadParagraphs(t *testing.T) {
	in := "# comment\nPackage: a\nDescription: short\n long line\n .\n more\n\n\n" +
		"package: b\r\nVersion: 1.0\r\n# inner comment\r\nDepends: c,\n d\n"
	ps, err := ParseParagraphs(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d paragraphs, want 2", len(ps))
	}
	if got, want := ps[0].Value("description"), "short\nlong line\n\nmore"; got != want {
		t.Errorf("Description = %q, want %q", got, want)
	}
	if got := ps[1].Value("Package"); got != "b" {
		t.Errorf("Package = %q, want b (case-insensitive)", got)
	}
	if got := ps[1].Value("Depends"); got != "c,\nd" {
		t.Errorf("Depends = %q", got)
	}
	if got, want := ps[0].Fields(), []string{"Package", "Description"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Fields = %q, want %q", got, want)
	}
}

func TestReadParagraphsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" leading continuation\n", "line 1: continuation line outside a field"},
		{"Package: a\nno colon here\n", "line 2: missing ':'"},
		{"Package: a\nPackage: b\n", `line 2: duplicate field "Package"`},
		{"Bad Name: x\n", "line 1: invalid field name"},
		{":x\n", "line 1: invalid field name"},
	} {
		_, err := ParseParagraphs(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.10", "1.9", 1},
		{"1:0.1", "9.9", 1},
		{"0:1.0", "1.0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1.0-1", "1.0-2", -1},
		{"1.0-10", "1.0-9", 1},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0+", -1}, // letters sort before non-letters
		{"1.0", "1.0-0", 0},
		{"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
		{"7.0.15-1~deb12u1", "7.0.15-1", -1},
		{"1:1.36.1-9", "1.37.0-1", 1},
		{"1.2.3-1ubuntu1", "1.2.3-1", 1},
	} {
		got, err := CompareVersions(tc.a, tc.b)
		if err != nil {
			t.Fatalf("%s vs %s: %v", tc.a, tc.b, err)
		}
		if sign(got) != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if back, _ := CompareVersions(tc.b, tc.a); sign(back) != -tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.b, tc.a, back, -tc.want)
		}
	}
	for _, bad := range []string{"", "a1.0", "1.0 2", "x:1.0", "1.0-"} {
		if _, err := CompareVersions(bad, "1.0"); err == nil {
			t.Errorf("version %q accepted", bad)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestParseRelations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // relations joined with ", "
	}{
		{"libc6 (>= 2.34), libssl3 (>= 3.0.0)", "libc6 (>= 2.34), libssl3 (>= 3.0.0)"},
		{"debconf (>= 0.5) | debconf-2.0", "debconf (>= 0.5) | debconf-2.0"},
		{"python3:any, perl:native", "python3:any, perl:native"},
		{"a (<< 2), b (<= 2), c (= 2), d (>> 2), e (< 2), f (> 2)", "a (<< 2), b (<= 2), c (= 2), d (>> 2), e (<= 2), f (>= 2)"},
		{"a [amd64], b [!amd64], c [arm64 i386] | d", "a, d"},
		{"a <!nocheck>, b (>= 1) <stage1>", "a, b (>= 1)"},
		{"  ,a,,  ", "a"},
		{"", ""},
	} {
		rels, err := ParseRelations(tc.in, "amd64")
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		var parts []string
		for _, r := range rels {
			parts = append(parts, r.String())
		}
		if got := strings.Join(parts, ", "); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"a (>= )", "a (1.0)", "a (>= 1", "a [amd64", "Bad_Name", "a (>= 1) junk", "a (>= x1)"} {
		if _, err := ParseRelations(bad, "amd64"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDepSatisfiedBy(t *testing.T) {
	for _, tc := range []struct {
		dep  Dep
		v    string
		want bool
	}{
		{Dep{Name: "a"}, "anything", true},
		{Dep{Name: "a", Op: OpLess, Version: "2"}, "1.9", true},
		{Dep{Name: "a", Op: OpLess, Version: "2"}, "2", false},
		{Dep{Name: "a", Op: OpLessEq, Version: "2"}, "2", true},
		{Dep{Name: "a", Op: OpEq, Version: "2"}, "0:2", true},
		{Dep{Name: "a", Op: OpEq, Version: "2"}, "2-1", false},
		{Dep{Name: "a", Op: OpGreatEq, Version: "2"}, "2~rc1", false},
		{Dep{Name: "a", Op: OpGreater, Version: "2"}, "2+b1", true},
		{Dep{Name: "a", Op: OpGreater, Version: "2"}, "bad version", false},
	} {
		if got := tc.dep.SatisfiedBy(tc.v); got != tc.want {
			t.Errorf("%s satisfied by %q = %v, want %v", tc.dep, tc.v, got, tc.want)
		}
	}
}

func boolp(b bool) *bool { return &b }

func TestParseSourcesList(t *testing.T) {
	in := `# comment
deb http://deb.debian.org/debian bookworm main contrib
deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64,arm64 check-valid-until=no] http://m/debian bookworm-updates main # trailing
deb-src http://deb.debian.org/debian bookworm main
`
	got, err := ParseSourcesList(strings.NewReader(in), "sources.list")
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{Types: []string{"deb"}, URIs: []string{"http://deb.debian.org/debian"}, Suites: []string{"bookworm"}, Components: []string{"main", "contrib"}, Pos: "sources.list:2"},
		{Types: []string{"deb"}, URIs: []string{"http://m/debian"}, Suites: []string{"bookworm-updates"}, Components: []string{"main"},
			Architectures: []string{"amd64", "arm64"}, SignedBy: "/usr/share/keyrings/x.gpg", CheckValidUntil: boolp(false), Pos: "sources.list:3"},
		{Types: []string{"deb-src"}, URIs: []string{"http://deb.debian.org/debian"}, Suites: []string{"bookworm"}, Components: []string{"main"}, Pos: "sources.list:4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"rpm http://x y z\n", `x.list:1: unknown type "rpm"`},
		{"deb [arch=amd64 http://x y z\n", "x.list:1: unterminated [options]"},
		{"deb http://x\n", "x.list:1: want URI and suite"},
		{"deb http://x bookworm\n", `suite "bookworm": no Components`},
		{"deb [signed-by] http://x y z\n", "want key=value"},
		{"deb [signed-by=/a.gpg,/b.gpg] http://x y z\n", "only one keyring path"},
	} {
		_, err := ParseSourcesList(strings.NewReader(tc.in), "x.list")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

const inlineKey = `-----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ...
 =abcd
 -----END PGP PUBLIC KEY BLOCK-----`

func TestParseSources(t *testing.T) {
	in := `Types: deb deb-src
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://x/debian
Suites: sid
Components: main
Enabled: no

Types: deb
URIs: https://y/repo
Suites: stable
Components: main
Architectures: amd64
Check-Valid-Until: false
Signed-By: ` + inlineKey + "\n"
	got, err := ParseSources(strings.NewReader(in), "debian.sources")
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{Types: []string{"deb", "deb-src"}, URIs: []string{"http://deb.debian.org/debian", "http://mirror.example/debian"},
			Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main", "non-free-firmware"},
			SignedBy: "/usr/share/keyrings/debian-archive-keyring.gpg", Pos: "debian.sources: entry 1"},
		{Types: []string{"deb"}, URIs: []string{"https://y/repo"}, Suites: []string{"stable"}, Components: []string{"main"},
			Architectures: []string{"amd64"}, CheckValidUntil: boolp(false),
			SignedByKey: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----",
			Pos:         "debian.sources: entry 3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"Types: deb\nURIs: http://x\nSuites: a\n", `suite "a": no Components`},
		{"Types: deb\nSuites: a\nComponents: main\n", "no URIs"},
		{"Types: rpm\nURIs: http://x\nSuites: a\nComponents: main\n", `unknown type "rpm"`},
		{"Types: deb\nURIs: http://x\nSuites: a\nComponents: main\nEnabled: maybe\n", "Enabled: invalid boolean"},
		{"Types: deb\n bad\nbad\n", "x.sources:3: missing ':'"},
		{"Types: deb\nURIs: http://x\nSuites: a\nComponents: main\nSigned-By: /a.gpg /b.gpg\n", "only one keyring path"},
	} {
		_, err := ParseSources(strings.NewReader(tc.in), "x.sources")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseAptConf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{`Acquire::Check-Valid-Until "false";`, map[string]string{"acquire::check-valid-until": "false"}},
		{"// c\nAcquire {\n  # c\n  Check-Valid-Until \"0\"; /* x\n y */ Retries \"3\";\n};\n",
			map[string]string{"acquire::check-valid-until": "0", "acquire::retries": "3"}},
		{"APT { NeverAutoRemove { \"^linux-.*\"; \"x\"; }; Update::Post-Invoke { \"rm -f /x // y\"; }; };\n#include \"/etc/other\";\n",
			map[string]string{}},
		{"Acquire::IndexTargets { deb::DEP-11 { MetaKey \"$(COMPONENT)/x\"; KeepCompressed \"true\"; }; };",
			map[string]string{"acquire::indextargets::deb::dep-11::metakey": "$(COMPONENT)/x", "acquire::indextargets::deb::dep-11::keepcompressed": "true"}},
	} {
		got, err := ParseAptConf(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"A { B \"x\";", "};", "A \"x\" B", "\"unterminated", "/* open", "{ };"} {
		if _, err := ParseAptConf(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     map[string]string
		wantURIs  []string
		wantCheck bool
		wantKeys  int
	}{
		{
			name: "machine-like",
			files: map[string]string{
				"etc/apt/sources.list":                             "deb http://a/debian bookworm main\n",
				"etc/apt/sources.list.d/debian.sources":            "Types: deb\nURIs: http://b/debian\nSuites: bookworm\nComponents: main\n",
				"etc/apt/sources.list.d/google.list.disabled-by-x": "deb http://c/ x main\n",
				"etc/apt/sources.list.d/node.sources.disabled":     "Types: deb\nURIs: http://d/\nSuites: x\nComponents: main\n",
				"etc/apt/sources.list.d/readme.txt":                "not a source",
				"etc/apt/sources.list.d/old.list.save":             "deb http://e/ x main\n",
				"etc/apt/apt.conf.d/01autoremove":                  "APT { NeverAutoRemove { \"^x\"; }; };\n",
				"etc/apt/trusted.gpg.d/debian.gpg":                 "",
				"etc/apt/trusted.gpg.d/extra.asc":                  "",
				"etc/apt/trusted.gpg.d/notes.txt":                  "",
				"etc/apt/apt.conf.d/99-check.disabled":             "Acquire::Check-Valid-Until \"false\";\n",
				"etc/apt/apt.conf.d/weird name":                    "Acquire::Check-Valid-Until \"false\";\n",
				"etc/apt/apt.conf.d/50x.txt":                       "Acquire::Check-Valid-Until \"false\";\n",
			},
			wantURIs:  []string{"http://a/debian", "http://b/debian"},
			wantCheck: true,
			wantKeys:  2,
		},
		{
			name: "check-valid-until off, nested",
			files: map[string]string{
				"etc/apt/apt.conf":                      "Acquire::Check-Valid-Until \"true\";\n",
				"etc/apt/apt.conf.d/10snapshot":         "Acquire { Check-Valid-Until \"false\"; };\n",
				"etc/apt/sources.list.d/debian.sources": "Types: deb\nURIs: http://b/debian\nSuites: bookworm\nComponents: main\n",
			},
			wantURIs:  []string{"http://b/debian"},
			wantCheck: false,
		},
		{name: "empty root", files: map[string]string{}, wantCheck: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			cfg, err := LoadConfig(root)
			if err != nil {
				t.Fatal(err)
			}
			var uris []string
			for _, s := range cfg.Sources {
				uris = append(uris, s.URIs...)
			}
			if !reflect.DeepEqual(uris, tc.wantURIs) {
				t.Errorf("URIs = %q, want %q", uris, tc.wantURIs)
			}
			if cfg.CheckValidUntil != tc.wantCheck {
				t.Errorf("CheckValidUntil = %v, want %v", cfg.CheckValidUntil, tc.wantCheck)
			}
			if len(cfg.TrustedKeyrings) != tc.wantKeys {
				t.Errorf("TrustedKeyrings = %q, want %d", cfg.TrustedKeyrings, tc.wantKeys)
			}
		})
	}
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"etc/apt/apt.conf": "Acquire::Check-Valid-Until \"perhaps\";\n"})
	if _, err := LoadConfig(root); err == nil || !strings.Contains(err.Error(), "apt.conf: Acquire::Check-Valid-Until: invalid boolean") {
		t.Errorf("bad boolean: err = %v", err)
	}
}

func TestCheckValidUntilFor(t *testing.T) {
	cfg := &Config{CheckValidUntil: true}
	if !cfg.CheckValidUntilFor(Source{}) || cfg.CheckValidUntilFor(Source{CheckValidUntil: boolp(false)}) {
		t.Error("source option does not override the global setting")
	}
}
