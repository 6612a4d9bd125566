package formatdisk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/plugin"
	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/plugins/format-disk/disktest"
	"github.com/kitbuild/kit/plugins/internal/bootdisk"
	"github.com/kitbuild/kit/plugins/internal/partition"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

const mib = 1 << 20

// TestRaw builds each raw disk twice (sdktest.RunFormat: byte-identical)
// and judges it: the partition table, the boot partition checked by
// fsck.vfat -n and listed by mtools, the payload's bytes on it.
func TestRaw(t *testing.T) {
	for _, tc := range []struct {
		format string
		// partition table: MBR type byte, or GPT type
		mbrType byte
		gptType partition.GUID
		files   []string
		size    int64
	}{
		{
			format: formatdisk.RawBIOSName, mbrType: partition.MBRTypeFAT16LBA,
			files: []string{"LDLINUX.C32", "LDLINUX.SYS", "SYSLINUX.CFG", "initrd.img", "kernel"},
			size:  5 * mib,
		},
		{
			format: formatdisk.RawEFIName, gptType: partition.TypeEFISystem,
			files: []string{"EFI/", "EFI/BOOT/", "EFI/BOOT/BOOTX64.EFI", "initrd.img", "kernel",
				"loader/", "loader/entries/", "loader/entries/kit.conf", "loader/loader.conf"},
		},
	} {
		t.Run(tc.format, func(t *testing.T) {
			c := sdktest.Serve(t, formatdisk.Plugin())
			req := disktest.RawRequest(t, tc.format)
			arts := sdktest.RunFormat(t, c, tc.format, req)
			disk := arts[0].Path
			suffix, _ := formatdisk.RawSuffix(tc.format)
			if arts[0].Suffix != suffix || arts[0].MediaType != formatdisk.MediaTypeRaw {
				t.Errorf("artifact %s %s, want %s %s", arts[0].Suffix, arts[0].MediaType, suffix, formatdisk.MediaTypeRaw)
			}
			if arts[0].Size%mib != 0 {
				t.Errorf("derived size %d is not a whole number of MiB", arts[0].Size)
			}
			if tc.size != 0 && arts[0].Size != tc.size {
				t.Errorf("derived size %d, want %d", arts[0].Size, tc.size)
			}
			t.Logf("%s: %d bytes (%d MiB)", tc.format, arts[0].Size, arts[0].Size/mib)

			parts := disktest.Partitions(t, disk)
			if len(parts) != 1 {
				t.Fatalf("%d partitions, want 1: %+v", len(parts), parts)
			}
			p := parts[0]
			if p.Offset != mib || (p.Offset+p.Size)%mib != 0 || p.Offset+p.Size > arts[0].Size {
				t.Errorf("partition at %d, %d bytes, on a disk of %d", p.Offset, p.Size, arts[0].Size)
			}
			if p.Type != tc.mbrType || p.GPTType != tc.gptType.Bytes() && !tc.gptType.IsZero() {
				t.Errorf("partition type %#x / %x", p.Type, p.GPTType)
			}
			vol := disktest.Extract(t, disk, p)
			disktest.FsckVFAT(t, vol)
			if got := disktest.MDir(t, vol); !containsAll(got, tc.files) {
				t.Errorf("boot partition holds %q, want at least %q", got, tc.files)
			}
			for name, in := range map[string]string{bootdisk.KernelName: sdk.InputKernel, bootdisk.InitrdName: sdk.InputInitrd} {
				want, _ := os.ReadFile(req.Inputs[in].Path)
				if got := disktest.MType(t, vol, name); !bytes.Equal(got, want) {
					t.Errorf("%s on the boot partition: %d bytes, not the %s input's %d", name, len(got), in, len(want))
				}
			}
		})
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// TestRawDiskSize: diskSize (what --disk-size sets) gives the disk that
// size; a size too small fails with the size that would fit; the schema
// takes only positive multiples of 512.
func TestRawDiskSize(t *testing.T) {
	c := sdktest.Serve(t, formatdisk.Plugin())
	for _, format := range []string{formatdisk.RawBIOSName, formatdisk.RawEFIName} {
		t.Run(format, func(t *testing.T) {
			req := disktest.RawRequest(t, format)
			req.Config = json.RawMessage(`{"diskSize": 67109376}`) // 64 MiB + 512
			req.ScratchDir = t.TempDir()
			arts, err := c.BuildFormat(context.Background(), format, req)
			if err != nil {
				t.Fatal(err)
			}
			if arts[0].Size != 64*mib+512 {
				t.Errorf("size %d, want %d", arts[0].Size, 64*mib+512)
			}
			disktest.FsckVFAT(t, disktest.Extract(t, arts[0].Path, disktest.Partitions(t, arts[0].Path)[0]))

			req.Config = json.RawMessage(`{"diskSize": 1048576}`)
			req.ScratchDir = t.TempDir()
			_, err = c.BuildFormat(context.Background(), format, req)
			if err == nil || !strings.Contains(err.Error(), "disk size too small") || !strings.Contains(err.Error(), "needs at least") {
				t.Errorf("1 MiB disk: got %v, want a too-small error with the size needed", err)
			}
		})
	}

	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	comp, _ := desc.Component(sdk.KindFormat, formatdisk.RawBIOSName)
	s, err := plugin.CompileSchema(comp.ConfigSchema)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasProperty(formatdisk.DiskSizeKey) {
		t.Errorf("schema has no %s: --disk-size would not reach it", formatdisk.DiskSizeKey)
	}
	for cfg, ok := range map[string]bool{
		`{}`: true, `{"diskSize": 2147483648}`: true, `{"diskSize": 1000}`: false,
		`{"diskSize": 0}`: false, `{"diskSize": "1G"}`: false, `{"size": 512}`: false,
	} {
		if err := s.Validate(json.RawMessage(cfg)); (err == nil) != ok {
			t.Errorf("schema on %s: %v, want ok=%v", cfg, err, ok)
		}
	}
}

// TestRawErrors: what a build refuses, with what message.
func TestRawErrors(t *testing.T) {
	c := sdktest.Serve(t, formatdisk.Plugin())
	for _, tc := range []struct {
		name   string
		edit   func(*client.BuildRequest)
		errHas string
	}{
		{"arm64", func(r *client.BuildRequest) { r.Arch = "arm64" }, "arch arm64 is not supported"},
		{"no kernel", func(r *client.BuildRequest) { delete(r.Inputs, sdk.InputKernel) }, "input kernel is missing"},
		{"no bootloader", func(r *client.BuildRequest) { r.Images = nil }, "image syslinux is missing"},
		{"wrong bootloader", func(r *client.BuildRequest) {
			r.Images["syslinux"] = sdktest.WriteTar(t, map[string]string{"etc/motd": "hi"})
		}, "not found (is it the right bootloader image?)"},
		{"unaligned size", func(r *client.BuildRequest) { r.Config = json.RawMessage(`{"diskSize": 1000}`) }, "not a positive multiple of 512"},
		{"unknown config", func(r *client.BuildRequest) { r.Config = json.RawMessage(`{"size": 1}`) }, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := disktest.RawRequest(t, formatdisk.RawBIOSName)
			tc.edit(&req)
			req.ScratchDir = t.TempDir()
			_, err := c.BuildFormat(context.Background(), formatdisk.RawBIOSName, req)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("got %v, want an error with %q", err, tc.errHas)
			}
		})
	}
}

