package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/kitbuild/kit/core/run"
)

// findTestKernel returns a bzImage for the boot test: $KIT_E2E_KERNEL, the
// cache of testing/e2e-boot/get-kernel.sh, or the host's /boot.
func findTestKernel() string {
	if k := os.Getenv("KIT_E2E_KERNEL"); k != "" {
		return k
	}
	var globs []string
	if d := os.Getenv("KIT_E2E_KERNEL_DIR"); d != "" {
		globs = append(globs, filepath.Join(d, "*", "boot", "vmlinuz-*"))
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if home, err := os.UserHomeDir(); cache == "" && err == nil {
		cache = filepath.Join(home, ".cache")
	}
	if cache != "" {
		globs = append(globs, filepath.Join(cache, "kit", "e2e-kernel", "*", "boot", "vmlinuz-*"))
	}
	globs = append(globs, "/boot/vmlinuz-*")
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		for _, k := range m {
			if f, err := os.Open(k); err == nil { // /boot kernels may be root-only
				f.Close()
				return k
			}
		}
	}
	return ""
}

// TestBootKernelInitrd boots a Debian kernel with an initrd holding a Go
// /init that prints a marker and powers off, under TCG (KIT_E2E_ACCEL
// overrides), through the same Resolve → Build → Run path as `kit run qemu`:
// once with SeaBIOS and once through OVMF (skipped when the ovmf package is
// not installed).
func TestBootKernelInitrd(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed; install it with: apt-get install qemu-system-x86")
	}
	kernel := findTestKernel()
	if kernel == "" {
		t.Skip("no kernel to boot; fetch one with: export KIT_E2E_KERNEL=\"$(testing/e2e-boot/get-kernel.sh)\"")
	}
	accel := AccelTCG
	if a := os.Getenv("KIT_E2E_ACCEL"); a != "" {
		accel = Accel(a)
	}

	dir := t.TempDir()
	initBin := filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-trimpath", "-o", initBin, "./testdata/marker-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test init: %v\n%s", err, out)
	}
	initData, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}

	prefix := filepath.Join(dir, "marker")
	kdata, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+run.KernelSuffix, kdata, 0o644); err != nil {
		t.Fatal(err)
	}
	var initrd bytes.Buffer
	w := cpio.Newc.Writer(&initrd)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(initData), 0o755),
	}
	cpio.MakeAllReproducible(recs)
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+run.InitrdSuffix, initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+run.CmdlineSuffix, []byte("console=ttyS0 panic=-1 quiet\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	art, err := run.Resolve(prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, uefi := range []bool{false, true} {
		name := map[bool]string{false: "bios", true: "uefi"}[uefi]
		t.Run(name, func(t *testing.T) {
			cmd, err := Build(Config{Artifact: art, Accel: accel, Memory: "256M", UEFI: uefi, StateDir: t.TempDir()})
			var me *MissingError
			if errors.As(err, &me) {
				t.Skipf("%v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", cmd)
			var out bytes.Buffer
			start := time.Now()
			code, err := cmd.Run(context.Background(), RunOptions{Stdout: &out, Stderr: &out, Timeout: 90 * time.Second})
			elapsed := time.Since(start)
			console := out.String()
			if err != nil || code != 0 {
				t.Fatalf("qemu: exit %d, %v after %v; console:\n%s", code, err, elapsed, console)
			}
			if !strings.Contains(console, "KIT-MARKER pid=1") {
				t.Fatalf("marker missing from the console after %v:\n%s", elapsed, console)
			}
			for _, bad := range []string{"Kernel panic", "KIT-POWEROFF-FAILED"} {
				if strings.Contains(console, bad) {
					t.Fatalf("console shows %q:\n%s", bad, console)
				}
			}
			t.Logf("%s: booted to the marker and powered off under %s in %v", name, cmd.Accel, elapsed.Round(time.Millisecond))
		})
	}

	// A published port listens on the host's loopback while the VM runs,
	// and cancelling the context stops the VM.
	t.Run("publish", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		cmd, err := Build(Config{
			Artifact: art, Accel: accel, Memory: "256M",
			Publish: []Port{{Host: port, Guest: 80, Proto: "tcp"}},
			// No init: the kernel panics and, with panic=0, waits.
			CmdlineAppend: "rdinit=/none panic=0",
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		reached := make(chan error, 1)
		go func() {
			var err error
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				var c net.Conn
				if c, err = net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))); err == nil {
					c.Close()
					break
				}
			}
			// The forward is bound to loopback only: the host's other
			// addresses refuse it.
			if err == nil {
				addrs, _ := net.InterfaceAddrs()
				for _, a := range addrs {
					ip, ok := a.(*net.IPNet)
					if !ok || ip.IP.IsLoopback() || ip.IP.To4() == nil {
						continue
					}
					if c, derr := net.DialTimeout("tcp", net.JoinHostPort(ip.IP.String(), strconv.Itoa(int(port))), time.Second); derr == nil {
						c.Close()
						err = fmt.Errorf("published port answers on %s, not only on 127.0.0.1", ip.IP)
					}
				}
			}
			reached <- err
			cancel()
		}()
		var out bytes.Buffer
		_, err = cmd.Run(ctx, RunOptions{Stdout: &out, Stderr: &out, Timeout: 60 * time.Second})
		if derr := <-reached; derr != nil {
			t.Fatalf("published port %d: %v; console:\n%s", port, derr, out.String())
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel: %v, want context.Canceled", err)
		}
	})
}
