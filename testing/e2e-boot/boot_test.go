package e2eboot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// Budgets of the boot test's steps; generous, the guest runs under TCG
// software emulation while other test binaries share the machine.
const (
	pkgBuildTimeout = 10 * time.Minute
	bootTimeout     = 6 * time.Minute
)

// capBits are the capabilities a spec may name in the boot test.
var capBits = map[string]uint{
	"CAP_CHOWN":            unix.CAP_CHOWN,
	"CAP_DAC_OVERRIDE":     unix.CAP_DAC_OVERRIDE,
	"CAP_FOWNER":           unix.CAP_FOWNER,
	"CAP_KILL":             unix.CAP_KILL,
	"CAP_SETGID":           unix.CAP_SETGID,
	"CAP_SETUID":           unix.CAP_SETUID,
	"CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_RAW":          unix.CAP_NET_RAW,
	"CAP_NET_ADMIN":        unix.CAP_NET_ADMIN,
	"CAP_SYS_CHROOT":       unix.CAP_SYS_CHROOT,
}

// capMask is the /proc/PID/status form ("00000000000004c3") of caps.
func capMask(caps []string) (string, error) {
	var m uint64
	for _, c := range caps {
		bit, ok := capBits[c]
		if !ok {
			return "", fmt.Errorf("capability %s: not in the boot test's table", c)
		}
		m |= 1 << bit
	}
	return fmt.Sprintf("%016x", m), nil
}

// debugHook is /etc/kit-init/debug.sh of the test system: kit-init runs it
// after the services have started. It prints E2E- lines for the test to
// judge, then powers the system off.
const debugHook = `#!/bin/sh
runc=/usr/sbin/runc
i=0
while [ $i -lt 90 ]; do
	out=$($runc exec redis redis-cli -h 127.0.0.1 ping 2>&1)
	[ "$out" = PONG ] && break
	sleep 1
	i=$((i+1))
done
echo "E2E-PING: $out"
pid=$(cat /run/kit-init/redis.pid)
echo "E2E-COMM: $(cat /proc/$pid/comm)"
grep -E '^Cap(Eff|Bnd):' /proc/$pid/status | sed 's/^/E2E-/'
if out=$($runc exec e2e-ro /bin/sh -c 'echo x >/e2e-probe' 2>&1); then
	echo "E2E-RO-WRITE: allowed"
else
	echo "E2E-RO-WRITE: refused: $out"
fi
echo E2E-HOOK-DONE
poweroff
`

// testSpec returns examples/redis-os.yml with what the test needs added: a
// second onboot container after dhcpcd, a read-only service, an onshutdown
// container, all from the getty image (busybox), and the debug hook. The
// packages are named by the tags of this build (built: the output of
// `kit pkg build`), so a stale tag in the example fails TestExampleTags
// only. It also returns the capabilities the spec gives redis.
func testSpec(t *testing.T, built string) ([]byte, []string) {
	t.Helper()
	data, err := os.ReadFile("../../examples/redis-os.yml")
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, m := range builtRef.FindAllStringSubmatch(built, -1) {
		tags[m[1]] = m[2]
	}
	data = localRef.ReplaceAllFunc(data, func(ref []byte) []byte {
		m := localRef.FindSubmatch(ref)
		if tag, ok := tags[string(m[1])]; ok {
			return []byte("127.0.0.1:5000/kit/" + string(m[1]) + ":" + tag)
		}
		return ref
	})
	var s map[string]any
	if err := yaml.Unmarshal(data, &s); err != nil {
		t.Fatalf("examples/redis-os.yml: %v", err)
	}
	services, _ := s["services"].([]any)
	var getty string
	var caps []string
	for _, sv := range services {
		m, _ := sv.(map[string]any)
		switch m["name"] {
		case "getty":
			getty, _ = m["image"].(string)
		case "redis":
			for _, c := range m["capabilities"].([]any) {
				caps = append(caps, c.(string))
			}
		}
	}
	if getty == "" || len(caps) == 0 {
		t.Fatal("examples/redis-os.yml: want a getty service and a redis service with capabilities")
	}
	sh := func(script string) []any { return []any{"/bin/sh", "-c", script} }
	s["onboot"] = append(s["onboot"].([]any), map[string]any{
		"name": "e2e-onboot", "image": getty, "command": sh("echo E2E-ONBOOT-RAN"),
	})
	s["onshutdown"] = append(asList(s["onshutdown"]), map[string]any{
		"name": "e2e-bye", "image": getty, "command": sh("echo E2E-ONSHUTDOWN-RAN"),
	})
	s["services"] = append(services, map[string]any{
		"name": "e2e-ro", "image": getty, "readonly": true, "command": []any{"/bin/sleep", "3600"},
	})
	s["files"] = append(asList(s["files"]), map[string]any{
		"path": "etc/kit-init/debug.sh", "mode": "0755", "contents": debugHook,
	})
	out, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return out, caps
}

