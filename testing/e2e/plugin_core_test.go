package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kitbuild/kit/sdk/sdktest"
)

// coreFormats are the built-in formats kit-plugin-format-core also serves.
var coreFormats = []string{"tar", "kernel+initrd", "tar-kernel-initrd", "docker"}

// TestPluginCoreFormats builds the four built-in formats with the real kit
// binary twice, into one cache: in process, then with
// KIT_BUILTIN_FORMATS=off through kit-plugin-format-core. The artifacts
// are byte-identical; the second build runs only the format steps (their
// keys are the plugin's) and its plan names the plugin for each of them.
func TestPluginCoreFormats(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the format-core plugin")
	}
	plugins := t.TempDir()
	bin, err := sdktest.BuildBinary(context.Background(), "../../plugins/format-core/cmd/kit-plugin-format-core", plugins)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	cache := filepath.Join(dir, "cache")
	args := func(extra ...string) []string {
		a := []string{"build", "--cache", cache}
		for _, name := range coreFormats {
			a = append(a, "-f", name)
		}
		return append(append(a, extra...), spec)
	}
	inProcess := []string{"KIT_PLUGIN_PATH=" + plugins}
	viaPlugin := []string{"KIT_PLUGIN_PATH=" + plugins, "KIT_BUILTIN_FORMATS=off"}
	component := "sha256:" + fileDigest(t, bin) + "/protocol=1"

	// plan returns the dry run's format nodes: node → plugin key component.
	plan := func(env []string) map[string]string {
		t.Helper()
		r := kitEnv(t, dir, env, args("--dry-run", "--explain", "--no-cache", "--progress=json")...)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		var nodes []struct {
			Node   string `json:"node"`
			Kind   string `json:"kind"`
			Plugin string `json:"plugin"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &nodes); err != nil {
			t.Fatalf("dry run JSON: %v\n%s", err, r.stdout)
		}
		out := map[string]string{}
		for _, n := range nodes {
			if n.Kind == "format" {
				out[n.Node] = n.Plugin
			}
		}
		return out
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{{inProcess, ""}, {viaPlugin, component}} {
		got := plan(tc.env)
		if len(got) != len(coreFormats) {
			t.Errorf("%v: format nodes %v, want one per format", tc.env, got)
		}
		for _, name := range coreFormats {
			if p, ok := got["format "+name]; !ok || p != tc.want {
				t.Errorf("%v: format %s has plugin %q (present %v), want %q", tc.env, name, p, ok, tc.want)
			}
		}
	}
	// The text plan shows the plugin under each format node.
	r := kitEnv(t, dir, viaPlugin, args("--dry-run", "--explain", "--no-cache")...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	for _, name := range coreFormats {
		if !strings.Contains(r.stdout, "format "+name+"\n                plugin: "+component+"\n") {
			t.Errorf("text plan does not show the plugin of format %s:\n%s", name, r.stdout)
		}
	}

	r = kitEnv(t, dir, inProcess, args("-o", filepath.Join(dir, "builtin"), "--progress=json")...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	keys := formatKeys(r)
	want := digests(t, filepath.Join(dir, "builtin"))
	for _, n := range []string{"small.tar", "small-kernel", "small-initrd.img", "small-cmdline", "small-initrd.tar", "small.docker"} {
		if want[n] == "" {
			t.Errorf("no artifact %s (have %v)", n, want)
		}
	}

	r = kitEnv(t, dir, viaPlugin, args("-o", filepath.Join(dir, "plugin"), "--progress=json", "--explain")...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	sameOutputs(t, "KIT_BUILTIN_FORMATS=off", digests(t, filepath.Join(dir, "plugin")), want)
	// Only the format steps run again, under keys of their own.
	var formats []string
	for _, name := range coreFormats {
		formats = append(formats, "format "+name)
	}
	slices.Sort(formats)
	if s := r.started(); !slices.Equal(s, formats) {
		t.Errorf("through the plugin, started %v, want %v", s, formats)
	}
	// Its events say the plugin runs them: --explain names the plugin as
	// what changed, and the formats' log lines are the plugin's.
	explained, logged := map[string]bool{}, false
	for _, e := range r.events {
		if e.Type == "queued" && e.Kind == "format" && slices.Contains(e.Explain, "plugin binary or protocol changed") {
			explained[e.Node] = true
		}
		if e.Type == "log" && e.Node == "format kernel+initrd" && strings.HasPrefix(e.Message, "plugin format-core: info: initramfs:") {
			logged = true
		}
	}
	for _, n := range formats {
		if !explained[n] {
			t.Errorf("--explain does not say the plugin changed %s", n)
		}
	}
	if !logged {
		t.Errorf("no log line of format-core in format kernel+initrd:\n%s", r)
	}
	viaKeys := formatKeys(r)
	if len(keys) != len(coreFormats) || len(viaKeys) != len(coreFormats) {
		t.Errorf("format node keys: in process %v, through the plugin %v", keys, viaKeys)
	}
	for node, key := range viaKeys {
		if key == keys[node] {
			t.Errorf("%s has the built-in's key %s through the plugin", node, key)
		}
	}
	// The lock file pins the plugin.
	lock := string(mustRead(t, filepath.Join(dir, "small.lock")))
	if !strings.Contains(lock, "  - name: format-core\n    sha256: sha256:"+fileDigest(t, bin)+"\n") {
		t.Errorf("lock file does not pin format-core:\n%s", lock)
	}
}

// formatKeys returns the keys of the format nodes a build's events name.
func formatKeys(r *run) map[string]string {
	out := map[string]string{}
	for _, e := range r.events {
		if e.Kind == "format" && e.Key != "" {
			out[e.Node] = e.Key
		}
	}
	return out
}
