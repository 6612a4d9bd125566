package plugin_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/plugin"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/sdk/sdktest"
)

// binDir holds the test plugins TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kit-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, p := range []string{"testdata/kit-plugin-testfmt", "testdata/kit-plugin-liar"} {
		if _, err := sdktest.BuildBinary(context.Background(), p, dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// install copies the test plugin src (a file name in binDir) into dir as
// kit-plugin-NAME and returns its path.
func install(t testing.TB, dir, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(binDir, src))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, plugin.BinaryPrefix+name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// modify replaces the binary at p by a copy with one more byte (renamed
// over it, as installers do: a running binary cannot be written to).
func modify(t testing.TB, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tmp := p + ".new"
	if err := os.WriteFile(tmp, append(b, 'x'), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func TestDiscover(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	write := func(p string, mode os.FileMode) {
		t.Helper()
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(a, "kit-plugin-one"), 0o755)
	write(filepath.Join(b, "kit-plugin-one"), 0o755)       // shadowed
	write(filepath.Join(b, "kit-plugin-two"), 0o755)       // found in b
	write(filepath.Join(a, "kit-plugin-noexec"), 0o644)    // not executable
	write(filepath.Join(a, "kit-plugin-Bad"), 0o755)       // invalid name
	write(filepath.Join(a, "other-tool"), 0o755)           // no prefix
	os.MkdirAll(filepath.Join(a, "kit-plugin-dir"), 0o755) // a directory
	write(filepath.Join(root, "real", "tool"), 0o755)      // target of a symlink
	os.Symlink(filepath.Join(root, "real", "tool"), filepath.Join(b, "kit-plugin-linked"))
	os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(b, "kit-plugin-dangling"))

	got, err := plugin.Discover([]plugin.Dir{{Path: a, Source: "a"}, {Path: filepath.Join(root, "missing"), Source: "m"}, {Path: b, Source: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, bin := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s %v", bin.Name, strings.TrimPrefix(bin.Path, root), bin.Source, bin.Shadowed != nil))
	}
	want := []string{
		"linked /b/kit-plugin-linked b false",
		"one /a/kit-plugin-one a true",
		"two /b/kit-plugin-two b false",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("Discover:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(got) == 3 && (len(got[1].Shadowed) != 1 || got[1].Shadowed[0] != filepath.Join(b, "kit-plugin-one")) {
		t.Errorf("shadowed = %v", got[1].Shadowed)
	}
}

func TestSearchPath(t *testing.T) {
	t.Setenv(plugin.PathEnv, "/x/one:/x/two::/x/one")
	t.Setenv("XDG_DATA_HOME", "/data")
	dirs := plugin.SearchPath()
	if len(dirs) != 4 {
		t.Fatalf("SearchPath = %v", dirs)
	}
	if dirs[0] != (plugin.Dir{Path: "/x/one", Source: plugin.SourceEnv}) || dirs[1].Path != "/x/two" ||
		dirs[2].Source != plugin.SourceBeside || dirs[3] != (plugin.Dir{Path: "/data/kit/plugins", Source: plugin.SourceUser}) {
		t.Errorf("SearchPath = %v", dirs)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d := plugin.UserDir(); d != "/home/u/.local/share/kit/plugins" {
		t.Errorf("UserDir = %q", d)
	}
}

// env is a host over one plugin directory and a fresh cache.
type env struct {
	dir   string
	store *cache.Store
	host  *plugin.Host
}

func newEnv(t *testing.T, opts ...plugin.Option) *env {
	t.Helper()
	e := &env{dir: filepath.Join(t.TempDir(), "plugins")}
	var err error
	if e.store, err = cache.Open(filepath.Join(t.TempDir(), "cache")); err != nil {
		t.Fatal(err)
	}
	install(t, e.dir, "kit-plugin-testfmt", "testfmt")
	e.host = e.newHost(t, opts...)
	return e
}

func (e *env) newHost(t *testing.T, opts ...plugin.Option) *plugin.Host {
	h := plugin.NewHost(append([]plugin.Option{plugin.WithSearchPath(plugin.Dir{Path: e.dir, Source: "test"}), plugin.WithCache(e.store)}, opts...)...)
	t.Cleanup(func() { h.Close() })
	return h
}

func TestDescribeIsCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := e.host.Plugin(ctx, "testfmt")
	if err != nil {
		t.Fatal(err)
	}
	if p.Err != nil || p.Cached || p.Version() != "1.0.0" || p.Protocol() != 1 {
		t.Fatalf("first describe: err %v, cached %v, version %q, protocol %d", p.Err, p.Cached, p.Version(), p.Protocol())
	}
	var names []string
	for n := range p.Formats {
		names = append(names, n)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "greet,loop-a,loop-b,needy,orphan,wrap" || len(p.Invalid) != 0 {
		t.Errorf("formats %v, invalid %v", names, p.Invalid)
	}
	if got := e.host.FormatNames(ctx); strings.Join(got, ",") != "greet,loop-a,loop-b,needy,orphan,wrap" {
		t.Errorf("FormatNames = %v", got)
	}
	// A second host finds the description in the cache.
	p2, err := e.newHost(t).Plugin(ctx, "testfmt")
	if err != nil || !p2.Cached || p2.Digest != p.Digest || len(p2.Formats) != 6 {
		t.Fatalf("second describe: %v, cached %v, formats %v, invalid %v", err, p2 != nil && p2.Cached, p2.Formats, p2.Invalid)
	}
	// A changed binary is described afresh.
	modify(t, p.Path)
	p3, err := e.newHost(t).Plugin(ctx, "testfmt")
	if err != nil || p3.Cached || p3.Digest == p.Digest {
		t.Fatalf("changed binary: %v, cached %v", err, p3 != nil && p3.Cached)
	}
	if _, err := e.host.Plugin(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "kit-plugin-nope") {
		t.Errorf("unknown plugin: %v", err)
	}
}

func TestFormatLookup(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	f, err := e.host.Format(ctx, "wrap")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "wrap" || f.Version() != "1" || !slices.Equal(f.Outputs(), []string{".wrap", ".sum"}) || !slices.Equal(f.Needs(), []string{"greet"}) {
		t.Errorf("wrap: %s %s %v needs %v", f.Name(), f.Version(), f.Outputs(), f.Needs())
	}
	d, proto := f.Plugin()
	if d != f.Served().Digest || proto != 1 {
		t.Errorf("Plugin() = %s, %d", d, proto)
	}
	n, _ := e.host.Format(ctx, "needy")
	if !slices.Equal(n.Needs(), []string{"initrd.img"}) || len(n.Images()) != 1 || n.Images()[0].Name != "boot" {
		t.Errorf("needy: needs %v images %v", n.Needs(), n.Images())
	}
	if _, err := e.host.Format(ctx, "nope"); !errors.Is(err, plugin.ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}

	// Two plugins serving one format name: an error naming both binaries.
	other := install(t, e.dir, "kit-plugin-testfmt", "other")
	_, err = e.newHost(t).Format(ctx, "greet")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(e.dir, "kit-plugin-testfmt")) || !strings.Contains(err.Error(), other) {
		t.Errorf("two plugins: %v", err)
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	greet, _ := e.host.Format(ctx, "greet")
	needy, _ := e.host.Format(ctx, "needy")
	for _, tc := range []struct {
		f          *plugin.Format
		config     string
		want       string // error
		rest       string
		images     string
		opError    bool
		noValidate bool
	}{
		{f: greet, config: ``},
		{f: greet, config: `{"greeting":"hi"}`, rest: `{"greeting":"hi"}`},
		{f: greet, config: `{"greeting":5}`, want: "at /greeting: got number, want string"},
		{f: greet, config: `{"colour":"red"}`, want: "'colour' not allowed"},
		{f: greet, config: `{"images":{"boot":"x"}}`, want: "format greet uses no images"},
		{f: needy, config: `{"images":{"boot":"example.com/boot:2"}}`, images: "boot=example.com/boot:2"},
		{f: needy, config: `{"images":{"grub":"x"}}`, want: `format needy has no image "grub" (its images: boot)`},
		{f: needy, config: `{"images":{"boot":""}}`, want: "empty reference"},
		{f: needy, config: `{"images":["x"]}`, want: "want an object of image name to reference"},
		{f: needy, config: `{"images":{"boot":"r"},"x":1}`, want: "'x' not allowed"},
		{f: greet, config: `[1]`, want: "want a JSON object"},
	} {
		err := tc.f.ValidateConfig(json.RawMessage(tc.config))
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: error %v, want %q", tc.f.Name(), tc.config, err, tc.want)
			}
			if _, err := format.NewOpOf(tc.f, format.Options{Config: json.RawMessage(tc.config)}); err == nil {
				t.Errorf("%s %s: NewOpOf accepted it", tc.f.Name(), tc.config)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.f.Name(), tc.config, err)
			continue
		}
		rest, images, err := tc.f.SplitConfig(json.RawMessage(tc.config))
		var il []string
		for k, v := range images {
			il = append(il, k+"="+v)
		}
		if err != nil || string(rest) != tc.rest || strings.Join(il, ",") != tc.images {
			t.Errorf("%s %s: SplitConfig = %s, %v, %v", tc.f.Name(), tc.config, rest, images, err)
		}
	}
}

// fakeAssemble stands in for the assemble step: it writes the outputs a
// format reads.
type fakeAssemble struct{ tag string }

func (fakeAssemble) Kind() string              { return "assemble" }
func (fakeAssemble) Version() string           { return "test" }
func (a fakeAssemble) Params() ([]byte, error) { return json.Marshal(a.tag) }
func (a fakeAssemble) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/hello", Mode: 0o644, Size: int64(len(a.tag)), Typeflag: tar.TypeReg})
	tw.Write([]byte(a.tag))
	tw.Close()
	var outs []graph.Output
	for _, f := range []struct {
		name string
		data []byte
	}{{format.RootfsOutput, buf.Bytes()}, {format.KernelOutput, []byte("KERNEL")}, {format.CmdlineOutput, []byte("console=ttyS0")}} {
		o, err := format.WriteBlob(ctx, x, f.name, format.MediaTypeBinary, func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		})
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// events collects solver events.
type events struct {
	mu  sync.Mutex
	all []solver.Event
}

func (ev *events) add(e solver.Event) { ev.mu.Lock(); ev.all = append(ev.all, e); ev.mu.Unlock() }

func (ev *events) logs() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []string
	for _, e := range ev.all {
		if e.Type == solver.EventLog {
			out = append(out, e.Message)
		}
	}
	return out
}

// build runs format name (a plugin format of e's host) with config on the
// fake assemble step and returns its outputs' contents by name.
func (e *env) build(t *testing.T, name, config string, ev *events) (map[string]string, *graph.Plan, error) {
	t.Helper()
	ctx := context.Background()
	av := graph.NewVertex("assemble", fakeAssemble{tag: "sys"})
	targets, err := e.vertices(ctx, name, config, av)
	if err != nil {
		return nil, nil, err
	}
	plan, err := graph.NewPlan(graph.Env{Platform: "linux/amd64", SourceDateEpoch: 7}, targets)
	if err != nil {
		return nil, nil, err
	}
	var opts []solver.Option
	if ev != nil {
		opts = append(opts, solver.WithEvents(ev.add))
	}
	res, err := solver.New(e.store, opts...).Solve(ctx, plan)
	if err != nil {
		return nil, plan, err
	}
	out := map[string]string{}
	for _, o := range res[plan.Targets[0].Key].Outputs {
		r, err := e.store.Open(ctx, o.Digest)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		out[o.Name] = string(b)
	}
	return out, plan, nil
}

// vertices makes the format vertex of name, with the format vertices of
// its needs (format needs only; these tests use no image or initrd).
func (e *env) vertices(ctx context.Context, name, config string, av *graph.Vertex) (*graph.Vertex, error) {
	f, err := e.host.Format(ctx, name)
	if err != nil {
		return nil, err
	}
	inputs := []*graph.Vertex{av}
	for _, n := range f.Needs() {
		v, err := e.vertices(ctx, n, "", av)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, v)
	}
	op, err := format.NewOpOf(f, format.Options{SourceDateEpoch: 7, Config: json.RawMessage(config), Arch: "amd64"}, f.Needs()...)
	if err != nil {
		return nil, err
	}
	return graph.NewVertex("format "+name, op, inputs...), nil
}

func TestBuild(t *testing.T) {
	e := newEnv(t)
	ev := &events{}
	out, plan, err := e.build(t, "greet", `{"greeting":"hi","behaviour":"log"}`, ev)
	if err != nil {
		t.Fatal(err)
	}
	txt := out[".txt"]
	for _, want := range []string{"hi from amd64\n", "epoch 7\n", "input rootfs.tar sha256:", "input kernel sha256:", "input cmdline sha256:"} {
		if !strings.Contains(txt, want) {
			t.Errorf("greet.txt lacks %q:\n%s", want, txt)
		}
	}
	p, _ := e.host.Plugin(context.Background(), "testfmt")
	if c := plan.Targets[0].Components.Plugin; c != string(p.Digest)+"/protocol=1" {
		t.Errorf("key component plugin = %q", c)
	}
	logs := strings.Join(ev.logs(), "\n")
	if !strings.Contains(logs, "plugin testfmt: info: greeting") || !strings.Contains(logs, "plugin testfmt: warn: second line") {
		t.Errorf("plugin logs did not reach the step's events:\n%s", logs)
	}
	noTemp(t, e.store)

	// A format needing another: wrap gets greet's outputs.
	out, plan, err = e.build(t, "wrap", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out[".wrap"], "wrapped: hello from amd64") || !strings.HasPrefix(out[".sum"], "sha256:") {
		t.Errorf("wrap outputs: %q", out)
	}
	if n := len(plan.Targets[0].Inputs); n != 2 {
		t.Errorf("wrap has %d inputs, want 2 (assemble, greet)", n)
	}
}

// noTemp fails unless the store's tmp directory is empty.
func noTemp(t *testing.T, s *cache.Store) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("cache tmp holds %s", e.Name())
	}
}

func TestBuildFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  string
		env     string // $KIT_TEST_PLUGIN_BEHAVIOUR
		opts    []plugin.Option
		changed bool // modify the binary after the host found it
		want    []string
	}{
		{name: "error", format: "greet", env: "bogus", want: []string{"plugin testfmt (", `format greet: unknown behaviour "bogus"`}},
		{name: "crash", format: "greet", env: "crash", want: []string{"plugin testfmt (", "format greet", "the plugin process died during the build", "exit status 3"}},
		{name: "hang", format: "greet", env: "hang", opts: []plugin.Option{plugin.WithBuildTimeout(3 * time.Second)},
			want: []string{"plugin testfmt (", "format greet", "no answer within 3s (--plugin-timeout); the plugin was stopped"}},
		{name: "wrong digest", format: "liar", want: []string{"plugin liar (", "format liar", "plugin returned a bad artifact", "the plugin claimed sha256:"}},
		{name: "changed binary", format: "greet", changed: true, want: []string{"plugin testfmt (", "changed while kit was running"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			install(t, e.dir, "kit-plugin-liar", "liar")
			t.Setenv("KIT_TEST_PLUGIN_BEHAVIOUR", tc.env)
			if tc.changed {
				// The first host describes the plugin (and caches that);
				// the second finds the description in the cache and has
				// not started the plugin when its binary changes.
				if _, err := e.host.Plugins(context.Background()); err != nil {
					t.Fatal(err)
				}
				e.host = e.newHost(t, tc.opts...)
				p, err := e.host.Plugin(context.Background(), "testfmt")
				if err != nil || !p.Cached {
					t.Fatalf("plugin: %v (cached: %v)", err, p != nil && p.Cached)
				}
				modify(t, p.Path)
			}
			_, plan, err := e.build(t, tc.format, "", nil)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var ve *solver.VertexError
			if !errors.As(err, &ve) || ve.Node != "format "+tc.format {
				t.Errorf("error does not name the step: %v", err)
			}
			noTemp(t, e.store)
			if a, _ := e.store.GetAction(plan.Targets[0].Key); a != nil {
				t.Errorf("the failed step was recorded: %+v", a)
			}
			ents, _ := e.store.List(context.Background())
			for _, en := range ents {
				if en.Kind == format.Kind {
					t.Errorf("cache holds a format entry %s", en.Name)
				}
			}
			for _, half := range []string{"half a fi", "what the plugin wrote\n"} {
				if e.store.Has(graph.FromBytes([]byte(half))) {
					t.Errorf("the store holds the plugin's partial output %q", half)
				}
			}
		})
	}
}

