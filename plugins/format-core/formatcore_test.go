package formatcore_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/format/formattest"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
	formatcore "github.com/kitbuild/kit/plugins/format-core"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

const testEpoch = 1700000000

var names = []string{"tar", "docker", "kernel+initrd", "tar-kernel-initrd"}

// testInputs are a small system's host inputs: a rootfs with boot/, a
// kernel, a command line and a microcode cpio.
func testInputs(t *testing.T) map[string]sdk.Input {
	t.Helper()
	kernel := "KERNEL " + strings.Repeat("k", 5000)
	cmdline := "console=ttyS0 quiet"
	ucode := "UCODE-CPIO"
	file := func(name, s string) sdk.Input {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(s), 0o444); err != nil {
			t.Fatal(err)
		}
		return sdktest.Input(t, p)
	}
	return map[string]sdk.Input{
		sdk.InputRootfs: file("rootfs.tar", string(formattest.Tar(t, formattest.Sorted([]formattest.Entry{
			formattest.File("Dockerfile", "FROM old\n", 0o644),
			formattest.Dir("boot", 0o755),
			formattest.File("boot/cmdline", cmdline, 0o644),
			formattest.File("boot/kernel", kernel, 0o644),
			formattest.File("boot/ucode.cpio", ucode, 0o644),
			formattest.Dir("etc", 0o755),
			formattest.File("etc/hostname", "core\n", 0o644),
			formattest.Dir("sbin", 0o755),
			formattest.File("sbin/init", "#!/bin/sh\n", 0o755),
		})...))),
		sdk.InputKernel:  file("kernel", kernel),
		sdk.InputCmdline: file("cmdline", cmdline),
		sdk.InputUcode:   file("ucode.cpio", ucode),
	}
}

// builtin runs the in-process format on the same inputs and returns its
// outputs' digests by suffix.
func builtin(t *testing.T, name string, in map[string]sdk.Input) map[string]string {
	t.Helper()
	f, err := format.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	x := steptest.NewExec(t)
	put := func(need string) (o graph.Output) {
		i, ok := in[need]
		if !ok {
			return o
		}
		b, err := os.ReadFile(i.Path)
		if err != nil {
			t.Fatal(err)
		}
		return x.Put(need, format.MediaTypeBinary, b)
	}
	input := format.Input{Rootfs: put(sdk.InputRootfs), Kernel: put(sdk.InputKernel), Cmdline: put(sdk.InputCmdline), UCode: put(sdk.InputUcode)}
	outs, err := f.Write(context.Background(), x, input, format.Options{SourceDateEpoch: testEpoch, Arch: "amd64"})
	if err != nil {
		t.Fatalf("built-in %s: %v", name, err)
	}
	m := map[string]string{}
	for _, o := range outs {
		m[o.Name] = string(o.Digest)
	}
	return m
}

// TestFormats builds each format through the plugin protocol (twice:
// reproducible, outputs as declared) and checks the outputs are the
// built-in format's, byte for byte.
func TestFormats(t *testing.T) {
	c := sdktest.Serve(t, formatcore.Plugin())
	in := testInputs(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			arts := sdktest.RunFormat(t, c, name, client.BuildRequest{Inputs: in, SourceDateEpoch: testEpoch, Arch: "amd64"})
			want := builtin(t, name, in)
			if len(arts) != len(want) {
				t.Errorf("%d outputs, the built-in writes %d", len(arts), len(want))
			}
			for _, a := range arts {
				if want[a.Suffix] != a.Digest {
					t.Errorf("output %s is %s, the built-in's is %s", a.Suffix, a.Digest, want[a.Suffix])
				}
			}
		})
	}
}

// TestDescribe: the built-ins' names, suffixes and media types, versions
// prefixed, no configuration.
func TestDescribe(t *testing.T) {
	desc, err := sdktest.Serve(t, formatcore.Plugin()).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != formatcore.Name || len(desc.Components) != len(names) {
		t.Fatalf("plugin %s with %d components", desc.Name, len(desc.Components))
	}
	for _, name := range names {
		c, ok := desc.Component(sdk.KindFormat, name)
		if !ok {
			t.Errorf("no format %s", name)
			continue
		}
		f, _ := format.Lookup(name)
		if want := formatcore.VersionPrefix + f.Version(); c.Version != want {
			t.Errorf("%s: version %q, want %q", name, c.Version, want)
		}
		var sfx []string
		for _, o := range c.Outputs {
			sfx = append(sfx, o.Suffix)
		}
		if strings.Join(sfx, " ") != strings.Join(f.Outputs(), " ") {
			t.Errorf("%s: outputs %v, the built-in's %v", name, sfx, f.Outputs())
		}
		if c.ConfigSchema != nil {
			t.Errorf("%s: a config schema %s", name, c.ConfigSchema)
		}
	}
}

// TestErrors: a configuration, a missing kernel and a missing rootfs fail
// with the format named.
func TestErrors(t *testing.T) {
	c := sdktest.Serve(t, formatcore.Plugin())
	in := testInputs(t)
	noKernel := map[string]sdk.Input{sdk.InputRootfs: in[sdk.InputRootfs]}
	for _, tc := range []struct {
		name, format string
		req          client.BuildRequest
		want         string
	}{
		{"config", "tar", client.BuildRequest{Inputs: in, Config: json.RawMessage(`{"x":1}`)}, "format tar takes no config"},
		{"no kernel", "kernel+initrd", client.BuildRequest{Inputs: noKernel}, "format kernel+initrd needs a kernel"},
		{"no rootfs", "docker", client.BuildRequest{Inputs: map[string]sdk.Input{}}, "format docker: no input rootfs.tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.ScratchDir = t.TempDir()
			_, err := c.BuildFormat(context.Background(), tc.format, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBinary runs the built kit-plugin-format-core as kit does.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	c := sdktest.Start(t, sdktest.Build(t, "./cmd/kit-plugin-format-core"))
	in := testInputs(t)
	arts := sdktest.RunFormat(t, c, "tar-kernel-initrd", client.BuildRequest{Inputs: in, SourceDateEpoch: testEpoch})
	if want := builtin(t, "tar-kernel-initrd", in)["-initrd.tar"]; arts[0].Digest != want {
		t.Errorf("-initrd.tar is %s, the built-in's is %s", arts[0].Digest, want)
	}
}
