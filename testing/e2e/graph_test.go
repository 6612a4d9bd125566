package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/monorepo"
	"github.com/kitbuild/kit/testing/registry"
)

// graphRow is a row of kit graph build --json.
type graphRow struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Formats []string `json:"formats"`
	Ref     string   `json:"ref"`
	Nodes   int      `json:"nodes"`
	Hits    int      `json:"hits"`
	Built   int      `json:"built"`
	Status  string   `json:"status"`
	Error   string   `json:"error"`
}

type graphReport struct {
	Nodes int        `json:"nodes"`
	Rows  []graphRow `json:"rows"`
}

// monorepoFixture is the test monorepo in a git repository of its own,
// with its base images on a loopback registry.
type monorepoFixture struct {
	dir    string
	reg    *registry.Registry
	mirror string
	layers map[string][]string // image → layer digests
}

func newMonorepo(t *testing.T) *monorepoFixture {
	t.Helper()
	imgs, err := monorepo.Images(monorepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &monorepoFixture{dir: t.TempDir(), reg: registry.Start(t), layers: map[string][]string{}}
	for ref, img := range imgs {
		m.reg.Push(t, ref, img)
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			m.layers[ref] = append(m.layers[ref], d.String())
		}
	}
	m.reg.Reset()
	m.mirror = monorepo.Registry + "=" + m.reg.URL()
	if err := monorepo.CopyTo(m.dir); err != nil {
		t.Fatal(err)
	}
	m.git(t, "init", "-q")
	m.git(t, "add", ".")
	m.git(t, "commit", "-q", "-m", "monorepo")
	return m
}

func (m *monorepoFixture) git(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=kit", "-c", "user.email=kit@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = m.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// graph runs kit graph ... in the monorepo with its mirror and a cache
// under the test's directory.
func (m *monorepoFixture) graph(t *testing.T, cache string, args ...string) *run {
	t.Helper()
	full := append([]string{"graph"}, args[0])
	full = append(full, "--cache", cache, "--mirror", m.mirror)
	full = append(full, args[1:]...)
	return kit(t, m.dir, full...)
}

func parseReport(t *testing.T, r *run) graphReport {
	t.Helper()
	var rep graphReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("summary: %v\n%s", err, r)
	}
	return rep
}

