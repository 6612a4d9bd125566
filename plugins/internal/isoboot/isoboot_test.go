package isoboot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testEpoch = 1700000000
	marker    = "KIT-BOOT-OK"
	cmdline   = "console=ttyS0 panic=-1 quiet"
)

// testInput is a kernel, the marker initrd and the Debian bootloaders.
func testInput(t *testing.T) Input {
	t.Helper()
	dir := t.TempDir()
	return Input{
		Kernel:          findKernel(t),
		Initrd:          markerInitrd(t, dir),
		Cmdline:         cmdline,
		Bootloaders:     []string{bootloaderTar(t)},
		SourceDateEpoch: testEpoch,
	}
}

func writeISO(t *testing.T, name string, write func(*os.File) error) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func digest(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// xorrisoFind checks that xorriso accepts the image and lists want.
func xorrisoFind(t *testing.T, iso string, want ...string) {
	t.Helper()
	needTool(t, "xorriso", "xorriso")
	out, err := exec.Command("xorriso", "-abort_on", "WARNING", "-indev", iso, "-find", "/").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -indev %s -find: %v\n%s", iso, err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), "'"+w+"'") {
			t.Errorf("xorriso does not list %s:\n%s", w, out)
		}
	}
}

// boot runs QEMU under TCG until it powers off (or 120 s pass) and checks
// the serial console for the marker.
func boot(t *testing.T, args ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	needTool(t, "qemu-system-x86_64", "qemu-system-x86")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	base := []string{"-accel", "tcg", "-m", "512", "-no-reboot", "-display", "none", "-monitor", "none",
		"-serial", "stdio", "-nic", "none"}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", append(base, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	console := out.String()
	if !strings.Contains(console, marker) {
		t.Fatalf("no %s on the serial console after %v (qemu: %v):\n%s", marker, time.Since(start).Round(time.Second), err, tail(console))
	}
	if strings.Contains(console, "Kernel panic") {
		t.Fatalf("kernel panic:\n%s", tail(console))
	}
	t.Logf("booted to %s in %v; console:\n%s", marker, time.Since(start).Round(time.Second), tail(console))
}

func tail(s string) string {
	if len(s) > 6000 {
		return "...\n" + s[len(s)-6000:]
	}
	return s
}

func TestBIOS(t *testing.T) {
	in := testInput(t)
	ctx := context.Background()
	build := func() string {
		return writeISO(t, "bios.iso", func(f *os.File) error { return BIOS(ctx, f, in) })
	}
	iso := build()
	if digest(t, iso) != digest(t, build()) {
		t.Fatal("two builds of the BIOS ISO differ")
	}
	xorrisoFind(t, iso, "/isolinux/isolinux.bin", "/isolinux/ldlinux.c32", "/isolinux/isolinux.cfg",
		"/isolinux/boot.cat", "/boot/kernel", "/boot/initrd.img", "/boot/cmdline")
	t.Run("cdrom", func(t *testing.T) { boot(t, "-cdrom", iso) })
	t.Run("disk", func(t *testing.T) { // the isohybrid MBR
		boot(t, "-drive", "file="+iso+",format=raw,if=ide,snapshot=on")
	})
}

func TestEFI(t *testing.T) {
	in := testInput(t)
	ctx := context.Background()
	files, closeFiles, err := ESPFiles(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles()
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	if want := []string{ESPBootloader, ESPInitrd, ESPKernel, ESPEntry, ESPLoaderConf}; strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("ESPFiles = %v, want %v", paths, want)
	}
	// A filler file first puts the kernel and initrd past the 32 MiB that
	// an El Torito sector count can describe: the firmware must take the
	// whole image (the entry's count is 0).
	filler := bytes.Repeat([]byte("fill"), 10<<20)
	withFiller := append([]File{{Path: "filler", Size: int64(len(filler)), Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(filler)), nil
	}}}, files...)
	espPath := filepath.Join(t.TempDir(), "esp.img")
	fatImage(t, ctx, withFiller, espPath)
	espFile, err := os.Open(espPath)
	if err != nil {
		t.Fatal(err)
	}
	defer espFile.Close()
	fi, _ := espFile.Stat()
	esp := ESP{R: espFile, Size: fi.Size()}
	build := func() string {
		return writeISO(t, "efi.iso", func(f *os.File) error { return EFI(ctx, f, in, esp) })
	}
	iso := build()
	if digest(t, iso) != digest(t, build()) {
		t.Fatal("two builds of the EFI ISO differ")
	}
	xorrisoFind(t, iso, "/boot/efi.img", "/boot/boot.cat", "/boot/kernel", "/boot/initrd.img")

	t.Run("cdrom", func(t *testing.T) { boot(t, append(ovmf(t), "-cdrom", iso)...) })
	// OVMF also finds the El Torito EFI entry on a disk of 512-byte
	// sectors (the image written to a USB stick); firmware that wants an
	// MBR or GPT partition of type 0xEF does not.
	t.Run("disk", func(t *testing.T) {
		boot(t, append(ovmf(t), "-drive", "file="+iso+",format=raw,if=ide,snapshot=on")...)
	})
}

// ovmf is the QEMU arguments of OVMF with a fresh copy of its variables.
func ovmf(t *testing.T) []string {
	t.Helper()
	code, vars := "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
	if _, err := os.Stat(code); err != nil {
		skipOrFail(t, "OVMF not installed (apt-get install ovmf)")
	}
	b, err := os.ReadFile(vars)
	if err != nil {
		skipOrFail(t, "OVMF variables: %v (apt-get install ovmf)", err)
	}
	varsCopy := filepath.Join(t.TempDir(), "vars.fd")
	if err := os.WriteFile(varsCopy, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-machine", "q35",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + varsCopy}
}

func TestConfigs(t *testing.T) {
	if got, want := IsolinuxCfg("console=ttyS0\n  quiet"), "SERIAL 0 115200\nDEFAULT kit\nPROMPT 0\nTIMEOUT 0\nLABEL kit\n  KERNEL /boot/kernel\n  INITRD /boot/initrd.img\n  APPEND console=ttyS0 quiet\n"; got != want {
		t.Errorf("IsolinuxCfg = %q, want %q", got, want)
	}
	if got, want := EntryConf("a  b"), "title kit\nlinux /kernel\ninitrd /initrd.img\noptions a b\n"; got != want {
		t.Errorf("EntryConf = %q, want %q", got, want)
	}
}

func TestMissingBootloader(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.tar")
	tarTree(t, t.TempDir(), empty)
	k := filepath.Join(dir, "k")
	os.WriteFile(k, []byte("kernel"), 0o644)
	in := Input{Kernel: k, Initrd: k, Bootloaders: []string{empty}, SourceDateEpoch: testEpoch}
	var buf bytes.Buffer
	if err := BIOS(context.Background(), &buf, in); err == nil || !strings.Contains(err.Error(), IsohdpfxBin) {
		t.Errorf("BIOS without bootloaders: %v", err)
	}
	if _, _, err := ESPFiles(context.Background(), in); err == nil || !strings.Contains(err.Error(), SystemdBootX64) {
		t.Errorf("ESPFiles without bootloaders: %v", err)
	}
}
