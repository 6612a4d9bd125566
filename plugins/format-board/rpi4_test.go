package formatboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/plugin"
	formatboard "github.com/kitbuild/kit/plugins/format-board"
	"github.com/kitbuild/kit/plugins/format-disk/disktest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

const mib = 1 << 20

// Synthetic firmware image content: the Pi 4's files, the older Pis' files
// (which rpi4 leaves out), and Debian's kernel's device trees.
var firmwareFiles = map[string]string{
	"usr/lib/raspi-firmware/bootcode.bin":                             "bootcode for the Pi 3 and older",
	"usr/lib/raspi-firmware/start.elf":                                "GPU firmware for the Pi 3",
	"usr/lib/raspi-firmware/fixup.dat":                                "fixup for the Pi 3",
	"usr/lib/raspi-firmware/start4.elf":                               "GPU firmware for the Pi 4 " + strings.Repeat("4", 3000),
	"usr/lib/raspi-firmware/start4x.elf":                              "GPU firmware for the Pi 4, extended " + strings.Repeat("x", 3000),
	"usr/lib/raspi-firmware/fixup4.dat":                               "fixup for the Pi 4",
	"usr/lib/raspi-firmware/fixup4x.dat":                              "fixup for the Pi 4, extended",
	"usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2711-rpi-4-b.dtb": "Debian's device tree of the Pi 4 B",
	"usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2711-rpi-400.dtb": "Debian's device tree of the Pi 400",
	"usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2837-rpi-3-b.dtb": "Debian's device tree of the Pi 3 B",
}

// kernelDTBs are device trees the kernel image put in the root filesystem.
var kernelDTBs = map[string]string{
	"boot/dtb/broadcom/bcm2711-rpi-4-b.dtb":   "the kernel's device tree of the Pi 4 B",
	"boot/dtb/broadcom/bcm2711-rpi-cm4.dtb":   "the kernel's device tree of the CM4",
	"boot/dtb/broadcom/bcm2837-rpi-3-b.dtb":   "the kernel's device tree of the Pi 3 B",
	"boot/dtb/rockchip/rk3399-rock-pi-4a.dtb": "another board",
	"etc/hostname": "pi",
}

// arm64Kernel is a synthetic arm64 kernel Image: pseudo-random bytes with
// the Image header's magic at offset 56.
func arm64Kernel(t testing.TB) sdk.Input {
	b := disktest.Bytes(7, 900<<10)
	copy(b[56:], "ARM\x64")
	p := filepath.Join(t.TempDir(), "Image")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return sdktest.Input(t, p)
}

// request is an rpi4 build of a synthetic system: an arm64 kernel, the
// payload's initrd and cmdline, a root filesystem with rootfs's files and
// a firmware image of firmware's.
func request(t testing.TB, rootfs, firmware map[string]string) client.BuildRequest {
	t.Helper()
	in := disktest.Payload(t)
	in[sdk.InputKernel] = arm64Kernel(t)
	in[sdk.InputRootfs] = sdktest.WriteTar(t, rootfs)
	fw := sdktest.WriteTar(t, firmware)
	fw.Ref = "example.test/rpi-firmware:test"
	return client.BuildRequest{
		Inputs:          in,
		Images:          map[string]sdk.Input{formatboard.ImageRPiFirmware: fw},
		SourceDateEpoch: 1700000000,
		Arch:            "arm64",
	}
}

