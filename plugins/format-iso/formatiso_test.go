package formatiso_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/plugin"
	formatiso "github.com/kitbuild/kit/plugins/format-iso"
	"github.com/kitbuild/kit/plugins/internal/bootimages"
	"github.com/kitbuild/kit/plugins/internal/plugtest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

const testEpoch = 1700000000

func serve(t *testing.T) *client.Client {
	return sdktest.Serve(t, formatiso.Plugin())
}

// artifact returns the artifact with the suffix.
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

func TestDescribe(t *testing.T) {
	desc, err := serve(t).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != formatiso.Name || desc.Version != formatiso.Version {
		t.Errorf("plugin %s %s, want %s %s", desc.Name, desc.Version, formatiso.Name, formatiso.Version)
	}
	want := map[string]struct {
		outputs []string
		image   string
	}{
		"iso-bios":       {[]string{".iso"}, bootimages.MustRef(bootimages.Syslinux)},
		"iso-efi":        {[]string{"-efi.iso"}, bootimages.MustRef(bootimages.SystemdBoot)},
		"iso-efi-initrd": {[]string{"-efi-initrd.iso"}, bootimages.MustRef(bootimages.SystemdBoot)},
		"kernel+iso":     {[]string{"-kernel", ".iso", "-cmdline"}, ""},
	}
	if len(desc.Components) != len(want) {
		t.Errorf("%d components, want %d", len(desc.Components), len(want))
	}
	for name, w := range want {
		c, ok := desc.Component(sdk.KindFormat, name)
		if !ok {
			t.Errorf("no format %s", name)
			continue
		}
		var got []string
		for _, o := range c.Outputs {
			got = append(got, o.Suffix)
		}
		if strings.Join(got, " ") != strings.Join(w.outputs, " ") {
			t.Errorf("%s: outputs %v, want %v", name, got, w.outputs)
		}
		switch {
		case w.image == "" && len(c.Images) != 0:
			t.Errorf("%s: images %v, want none", name, c.Images)
		case w.image != "" && (len(c.Images) != 1 || c.Images[0].Default != w.image):
			t.Errorf("%s: images %v, want one defaulting to %s", name, c.Images, w.image)
		}
		if _, err := plugin.CompileSchema(c.ConfigSchema); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestISOBIOS(t *testing.T) {
	c := serve(t)
	inputs := bootInputs(t)
	syslinux := fakeSyslinux(t)
	arts := sdktest.RunFormat(t, c, "iso-bios", client.BuildRequest{
		Inputs:          inputs,
		Images:          map[string]sdk.Input{formatiso.ImageSyslinux: syslinux},
		Config:          json.RawMessage(`{"volumeId":"KIT_TEST"}`),
		SourceDateEpoch: testEpoch,
		Arch:            "amd64",
	})
	iso := artifact(t, arts, ".iso").Path
	paths := xorrisoFind(t, iso)
	for _, p := range []string{"/isolinux/isolinux.bin", "/isolinux/ldlinux.c32", "/isolinux/isolinux.cfg", "/isolinux/boot.cat",
		"/boot/kernel", "/boot/initrd.img", "/boot/cmdline"} {
		if !contains(paths, p) {
			t.Errorf("xorriso does not list %s: %v", p, paths)
		}
	}
	cfg := string(xorrisoExtract(t, iso, "/isolinux/isolinux.cfg"))
	if !strings.Contains(cfg, "APPEND console=ttyS0 quiet\n") || !strings.Contains(cfg, "SERIAL 0 115200") {
		t.Errorf("isolinux.cfg:\n%s", cfg)
	}
	if got := xorrisoExtract(t, iso, "/boot/initrd.img"); !bytes.Equal(got, mustRead(t, inputs[sdk.InputInitrd].Path)) {
		t.Error("/boot/initrd.img differs from the initrd input")
	}
	pvd := plugtest.Run(t, "xorriso", "-indev", iso, "-pvd_info")
	if !strings.Contains(pvd, "Volume Id    : KIT_TEST") {
		t.Errorf("volume id not KIT_TEST:\n%s", pvd)
	}
	eltorito := plugtest.Run(t, "xorriso", "-indev", iso, "-report_el_torito", "plain")
	if !strings.Contains(eltorito, "BIOS") || !strings.Contains(eltorito, "/isolinux/isolinux.bin") {
		t.Errorf("El Torito catalog has no BIOS entry for isolinux.bin:\n%s", eltorito)
	}
	mbr := mustRead(t, iso)[:512]
	if mbr[510] != 0x55 || mbr[511] != 0xAA || mbr[0x1be+4] != 0x17 {
		t.Errorf("no isohybrid MBR: signature % x, partition type %#x", mbr[510:], mbr[0x1be+4])
	}

	// Without the hybrid MBR, the system area is empty.
	arts = sdktest.RunFormat(t, c, "iso-bios", client.BuildRequest{
		Inputs: inputs, Images: map[string]sdk.Input{formatiso.ImageSyslinux: syslinux},
		Config: json.RawMessage(`{"hybrid":false}`), SourceDateEpoch: testEpoch,
	})
	plain := artifact(t, arts, ".iso").Path
	if !bytes.Equal(mustRead(t, plain)[:512], make([]byte, 512)) {
		t.Error("hybrid: false still wrote an MBR")
	}
	xorrisoFind(t, plain)
}

func TestISOEFI(t *testing.T) {
	plugtest.Tool(t, "fsck.vfat")
	plugtest.Tool(t, "mtype")
	c := serve(t)
	inputs := bootInputs(t)
	req := client.BuildRequest{
		Inputs:          inputs,
		Images:          map[string]sdk.Input{formatiso.ImageSystemdBoot: fakeSystemdBoot(t)},
		SourceDateEpoch: testEpoch,
	}
	digests := map[string]string{}
	for _, f := range []struct{ name, suffix string }{{"iso-efi", "-efi.iso"}, {"iso-efi-initrd", "-efi-initrd.iso"}} {
		t.Run(f.name, func(t *testing.T) {
			a := artifact(t, sdktest.RunFormat(t, c, f.name, req), f.suffix)
			digests[f.name] = a.Digest
			paths := xorrisoFind(t, a.Path)
			for _, p := range []string{"/boot/efi.img", "/boot/boot.cat", "/boot/kernel", "/boot/initrd.img", "/boot/cmdline"} {
				if !contains(paths, p) {
					t.Errorf("xorriso does not list %s: %v", p, paths)
				}
			}
			eltorito := plugtest.Run(t, "xorriso", "-indev", a.Path, "-report_el_torito", "plain")
			if !strings.Contains(eltorito, "UEFI") || !strings.Contains(eltorito, "/boot/efi.img") {
				t.Errorf("El Torito catalog has no UEFI entry for /boot/efi.img:\n%s", eltorito)
			}
			esp := filepath.Join(t.TempDir(), "efi.img")
			if err := os.WriteFile(esp, xorrisoExtract(t, a.Path, "/boot/efi.img"), 0o644); err != nil {
				t.Fatal(err)
			}
			plugtest.Run(t, "fsck.vfat", "-n", esp)
			for file, want := range map[string]string{
				"::/EFI/BOOT/BOOTX64.EFI":    "MZ systemd-boot\n",
				"::/loader/entries/kit.conf": "title kit\nlinux /kernel\ninitrd /initrd.img\noptions console=ttyS0 quiet\n",
				"::/loader/loader.conf":      "timeout 0\ndefault kit.conf\n",
				"::/initrd.img":              string(mustRead(t, inputs[sdk.InputInitrd].Path)),
				"::/kernel":                  string(mustRead(t, inputs[sdk.InputKernel].Path)),
			} {
				if got := plugtest.Run(t, "mtype", "-i", esp, file); got != want {
					t.Errorf("%s in the ESP: %.80q, want %.80q", file, got, want)
				}
			}
		})
	}
	if digests["iso-efi"] != digests["iso-efi-initrd"] {
		t.Errorf("iso-efi and iso-efi-initrd differ (%s, %s): they are documented as the same layout", digests["iso-efi"], digests["iso-efi-initrd"])
	}
}

func TestKernelISO(t *testing.T) {
	c := serve(t)
	inputs := bootInputs(t)
	rootfs := plugtest.RootfsTar(t, testCmdline)
	arts := sdktest.RunFormat(t, c, "kernel+iso", client.BuildRequest{
		Inputs: map[string]sdk.Input{
			sdk.InputRootfs: rootfs, sdk.InputKernel: inputs[sdk.InputKernel], sdk.InputCmdline: inputs[sdk.InputCmdline],
		},
		SourceDateEpoch: testEpoch,
	})
	if got := artifact(t, arts, "-kernel").Digest; got != inputs[sdk.InputKernel].Digest {
		t.Errorf("-kernel is %s, the kernel input %s", got, inputs[sdk.InputKernel].Digest)
	}
	if got := string(mustRead(t, artifact(t, arts, "-cmdline").Path)); got != testCmdline {
		t.Errorf("-cmdline is %q, want %q", got, testCmdline)
	}
	iso := artifact(t, arts, ".iso").Path
	paths := xorrisoFind(t, iso)
	for _, p := range []string{"/bin/busybox", "/bin/sh", "/bin/ash", "/dev/console", "/etc/passwd", "/etc/shadow", "/run/fifo", "/tmp"} {
		if !contains(paths, p) {
			t.Errorf("xorriso does not list %s: %v", p, paths)
		}
	}
	for _, p := range paths {
		if p == "/boot" || strings.HasPrefix(p, "/boot/") {
			t.Errorf("%s is in the root filesystem ISO: boot/ is left out", p)
		}
	}
	// Rock Ridge keeps what a root filesystem needs.
	ls := plugtest.Run(t, "xorriso", "-indev", iso, "-lsdl", "/bin/sh", "/dev/console", "/etc/shadow", "/run/fifo", "/tmp", "/bin/ash", "/bin/busybox")
	for _, want := range []string{
		"lrwxrwxrwx    1 0        0 ", "'/bin/sh' -> 'busybox'",
		"crw-------    1 0        0             5,1 ",
		"-rw-r-----    1 0        42 ",
		"prw-------    1 0        0 ",
		"drwxrwxrwt ",
	} {
		if !strings.Contains(ls, want) {
			t.Errorf("xorriso -lsdl lacks %q:\n%s", want, ls)
		}
	}
	if !regexp.MustCompile(`(?m)^-rwxr-xr-x .* 5008 .*'/bin/ash'$`).MatchString(ls) {
		t.Errorf("the hard link /bin/ash is not the 5008-byte busybox:\n%s", ls)
	}
	if got := string(xorrisoExtract(t, iso, "/etc/passwd")); got != "root:x:0:0:root:/root:/bin/sh\n" {
		t.Errorf("/etc/passwd = %q", got)
	}

	// No command line input: an empty -cmdline.
	arts = sdktest.RunFormat(t, c, "kernel+iso", client.BuildRequest{
		Inputs: map[string]sdk.Input{sdk.InputRootfs: rootfs, sdk.InputKernel: inputs[sdk.InputKernel]},
	})
	if a := artifact(t, arts, "-cmdline"); a.Size != 0 {
		t.Errorf("-cmdline without a command line input has %d bytes", a.Size)
	}
}

// TestConfigErrors checks what a user sees for a bad configuration: kit's
// validation against the schema (before any work) and the plugin's own
// check (for hosts that do not validate).
func TestConfigErrors(t *testing.T) {
	c := serve(t)
	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*plugin.Schema{}
	for _, comp := range desc.Components {
		if schemas[comp.Name], err = plugin.CompileSchema(comp.ConfigSchema); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		format, config string
		schema, build  string // substrings of the errors
	}{
		{"iso-bios", `{"volumeId":"my-iso"}`, `at /volumeId: 'my-iso' does not match pattern`, `volumeId "my-iso": want 1 to 32 characters of A-Z, 0-9 and _`},
		{"iso-bios", `{"volumeId":""}`, `at /volumeId: '' does not match pattern`, `volumeId "": want 1 to 32`},
		{"iso-bios", `{"volumeId":"` + strings.Repeat("A", 33) + `"}`, `at /volumeId:`, `want 1 to 32`},
		{"iso-bios", `{"hybrid":"yes"}`, `at /hybrid: got string, want boolean`, `cannot unmarshal string`},
		{"iso-efi", `{"hybrid":false}`, `additional properties 'hybrid' not allowed`, `unknown field "hybrid"`},
		{"iso-efi-initrd", `{"volume":"X"}`, `additional properties 'volume' not allowed`, `unknown field "volume"`},
		{"kernel+iso", `{"volumeId":7}`, `at /volumeId: got number, want string`, `cannot unmarshal number`},
	} {
		t.Run(tc.format+" "+tc.config, func(t *testing.T) {
			err := schemas[tc.format].Validate(json.RawMessage(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.schema) {
				t.Errorf("schema validation: %v, want %q", err, tc.schema)
			}
			_, err = c.BuildFormat(context.Background(), tc.format, client.BuildRequest{
				Inputs: bootInputs(t), Config: json.RawMessage(tc.config), ScratchDir: t.TempDir(),
			})
			if err == nil || !strings.Contains(err.Error(), tc.build) {
				t.Errorf("build: %v, want %q", err, tc.build)
			}
		})
	}
	for _, good := range []string{`{}`, `{"volumeId":"KIT_2024"}`} {
		if err := schemas["iso-efi"].Validate(json.RawMessage(good)); err != nil {
			t.Errorf("iso-efi %s: %v", good, err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	c := serve(t)
	inputs := bootInputs(t)
	noKernel := map[string]sdk.Input{sdk.InputInitrd: inputs[sdk.InputInitrd]}
	for _, tc := range []struct {
		name, format string
		req          client.BuildRequest
		want         string
	}{
		{"arm64", "iso-bios", client.BuildRequest{Inputs: inputs, Images: map[string]sdk.Input{"syslinux": fakeSyslinux(t)}, Arch: "arm64"},
			"iso-bios: arch arm64 is not supported: ISOLINUX boots amd64"},
		{"arm64 efi", "iso-efi", client.BuildRequest{Inputs: inputs, Images: map[string]sdk.Input{"systemd-boot": fakeSystemdBoot(t)}, Arch: "arm64"},
			"iso-efi: arch arm64 is not supported"},
		{"no kernel", "iso-efi", client.BuildRequest{Inputs: noKernel, Images: map[string]sdk.Input{"systemd-boot": fakeSystemdBoot(t)}},
			"input kernel is missing"},
		{"no isolinux", "iso-bios", client.BuildRequest{Inputs: inputs, Images: map[string]sdk.Input{"syslinux": fakeSystemdBoot(t)}},
			"usr/lib/ISOLINUX/isohdpfx.bin"},
		{"no systemd-boot", "iso-efi", client.BuildRequest{Inputs: inputs, Images: map[string]sdk.Input{"systemd-boot": fakeSyslinux(t)}},
			"usr/lib/systemd/boot/efi/systemd-bootx64.efi"},
		{"no image", "iso-efi", client.BuildRequest{Inputs: inputs}, "image systemd-boot is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.ScratchDir = t.TempDir()
			_, err := c.BuildFormat(context.Background(), tc.format, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBinary runs the built kit-plugin-format-iso as kit does.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	c := sdktest.Start(t, sdktest.Build(t, "./cmd/kit-plugin-format-iso"))
	arts := sdktest.RunFormat(t, c, "iso-efi", client.BuildRequest{
		Inputs:          bootInputs(t),
		Images:          map[string]sdk.Input{formatiso.ImageSystemdBoot: fakeSystemdBoot(t)},
		SourceDateEpoch: testEpoch,
	})
	xorrisoFind(t, artifact(t, arts, "-efi.iso").Path)
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
