package disktest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/plugins/internal/bootimages"
	"github.com/kitbuild/kit/plugins/internal/plugtest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

// Debian packages of the bootloader images, as plugins/packages builds them.
var (
	SyslinuxPackages    = []string{"syslinux", "syslinux-common"}
	SystemdBootPackages = []string{"systemd-boot-efi"}
)

// Tool returns the path of a host tool; when it is missing the test is
// skipped, or fails when CI=true.
func Tool(t testing.TB, name string) string {
	t.Helper()
	return plugtest.Tool(t, name)
}

// Run runs a host tool (skipping the test when it is missing) and returns
// its combined output, failing the test when it exits non-zero. mtools
// commands run without a configuration file and without geometry checks.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return plugtest.Run(t, name, args...)
}

// DebTree is plugtest.DebTree: the unpacked tree of a Debian package,
// downloaded once into ~/.cache/kit/bootdisk-debs.
func DebTree(t testing.TB, pkg string) string {
	t.Helper()
	return plugtest.DebTree(t, pkg)
}

// ImageTar returns, as a plugin input, a tar of the union of the Debian
// packages' files at their Debian paths (plugtest.DebTar): what kit passes
// a format for a bootloader image built from those packages.
func ImageTar(t testing.TB, pkgs ...string) sdk.Input {
	t.Helper()
	in := sdktest.Input(t, plugtest.DebTar(t, pkgs...))
	in.Ref = "example.test/" + strings.Join(pkgs, "+") + ":test"
	return in
}

// Sizes of the synthetic payload.
const (
	KernelSize = 700 << 10
	InitrdSize = 300 << 10
)

// Cmdline is the synthetic payload's command line.
const Cmdline = "console=ttyS0 quiet"

// Payload returns the host inputs of a synthetic system: a kernel and an
// initrd of seeded pseudo-random bytes (KernelSize, InitrdSize: not
// bootable, but neither all zeros nor compressible to nothing) and a
// cmdline file (Cmdline plus a newline), by their sdk.Input* names.
func Payload(t testing.TB) map[string]sdk.Input {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) sdk.Input {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return sdktest.Input(t, p)
	}
	return map[string]sdk.Input{
		sdk.InputKernel:  write("kernel", Bytes(1, KernelSize)),
		sdk.InputInitrd:  write("initrd.img", Bytes(2, InitrdSize)),
		sdk.InputCmdline: write("cmdline", []byte(Cmdline+"\n")),
	}
}

// Bytes returns n pseudo-random bytes from seed, drawn from 16 symbols so
// that they compress about two to one.
func Bytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6b6974))
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[r.IntN(16)]
	}
	return b
}

// Partition is a partition of a disk image, in bytes.
type Partition struct {
	Offset, Size int64
	// Type is the MBR type byte (0 on a GPT disk).
	Type byte
	// GPTType is the GPT partition type GUID in on-disk byte order (zero
	// on an MBR disk).
	GPTType [16]byte
}

// Partitions reads the partition table of the disk image at path: the
// primary MBR entries in use, or the GPT entries when the MBR is
// protective (type 0xEE).
func Partitions(t testing.TB, path string) []Partition {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		t.Fatalf("%s: no MBR signature", path)
	}
	var out []Partition
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		typ := e[4]
		if typ == 0 {
			continue
		}
		if typ == 0xEE {
			return gptPartitions(t, f)
		}
		out = append(out, Partition{
			Offset: int64(binary.LittleEndian.Uint32(e[8:])) * 512,
			Size:   int64(binary.LittleEndian.Uint32(e[12:])) * 512,
			Type:   typ,
		})
	}
	return out
}

