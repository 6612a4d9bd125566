//go:build linux

package initsys

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kitbuild/kit/testing/runctest"
)

// ociConfig is a small OCI runtime config running args.
func ociConfig(t *testing.T, args []string, readonly, netns bool) []byte {
	t.Helper()
	caps := []string{"CAP_KILL", "CAP_DAC_OVERRIDE"}
	ns := []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}}
	if netns {
		ns = append(ns, map[string]string{"type": "network"})
	}
	cfg := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"user": map[string]int{"uid": 0, "gid": 0}, "args": args, "env": []string{"PATH=/"}, "cwd": "/",
			"capabilities":    map[string][]string{"bounding": caps, "effective": caps, "permitted": caps},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": "rootfs", "readonly": readonly},
		"hostname": "probe",
		"mounts":   []map[string]string{{"destination": "/proc", "type": "proc", "source": "proc"}},
		"linux":    map[string]any{"namespaces": ns},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunc drives the init's sequencing with the real runc against bundles
// in a temporary root (not as PID 1, no root switch): onboot in order with
// a failure, a writable and a read-only service, bindNS, stop, onshutdown.
func TestRunc(t *testing.T) {
	runc := runctest.Need(t)
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	runctest.BuildStatic(t, "./testdata/probe", probe)
	probeBin, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(dir, "root")
	t.Cleanup(func() { unmountUnder(t, root) })
	bundle := func(section Section, name string, writable, netns bool, runtimeJSON string, args ...string) string {
		b := filepath.Join(root, "containers", string(section), name)
		image := filepath.Join(b, "rootfs")
		if writable {
			image = filepath.Join(b, "lower")
			for _, d := range []string{"tmp", "rootfs"} {
				if err := os.MkdirAll(filepath.Join(b, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.MkdirAll(filepath.Join(image, "proc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(image, "probe"), probeBin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b, "config.json"), ociConfig(t, append([]string{"/probe"}, args...), !writable, netns), 0o644); err != nil {
			t.Fatal(err)
		}
		if runtimeJSON != "" {
			if err := os.WriteFile(filepath.Join(b, "runtime.json"), []byte(runtimeJSON), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	bundle(Onboot, "000-first", false, false, "", "exit", "0")
	bundle(Onboot, "001-fails", false, false, "", "exit", "3")
	writes := bundle(Onboot, "002-writes", true, false, "", "write", "/marker")
	peer := fmt.Sprintf("kt%d", os.Getpid()%1000000)
	bundle(Services, "svc", true, true, `{"mkdir": ["/var/lib/svc"], "bindNS": {"net": "/run/netns/svc"},
		"interfaces": [{"name": "eth1", "peer": "`+peer+`"}]}`, "serve", "/marker")
	bundle(Services, "ro", false, false, "", "serve", "/marker")
	bundle(Onshutdown, "000-bye", false, false, "", "exit", "0")

	console, err := os.Create(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	defer func() {
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(console.Name())
			t.Logf("console:\n%s", b)
		}
	}()
	reaper := startReaper(t)
	rt := &Runc{Path: runc, StateDir: filepath.Join(dir, "runc"), PidDir: filepath.Join(dir, "pids"), Reaper: reaper}
	in := New(Linux{}, rt, WithRoot(root), WithConsole(console), WithCgroupRoot(filepath.Join(dir, "cgroup")),
		WithStopTimeout(5*time.Second, 2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res := in.RunSection(ctx, Onboot)
	if len(res) != 3 {
		t.Fatalf("onboot results: %+v", res)
	}
	for i, want := range []int{0, 3, 0} {
		if res[i].Err != nil || res[i].Status != want {
			t.Errorf("onboot %s: status %d, err %v; want %d", res[i].Bundle.Name, res[i].Status, res[i].Err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(writes, "lower/marker")); err == nil {
		t.Error("a writable container wrote through to lower/")
	}
	for _, r := range in.StartServices(ctx) {
		if r.Err != nil {
			t.Errorf("service %s: %v", r.Bundle.Name, r.Err)
		}
	}
	logOf := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(root, "var/log", name+".log"))
		return string(b)
	}
	eventuallyWithin(t, 30*time.Second, "the services to serve", func() bool {
		return strings.Contains(logOf("svc"), "probe serving") && strings.Contains(logOf("ro"), "probe serving")
	})
	if !strings.Contains(logOf("svc"), "probe write /marker: ok") {
		t.Errorf("writable service could not write:\n%s", logOf("svc"))
	}
	if !strings.Contains(logOf("ro"), "probe write /marker: open /marker: read-only file system") {
		t.Errorf("read-only service:\n%s", logOf("ro"))
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/svc")); err != nil || !fi.IsDir() {
		t.Errorf("runtime.json mkdir: %v", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(root, "run/netns/svc"), &st); err != nil || st.Type != unix.NSFS_MAGIC {
		t.Errorf("bindNS net: statfs type %#x, err %v; want nsfs", st.Type, err)
	}

	// runtime.json interfaces: eth1 in the container, its veth peer here
	if _, err := os.Stat("/sys/class/net/" + peer); err != nil {
		t.Errorf("veth peer %s not in the root namespace: %v", peer, err)
	}
	for _, s := range in.services {
		if s.b.ID == "svc" {
			dev, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", s.pid))
			if err != nil || !strings.Contains(string(dev), "eth1:") {
				t.Errorf("eth1 not in the container: %v\n%s", err, dev)
			}
		}
	}

	in.StopServices(ctx)
	if !strings.Contains(logOf("svc"), "probe got SIGTERM") {
		t.Errorf("svc did not see SIGTERM:\n%s", logOf("svc"))
	}
	res = in.RunSection(ctx, Onshutdown)
	if len(res) != 1 || res[0].Err != nil || res[0].Status != 0 {
		t.Errorf("onshutdown: %+v", res)
	}
	out, _ := exec.Command(runc, "--root", rt.StateDir, "list", "-q").CombinedOutput()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("containers left: %s", s)
	}

	b, _ := os.ReadFile(console.Name())
	text := string(b)
	for _, line := range []string{
		"kit-init: onboot 000-first: exit 0\n", "probe exit 3\n", "kit-init: onboot 001-fails: exit 3\n",
		"probe write /marker: ok\n", "kit-init: onboot 002-writes: exit 0\n",
		"kit-init: service svc: exit 0\n", "kit-init: onshutdown 000-bye: exit 0\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("console lacks %q", line)
		}
	}
	if strings.Index(text, "onboot 002-writes: exit") > strings.Index(text, "service ro: started") {
		t.Error("a service started before onboot ended")
	}
}

// unmountUnder detaches every mount under dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	mounts, err := Linux{}.Mounts()
	if err != nil {
		t.Log(err)
		return
	}
	for _, m := range unmountOrder(mounts, nil) {
		if strings.HasPrefix(m, dir+"/") {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
				t.Logf("unmount %s: %v", m, err)
			}
		}
	}
}
