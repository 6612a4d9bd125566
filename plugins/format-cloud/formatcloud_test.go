package formatcloud_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	formatcloud "github.com/kitbuild/kit/plugins/format-cloud"
	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/plugins/format-disk/disktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vhd"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

const (
	mib = 1 << 20
	gib = 1 << 30
)

// request is a build of a cloud format from the raw-bios disk raw.
func request(raw sdk.Input) client.BuildRequest {
	return client.BuildRequest{
		Inputs:          map[string]sdk.Input{formatdisk.InputName(formatdisk.RawBIOSName, formatdisk.RawBIOSSuffix): raw},
		SourceDateEpoch: 1700000000,
		Arch:            "amd64",
	}
}

func size(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestGCP: two builds are byte-identical; GNU tar lists one entry,
// disk.raw, of a whole number of GiB; the archive's tar header is GNU
// format; disk.raw starts with the raw-bios disk (the gce package's tests
// judge the zero padding).
func TestGCP(t *testing.T) {
	c := sdktest.Serve(t, formatcloud.Plugin())
	raw := disktest.RawDisk(t, formatdisk.RawBIOSName)
	arts := sdktest.RunFormat(t, c, formatcloud.GCPName, request(raw))
	out := arts[0].Path
	if arts[0].Suffix != ".img.tar.gz" || arts[0].MediaType != "application/gzip" {
		t.Errorf("artifact %s %s", arts[0].Suffix, arts[0].MediaType)
	}
	t.Logf("gcp: %d bytes from a raw disk of %d", arts[0].Size, size(t, raw.Path))

	list := strings.Fields(disktest.Run(t, "tar", "--numeric-owner", "-tvzf", out))
	// -rw-r--r-- 0/0 1073741824 2023-11-14 22:13 disk.raw
	if len(list) != 6 || list[5] != "disk.raw" || list[2] != "1073741824" || list[1] != "0/0" {
		t.Errorf("tar -tvzf: %q, want one disk.raw of 1 GiB owned by 0/0", list)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(zr, 1<<20)
	hdr, err := br.Peek(512)
	if err != nil {
		t.Fatal(err)
	}
	if magic := string(hdr[257:265]); magic != "ustar  \x00" {
		t.Errorf("tar header magic %q, want GNU's %q", magic, "ustar  \x00")
	}
	tr := tar.NewReader(br)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "disk.raw" || h.Size%gib != 0 || h.Size < size(t, raw.Path) {
		t.Fatalf("entry %s of %d bytes", h.Name, h.Size)
	}
	want, err := os.ReadFile(raw.Path)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(tr, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("disk.raw does not start with the raw-bios disk")
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("a second entry after disk.raw: %v", err)
	}
}

// TestAWS: two builds are byte-identical, and the output is the raw-bios
// disk byte for byte.
func TestAWS(t *testing.T) {
	c := sdktest.Serve(t, formatcloud.Plugin())
	raw := disktest.RawDisk(t, formatdisk.RawBIOSName)
	arts := sdktest.RunFormat(t, c, formatcloud.AWSName, request(raw))
	if arts[0].Suffix != ".raw" || arts[0].Digest != raw.Digest {
		t.Errorf("aws output %s %s, want .raw equal to raw-bios's %s", arts[0].Suffix, arts[0].Digest, raw.Digest)
	}
	vdisktest.SameContent(t, arts[0].Path, raw.Path)
}

// TestAzure: two builds are byte-identical; qemu-img sees a fixed VHD whose
// virtual size is the raw disk rounded up to a whole MiB, and whose content
// is the raw disk followed by zeros.
func TestAzure(t *testing.T) {
	vdisktest.Tool(t, "qemu-img")
	c := sdktest.Serve(t, formatcloud.Plugin())
	for _, tc := range []struct {
		name    string
		rawSize int64 // 0: derived
	}{
		{"derived size", 0},
		{"size not whole MiB", 64*mib + 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := disktest.RawDiskSized(t, formatdisk.RawBIOSName, tc.rawSize)
			rawSize := size(t, raw.Path)
			arts := sdktest.RunFormat(t, c, formatcloud.AzureName, request(raw))
			out := arts[0].Path
			virt := (rawSize + mib - 1) / mib * mib
			t.Logf("azure: %d bytes from a raw disk of %d", arts[0].Size, rawSize)
			if arts[0].Size != virt+512 {
				t.Errorf("file size %d, want the virtual size %d plus the 512-byte footer", arts[0].Size, virt)
			}
			info := vdisktest.QemuInfo(t, out, "vpc")
			if info.Format != "vpc" || info.VirtualSize != virt || info.VirtualSize%mib != 0 {
				t.Errorf("qemu-img info: %s, virtual size %d; want vpc, %d (whole MiB)", info.Format, info.VirtualSize, virt)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			f, err := vhd.ParseFooter(b[len(b)-512:])
			if err != nil {
				t.Fatal(err)
			}
			if f.Dynamic || f.CurrentSize != virt || f.OriginalSize != virt {
				t.Errorf("footer: dynamic %v, sizes %d/%d; want fixed, %d", f.Dynamic, f.CurrentSize, f.OriginalSize, virt)
			}
			back, err := os.ReadFile(vdisktest.QemuToRaw(t, out, "vpc"))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(raw.Path)
			if int64(len(back)) != virt || !bytes.Equal(back[:rawSize], want) || slices.ContainsFunc(back[rawSize:], func(b byte) bool { return b != 0 }) {
				t.Errorf("qemu-img convert back to raw: %d bytes, not the raw disk padded with zeros to %d", len(back), virt)
			}
		})
	}
}

// TestErrors: without the raw-bios disk, or given a config, a build fails
// clearly.
func TestErrors(t *testing.T) {
	c := sdktest.Serve(t, formatcloud.Plugin())
	for _, format := range []string{formatcloud.GCPName, formatcloud.AWSName, formatcloud.AzureName} {
		_, err := c.BuildFormat(context.Background(), format, client.BuildRequest{ScratchDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "input raw-bios/-bios.img is missing") {
			t.Errorf("%s without its raw disk: %v", format, err)
		}
		_, err = c.BuildFormat(context.Background(), format, client.BuildRequest{ScratchDir: t.TempDir(), Config: []byte(`{"diskSize":512}`)})
		if err == nil || !strings.Contains(err.Error(), "takes no config") {
			t.Errorf("%s with a config: %v", format, err)
		}
	}
}

// TestBinary: the plugin binary, started as kit starts it, serves gcp, aws
// and azure, each needing raw-bios, and builds aws.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	c := sdktest.Start(t, sdktest.Build(t, "./cmd/kit-plugin-format-cloud"))
	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != formatcloud.Name || len(desc.Components) != 3 {
		t.Errorf("plugin %s with %d components", desc.Name, len(desc.Components))
	}
	for name, suffix := range map[string]string{"gcp": ".img.tar.gz", "aws": ".raw", "azure": "-azure.vhd"} {
		comp, ok := desc.Component(sdk.KindFormat, name)
		if !ok || len(comp.Outputs) != 1 || comp.Outputs[0].Suffix != suffix || !slices.Equal(comp.Needs, []string{"raw-bios"}) {
			t.Errorf("format %s: %+v", name, comp)
		}
	}
	raw := sdktest.Input(t, vdisktest.Image(t, 3*mib))
	arts := sdktest.RunFormat(t, c, formatcloud.AWSName, request(raw))
	vdisktest.SameContent(t, arts[0].Path, raw.Path)
}
