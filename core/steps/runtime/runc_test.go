package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/testing/runctest"
)

type probe struct {
	UID, GID, PID int
	Groups        []int
	Cwd           string
	Env           []string
	Hostname      string
	Caps          map[string]string
	Core          []uint64
	Writable      map[string]bool
	Mounts        map[string]string
	Bound         string
	Shmmax        string
	OOMScoreAdj   string
	Device        string
	Interfaces    []string
}

// runcBundle builds the probe into a fresh bundle and returns a function
// that runs a config there with runc and decodes what the probe saw. It
// skips the test where runc, root or the go tool is missing.
func runcBundle(t *testing.T) (run func(oci *specs.Spec) probe, hostDir string) {
	runc := runctest.Need(t)

	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	host := filepath.Join(dir, "host")
	for _, d := range []string{rootfs, host} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(host, "file"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	runctest.BuildStatic(t, "./testdata/probe", filepath.Join(rootfs, "probe"))

	n := 0
	run = func(oci *specs.Spec) probe {
		t.Helper()
		cfg, err := Marshal(oci)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}

		state := filepath.Join(dir, "state")
		n++
		id := fmt.Sprintf("kit-runtime-test-%d-%d", os.Getpid(), n)
		t.Cleanup(func() { _ = exec.Command(runc, "--root", state, "delete", "--force", id).Run() })
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(runc, "--root", state, "run", "--bundle", bundle, id)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("runc run timed out")
		}
		if err != nil {
			t.Fatalf("runc run: %v\nstderr: %s\nconfig.json:\n%s", err, stderr.String(), cfg)
		}

		var got probe
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("probe output %q: %v\nstderr: %s", stdout.String(), err, stderr.String())
		}
		return got
	}
	return run, host
}

