package formatfs_test

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

const testCmdline = "console=ttyS0 root=/dev/vda\n"

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
