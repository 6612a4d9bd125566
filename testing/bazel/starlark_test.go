package bazel

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/kitbuild/kit/core/steps/fetch"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// privateDir is bazel/private, where the rules' pure Starlark lives.
var privateDir = filepath.Join("..", "..", "bazel", "private")

// loadBzl evaluates a .bzl file of bazel/private the way Bazel would load
// it (loads resolved relative to the directory, no top-level control flow)
// and returns its globals.
func loadBzl(t testing.TB, name string) starlark.StringDict {
	t.Helper()
	cache := map[string]starlark.StringDict{}
	var load func(th *starlark.Thread, module string) (starlark.StringDict, error)
	load = func(th *starlark.Thread, module string) (starlark.StringDict, error) {
		if !strings.HasPrefix(module, ":") {
			return nil, fmt.Errorf("load %q: only files of bazel/private (\":name.bzl\")", module)
		}
		file := strings.TrimPrefix(module, ":")
		if g, ok := cache[file]; ok {
			return g, nil
		}
		src, err := os.ReadFile(filepath.Join(privateDir, file))
		if err != nil {
			return nil, err
		}
		th2 := &starlark.Thread{Name: file, Load: load}
		g, err := starlark.ExecFileOptions(&syntax.FileOptions{}, th2, file, src, starlark.StringDict{
			"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
		})
		if err != nil {
			return nil, err
		}
		cache[file] = g
		return g, nil
	}
	g, err := load(&starlark.Thread{Name: "test"}, ":"+name)
	if err != nil {
		t.Fatalf("loading bazel/private/%s: %v", name, err)
	}
	return g
}

// call calls a function of g with keyword arguments (Go values converted
// to Starlark) and returns the result as a Go value.
func call(t testing.TB, g starlark.StringDict, fn string, kwargs map[string]any) (any, error) {
	t.Helper()
	f, ok := g[fn].(starlark.Callable)
	if !ok {
		t.Fatalf("%s is not a function of the .bzl file", fn)
	}
	keys := make([]string, 0, len(kwargs))
	for k := range kwargs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var kw []starlark.Tuple
	for _, k := range keys {
		kw = append(kw, starlark.Tuple{starlark.String(k), toStarlark(t, kwargs[k])})
	}
	v, err := starlark.Call(&starlark.Thread{Name: fn}, f, nil, kw)
	if err != nil {
		return nil, err
	}
	return fromStarlark(t, v), nil
}

func toStarlark(t testing.TB, v any) starlark.Value {
	t.Helper()
	switch v := v.(type) {
	case string:
		return starlark.String(v)
	case int:
		return starlark.MakeInt(v)
	case []string:
		l := make([]starlark.Value, len(v))
		for i, s := range v {
			l[i] = starlark.String(s)
		}
		return starlark.NewList(l)
	case map[string]string:
		d := starlark.NewDict(len(v))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			_ = d.SetKey(starlark.String(k), starlark.String(v[k]))
		}
		return d
	case map[string][]string:
		d := starlark.NewDict(len(v))
		for k, l := range v {
			_ = d.SetKey(starlark.String(k), toStarlark(t, l))
		}
		return d
	}
	t.Fatalf("no Starlark value for %T", v)
	return nil
}

func fromStarlark(t testing.TB, v starlark.Value) any {
	t.Helper()
	switch v := v.(type) {
	case starlark.String:
		return string(v)
	case starlark.Int:
		i, _ := v.Int64()
		return int(i)
	case starlark.Bool:
		return bool(v)
	case *starlark.List:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = fromStarlark(t, v.Index(i))
		}
		return out
	case starlark.Tuple:
		out := make([]any, len(v))
		for i := range v {
			out[i] = fromStarlark(t, v[i])
		}
		return out
	case *starlark.Dict:
		out := map[string]any{}
		for _, kv := range v.Items() {
			out[string(kv[0].(starlark.String))] = fromStarlark(t, kv[1])
		}
		return out
	case *starlarkstruct.Struct:
		out := map[string]any{}
		for _, name := range v.AttrNames() {
			a, _ := v.Attr(name)
			out[name] = fromStarlark(t, a)
		}
		return out
	}
	t.Fatalf("no Go value for Starlark %s", v.Type())
	return nil
}

// action is what a rule runs: the argument lists, the environment and the
// sh script made of them.
type action struct {
	Argv   [][]string        `json:"argv"`
	Env    map[string]string `json:"env"`
	Script string            `json:"script"`
}