// built returns the units of a report that executed nodes, sorted.
func (rep graphReport) built() []string {
	var out []string
	for _, r := range rep.Rows {
		if r.Built > 0 {
			out = append(out, r.Kind+" "+r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// users returns "system NAME" for every system using package p, plus
// "package p", sorted.
func users(p string) []string {
	out := []string{"package " + p}
	for _, s := range monorepo.Users[p] {
		out = append(out, "system "+s)
	}
	sort.Strings(out)
	return out
}

// TestGraphMonorepo builds the twelve systems of testing/monorepo as one
// graph: each base image is fetched and unpacked once (registry requests
// and start events), the graph's web system equals kit build's, a second
// run does no work, and touching a package rebuilds exactly the systems
// using it, the set --affected-since selects.
func TestGraphMonorepo(t *testing.T) {
	m := newMonorepo(t)
	cache := filepath.Join(t.TempDir(), "cache")
	out := filepath.Join(t.TempDir(), "out")

	// Cold.
	r := m.graph(t, cache, "build", "./...", "-o", out, "--json", "--progress", "json")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	rep := parseReport(t, r)
	if len(rep.Rows) != 14 {
		t.Fatalf("cold: %d rows, want 12 systems and 2 packages:\n%s", len(rep.Rows), r.stdout)
	}
	for _, row := range rep.Rows {
		if row.Status != "ok" {
			t.Errorf("cold: %s %s: %s %s", row.Kind, row.Name, row.Status, row.Error)
		}
	}
	// Every blob and manifest once.
	for ref, layers := range m.layers {
		repo, tag, _ := strings.Cut(ref, ":")
		if n := m.reg.Count("GET", "/v2/"+repo+"/manifests/"+tag); n != 1 {
			t.Errorf("cold: manifest of %s fetched %d times, want 1", ref, n)
		}
		for _, l := range layers {
			if n := m.reg.Count("GET", "/blobs/"+l); n != 1 {
				t.Errorf("cold: layer %s of %s fetched %d times, want 1", l, ref, n)
			}
		}
	}
	t.Logf("cold: %d registry requests, %d nodes in the graph", m.reg.Requests(), rep.Nodes)
	starts := map[string]int{}
	for _, e := range r.events {
		if e.Type == "start" {
			starts[e.Kind]++
			if e.Kind == "fetch" || e.Kind == "unpack" || e.Kind == "kernel" || e.Kind == "initrd-pack" {
				starts[e.Node]++
			}
		}
	}
	// Unpacks: init, base, and the two packages' images; each of those
	// and the kernel's modules packed once for all systems.
	for kind, want := range map[string]int{"fetch": 3, "unpack": 4, "kernel": 1, "initrd-pack": 5, "pkg-image": 2, "pkg-files": 2, "assemble": 12, "format": 12} {
		if starts[kind] != want {
			t.Errorf("cold: %d %s steps ran, want %d", starts[kind], kind, want)
		}
	}
	for node, n := range starts {
		if strings.Contains(node, " ") && n != 1 {
			t.Errorf("cold: %s ran %d times", node, n)
		}
	}
	t.Logf("cold: steps run by kind: %v", starts)
	for _, s := range monorepo.Systems {
		for _, suffix := range []string{"-kernel", "-initrd.img", "-cmdline"} {
			if _, err := os.Stat(filepath.Join(out, s, s+suffix)); err != nil {
				t.Errorf("cold: %v", err)
			}
		}
	}

	// The build wrote the lock files: commit them, as a user would.
	m.git(t, "add", ".")
	m.git(t, "commit", "-q", "-m", "locks")

	// The graph builds web as kit build does.
	single := filepath.Join(t.TempDir(), "single")
	mustKit(t, m.dir, "build", "--cache", filepath.Join(t.TempDir(), "c1"), "--mirror", m.mirror, "-o", single, "systems/web.yml")
	sameOutputs(t, "graph vs kit build of web", digests(t, filepath.Join(out, "web")), digests(t, single))

	// Warm: no work, no registry request.
	m.reg.Reset()
	r = m.graph(t, cache, "build", "./...", "--json", "--progress", "json")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if s := r.started(); len(s) > 0 {
		t.Errorf("warm: steps ran: %v", s)
	}
	if n := m.reg.Requests(); n != 0 {
		t.Errorf("warm: %d registry requests: %v", n, m.reg.Log())
	}
	if b := parseReport(t, r).built(); len(b) > 0 {
		t.Errorf("warm: built %v", b)
	}
	var cached int
	for _, e := range r.events {
		if e.Type == "cached" {
			cached++
		}
	}
	t.Logf("warm: %d cache lookups hit, 0 steps run, 0 registry requests", cached)

	// Touch a package: --affected-since selects its users; a build
	// rebuilds exactly them.
	for _, p := range []string{"tools", "motd"} {
		if p == "tools" {
			// A file the package copies.
			writeFile(t, filepath.Join(m.dir, "packages", p, "version"), "2\n")
		} else {
			file := filepath.Join(m.dir, "packages", p, "pkg.yml")
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, file, strings.Replace(string(b), "Welcome", "Hello", 1))
		}
		show := m.graph(t, cache, "show", "--affected-since", "HEAD", "--format", "json")
		if show.code != 0 {
			t.Fatalf("%s", show)
		}
		var g struct {
			Units []struct{ Name, Kind string } `json:"units"`
		}
		if err := json.Unmarshal([]byte(show.stdout), &g); err != nil {
			t.Fatal(err)
		}
		var affected []string
		for _, u := range g.Units {
			affected = append(affected, u.Kind+" "+u.Name)
		}
		sort.Strings(affected)
		if !slices.Equal(affected, users(p)) {
			t.Errorf("touch %s: --affected-since HEAD selects %v, want %v", p, affected, users(p))
		}
		r = m.graph(t, cache, "build", "./...", "--json", "--progress", "json")
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		if b := parseReport(t, r).built(); !slices.Equal(b, affected) {
			t.Errorf("touch %s: the build rebuilt %v; --affected-since selected %v", p, b, affected)
		}
		r = m.graph(t, cache, "build", "--affected-since", "HEAD", "--json")
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		var rows []string
		for _, row := range parseReport(t, r).Rows {
			rows = append(rows, row.Kind+" "+row.Name)
		}
		sort.Strings(rows)
		if !slices.Equal(rows, affected) {
			t.Errorf("touch %s: kit graph build --affected-since HEAD built %v, want %v", p, rows, affected)
		}
		m.git(t, "commit", "-q", "-am", "touch "+p)
	}

	// A source file of one system.
	writeFile(t, filepath.Join(m.dir, "systems", "files", "site.conf"), "listen 8080\n")
	show := m.graph(t, cache, "show", "--affected-since", "HEAD", "--format", "json")
	if !strings.Contains(show.stdout, `"name": "web"`) || strings.Count(show.stdout, `"kind": "system"`) != 1 {
		t.Errorf("site.conf changed: --affected-since HEAD selects:\n%s", show.stdout)
	}
}

// TestGraphShowDot checks that dot accepts kit graph show --format dot.
func TestGraphShowDot(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dot (graphviz) is missing")
		}
		t.Skip("dot (graphviz) is missing")
	}
	m := newMonorepo(t)
	cache := filepath.Join(t.TempDir(), "cache")
	mustGraph := func(args ...string) *run {
		r := m.graph(t, cache, args...)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		return r
	}
	mustGraph("build", "web", "db")
	r := mustGraph("show", "--format", "dot", "./...")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(r.stdout)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s\ninput:\n%s", err, stderr.String(), r.stdout)
	}
	if !bytes.Contains(stdout.Bytes(), []byte("<svg")) {
		t.Errorf("dot -Tsvg wrote no SVG")
	}
	// Cache status: web and db were built, the others not.
	for _, want := range []string{`"web: assemble\nhit`, `"api: assemble\nrun`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dot output lacks %s", want)
		}
	}
}

