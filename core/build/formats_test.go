package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/plugin"
	"github.com/kitbuild/kit/sdk/sdktest"
)

var testPlugin struct {
	once sync.Once
	dir  string
	err  error
}

// testHost returns a plugin host serving core/plugin's test plugin
// (formats greet, wrap, needy, loop-a, loop-b, orphan).
func testHost(t *testing.T) *plugin.Host {
	t.Helper()
	testPlugin.once.Do(func() {
		testPlugin.dir, testPlugin.err = os.MkdirTemp("", "kit-build-plugin-")
		if testPlugin.err == nil {
			_, testPlugin.err = sdktest.BuildBinary(context.Background(), "../plugin/testdata/kit-plugin-testfmt", testPlugin.dir)
		}
	})
	if testPlugin.err != nil {
		t.Fatal(testPlugin.err)
	}
	s, err := cache.Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	h := plugin.NewHost(plugin.WithSearchPath(plugin.Dir{Path: testPlugin.dir, Source: "test"}), plugin.WithCache(s))
	t.Cleanup(func() { h.Close() })
	return h
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testPlugin.dir != "" {
		os.RemoveAll(testPlugin.dir)
	}
	os.Exit(code)
}

func TestResolveFormats(t *testing.T) {
	h := testHost(t)
	ctx := context.Background()
	resolve := func(o Options) (*formatSet, error) {
		o.Plugins = h
		return resolveFormats(ctx, &o, "amd64", func() *plugin.Host { return h })
	}
	for _, tc := range []struct {
		name  string
		o     Options
		order string // the set's formats, needs first
		needs string // needs of the last format
		cfg   string // params of the last format's op
		err   string
	}{
		{name: "builtin only", o: Options{Formats: []string{"tar"}}, order: "tar"},
		{name: "format need", o: Options{Formats: []string{"wrap", "greet"}}, order: "greet,wrap", needs: ""},
		{name: "initrd and image needs", o: Options{Formats: []string{"needy"}}, order: "kernel+initrd,needy", needs: "initrd.img,image:boot"},
		{name: "disk size", o: Options{Formats: []string{"greet"}, DiskSize: 1 << 20}, order: "greet", cfg: `"config":{"diskSize":1048576}`},
		// greet is needed by wrap, which takes no disk size: greet gets it.
		{name: "disk size of a need", o: Options{Formats: []string{"wrap"}, DiskSize: 1 << 20}, order: "greet,wrap", cfg: `"config":{}`},
		{name: "disk size does not override", o: Options{Formats: []string{"greet"}, DiskSize: 1 << 20,
			FormatConfig: map[string]json.RawMessage{"greet": json.RawMessage(`{"diskSize":5}`)}}, order: "greet", cfg: `"config":{"diskSize":5}`},
		{name: "image override", o: Options{Formats: []string{"needy"},
			FormatConfig: map[string]json.RawMessage{"needy": json.RawMessage(`{"images":{"boot":"example.com/boot:9"}}`)}}, order: "kernel+initrd,needy", needs: "initrd.img,image:boot"},
		{name: "disk size nowhere", o: Options{Formats: []string{"tar", "needy"}, DiskSize: 1 << 20}, err: "--disk-size: none of the formats (tar, kernel+initrd, needy) takes a disk size"},
		{name: "loop", o: Options{Formats: []string{"loop-a"}}, err: "-f loop-a: formats need each other: loop-a → loop-b → loop-a"},
		{name: "missing need", o: Options{Formats: []string{"orphan"}}, err: `-f orphan: format orphan needs no-such-format: unknown output format "no-such-format"`},
		{name: "unknown", o: Options{Formats: []string{"nope"}}, err: `-f nope: unknown output format "nope" (built in: docker, kernel+initrd, tar, tar-kernel-initrd; from plugins: greet, loop-a, loop-b, needy, orphan, wrap)`},
		{name: "config for a builtin", o: Options{Formats: []string{"tar"}, FormatConfig: map[string]json.RawMessage{"tar": json.RawMessage(`{"a":1}`)}},
			err: `--format-config tar: format tar takes no configuration`},
		{name: "bad config", o: Options{Formats: []string{"greet"}, FormatConfig: map[string]json.RawMessage{"greet": json.RawMessage(`{"greeting":1}`)}},
			err: "--format-config greet: format greet: config: at /greeting: got number, want string"},
		{name: "bad image", o: Options{Formats: []string{"needy"}, FormatConfig: map[string]json.RawMessage{"needy": json.RawMessage(`{"images":{"grub":"x"}}`)}},
			err: `--format-config needy: format needy: config: images.grub: format needy has no image "grub" (its images: boot)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := resolve(tc.o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(set.order, ","); got != tc.order {
				t.Errorf("order %s, want %s", got, tc.order)
			}
			last := set.nodes[set.order[len(set.order)-1]]
			if got := strings.Join(last.needs, ","); got != tc.needs && tc.needs != "" {
				t.Errorf("needs %s, want %s", got, tc.needs)
			}
			params, err := last.op.Params()
			if err != nil {
				t.Fatal(err)
			}
			if tc.cfg != "" && !strings.Contains(string(params), tc.cfg) {
				t.Errorf("params %s lack %s", params, tc.cfg)
			}
			if tc.name == "disk size of a need" {
				if p, _ := set.nodes["greet"].op.Params(); !strings.Contains(string(p), `"config":{"diskSize":1048576}`) {
					t.Errorf("greet's params %s lack the disk size", p)
				}
			}
			if tc.name == "image override" {
				if ref := last.images["boot"]; ref != "example.com/boot:9" {
					t.Errorf("boot image %q", ref)
				}
				if strings.Contains(string(params), "example.com") {
					t.Errorf("the image reference is in the params (the image's key is the input's): %s", params)
				}
			}
			if tc.name == "initrd and image needs" && fmt.Sprint(set.imageRefs()) != "[registry.invalid/kit/boot:1]" {
				t.Errorf("image refs %v", set.imageRefs())
			}
		})
	}
}

func TestSetDefault(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `{"diskSize":7}`},
		{`{}`, `{"diskSize":7}`},
		{`{"a":1}`, `{"a":1,"diskSize":7}`},
		{`{"diskSize":1}`, `{"diskSize":1}`},
		{`{"big":12345678901234567890}`, `{"big":12345678901234567890,"diskSize":7}`},
	} {
		got, err := setDefault(json.RawMessage(tc.in), "diskSize", int64(7))
		if err != nil || string(got) != tc.want {
			t.Errorf("setDefault(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := setDefault(json.RawMessage(`[1]`), "diskSize", 1); err == nil {
		t.Error("setDefault of an array succeeded")
	}
}

func TestDedupOutputs(t *testing.T) {
	out := func(format, suffix, digest string) formatOutput {
		return formatOutput{Format: format, Output: graph.Output{Name: suffix, Digest: graph.Digest("sha256:" + digest)}}
	}
	kernel := []formatOutput{out("kernel+initrd", "-kernel", "k"), out("kernel+initrd", "-initrd.img", "i"),
		out("kernel+squashfs", "-kernel", "k"), out("kernel+squashfs", "-squashfs.img", "s")}
	got, err := dedupOutputs(kernel, "N")
	if err != nil || len(got) != 3 || got[2].Output.Name != "-squashfs.img" {
		t.Errorf("same kernel from two formats: %v, %v", got, err)
	}
	_, err = dedupOutputs([]formatOutput{out("iso-bios", ".iso", "a"), out("kernel+iso", ".iso", "b")}, "N")
	if err == nil || !strings.Contains(err.Error(), "formats iso-bios and kernel+iso both write N.iso, with different contents") {
		t.Errorf("different .iso files: %v", err)
	}
}