func read(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRPi4 builds the boot media twice (byte-identical) and judges them:
// one FAT32 partition (MBR type 0x0C) from 1 MiB that fsck.vfat -n accepts,
// holding exactly the Pi 4's firmware, config.txt, cmdline.txt, the kernel
// as kernel8.img, the initrd and the bcm2711 device trees: the kernel's
// when the root filesystem has them, else the firmware image's.
func TestRPi4(t *testing.T) {
	c := sdktest.Serve(t, formatboard.Plugin())
	common := []string{"cmdline.txt", "config.txt", "fixup4.dat", "fixup4x.dat", "initrd.img", "kernel8.img", "start4.elf", "start4x.elf"}
	for _, tc := range []struct {
		name   string
		rootfs map[string]string
		dtbs   map[string]string // name on the partition → content
	}{
		{"kernel device trees", kernelDTBs, map[string]string{
			"bcm2711-rpi-4-b.dtb": kernelDTBs["boot/dtb/broadcom/bcm2711-rpi-4-b.dtb"],
			"bcm2711-rpi-cm4.dtb": kernelDTBs["boot/dtb/broadcom/bcm2711-rpi-cm4.dtb"],
		}},
		{"firmware image device trees", map[string]string{"etc/hostname": "pi"}, map[string]string{
			"bcm2711-rpi-4-b.dtb": firmwareFiles["usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2711-rpi-4-b.dtb"],
			"bcm2711-rpi-400.dtb": firmwareFiles["usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2711-rpi-400.dtb"],
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, tc.rootfs, firmwareFiles)
			arts := sdktest.RunFormat(t, c, formatboard.RPi4Name, req)
			disk := arts[0].Path
			t.Logf("rpi4: %d bytes (%d MiB)", arts[0].Size, arts[0].Size/mib)
			if arts[0].Suffix != "-rpi4.img" || arts[0].Size%mib != 0 {
				t.Errorf("artifact %s of %d bytes", arts[0].Suffix, arts[0].Size)
			}
			parts := disktest.Partitions(t, disk)
			if len(parts) != 1 || parts[0].Type != 0x0C || parts[0].Offset != mib || parts[0].Offset+parts[0].Size != arts[0].Size {
				t.Fatalf("partitions %+v on a disk of %d: want one FAT32 LBA (0x0C) from 1 MiB to the end", parts, arts[0].Size)
			}
			vol := disktest.Extract(t, disk, parts[0])
			disktest.FsckVFAT(t, vol)
			if bs := read(t, vol); string(bs[82:90]) != "FAT32   " || string(bs[71:82]) != "BOOT       " {
				t.Errorf("boot sector: file system type %q, label %q; want FAT32, BOOT", bs[82:90], bs[71:82])
			}
			want := slices.Clone(common)
			for n := range tc.dtbs {
				want = append(want, n)
			}
			slices.Sort(want)
			if got := disktest.MDir(t, vol); !slices.Equal(got, want) {
				t.Errorf("boot partition holds\n%q\nwant\n%q", got, want)
			}
			for name, content := range map[string][]byte{
				"config.txt":  []byte(formatboard.ConfigTxt),
				"cmdline.txt": []byte(disktest.Cmdline + "\n"),
				"kernel8.img": read(t, req.Inputs[sdk.InputKernel].Path),
				"initrd.img":  read(t, req.Inputs[sdk.InputInitrd].Path),
				"start4.elf":  []byte(firmwareFiles["usr/lib/raspi-firmware/start4.elf"]),
				"fixup4.dat":  []byte(firmwareFiles["usr/lib/raspi-firmware/fixup4.dat"]),
			} {
				if got := disktest.MType(t, vol, name); !bytes.Equal(got, content) {
					t.Errorf("%s: %d bytes, want %d", name, len(got), len(content))
				}
			}
			for name, content := range tc.dtbs {
				if got := string(disktest.MType(t, vol, name)); got != content {
					t.Errorf("%s holds %q, want %q", name, got, content)
				}
			}
			config := string(disktest.MType(t, vol, "config.txt"))
			for _, line := range []string{"arm_64bit=1", "kernel=kernel8.img", "initramfs initrd.img followkernel", "enable_uart=1"} {
				if !slices.Contains(strings.Split(config, "\n"), line) {
					t.Errorf("config.txt has no line %q:\n%s", line, config)
				}
			}
		})
	}
}

// TestRPi4DiskSize: diskSize gives the disk that size, and a size too small
// fails with the size that would fit.
func TestRPi4DiskSize(t *testing.T) {
	c := sdktest.Serve(t, formatboard.Plugin())
	req := request(t, kernelDTBs, firmwareFiles)
	req.Config = json.RawMessage(`{"diskSize": 134217728}`)
	req.ScratchDir = t.TempDir()
	arts, err := c.BuildFormat(context.Background(), formatboard.RPi4Name, req)
	if err != nil {
		t.Fatal(err)
	}
	if arts[0].Size != 128*mib {
		t.Errorf("size %d, want 128 MiB", arts[0].Size)
	}
	p := disktest.Partitions(t, arts[0].Path)[0]
	if p.Offset+p.Size != 128*mib {
		t.Errorf("partition ends at %d, want the disk's end", p.Offset+p.Size)
	}
	disktest.FsckVFAT(t, disktest.Extract(t, arts[0].Path, p))

	req.Config = json.RawMessage(`{"diskSize": 8388608}`)
	req.ScratchDir = t.TempDir()
	_, err = c.BuildFormat(context.Background(), formatboard.RPi4Name, req)
	if err == nil || !strings.Contains(err.Error(), "disk size too small") || !strings.Contains(err.Error(), "needs at least") {
		t.Errorf("8 MiB: got %v, want a too-small error with the size needed", err)
	}

	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	comp, _ := desc.Component(sdk.KindFormat, formatboard.RPi4Name)
	s, err := plugin.CompileSchema(comp.ConfigSchema)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasProperty("diskSize") {
		t.Error("the schema has no diskSize: --disk-size would not reach rpi4")
	}
	if err := s.Validate(json.RawMessage(`{"diskSize": 1000}`)); err == nil {
		t.Error("the schema takes a disk size that is not a multiple of 512")
	}
}