func toAction(t testing.TB, v any) action {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a action
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// Paths of the sample targets, as Bazel lays them out in the execroot
// (relative to it); TestCommandsRun builds the same layout.
const (
	kitPath    = "bazel-out/k8-opt-exec/bin/cmd/kit/kit_/kit"
	fsPlugin   = "bazel-out/k8-opt-exec/bin/plugins/format-fs/cmd/kit-plugin-format-fs/kit-plugin-format-fs_/kit-plugin-format-fs"
	binSystems = "bazel-out/k8-fastbuild/bin/systems"
	mirrorURL  = "http://127.0.0.1:5000" // the golden's stand-in for the test registry
)

// sample is one target of the sample workspace: the function of
// commands.bzl that makes its action and the arguments the rule passes.
type sample struct {
	name   string
	fn     string
	kwargs map[string]any
	// declared: the outputs Bazel declares, relative to the execroot;
	// directories end in "/".
	declared []string
}

// samples returns the sample targets, with mirror as the registry URL.
//
//	kit_package(name = "hello", srcs = ["pkg.yml", "hello.txt"])  # systems/hello
//	kit_system(name = "demo", spec = "demo.yml", source_date_epoch = 1700000000,
//	    formats = ["kernel+initrd", "tar", "tar-kernel-initrd", "docker"], deps = ["//systems/hello", "base.oci"])
//	kit_system(name = "demo-mirror", spec = "demo-mirror.yml", formats = ["kernel+squashfs"],
//	    format_config = {"squashfs.json": "kernel+squashfs"},
//	    mirrors = {"registry.kit.test": mirror})
func samples(mirror string) []sample {
	return []sample{
		{
			name: "hello", fn: "kit_package_commands",
			kwargs: map[string]any{
				"kit": kitPath, "pkg_dir": "systems/hello",
				"layout_dir": binSystems + "/hello/hello.oci", "cache_dir": binSystems + "/hello/hello.kitcache",
			},
			declared: []string{binSystems + "/hello/hello.oci/", binSystems + "/hello/hello.kitcache/"},
		},
		{
			name: "demo", fn: "kit_system_commands",
			kwargs: map[string]any{
				"kit": kitPath, "name": "demo", "specs": []string{"systems/demo.yml"},
				"formats": []string{"kernel+initrd", "tar", "tar-kernel-initrd", "docker"}, "out_dir": binSystems,
				"cache_dir": binSystems + "/demo.kitcache", "source_date_epoch": 1700000000,
				"images": []string{binSystems + "/hello/hello.oci", "systems/base.oci"},
			},
			declared: []string{binSystems + "/demo-kernel", binSystems + "/demo-initrd.img", binSystems + "/demo-cmdline", binSystems + "/demo.tar", binSystems + "/demo-initrd.tar", binSystems + "/demo.docker", binSystems + "/demo.kitcache/"},
		},
		{
			name: "demo-mirror", fn: "kit_system_commands",
			kwargs: map[string]any{
				"kit": kitPath, "name": "demo-mirror", "specs": []string{"systems/demo-mirror.yml"},
				"formats": []string{"kernel+squashfs"}, "out_dir": binSystems,
				"cache_dir":     binSystems + "/demo-mirror.kitcache",
				"mirrors":       map[string]string{"registry.kit.test": mirror},
				"format_config": map[string]string{"kernel+squashfs": "systems/squashfs.json"},
				"plugin_dirs":   []string{filepath.Dir(fsPlugin)},
			},
			declared: []string{binSystems + "/demo-mirror-kernel", binSystems + "/demo-mirror-squashfs.img", binSystems + "/demo-mirror-cmdline", binSystems + "/demo-mirror.kitcache/"},
		},
	}
}

// sampleActions evaluates commands.bzl for every sample.
func sampleActions(t testing.TB, mirror string) map[string]action {
	t.Helper()
	g := loadBzl(t, "commands.bzl")
	out := map[string]action{}
	for _, s := range samples(mirror) {
		v, err := call(t, g, s.fn, s.kwargs)
		if err != nil {
			t.Fatalf("%s(%s): %v", s.fn, s.name, err)
		}
		out[s.name] = toAction(t, v)
	}
	return out
}

// TestCommandsGolden pins the exact command lines of the sample targets.
func TestCommandsGolden(t *testing.T) {
	got, err := json.MarshalIndent(sampleActions(t, mirrorURL), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "commands.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./testing/bazel -run TestCommandsGolden -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("commands.bzl's command lines changed; if that is meant, run with -update and review the diff of %s\ngot:\n%s", golden, got)
	}
}

// TestSystemOutputs checks the declared output names (kit's naming,
// docs/formats.md) and the refusals.
func TestSystemOutputs(t *testing.T) {
	g := loadBzl(t, "commands.bzl")
	for _, tc := range []struct {
		formats []string
		extra   map[string][]string
		want    []string
		err     string
	}{
		{formats: []string{"kernel+initrd"}, want: []string{"s-kernel", "s-initrd.img", "s-cmdline"}},
		{formats: []string{"tar", "docker", "tar-kernel-initrd"}, want: []string{"s.tar", "s.docker", "s-initrd.tar"}},
		// Shared names (kernel, cmdline) are declared once.
		{formats: []string{"kernel+initrd", "kernel+squashfs"}, want: []string{"s-kernel", "s-initrd.img", "s-cmdline", "s-squashfs.img"}},
		{formats: []string{"qcow2-bios", "iso-efi"}, want: []string{"s.qcow2", "s-efi.iso"}},
		{formats: []string{"mine"}, extra: map[string][]string{"mine": {".mine", "-mine.sig"}}, want: []string{"s.mine", "s-mine.sig"}},
		{formats: []string{"tar"}, extra: map[string][]string{"tar": {".tar.override"}}, want: []string{"s.tar.override"}},
		{formats: []string{"nope"}, err: `format "nope" is neither built in nor served by kit's plugins`},
		{formats: []string{}, err: "no formats"},
		{formats: []string{"mine"}, extra: map[string][]string{"mine": {}}, err: "writes no file"},
	} {
		kw := map[string]any{"name": "s", "formats": tc.formats}
		if tc.extra != nil {
			kw["format_outputs"] = tc.extra
		}
		got, err := call(t, g, "kit_system_outputs", kw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want one containing %q", tc.formats, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.formats, err)
			continue
		}
		var names []string
		for _, n := range got.([]any) {
			names = append(names, n.(string))
		}
		if !reflect.DeepEqual(names, tc.want) {
			t.Errorf("%v: outputs %q, want %q", tc.formats, names, tc.want)
		}
	}
	got, err := call(t, g, "kit_system_plugins", map[string]any{"formats": []string{"vmdk", "tar", "iso-bios", "raw-efi", "kernel+squashfs"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"format-disk", "format-fs", "format-iso"}; !reflect.DeepEqual(got, want) {
		t.Errorf("kit_system_plugins: %v, want %v", got, want)
	}
}

// TestLockPath checks the macro's default lock against kit's own rule.
func TestLockPath(t *testing.T) {
	g := loadBzl(t, "commands.bzl")
	for _, spec := range []string{"x.yml", "redis-os.yml", "d/x.yaml", "x.kit.hcl", "X.YML", "x.json", "x.spec", "noext", ":x.yml", "//systems/a:b/x.yml", "a.b/x"} {
		got, err := call(t, g, "lock_path", map[string]any{"spec": spec})
		if err != nil {
			t.Fatal(err)
		}
		path := spec[strings.LastIndex(spec, ":")+1:]
		want := spec[:len(spec)-len(path)] + fetch.LockPath(path)
		if got != want {
			t.Errorf("lock_path(%q) = %q, kit uses %q", spec, got, want)
		}
	}
}

// TestBadArguments: commands.bzl refuses what kit would refuse later.
func TestBadArguments(t *testing.T) {
	g := loadBzl(t, "commands.bzl")
	for _, tc := range []struct {
		fn     string
		kwargs map[string]any
		err    string
	}{
		{"kit_system_commands", map[string]any{"kit": "k", "name": "s", "specs": []string{}, "formats": []string{"tar"}, "out_dir": "o", "cache_dir": "c"}, "no spec"},
		{"kit_system_commands", map[string]any{"kit": "k", "name": "s", "specs": []string{"s.yml"}, "formats": []string{"tar"}, "out_dir": "o", "cache_dir": "c", "source_date_epoch": -1}, "source_date_epoch"},
		{"kit_package_commands", map[string]any{"kit": "k", "pkg_dir": "p", "layout_dir": "l", "cache_dir": "c", "source_date_epoch": "0"}, "source_date_epoch"},
	} {
		if _, err := call(t, g, tc.fn, tc.kwargs); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s(%v): error %v, want one containing %q", tc.fn, tc.kwargs, err, tc.err)
		}
	}
}
