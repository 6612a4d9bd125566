package formatdisk_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/plugins/format-disk/disktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vhd"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

// TestDerived builds each wrapping format twice from a real raw disk
// (sdktest.RunFormat: byte-identical) and lets qemu-img judge it: info
// names the format and the raw disk's size, check finds no error (qcow2,
// vmdk), and convert back to raw gives the raw disk's bytes.
func TestDerived(t *testing.T) {
	vdisktest.Tool(t, "qemu-img")
	raws := map[string]sdk.Input{
		formatdisk.RawBIOSName: disktest.RawDisk(t, formatdisk.RawBIOSName),
		formatdisk.RawEFIName:  disktest.RawDisk(t, formatdisk.RawEFIName),
	}
	c := sdktest.Serve(t, formatdisk.Plugin())
	for _, tc := range []struct {
		format string
		source string
		// qemu is the qemu-img format name; check whether qemu-img check
		// applies.
		qemu  string
		check bool
	}{
		{formatdisk.QCOW2BIOSName, formatdisk.RawBIOSName, "qcow2", true},
		{formatdisk.QCOW2EFIName, formatdisk.RawEFIName, "qcow2", true},
		{formatdisk.VHDName, formatdisk.RawBIOSName, "vpc", false},
		{formatdisk.DynamicVHDName, formatdisk.RawBIOSName, "vpc", false},
		{formatdisk.VMDKName, formatdisk.RawBIOSName, "vmdk", true},
	} {
		t.Run(tc.format, func(t *testing.T) {
			raw := raws[tc.source]
			st, err := os.Stat(raw.Path)
			if err != nil {
				t.Fatal(err)
			}
			suffix, _ := formatdisk.RawSuffix(tc.source)
			arts := sdktest.RunFormat(t, c, tc.format, client.BuildRequest{
				Inputs:          map[string]sdk.Input{formatdisk.InputName(tc.source, suffix): raw},
				SourceDateEpoch: 1700000000,
				Arch:            "amd64",
			})
			out := arts[0].Path
			t.Logf("%s: %d bytes from a raw disk of %d", tc.format, arts[0].Size, st.Size())

			info := vdisktest.QemuInfo(t, out, tc.qemu)
			if info.Format != tc.qemu || info.VirtualSize != st.Size() {
				t.Errorf("qemu-img info: format %s, virtual size %d; want %s, %d", info.Format, info.VirtualSize, tc.qemu, st.Size())
			}
			switch tc.format {
			case formatdisk.VMDKName:
				if ct := info.FormatSpecific.Data.CreateType; ct != "streamOptimized" {
					t.Errorf("vmdk create type %q, want streamOptimized", ct)
				}
			case formatdisk.VHDName, formatdisk.DynamicVHDName:
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				f, err := vhd.ParseFooter(b[len(b)-512:])
				if err != nil {
					t.Fatal(err)
				}
				if dyn := tc.format == formatdisk.DynamicVHDName; f.Dynamic != dyn || f.CurrentSize != st.Size() {
					t.Errorf("VHD footer: dynamic %v, size %d; want %v, %d", f.Dynamic, f.CurrentSize, dyn, st.Size())
				}
				if tc.format == formatdisk.DynamicVHDName {
					// qemu probes a dynamic VHD by its header copy.
					if probed := vdisktest.QemuInfo(t, out, ""); probed.Format != "vpc" {
						t.Errorf("qemu-img probes the dynamic VHD as %s", probed.Format)
					}
				}
			}
			if tc.check {
				vdisktest.QemuCheck(t, out, tc.qemu)
			}
			vdisktest.SameContent(t, vdisktest.QemuToRaw(t, out, tc.qemu), raw.Path)
		})
	}
}

// TestDerivedErrors: a wrapping format without its raw disk, or given a
// config, fails with a clear message.
func TestDerivedErrors(t *testing.T) {
	c := sdktest.Serve(t, formatdisk.Plugin())
	for _, tc := range []struct {
		name   string
		req    client.BuildRequest
		errHas string
	}{
		{"no raw disk", client.BuildRequest{}, "input raw-bios/-bios.img is missing"},
		{"config", client.BuildRequest{Config: json.RawMessage(`{"diskSize": 512}`)}, "takes no config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.ScratchDir = t.TempDir()
			_, err := c.BuildFormat(context.Background(), formatdisk.VHDName, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("got %v, want an error with %q", err, tc.errHas)
			}
		})
	}
}

// TestDerivedCancel: a cancelled build stops and reports the cancellation.
func TestDerivedCancel(t *testing.T) {
	c := sdktest.Serve(t, formatdisk.Plugin())
	raw := sdktest.Input(t, vdisktest.Image(t, 64<<20))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.BuildFormat(ctx, formatdisk.VMDKName, client.BuildRequest{
		Inputs:     map[string]sdk.Input{formatdisk.InputName(formatdisk.RawBIOSName, formatdisk.RawBIOSSuffix): raw},
		ScratchDir: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("got %v, want a cancellation", err)
	}
}