func gptPartitions(t testing.TB, f *os.File) []Partition {
	hdr := make([]byte, 512)
	if _, err := f.ReadAt(hdr, 512); err != nil {
		t.Fatal(err)
	}
	if string(hdr[:8]) != "EFI PART" {
		t.Fatalf("%s: protective MBR but no GPT header", f.Name())
	}
	lba := int64(binary.LittleEndian.Uint64(hdr[72:]))
	n := binary.LittleEndian.Uint32(hdr[80:])
	esize := int64(binary.LittleEndian.Uint32(hdr[84:]))
	if n > 1024 || esize < 128 || esize > 4096 {
		t.Fatalf("%s: implausible GPT entry array (%d entries of %d bytes)", f.Name(), n, esize)
	}
	buf := make([]byte, int64(n)*esize)
	if _, err := f.ReadAt(buf, lba*512); err != nil {
		t.Fatal(err)
	}
	var out []Partition
	for i := int64(0); i < int64(n); i++ {
		e := buf[i*esize : (i+1)*esize]
		var p Partition
		copy(p.GPTType[:], e[:16])
		if p.GPTType == [16]byte{} {
			continue
		}
		first := int64(binary.LittleEndian.Uint64(e[32:]))
		last := int64(binary.LittleEndian.Uint64(e[40:]))
		p.Offset, p.Size = first*512, (last-first+1)*512
		out = append(out, p)
	}
	return out
}

// Extract copies the bytes of a partition of the disk image at path into
// a new file and returns its path.
func Extract(t testing.TB, path string, p Partition) string {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]byte, p.Size)
	if _, err := src.ReadAt(buf, p.Offset); err != nil {
		t.Fatalf("%s: partition at %d (%d bytes): %v", path, p.Offset, p.Size, err)
	}
	out := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// FsckVFAT runs fsck.vfat -n (check only) on a FAT file system image and
// fails the test unless it finds nothing to fix.
func FsckVFAT(t testing.TB, img string) string {
	t.Helper()
	return Run(t, "fsck.vfat", "-n", img)
}

// MDir lists the FAT file system image recursively, hidden files
// included, with mtools (mdir -/ -a -b: one full path per line) and returns
// the paths, without the "::/" prefix, sorted; directories end in "/".
func MDir(t testing.TB, img string) []string {
	t.Helper()
	out := Run(t, "mdir", "-i", img, "-/", "-a", "-b", "::/")
	var paths []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		paths = append(paths, strings.TrimPrefix(l, "::/"))
	}
	sort.Strings(paths)
	return paths
}

// MType returns the content of the file name on a FAT file system image
// (mtype -i).
func MType(t testing.TB, img, name string) []byte {
	t.Helper()
	cmd := exec.Command(Tool(t, "mtype"), "-i", img, "::/"+strings.TrimPrefix(name, "/"))
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mtype %s %s: %v\n%s", img, name, err, stderr.Bytes())
	}
	return out
}

// RawDisk builds the raw disk format (formatdisk.RawBIOSName or
// RawEFIName) from Payload and the bootloader image from Debian, through
// the format-disk plugin served in process, and returns it as an input.
func RawDisk(t testing.TB, format string) sdk.Input {
	t.Helper()
	return RawDiskSized(t, format, 0)
}

// RawDiskSized is RawDisk with the disk size set (diskSize in the config,
// as --disk-size does); 0 derives it.
func RawDiskSized(t testing.TB, format string, size int64) sdk.Input {
	t.Helper()
	req := RawRequest(t, format)
	if size != 0 {
		req.Config = json.RawMessage(fmt.Sprintf(`{%q: %d}`, formatdisk.DiskSizeKey, size))
	}
	req.ScratchDir = t.TempDir()
	c := sdktest.Serve(t, formatdisk.Plugin())
	arts, err := c.BuildFormat(context.Background(), format, req)
	if err != nil {
		t.Fatalf("building %s: %v", format, err)
	}
	if len(arts) != 1 {
		t.Fatalf("building %s: %d artifacts", format, len(arts))
	}
	return sdk.Input{Path: arts[0].Path, Digest: arts[0].Digest}
}

// RawRequest is the build request of a raw disk format: Payload's inputs
// and the bootloader image (from Debian) the format needs, for amd64.
func RawRequest(t testing.TB, format string) client.BuildRequest {
	t.Helper()
	req := client.BuildRequest{Inputs: Payload(t), SourceDateEpoch: 1700000000, Arch: "amd64"}
	switch format {
	case formatdisk.RawBIOSName:
		req.Images = map[string]sdk.Input{bootimages.Syslinux: ImageTar(t, SyslinuxPackages...)}
	case formatdisk.RawEFIName:
		req.Images = map[string]sdk.Input{bootimages.SystemdBoot: ImageTar(t, SystemdBootPackages...)}
	default:
		t.Fatalf("disktest: %s is not a raw disk format", format)
	}
	return req
}
