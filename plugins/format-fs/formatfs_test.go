package formatfs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/plugin"
	formatfs "github.com/kitbuild/kit/plugins/format-fs"
	"github.com/kitbuild/kit/plugins/internal/plugtest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

const testEpoch = 1700000000

// testCmdline is the command line of the test inputs.
const testCmdline = "console=ttyS0 root=/dev/vda\n"

func artifact(t *testing.T, arts []client.Artifact, suffix string) client.Artifact {
	t.Helper()
	for _, a := range arts {
		if a.Suffix == suffix {
			return a
		}
	}
	t.Fatalf("no artifact %s in %v", suffix, arts)
	return client.Artifact{}
}

func inputs(t *testing.T) map[string]sdk.Input {
	return map[string]sdk.Input{
		sdk.InputRootfs:  plugtest.RootfsTar(t, testCmdline),
		sdk.InputKernel:  plugtest.WriteFile(t, "kernel", "KERNEL "+strings.Repeat("k", 10000)),
		sdk.InputCmdline: plugtest.WriteFile(t, "cmdline", testCmdline),
	}
}

func TestDescribe(t *testing.T) {
	desc, err := sdktest.Serve(t, formatfs.Plugin()).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != formatfs.Name || len(desc.Components) != 2 {
		t.Fatalf("plugin %s with %d components", desc.Name, len(desc.Components))
	}
	c, ok := desc.Component(sdk.KindFormat, "kernel+squashfs")
	if !ok {
		t.Fatal("no kernel+squashfs")
	}
	var got []string
	for _, o := range c.Outputs {
		got = append(got, o.Suffix)
	}
	if strings.Join(got, " ") != "-kernel -squashfs.img -cmdline" {
		t.Errorf("outputs %v", got)
	}
	if _, err := plugin.CompileSchema(c.ConfigSchema); err != nil {
		t.Error(err)
	}
	if _, ok := desc.Component(sdk.KindFormat, "kernel+erofs"); !ok {
		t.Error("no kernel+erofs")
	}
}