// builtRef matches a line of `kit pkg build`: kit/NAME:TAG, a tab, ....
var builtRef = regexp.MustCompile(`(?m)^kit/([a-z0-9][a-z0-9._-]*):([0-9a-f]+)\t`)

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestRedisOSBoots builds the example packages from Debian (through the
// machine's apt sources) and kit-init from this repository, pushes them to
// a loopback registry, builds examples/redis-os.yml with the test's
// additions, boots it with `kit run qemu` under TCG and checks the serial
// console: the onboot containers ran to completion in order, redis answers
// PING over the guest's loopback with exactly the spec's capabilities, a
// readonly service's root cannot be written, the onshutdown container runs
// and the VM powers off by itself.
//
// Skipped with -short, and without QEMU unless CI=true.
func TestRedisOSBoots(t *testing.T) {
	needBootHost(t)
	f := sharedFixture(t)
	dir := t.TempDir()
	kitCmd := func(ctx context.Context, t *testing.T, args ...string) (string, error) {
		return f.kitCmd(ctx, t, nil, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pkgBuildTimeout)
	defer cancel()
	spec, caps := testSpec(t, f.built)
	wantCaps, err := capMask(caps)
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(dir, "redis-os-e2e.yml")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if msg, err := kitCmd(ctx, t, "build", "--arch", "amd64", "--progress", "plain",
		"--mirror", "127.0.0.1:5000="+f.reg.URL(), "-o", out, "--name", "redis-os", specFile); err != nil {
		t.Fatalf("kit build: %v\n%s\nspec:\n%s", err, msg, spec)
	}

	bootCtx, cancelBoot := context.WithTimeout(context.Background(), bootTimeout+time.Minute)
	defer cancelBoot()
	console, err := kitCmd(bootCtx, t, "run", "qemu", "--accel", "tcg", "--mem", "1G",
		"--timeout", bootTimeout.String(), "--cmdline-append", "panic=-1", filepath.Join(out, "redis-os"))
	_ = os.WriteFile(filepath.Join(dir, "console.log"), []byte(console), 0o644)
	var problems []string
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 124 {
			problems = append(problems, fmt.Sprintf("timeout: the VM was still running after %v", bootTimeout))
		} else {
			problems = append(problems, fmt.Sprintf("kit run qemu: %v (want exit 0: the guest powers off by itself)", err))
		}
	}
	if strings.Contains(console, "Kernel panic") {
		problems = append(problems, "the kernel panicked")
	}
	problems = append(problems, missingInOrder(console, []string{
		"kit-init: onboot 000-dhcpcd: starting",
		"kit-init: onboot 000-dhcpcd: exit 0",
		"kit-init: onboot 001-e2e-onboot: starting",
		"E2E-ONBOOT-RAN",
		"kit-init: onboot 001-e2e-onboot: exit 0",
		"kit-init: boot done",
		"E2E-PING: PONG",
		"E2E-COMM: redis-server",
		"E2E-CapEff:\t" + wantCaps,
		"E2E-CapBnd:\t" + wantCaps,
		"E2E-RO-WRITE: refused: /bin/sh: can't create /e2e-probe: Read-only file system",
		"E2E-HOOK-DONE",
		"kit-init: onshutdown 000-e2e-bye: starting",
		"E2E-ONSHUTDOWN-RAN",
		"kit-init: onshutdown 000-e2e-bye: exit 0",
		"kit-init: poweroff",
	})...)
	for _, svc := range []string{"e2e-ro", "getty", "redis"} {
		if !strings.Contains(console, "kit-init: service "+svc+": started") {
			problems = append(problems, "service "+svc+" did not start")
		}
	}
	if len(problems) > 0 {
		t.Fatalf("RedisOS boot:\n  %s\nconsole:\n%s", strings.Join(problems, "\n  "), console)
	}
}

// missingInOrder returns a problem for each of lines (each found within a
// console line: a shell prompt may share the line) that does not follow the
// previous one in console.
func missingInOrder(console string, lines []string) []string {
	var problems []string
	rest := strings.Split(strings.ReplaceAll(console, "\r", ""), "\n")
	for _, want := range lines {
		found := false
		for i, l := range rest {
			if strings.Contains(l, want) {
				rest, found = rest[i+1:], true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("missing (in order): %q", want))
		}
	}
	return problems
}