// TestBinary: the plugin binary, started as kit starts it, serves every
// format with its needs, outputs and images, and builds raw-bios and a
// qcow2-bios from it.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	c := sdktest.Start(t, sdktest.Build(t, "./cmd/kit-plugin-format-disk"))
	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != formatdisk.Name || desc.Version != formatdisk.Version {
		t.Errorf("plugin %s %s", desc.Name, desc.Version)
	}
	want := map[string]struct {
		suffix string
		needs  []string
		images []string
	}{
		"raw-bios":    {"-bios.img", []string{"kernel", "initrd.img", "cmdline"}, []string{"syslinux"}},
		"raw-efi":     {"-efi.img", []string{"kernel", "initrd.img", "cmdline"}, []string{"systemd-boot"}},
		"qcow2-bios":  {".qcow2", []string{"raw-bios"}, nil},
		"qcow2-efi":   {"-efi.qcow2", []string{"raw-efi"}, nil},
		"vhd":         {".vhd", []string{"raw-bios"}, nil},
		"dynamic-vhd": {"-dynamic.vhd", []string{"raw-bios"}, nil},
		"vmdk":        {".vmdk", []string{"raw-bios"}, nil},
	}
	if len(desc.Components) != len(want) {
		t.Errorf("%d components, want %d", len(desc.Components), len(want))
	}
	for name, w := range want {
		comp, ok := desc.Component(sdk.KindFormat, name)
		if !ok {
			t.Errorf("no format %s", name)
			continue
		}
		var images []string
		for _, im := range comp.Images {
			images = append(images, im.Name)
			if !strings.HasPrefix(im.Default, "ghcr.io/kitbuild/"+im.Name+":") {
				t.Errorf("%s: image %s defaults to %s", name, im.Name, im.Default)
			}
		}
		if len(comp.Outputs) != 1 || comp.Outputs[0].Suffix != w.suffix || !slices.Equal(comp.Needs, w.needs) || !slices.Equal(images, w.images) {
			t.Errorf("%s: outputs %+v needs %q images %q; want %s %q %q", name, comp.Outputs, comp.Needs, images, w.suffix, w.needs, w.images)
		}
	}
	raw := sdktest.RunFormat(t, c, formatdisk.RawBIOSName, disktest.RawRequest(t, formatdisk.RawBIOSName))
	q := sdktest.RunFormat(t, c, formatdisk.QCOW2BIOSName, client.BuildRequest{
		Inputs: map[string]sdk.Input{"raw-bios/-bios.img": {Path: raw[0].Path, Digest: raw[0].Digest}},
	})
	vdisktest.SameContent(t, vdisktest.QemuToRaw(t, q[0].Path, "qcow2"), raw[0].Path)
}