func TestKernelSquashfs(t *testing.T) {
	plugtest.Tool(t, "unsquashfs")
	c := sdktest.Serve(t, formatfs.Plugin())
	in := inputs(t)
	for _, tc := range []struct {
		config, comp, block string
	}{
		{"", "zstd", "131072"},
		{`{"compression":"gzip","blockSize":4096}`, "gzip", "4096"},
	} {
		t.Run(tc.comp, func(t *testing.T) {
			arts := sdktest.RunFormat(t, c, "kernel+squashfs", client.BuildRequest{
				Inputs: in, Config: json.RawMessage(tc.config), SourceDateEpoch: testEpoch,
			})
			if got := artifact(t, arts, "-kernel").Digest; got != in[sdk.InputKernel].Digest {
				t.Errorf("-kernel is %s, the kernel input %s", got, in[sdk.InputKernel].Digest)
			}
			if got := artifact(t, arts, "-cmdline").Digest; got != in[sdk.InputCmdline].Digest {
				t.Errorf("-cmdline is %s, the command line input %s", got, in[sdk.InputCmdline].Digest)
			}
			img := artifact(t, arts, "-squashfs.img").Path
			sb := plugtest.Run(t, "unsquashfs", "-s", img)
			if !strings.Contains(sb, "Compression "+tc.comp) || !strings.Contains(sb, "Block size "+tc.block+"\n") {
				t.Errorf("unsquashfs -s: want %s, block size %s:\n%s", tc.comp, tc.block, sb)
			}
			ls := plugtest.Run(t, "unsquashfs", "-lln", "-d", "", img)
			for _, want := range []string{
				`^drwxr-xr-x 0/0 +\d+ \S+ \S+ $`,
				`^-rwxr-xr-x 0/0 +5008 \S+ \S+ /bin/busybox$`,
				`^-rwxr-xr-x 0/0 +5008 \S+ \S+ /bin/ash$`,
				`^lrwxrwxrwx 0/0 +7 \S+ \S+ /bin/sh -> busybox$`,
				`^crw------- 0/0 +5, +1 \S+ \S+ /dev/console$`,
				`^-rw-r----- 0/42 +22 \S+ \S+ /etc/shadow$`,
				`^prw------- 0/0 +0 \S+ \S+ /run/fifo$`,
				`^drwxrwxrwt 0/0 +\d+ \S+ \S+ /tmp$`,
			} {
				if !regexp.MustCompile(`(?m)` + want).MatchString(ls) {
					t.Errorf("unsquashfs -lln has no line matching %s:\n%s", want, ls)
				}
			}
			if regexp.MustCompile(`(?m) /boot(/|$)`).MatchString(ls) {
				t.Errorf("boot/ is in the root filesystem image:\n%s", ls)
			}
			out := filepath.Join(t.TempDir(), "x")
			plugtest.Run(t, "unsquashfs", "-no-xattrs", "-d", out, img, "/etc/passwd")
			if b, err := os.ReadFile(filepath.Join(out, "etc/passwd")); err != nil || string(b) != "root:x:0:0:root:/root:/bin/sh\n" {
				t.Errorf("/etc/passwd: %q, %v", b, err)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	c := sdktest.Serve(t, formatfs.Plugin())
	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	comp, _ := desc.Component(sdk.KindFormat, "kernel+squashfs")
	schema, err := plugin.CompileSchema(comp.ConfigSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		config        string
		schema, build string
	}{
		{`{"compression":"xz"}`, `at /compression: value must be one of 'zstd', 'gzip'`, `compression "xz": want zstd or gzip`},
		{`{"blockSize":1000}`, `at /blockSize: value must be one of 4096, 8192`, `blockSize 1000: want a power of two from 4096 to 1048576`},
		{`{"blockSize":"128K"}`, `at /blockSize: value must be one of`, `cannot unmarshal string`},
		{`{"comp":"gzip"}`, `additional properties 'comp' not allowed`, `unknown field "comp"`},
	} {
		t.Run(tc.config, func(t *testing.T) {
			if err := schema.Validate(json.RawMessage(tc.config)); err == nil || !strings.Contains(err.Error(), tc.schema) {
				t.Errorf("schema validation: %v, want %q", err, tc.schema)
			}
			_, err := c.BuildFormat(context.Background(), "kernel+squashfs", client.BuildRequest{
				Inputs: inputs(t), Config: json.RawMessage(tc.config), ScratchDir: t.TempDir(),
			})
			if err == nil || !strings.Contains(err.Error(), tc.build) {
				t.Errorf("build: %v, want %q", err, tc.build)
			}
		})
	}
	if err := schema.Validate(json.RawMessage(`{"compression":"gzip","blockSize":1048576}`)); err != nil {
		t.Error(err)
	}
	_, err = c.BuildFormat(context.Background(), "kernel+squashfs", client.BuildRequest{
		Inputs: map[string]sdk.Input{sdk.InputRootfs: plugtest.RootfsTar(t, testCmdline)}, ScratchDir: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "input kernel is missing") {
		t.Errorf("no kernel: %v", err)
	}
}

// TestBinary runs the built kit-plugin-format-fs as kit does, both formats.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	plugtest.Tool(t, "unsquashfs")
	plugtest.Tool(t, "fsck.erofs")
	c := sdktest.Start(t, sdktest.Build(t, "./cmd/kit-plugin-format-fs"))
	in := inputs(t)
	arts := sdktest.RunFormat(t, c, "kernel+squashfs", client.BuildRequest{Inputs: in, SourceDateEpoch: testEpoch})
	plugtest.Run(t, "unsquashfs", "-lln", artifact(t, arts, "-squashfs.img").Path)
	arts = sdktest.RunFormat(t, c, "kernel+erofs", client.BuildRequest{Inputs: in, SourceDateEpoch: testEpoch})
	plugtest.Run(t, "fsck.erofs", artifact(t, arts, "-erofs.img").Path)
}