// TestRunc runs generated bundles with runc (as root, where runc and the go
// tool are installed) and checks what the process inside sees.
func TestRunc(t *testing.T) {
	run, host := runcBundle(t)
	sys := &spec.System{
		Onboot:   []*spec.Image{{Name: "first"}},
		Services: []*spec.Image{{Name: "probe"}, {Name: "audio"}},
	}
	ids, err := AllocateIDs(sys)
	if err != nil {
		t.Fatal(err)
	}
	e := entry(func(e *spec.Image) {
		e.Name = "probe"
		e.Readonly = ptr(true)
		e.Capabilities = strs("CAP_CHOWN", "CAP_KILL")
		e.Ambient = strs("CAP_NET_BIND_SERVICE")
		e.UID = name("probe")
		e.GID = name("probe")
		e.AdditionalGids = &[]spec.IDValue{*name("audio"), *num(7)}
		e.Net, e.Ipc, e.Uts = "new", "new", "new"
		e.Hostname = "kitprobe"
		e.Tmpfs = strs("/tmp/t:size=1m,mode=1777")
		e.Binds = strs(host + ":/bound:ro")
		e.Rlimits = strs("core,4096,unlimited")
		e.Sysctl = &map[string]string{"kernel.shmmax": "1234567"}
		e.OOMScoreAdj = ptr(123)
		e.Devices = &[]spec.Device{{Path: "/dev/kitzero", Type: "c", Major: 1, Minor: 5, Mode: "0640"}}
		e.Env = strs("FOO=bar", "PATH=/")
		e.Resources = &spec.Resources{Pids: &spec.Pids{Limit: 64}}
	})
	oci, _, err := Generate(e, ImageConfig{Entrypoint: []string{"/probe"}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := run(oci)
	eq(t, "uid", got.UID, int(ids["probe"]))
	eq(t, "gid", got.GID, int(ids["probe"]))
	slices.Sort(got.Groups)
	eq(t, "groups", got.Groups, []int{7, int(ids["audio"])})
	eq(t, "pid (new pid namespace)", got.PID, 1)
	eq(t, "cwd", got.Cwd, "/")
	// runc adds HOME when the config has none.
	eq(t, "env", got.Env, []string{"FOO=bar", "PATH=/", "HOME=/"})
	eq(t, "hostname", got.Hostname, "kitprobe")
	// bits: CHOWN 0, KILL 5, NET_BIND_SERVICE 10
	eq(t, "CapBnd", got.Caps["CapBnd"], "0000000000000421")
	eq(t, "CapInh", got.Caps["CapInh"], "0000000000000421")
	eq(t, "CapAmb", got.Caps["CapAmb"], "0000000000000400")
	// A non-root process keeps only its ambient capabilities across exec.
	eq(t, "CapEff", got.Caps["CapEff"], "0000000000000400")
	eq(t, "core rlimit", got.Core, []uint64{4096, math.MaxUint64})
	eq(t, "writable", got.Writable, map[string]bool{"/": false, "/dev": false, "/tmp/t": true})
	eq(t, "bound file", got.Bound, "from the host")
	eq(t, "shmmax", got.Shmmax, "1234567")
	eq(t, "oom_score_adj", got.OOMScoreAdj, "123")
	eq(t, "device", got.Device, "Dcrw-r-----")
	eq(t, "interfaces (new net namespace)", got.Interfaces, []string{"lo"})
	for dest, want := range map[string]string{
		"/proc": "proc rw", "/dev": "tmpfs ro", "/dev/pts": "devpts rw", "/sys": "sysfs ro",
		"/tmp/t": "tmpfs rw", "/bound": "", "/": "",
	} {
		m, ok := got.Mounts[dest]
		if !ok {
			t.Errorf("no mount at %s: %v", dest, got.Mounts)
			continue
		}
		if want != "" && !strings.HasPrefix(m, want) {
			t.Errorf("mount %s = %q, want %q…", dest, m, want)
		}
	}
	if m := got.Mounts["/"]; !strings.Contains(m, "ro") {
		t.Errorf("root mounted %q, want read-only", m)
	}
	if m := got.Mounts["/bound"]; !strings.Contains(m, "ro") {
		t.Errorf("/bound mounted %q, want read-only", m)
	}
	if _, ok := got.Mounts["/sys/fs/cgroup"]; !ok {
		t.Errorf("no cgroup mount: %v", got.Mounts)
	}

	// A privileged, writable container sharing the host's namespaces. It
	// gets every capability ("all") unless the test itself lacks some
	// (runc cannot grant what it does not hold); then it gets those held.
	held, mask := heldCapabilities(t)
	caps := strs("all")
	if len(held) != len(Capabilities()) {
		t.Logf("the test process lacks some capabilities; asking for the %d it holds instead of all", len(held))
		caps = &held
	}
	oci, _, err = Generate(entry(func(e *spec.Image) {
		e.Capabilities = caps
		e.Pid = "host"
	}), ImageConfig{Cmd: []string{"/probe"}, WorkingDir: "/tmp"}, ids)
	if err != nil {
		t.Fatal(err)
	}
	got = run(oci)
	eq(t, "uid", got.UID, 0)
	eq(t, "cwd", got.Cwd, "/tmp")
	if got.PID == 1 {
		t.Error("pid: host shares the host's pid namespace, yet the probe is pid 1")
	}
	// /tmp/t is a plain directory of the writable root this time.
	eq(t, "writable", got.Writable, map[string]bool{"/": true, "/dev": true, "/tmp/t": true})
	if m := got.Mounts["/"]; strings.Contains(m, "ro") {
		t.Errorf("root mounted %q, want read-write", m)
	}
	eq(t, "CapBnd", got.Caps["CapBnd"], fmt.Sprintf("%016x", mask))
	eq(t, "CapEff", got.Caps["CapEff"], got.Caps["CapBnd"])
	if m := got.Mounts["/sys"]; !strings.HasPrefix(m, "sysfs rw") {
		t.Errorf("/sys mounted %q, want read-write", m)
	}
}

// capBits numbers the capabilities as the kernel does.
var capBits = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func TestCapabilityList(t *testing.T) {
	eq(t, "capabilities", Capabilities(), sortedSet(capBits))
}

// heldCapabilities returns the capabilities in the test process's bounding
// set, by name and as a mask limited to those kit knows.
func heldCapabilities(t *testing.T) ([]string, uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var bnd uint64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &bnd); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	var mask uint64
	for bit, name := range capBits {
		if bnd&(1<<bit) != 0 {
			names = append(names, name)
			mask |= 1 << bit
		}
	}
	return names, mask
}