// TestRPi4Errors: what a build refuses, with what message.
func TestRPi4Errors(t *testing.T) {
	c := sdktest.Serve(t, formatboard.Plugin())
	withoutFile := func(name string) map[string]string {
		m := map[string]string{}
		for k, v := range firmwareFiles {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	noDTB := map[string]string{}
	for k, v := range firmwareFiles {
		if !strings.Contains(k, "bcm2711") {
			noDTB[k] = v
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*client.BuildRequest)
		errHas string
	}{
		{"amd64", func(r *client.BuildRequest) { r.Arch = "amd64" }, `arch "amd64" is not supported`},
		{"x86 kernel", func(r *client.BuildRequest) {
			r.Inputs[sdk.InputKernel] = disktest.Payload(t)[sdk.InputKernel]
		}, "not an arm64 kernel Image"},
		{"no kernel", func(r *client.BuildRequest) { delete(r.Inputs, sdk.InputKernel) }, "input kernel is missing"},
		{"no firmware image", func(r *client.BuildRequest) { r.Images = nil }, "image rpi-firmware is missing"},
		{"no start4.elf", func(r *client.BuildRequest) {
			r.Images[formatboard.ImageRPiFirmware] = sdktest.WriteTar(t, withoutFile("usr/lib/raspi-firmware/start4.elf"))
		}, "/usr/lib/raspi-firmware/start4.elf not found"},
		{"no device tree", func(r *client.BuildRequest) {
			r.Inputs[sdk.InputRootfs] = sdktest.WriteTar(t, map[string]string{"etc/hostname": "pi"})
			r.Images[formatboard.ImageRPiFirmware] = sdktest.WriteTar(t, noDTB)
		}, "no bcm2711-*.dtb device tree"},
		{"two kernels' device trees", func(r *client.BuildRequest) {
			r.Inputs[sdk.InputRootfs] = sdktest.WriteTar(t, map[string]string{
				"usr/lib/linux-image-6.1.0-1-arm64/broadcom/bcm2711-rpi-4-b.dtb": "one",
				"usr/lib/linux-image-6.1.0-2-arm64/broadcom/bcm2711-rpi-4-b.dtb": "two",
			})
		}, "two different device trees named bcm2711-rpi-4-b.dtb"},
		{"unaligned size", func(r *client.BuildRequest) { r.Config = json.RawMessage(`{"diskSize": 1000}`) }, "not a positive multiple of 512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, kernelDTBs, firmwareFiles)
			tc.edit(&req)
			req.ScratchDir = t.TempDir()
			_, err := c.BuildFormat(context.Background(), formatboard.RPi4Name, req)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("got %v, want an error with %q", err, tc.errHas)
			}
		})
	}
}

// TestKernelKind: the kernel formats the firmware starts.
func TestKernelKind(t *testing.T) {
	image := make([]byte, 64)
	copy(image[56:], "ARM\x64")
	bz := make([]byte, 1024)
	copy(bz, "MZ")
	copy(bz[0x202:], "HdrS")
	for _, tc := range []struct {
		hdr  []byte
		want string
	}{
		{image, "Image"},
		{[]byte{0x1f, 0x8b, 8, 0}, "gzip"},
		{bz[:64], ""},
		{nil, ""},
		{image[:59], ""},
	} {
		if got := formatboard.KernelKind(tc.hdr); got != tc.want {
			t.Errorf("KernelKind(% x...) = %q, want %q", tc.hdr[:min(len(tc.hdr), 8)], got, tc.want)
		}
	}
}

// TestBinary: the plugin binary, started as kit starts it, serves rpi4 and
// builds it.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	c := sdktest.Start(t, sdktest.Build(t, "./cmd/kit-plugin-format-board"))
	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	comp, ok := desc.Component(sdk.KindFormat, "rpi4")
	if desc.Name != formatboard.Name || !ok || len(comp.Images) != 1 || comp.Images[0].Name != "rpi-firmware" ||
		!strings.HasPrefix(comp.Images[0].Default, "ghcr.io/kitbuild/rpi-firmware:") {
		t.Errorf("plugin %s: rpi4 %+v", desc.Name, comp)
	}
	arts := sdktest.RunFormat(t, c, formatboard.RPi4Name, request(t, kernelDTBs, firmwareFiles))
	disktest.FsckVFAT(t, disktest.Extract(t, arts[0].Path, disktest.Partitions(t, arts[0].Path)[0]))
}