// TestNextBuildAfterCrash: after a crash, the same step on the same cache
// gives the bytes a fresh cache gives.
func TestNextBuildAfterCrash(t *testing.T) {
	e := newEnv(t)
	t.Setenv("KIT_TEST_PLUGIN_BEHAVIOUR", "crash")
	if _, _, err := e.build(t, "wrap", "", nil); err == nil {
		t.Fatal("crash build succeeded")
	}
	t.Setenv("KIT_TEST_PLUGIN_BEHAVIOUR", "ok")
	got, _, err := e.build(t, "wrap", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh := newEnv(t)
	want, _, err := fresh.build(t, "wrap", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !maps(got, want) {
		t.Errorf("after a crash: %q, fresh: %q", got, want)
	}
	noTemp(t, e.store)
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCheckPin(t *testing.T) {
	p := &plugin.Plugin{Binary: plugin.Binary{Name: "x", Path: "/p/kit-plugin-x"}, Digest: graph.FromBytes([]byte("new"))}
	if err := plugin.CheckPin(p, ""); err != nil {
		t.Errorf("no pin: %v", err)
	}
	if err := plugin.CheckPin(p, p.Digest); err != nil {
		t.Errorf("same pin: %v", err)
	}
	old := graph.FromBytes([]byte("old"))
	err := plugin.CheckPin(p, old)
	want := "plugin x (/p/kit-plugin-x) changed since it was locked: lock sha256:" + old.Hex() + ", binary sha256:" + p.Digest.Hex() + "; rerun with --update-lock to accept it"
	var ce *plugin.ChangedError
	if err == nil || err.Error() != want || !errors.As(err, &ce) {
		t.Errorf("CheckPin = %v\nwant %s", err, want)
	}
}