// statuses returns "kind name status" for every row, sorted.
func (rep graphReport) statuses() map[string]string {
	out := map[string]string{}
	for _, r := range rep.Rows {
		out[r.Kind+" "+r.Name] = r.Status
	}
	return out
}

// TestGraphFailures: a system whose image cannot be fetched (a corrupt
// layer) fails the build; without --keep-going the rest is cancelled (or
// had finished), with it every other system is built. A system that cannot
// be planned (an image the registry lacks) stops everything before any
// work without --keep-going.
func TestGraphFailures(t *testing.T) {
	m := newMonorepo(t)
	img, err := imagegen.Container("broken", imagegen.Config{Entrypoint: []string{"/bin/broken"}})
	if err != nil {
		t.Fatal(err)
	}
	m.reg.Push(t, "mono/broken:1", img)
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		m.reg.CorruptBlob(d, true)
	}
	writeFile(t, filepath.Join(m.dir, "systems", "broken.yml"), "kernel:\n  image: mono.kit.test/mono/kernel:1\ninit:\n  - mono.kit.test/mono/init:1\n"+
		"services:\n  - name: broken\n    image: mono.kit.test/mono/broken:1\n")

	// Without --keep-going.
	r := m.graph(t, filepath.Join(t.TempDir(), "cache"), "build", "--json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r)
	}
	rep := parseReport(t, r)
	st := rep.statuses()
	if st["system broken"] != "failed" {
		t.Errorf("broken: %s, want failed", st["system broken"])
	}
	canceled := 0
	for unit, s := range st {
		switch {
		case unit == "system broken":
		case s == "canceled":
			canceled++
		case s != "ok":
			t.Errorf("%s: %s, want ok or canceled", unit, s)
		}
	}
	if !strings.Contains(r.stderr, "system broken") || !strings.Contains(r.stdout, "digest") {
		t.Errorf("the failure is not reported with its cause:\n%s", r)
	}
	t.Logf("without --keep-going: broken failed, %d of 14 other units canceled", canceled)

	// With --keep-going: everything else is built.
	r = m.graph(t, filepath.Join(t.TempDir(), "cache"), "build", "--keep-going", "--json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r)
	}
	for unit, s := range parseReport(t, r).statuses() {
		if want := map[bool]string{true: "failed", false: "ok"}[unit == "system broken"]; s != want {
			t.Errorf("--keep-going: %s: %s, want %s", unit, s, want)
		}
	}

	// A system that cannot be planned.
	writeFile(t, filepath.Join(m.dir, "systems", "broken.yml"), "kernel:\n  image: mono.kit.test/mono/kernel:1\ninit:\n  - mono.kit.test/mono/nosuch:1\n")
	r = m.graph(t, filepath.Join(t.TempDir(), "cache"), "build", "--json", "--progress", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r)
	}
	if s := r.started(); len(s) > 0 {
		t.Errorf("a system could not be planned, yet steps ran: %v", s)
	}
	for unit, s := range parseReport(t, r).statuses() {
		if want := map[bool]string{true: "failed", false: "canceled"}[unit == "system broken"]; s != want {
			t.Errorf("planning failure: %s: %s, want %s", unit, s, want)
		}
	}
	if !strings.Contains(r.stdout, "broken.yml:4:5") {
		t.Errorf("the planning error does not point at the spec:\n%s", r.stdout)
	}
}

