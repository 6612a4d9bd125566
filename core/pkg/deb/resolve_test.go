package deb

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// indexFrom builds an index from a Packages-like text where each stanza
// needs only Package, Version and relations; the other fields are filled.
func indexFrom(t *testing.T, text string) *Index {
	t.Helper()
	var full strings.Builder
	for i, stanza := range strings.Split(strings.TrimSpace(text), "\n\n") {
		full.WriteString(stanza)
		if !strings.Contains(stanza, "Architecture:") {
			full.WriteString("\nArchitecture: amd64")
		}
		fmt.Fprintf(&full, "\nFilename: pool/p%d.deb\nSize: %d\nSHA256: %064x\n\n", i, 100+i, i)
	}
	var pkgs []*Package
	err := ReadPackages(strings.NewReader(full.String()), "http://repo.invalid/debian", "amd64", func(p *Package) error {
		pkgs = append(pkgs, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return NewIndex("amd64", pkgs)
}

const universe = `
Package: app
Version: 1.0
Depends: libfoo (>= 2), mail-transport-agent, awk | mawk
Pre-Depends: init-system-helpers (>= 1.50)

Package: app
Version: 1.0~rc1
Depends: libfoo (>= 3)

Package: libfoo
Version: 2.1
Depends: libc6 (>= 2.34)

Package: libfoo
Version: 2.0
Depends: libc6

Package: libfoo
Version: 1:0.5
Depends: libc6

Package: libc6
Version: 2.36-9+deb12u4

Package: libc6
Version: 2.36-9+deb12u10

Package: init-system-helpers
Version: 1.65.2
Architecture: all
Depends: perl-base:any

Package: perl-base
Version: 5.36.0-7
Multi-Arch: allowed

Package: postfix
Version: 3.7.10-0
Provides: mail-transport-agent
Priority: optional

Package: exim4-daemon-light
Version: 4.96-15
Provides: mail-transport-agent
Priority: extra

Package: mawk
Version: 1.3.4
Provides: awk

Package: gawk
Version: 5.2.1
Provides: awk (= 5.2.1)

Package: wantsawk
Version: 1
Depends: awk (>= 5)

Package: needsold
Version: 1
Depends: libc6 (<< 2.36-9+deb12u5)

Package: needsnew
Version: 1
Depends: libc6 (>= 2.37)

Package: usesi386
Version: 1
Depends: libc6:i386

Package: cycle-a
Version: 1
Depends: cycle-b

Package: cycle-b
Version: 1
Depends: cycle-a (= 1)

Package: armonly
Version: 1
Architecture: arm64
`

func resolveNames(t *testing.T, ix *Index, reqs ...string) (string, error) {
	t.Helper()
	var rs []Request
	for _, s := range reqs {
		r, err := ParseRequest(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	pkgs, err := ix.Resolve(rs)
	var parts []string
	for _, p := range pkgs {
		parts = append(parts, p.Name+"="+p.Version)
	}
	return strings.Join(parts, " "), err
}

func TestResolve(t *testing.T) {
	ix := indexFrom(t, universe)
	for _, tc := range []struct {
		name    string
		reqs    []string
		want    string
		wantErr string
	}{
		{name: "highest version, recursive, alternatives, provides",
			reqs: []string{"app"},
			want: "app=1.0 init-system-helpers=1.65.2 libc6=2.36-9+deb12u10 libfoo=1:0.5 mawk=1.3.4 perl-base=5.36.0-7 postfix=3.7.10-0"},
		{name: "pinned version", reqs: []string{"libfoo=2.0"}, want: "libc6=2.36-9+deb12u10 libfoo=2.0"},
		{name: "pinned dependency wins over highest", reqs: []string{"libc6=2.36-9+deb12u4", "libfoo=2.1"}, want: "libc6=2.36-9+deb12u4 libfoo=2.1"},
		{name: "chosen alternative preferred", reqs: []string{"gawk", "app"},
			want: "app=1.0 gawk=5.2.1 init-system-helpers=1.65.2 libc6=2.36-9+deb12u10 libfoo=1:0.5 perl-base=5.36.0-7 postfix=3.7.10-0"},
		{name: "versioned provides", reqs: []string{"wantsawk"}, want: "gawk=5.2.1 wantsawk=1"},
		{name: "versioned dependency below highest", reqs: []string{"needsold"}, want: "libc6=2.36-9+deb12u4 needsold=1"},
		{name: "request by virtual name", reqs: []string{"mail-transport-agent"}, want: "postfix=3.7.10-0"},
		{name: "cycle", reqs: []string{"cycle-a"}, want: "cycle-a=1 cycle-b=1"},
		{name: "duplicate request", reqs: []string{"mawk", "mawk=1.3.4"}, want: "mawk=1.3.4"},
		{name: "missing package", reqs: []string{"nosuch"},
			wantErr: "unsatisfiable dependency nosuch (requested): no package nosuch in the index"},
		{name: "missing version", reqs: []string{"libfoo=9"},
			wantErr: "libfoo=9 (requested): no version of libfoo satisfies libfoo (= 9) (available: 1:0.5, 2.1, 2.0)"},
		{name: "conflicting requests", reqs: []string{"libfoo=2.0", "libfoo=2.1"},
			wantErr: "libfoo=2.1 (requested): conflicts with libfoo=2.0 (requested) → libfoo 2.0"},
		{name: "unsatisfiable version chain", reqs: []string{"needsnew"},
			wantErr: "needsnew (requested) → needsnew 1 → libc6 (>= 2.37): no version of libc6 satisfies libc6 (>= 2.37) (available: 2.36-9+deb12u10, 2.36-9+deb12u4)"},
		{name: "conflict with chosen version", reqs: []string{"libc6=2.36-9+deb12u10", "needsold"},
			wantErr: "needsold 1 → libc6 (<< 2.36-9+deb12u5): libc6 is already chosen at 2.36-9+deb12u10 (via libc6=2.36-9+deb12u10 (requested) → libc6 2.36-9+deb12u10)"},
		{name: "foreign arch qualifier", reqs: []string{"usesi386"},
			wantErr: `libc6:i386: architecture "i386" is not amd64`},
		{name: "other architecture", reqs: []string{"armonly"}, wantErr: "no package armonly in the index"},
		{name: "unversioned provides does not satisfy versioned dep", reqs: []string{"mawk", "wantsawk"},
			want: "gawk=5.2.1 mawk=1.3.4 wantsawk=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveNames(t, ix, tc.reqs...)
			if tc.wantErr != "" {
				var ue *UnsatisfiableError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v\nwant it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResolveDeterministic(t *testing.T) {
	ix := indexFrom(t, universe)
	first, err := resolveNames(t, ix, "app", "gawk")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := resolveNames(t, indexFrom(t, universe), "gawk", "app")
		if err != nil || again != first {
			t.Fatalf("resolution differs: %s vs %s (%v)", again, first, err)
		}
	}
}

func TestNewIndexFirstSourceWins(t *testing.T) {
	a := &Package{Name: "x", Version: "1", Architecture: "amd64", Source: "http://first"}
	b := &Package{Name: "x", Version: "1", Architecture: "amd64", Source: "http://second"}
	ix := NewIndex("amd64", []*Package{a, b})
	pkgs, err := ix.Resolve([]Request{{Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if pkgs[0].Source != "http://first" {
		t.Errorf("source = %s, want the first listed", pkgs[0].Source)
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Request
		bad  bool
	}{
		{in: "busybox-static", want: Request{Name: "busybox-static"}},
		{in: "redis-server=5:7.0.15-1~deb12u1", want: Request{Name: "redis-server", Version: "5:7.0.15-1~deb12u1"}},
		{in: "bad name", bad: true},
		{in: "x=", bad: true},
		{in: "x=abc", bad: true},
	} {
		got, err := ParseRequest(tc.in)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("ParseRequest(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestReadPackagesErrors(t *testing.T) {
	base := "Package: a\nVersion: 1\nArchitecture: amd64\nFilename: pool/a.deb\nSize: 1\nSHA256: " + strings.Repeat("a", 64) + "\n"
	for _, tc := range []struct{ edit, want string }{
		{"Package: a\n|Package: A_b\n", "invalid package name"},
		{"Version: 1\n|Version: x\n", "package a: version \"x\""},
		{"Architecture: amd64\n|", "no Architecture"},
		{"Filename: pool/a.deb\n|Filename: ../../etc/passwd\n", "invalid Filename"},
		{"Filename: pool/a.deb\n|Filename: /etc/passwd\n", "invalid Filename"},
		{"Size: 1\n|Size: -1\n", "invalid Size"},
		{"SHA256: " + strings.Repeat("a", 64) + "\n|SHA256: abc\n", "invalid SHA256"},
		{"Size: 1\n|Size: 1\nDepends: b (>= )\n", "Depends: relation"},
	} {
		old, repl, _ := strings.Cut(tc.edit, "|")
		in := strings.Replace(base, old, repl, 1)
		err := ReadPackages(strings.NewReader(in), "http://x", "amd64", func(*Package) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "stanza 1") {
			t.Errorf("%q: err = %v, want %q", tc.edit, err, tc.want)
		}
	}
}

func TestResolveProviderChoice(t *testing.T) {
	ix := indexFrom(t, `
Package: a
Version: 1
Depends: virt | real

Package: b
Version: 1
Depends: single | real

Package: p1
Version: 1
Provides: virt

Package: p1
Version: 2
Provides: virt, single

Package: p2
Version: 1
Provides: virt
Priority: required

Package: real
Version: 1

Package: c
Version: 1
Depends: virt
`)
	for _, tc := range []struct{ req, want string }{
		{"a", "a=1 real=1"}, // several providers: the real alternative wins
		{"b", "b=1 p1=2"},   // one provider (two versions): taken in order
		{"c", "c=1 p2=1"},   // Priority: required before optional/none
	} {
		got, err := resolveNames(t, ix, tc.req)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.req, got, err, tc.want)
		}
	}
}

func TestResolveAssume(t *testing.T) {
	ix := indexFrom(t, universe)
	got, err := ix.Resolve([]Request{{Name: "app"}, {Name: "perl-base"}}, Assume("libc6", "init-system-helpers", "perl-base", "mail-transport-agent"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if s := strings.Join(names, " "); s != "app libfoo mawk perl-base" {
		t.Errorf("got %s, want app libfoo mawk perl-base (assumed deps left out, explicit request kept)", s)
	}
}
