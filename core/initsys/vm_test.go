//go:build linux

package initsys

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

// vmKernel returns a bzImage to boot: $KIT_E2E_KERNEL or the cache of
// testing/e2e-boot/get-kernel.sh.
func vmKernel() string {
	if k := os.Getenv("KIT_E2E_KERNEL"); k != "" {
		return k
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if home, err := os.UserHomeDir(); cache == "" && err == nil {
		cache = filepath.Join(home, ".cache")
	}
	m, _ := filepath.Glob(filepath.Join(cache, "kit", "e2e-kernel", "*", "boot", "vmlinuz-*"))
	if len(m) > 0 {
		return m[0]
	}
	return ""
}

// TestBootVM boots kit-init as /init of an initrd in QEMU (software
// emulation) with the host's runc and its libraries and the probe as
// debug hook,
// and checks from the serial console: the root switch, the onboot order
// and a failing onboot container, the service (writable through an
// overlay when the kernel's overlay.ko is at hand, loaded by kit-init), the hook, the onshutdown
// container and that the VM powers off by itself.
func TestBootVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed")
	}
	kernel := vmKernel()
	if kernel == "" {
		t.Skip("no kernel; fetch one with: export KIT_E2E_KERNEL=\"$(testing/e2e-boot/get-kernel.sh)\"")
	}
	dir := t.TempDir()
	build := func(out, pkg string) []byte {
		t.Helper()
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, out), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, b)
		}
		b, err := os.ReadFile(filepath.Join(dir, out))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	initBin := build("kit-init", "../../cmd/kit-init")
	probe := string(build("probe", "./testdata/probe"))

	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(initBin), 0o755),
		cpio.StaticFile("hook", probe, 0o755),
		cpio.Directory("etc", 0o755),
		cpio.StaticFile("etc/hostname", "kitvm\n", 0o644),
	}
	// runc and the libraries it links
	ldd, err := exec.Command("ldd", runc).Output()
	if err != nil {
		t.Skipf("ldd %s: %v", runc, err)
	}
	files := []string{runc}
	for _, line := range strings.Split(string(ldd), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(f, "/")
		for d := filepath.Dir(name); d != "." && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			defer func(d string) { recs = append(recs, cpio.Directory(d, 0o755)) }(d)
		}
		recs = append(recs, cpio.StaticFile(name, string(b), 0o755))
	}
	// overlayfs is a module of Debian's kernels: ship it when the kernel
	// comes with its modules, and make the service writable then
	var overlay string
	release := strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(kernel), "..", "lib", "modules", release, "kernel", "fs", "overlayfs", "overlay.ko")); len(m) > 0 {
		b, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		overlay = "lib/modules/" + release + "/kernel/fs/overlayfs/overlay.ko"
		recs = append(recs, cpio.StaticFile(overlay, string(b), 0o644))
	}
	bundle := func(section Section, name string, readonly bool, args ...string) {
		cfg, err := json.Marshal(map[string]any{
			"ociVersion": "1.0.2",
			"process": map[string]any{"user": map[string]int{"uid": 0, "gid": 0}, "args": append([]string{"/probe"}, args...),
				"env": []string{"PATH=/"}, "cwd": "/"},
			"root":     map[string]any{"path": "rootfs", "readonly": readonly},
			"hostname": name,
			"mounts":   []map[string]string{{"destination": "/proc", "type": "proc", "source": "proc"}},
			"linux":    map[string]any{"namespaces": []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		d := "containers/" + string(section) + "/" + name
		image := d + "/rootfs"
		recs = append(recs, cpio.Directory(d, 0o755))
		if !readonly {
			image = d + "/lower"
			recs = append(recs, cpio.Directory(d+"/rootfs", 0o755), cpio.Directory(d+"/tmp", 0o755))
		}
		recs = append(recs, cpio.Directory(image, 0o755), cpio.Directory(image+"/proc", 0o755),
			cpio.StaticFile(image+"/probe", probe, 0o755),
			cpio.StaticFile(d+"/config.json", string(cfg), 0o644),
			cpio.StaticFile(d+"/runtime.json", `{"mkdir": ["/var/lib/`+name+`"]}`, 0o644))
	}
	recs = append(recs, cpio.Directory("containers", 0o755), cpio.Directory("containers/onboot", 0o755),
		cpio.Directory("containers/services", 0o755), cpio.Directory("containers/onshutdown", 0o755))
	bundle(Onboot, "000-hello", true, "exit", "0")
	bundle(Onboot, "001-fail", true, "exit", "3")
	bundle(Services, "svc", overlay == "", "serve", "/marker")
	bundle(Onshutdown, "000-bye", true, "exit", "0")

	var initrd bytes.Buffer
	w := cpio.Newc.Writer(&initrd)
	cpio.MakeAllReproducible(recs)
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	initrdPath := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrdPath, initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-kernel", kernel, "-initrd", initrdPath,
		"-append", "console=ttyS0 panic=-1 kit.debug=/hook,hook",
		"-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio", "-nodefaults")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	console := strings.ReplaceAll(out.String(), "\r\n", "\n")
	t.Logf("VM ran %v", time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		t.Fatalf("the VM did not power off within the timeout:\n%s", console)
	}
	if err != nil {
		t.Errorf("qemu: %v", err)
	}
	if strings.Contains(console, "Kernel panic") {
		t.Errorf("kernel panic")
	}
	svcLog := `HOOK svc-log="probe write /marker: open /marker: read-only file system\nprobe serving\n"`
	module := "kit-init: hostname kitvm"
	if overlay != "" {
		svcLog = `HOOK svc-log="probe write /marker: ok\nprobe serving\n"`
		module = "kit-init: module overlay loaded"
	}
	want := []string{
		"kit-init: copying the initramfs root to a tmpfs",
		"kit-init: hostname kitvm",
		module,
		"kit-init: onboot 000-hello: exit 0",
		"probe exit 3",
		"kit-init: onboot 001-fail: exit 3",
		"kit-init: service svc: started",
		"HOOK hostname=kitvm",
		"HOOK root-fs-type=0x1021994", // tmpfs
		"HOOK lo-flags=0x9",           // up, loopback
		svcLog,
		"HOOK mount /sys/fs/cgroup cgroup2",
		"kit-init: SIGUSR2: poweroff", // the hook's `/init poweroff`
		"kit-init: service svc: exit 0",
		"kit-init: onshutdown 000-bye: exit 0",
		"kit-init: poweroff\n",
		"reboot: Power down",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(console, w)
		switch {
		case i < 0:
			t.Errorf("console lacks %q", w)
		case i < last:
			t.Errorf("%q out of order", w)
		default:
			last = i
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("console:\n%s", console)
	}
}