// TestGraphExportBazel writes the Bazel targets of the monorepo and checks
// them with buildifier.
func TestGraphExportBazel(t *testing.T) {
	m := newMonorepo(t)
	r := mustKit(t, m.dir, "graph", "export", "--bazel", "./...")
	files := strings.Fields(r.stdout)
	if want := []string{"packages/motd/BUILD.bazel", "packages/tools/BUILD.bazel", "systems/BUILD.bazel"}; !slices.Equal(files, want) {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	b, err := os.ReadFile(filepath.Join(m.dir, "systems", "BUILD.bazel"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"# Generated by kit graph export --bazel. DO NOT EDIT.\nload(\"@kit//bazel:kit.bzl\", \"kit_system\")\n",
		"kit_system(\n    name = \"db\",\n    formats = [\"kernel+initrd\"],\n    lock = \"db.lock\",\n    specs = [\"db.yml\"],\n    deps = [\n        \"//packages/motd\",\n        \"//packages/tools\",\n    ],\n)\n",
		"kit_system(\n    name = \"web\",\n    srcs = [\"files/site.conf\"],\n    formats = [\"kernel+initrd\"],\n    lock = \"web.lock\",\n    specs = [\"web.yml\"],\n)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("systems/BUILD.bazel lacks\n%s\n--- got:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "kit_system("); n != 12 {
		t.Errorf("%d kit_system targets, want 12", n)
	}
	if b, err := os.ReadFile(filepath.Join(m.dir, "packages", "tools", "BUILD.bazel")); err != nil || !strings.Contains(string(b), "kit_package(\n    name = \"tools\",\n    srcs = [\n        \"pkg.yml\",\n        \"version\",\n    ],\n)\n") {
		t.Errorf("packages/tools/BUILD.bazel: %v\n%s", err, b)
	}
	// Again: the same files; a hand-written BUILD.bazel is never replaced.
	mustKit(t, m.dir, "graph", "export", "--bazel", "./...")
	writeFile(t, filepath.Join(m.dir, "packages", "motd", "BUILD.bazel"), "# mine\n")
	if r := kit(t, m.dir, "graph", "export", "--bazel", "./..."); r.code == 0 || !strings.Contains(r.stderr, "not generated by kit graph export") {
		t.Errorf("a hand-written BUILD.bazel was not refused:\n%s", r)
	}
	bf, err := exec.LookPath("buildifier")
	if err != nil {
		p := filepath.Join(os.Getenv("HOME"), "go", "bin", "buildifier")
		if _, serr := os.Stat(p); serr != nil {
			t.Skip("buildifier is missing")
		}
		bf = p
	}
	cmd := exec.Command(bf, "-mode=check", "-lint=warn", filepath.Join(m.dir, "systems", "BUILD.bazel"), filepath.Join(m.dir, "packages", "tools", "BUILD.bazel"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("buildifier -mode=check: %v\n%s", err, out)
	}
}
