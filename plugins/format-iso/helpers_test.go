package formatiso_test

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/sdktest"
)

// needTool skips the test when a tool is missing, or fails it when CI=true.
func needTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
}

// run runs a command and returns its combined output, failing the test
// when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Paths of the bootloader files in the images (Debian's paths).
const (
	isolinuxBin = "usr/lib/ISOLINUX/isolinux.bin"
	isohdpfxBin = "usr/lib/ISOLINUX/isohdpfx.bin"
	ldlinuxC32  = "usr/lib/syslinux/modules/bios/ldlinux.c32"
	sdBootX64   = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
)

// fakeSyslinux is a syslinux image tar whose files have the shapes the ISO
// writer checks (an isolinux.bin with the isohybrid signature at 0x40, a
// 432-byte isohdpfx.bin) but boot nothing: the boot test uses the real
// ones.
func fakeSyslinux(t testing.TB) sdk.Input {
	isolinux := make([]byte, 4096)
	copy(isolinux, "ISOLINUX")
	copy(isolinux[0x40:], []byte{0xFB, 0xC0, 0x78, 0x70})
	mbr := bytes.Repeat([]byte{0x90}, 432)
	return sdktest.WriteTar(t, map[string]string{
		isolinuxBin: string(isolinux),
		isohdpfxBin: string(mbr),
		ldlinuxC32:  "LDLINUX.C32\n",
	})
}

// fakeSystemdBoot is a systemd-boot image tar.
func fakeSystemdBoot(t testing.TB) sdk.Input {
	return sdktest.WriteTar(t, map[string]string{sdBootX64: "MZ systemd-boot\n"})
}

// writeFile writes content to a new file in a temp dir and returns it as an
// input.
func writeFile(t testing.TB, name, content string) sdk.Input {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return sdktest.Input(t, p)
}

const testCmdline = "console=ttyS0 quiet\n"

// bootInputs are a fake kernel, initrd and command line.
func bootInputs(t testing.TB) map[string]sdk.Input {
	return map[string]sdk.Input{
		sdk.InputKernel:  writeFile(t, "kernel", "KERNEL "+strings.Repeat("k", 10000)),
		sdk.InputInitrd:  writeFile(t, "initrd.img", "INITRD "+strings.Repeat("i", 70000)),
		sdk.InputCmdline: writeFile(t, "cmdline", testCmdline),
	}
}

// rootfsTar writes a root filesystem tar with every kind of entry kit's
// normalized tars hold, and boot/ (kernel and command line), as the
// assemble step writes it.
func rootfsTar(t testing.TB) sdk.Input {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1600000000, 0)
	add := func(h *tar.Header, data string) {
		h.ModTime, h.Format = mt, tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if _, err := tw.Write([]byte(data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, "BUSYBOX "+strings.Repeat("b", 5000))
	add(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, "")
	add(&tar.Header{Name: "bin/ash", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}, "")
	add(&tar.Header{Name: "boot/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "boot/cmdline", Typeflag: tar.TypeReg, Mode: 0o644}, testCmdline)
	add(&tar.Header{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644}, "KERNEL")
	add(&tar.Header{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "dev/console", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 5, Devminor: 1}, "")
	add(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, "root:x:0:0:root:/root:/bin/sh\n")
	add(&tar.Header{Name: "etc/shadow", Typeflag: tar.TypeReg, Mode: 0o640, Gid: 42}, "root:*:1:0:99999:7:::\n")
	add(&tar.Header{Name: "run/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}, "")
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, "")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return sdktest.Input(t, p)
}

// xorrisoFind checks that xorriso reads the image without complaint and
// returns the paths it lists.
func xorrisoFind(t testing.TB, iso string) []string {
	t.Helper()
	needTool(t, "xorriso", "xorriso")
	out := run(t, "xorriso", "-abort_on", "WARNING", "-return_with", "WARNING", "32", "-indev", iso, "-find", "/")
	var paths []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "'") && strings.HasSuffix(l, "'") {
			paths = append(paths, strings.Trim(l, "'"))
		}
	}
	return paths
}

// xorrisoExtract copies the file p of the image to a temp file and returns
// its content.
func xorrisoExtract(t testing.TB, iso, p string) []byte {
	t.Helper()
	needTool(t, "xorriso", "xorriso")
	out := filepath.Join(t.TempDir(), filepath.Base(p))
	run(t, "xorriso", "-osirrox", "on", "-indev", iso, "-extract", p, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
