package bootdisk

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// kernel returns the path of a bootable x86-64 kernel: $KIT_E2E_KERNEL, or
// what testing/e2e-boot/get-kernel.sh fetches.
func kernel(t testing.TB) string {
	t.Helper()
	if k := os.Getenv("KIT_E2E_KERNEL"); k != "" {
		return k
	}
	cmd := exec.Command("../../../testing/e2e-boot/get-kernel.sh")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("get-kernel.sh: %v\n%s", err, stderr.Bytes())
		}
		t.Skipf("no kernel (set KIT_E2E_KERNEL): get-kernel.sh: %v\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// testInitrd builds a newc cpio whose /init (testdata/init, a static Go
// binary) prints "KIT-BOOT-OK cmdline: ..." on the console and powers off.
func testInitrd(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, "./testdata/init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test init: %v\n%s", err, out)
	}
	initBin, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("proc", 0o755),
		cpio.StaticFile("init", string(initBin), 0o755),
	}
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSHA(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
