package formatiso_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/plugtest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/sdktest"
)

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

const testCmdline = "console=ttyS0 quiet\n"

// bootInputs are a fake kernel, initrd and command line.
func bootInputs(t testing.TB) map[string]sdk.Input {
	return map[string]sdk.Input{
		sdk.InputKernel:  plugtest.WriteFile(t, "kernel", "KERNEL "+strings.Repeat("k", 10000)),
		sdk.InputInitrd:  plugtest.WriteFile(t, "initrd.img", "INITRD "+strings.Repeat("i", 70000)),
		sdk.InputCmdline: plugtest.WriteFile(t, "cmdline", testCmdline),
	}
}

// xorrisoFind checks that xorriso reads the image without complaint and
// returns the paths it lists.
func xorrisoFind(t testing.TB, iso string) []string {
	t.Helper()
	plugtest.Tool(t, "xorriso")
	out := plugtest.Run(t, "xorriso", "-abort_on", "WARNING", "-return_with", "WARNING", "32", "-indev", iso, "-find", "/")
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
	plugtest.Tool(t, "xorriso")
	out := filepath.Join(t.TempDir(), filepath.Base(p))
	plugtest.Run(t, "xorriso", "-osirrox", "on", "-indev", iso, "-extract", p, out)
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
