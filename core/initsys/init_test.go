//go:build linux

package initsys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListBundles(t *testing.T) {
	tests := []struct {
		name    string
		section Section
		dirs    []string
		files   []string
		want    []string // ids in order
		wantErr bool
	}{
		{name: "numeric order", section: Onboot, dirs: []string{"010-c", "002-b", "000-a", "1000-z"}, files: []string{"README"},
			want: []string{"a", "b", "c", "z"}},
		{name: "unpadded numbers sort numerically", section: Onshutdown, dirs: []string{"10-x", "9-y"}, want: []string{"y", "x"}},
		{name: "same index by name", section: Onboot, dirs: []string{"001-b", "001-a"}, want: []string{"a", "b"}},
		{name: "services by name", section: Services, dirs: []string{"sshd", "getty", "redis"}, want: []string{"getty", "redis", "sshd"}},
		{name: "missing section", section: Onshutdown},
		{name: "no prefix", section: Onboot, dirs: []string{"dhcpcd", "001-ok"}, want: []string{"ok"}, wantErr: true},
		{name: "empty name", section: Onboot, dirs: []string{"000-"}, wantErr: true},
		{name: "negative", section: Onboot, dirs: []string{"-1-x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(root, "containers", string(tt.section), d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(root, "containers", string(tt.section), f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ListBundles(root, tt.section)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var ids []string
			for _, b := range got {
				ids = append(ids, b.ID)
				if b.Dir != filepath.Join(root, "containers", string(tt.section), b.Name) {
					t.Errorf("%s: Dir = %s", b.Name, b.Dir)
				}
				if b.Rel != "/containers/"+string(tt.section)+"/"+b.Name {
					t.Errorf("%s: Rel = %s", b.Name, b.Rel)
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestRunSectionOrderAndFailures(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"003-d", "000-a", "002-c", "001-b"} {
		f.bundle(t, Onboot, n, false, "")
	}
	f.rt.status["b"] = 3
	f.rt.createErr["c"] = errors.New("runc create c: exit 1")
	res := f.in.RunSection(context.Background(), Onboot)

	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	want := []string{
		"create a 000-a", "start a", "delete a",
		"create b 001-b", "start b", "delete b",
		"create c 002-c",
		"create d 003-d", "start d", "delete d",
	}
	if got := f.rec.matching("create", "start", "delete"); !slices.Equal(got, want) {
		t.Errorf("runtime calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res[1].Status != 3 || res[1].Err != nil || res[2].Err == nil || res[3].Status != 0 || res[3].Err != nil {
		t.Errorf("results = %+v", res)
	}
	console := f.console.String()
	for _, line := range []string{
		"kit-init: onboot 000-a: exit 0\n",
		"kit-init: onboot 001-b: exit 3\n",
		"kit-init: onboot 002-c: error: runc create c: exit 1\n",
		"kit-init: onboot 003-d: exit 0\n",
	} {
		if !strings.Contains(console, line) {
			t.Errorf("console lacks %q:\n%s", line, console)
		}
	}
	eventually(t, "onboot output on the console", func() bool { return strings.Contains(f.console.String(), "output of d\n") })
}

func TestRunSectionSkipsBadNames(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Onboot, "dhcpcd", false, "")
	f.bundle(t, Onboot, "000-good", false, "")
	res := f.in.RunSection(context.Background(), Onboot)
	if len(res) != 1 || res[0].Bundle.ID != "good" || res[0].Err != nil {
		t.Errorf("results = %+v", res)
	}
	if !strings.Contains(f.console.String(), `kit-init: onboot bundle "dhcpcd" skipped: want NNN-name`) {
		t.Errorf("console:\n%s", f.console.String())
	}
}

func TestRunSectionBadRuntimeJSON(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Onboot, "000-bad", false, `{"mkdir": ["relative"]}`)
	f.bundle(t, Onboot, "001-good", false, "")
	res := f.in.RunSection(context.Background(), Onboot)
	if len(res) != 2 || !errors.Is(res[0].Err, ErrBadRuntime) || res[1].Err != nil {
		t.Fatalf("results = %+v", res)
	}
	if !strings.Contains(f.console.String(), "onboot 000-bad: error: /containers/onboot/000-bad/runtime.json: bad runtime.json") {
		t.Errorf("console:\n%s", f.console.String())
	}
	if f.rec.index("create bad 000-bad") >= 0 {
		t.Error("a bundle with a bad runtime.json was created")
	}
}

func TestBootOrder(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Onboot, "000-first", false, "")
	f.bundle(t, Onboot, "001-second", false, "")
	f.bundle(t, Services, "redis", false, "")
	f.bundle(t, Services, "getty", true, "")
	f.rt.block["redis"], f.rt.block["getty"] = true, true
	if err := os.MkdirAll(filepath.Join(f.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.root, "etc/hostname"), []byte("redisos\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.in.Boot(context.Background(), nil)

	if f.sys.hostname != "redisos" {
		t.Errorf("hostname = %q", f.sys.hostname)
	}
	lastOnboot := f.rec.index("delete second")
	for _, e := range []string{"hostname redisos", "up lo", "create first 000-first"} {
		if i := f.rec.index(e); i < 0 || i > lastOnboot {
			t.Errorf("%q at %d, not before the end of onboot (%d)", e, i, lastOnboot)
		}
	}
	for _, e := range []string{"create getty getty", "start getty", "create redis redis", "start redis"} {
		if i := f.rec.index(e); i < lastOnboot {
			t.Errorf("%q at %d, want after onboot ended (%d)", e, i, lastOnboot)
		}
	}
	if f.rec.index("start getty") > f.rec.index("create redis redis") {
		t.Error("services not started in name order")
	}
	// services log to LOGDIR/NAME.log
	b, err := os.ReadFile(filepath.Join(f.root, "var/log/redis.log"))
	if err != nil || string(b) != "output of redis\n" {
		t.Errorf("redis.log = %q, %v", b, err)
	}
	if !strings.Contains(f.console.String(), "kit-init: service redis: started (pid ") {
		t.Errorf("console:\n%s", f.console.String())
	}
	// a writable service gets its overlay
	if f.rec.index("mount overlay /containers/services/getty/rootfs overlay 0x0 lowerdir=/containers/services/getty/lower,upperdir=/containers/services/getty/tmp/upper,workdir=/containers/services/getty/tmp/work") < 0 {
		t.Errorf("no overlay for getty:\n%s", strings.Join(f.rec.matching("mount"), "\n"))
	}
}

func TestHostnameDefault(t *testing.T) {
	f := newFixture(t)
	if err := f.in.Hostname(); err != nil {
		t.Fatal(err)
	}
	if f.sys.hostname != "kit" {
		t.Errorf("hostname = %q, want kit", f.sys.hostname)
	}
}

func TestServiceExitReported(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Services, "oneshot", false, "")
	f.rt.status["oneshot"] = 7
	f.in.StartServices(context.Background())
	eventually(t, "the exit report", func() bool {
		return strings.Contains(f.console.String(), "kit-init: service oneshot: exit 7\n")
	})
}

func TestServiceConsoleTee(t *testing.T) {
	f := newFixture(t, WithServiceConsole())
	f.bundle(t, Services, "chatty", false, "")
	f.rt.block["chatty"] = true
	f.in.StartServices(context.Background())
	eventually(t, "service output on the console", func() bool { return strings.Contains(f.console.String(), "output of chatty") })
	eventually(t, "service output in its log", func() bool {
		b, _ := os.ReadFile(filepath.Join(f.root, "var/log/chatty.log"))
		return string(b) == "output of chatty\n"
	})
	f.in.StopServices(context.Background())
}

func TestPrepare(t *testing.T) {
	tests := []struct {
		name     string
		writable bool
		runtime  string
		want     []string // mount, touch and mkdir events (mkdirs of cgroups and mkdir only)
	}{
		{
			name: "readonly uses rootfs as is",
			want: nil,
		},
		{
			name:     "writable gets tmpfs and overlay",
			writable: true,
			want: []string{
				"mount tmpfs /containers/onboot/000-x/tmp tmpfs 0x0 mode=0755",
				"mkdir /containers/onboot/000-x/tmp/upper",
				"mkdir /containers/onboot/000-x/tmp/work",
				"mount overlay /containers/onboot/000-x/rootfs overlay 0x0 lowerdir=/containers/onboot/000-x/lower,upperdir=/containers/onboot/000-x/tmp/upper,workdir=/containers/onboot/000-x/tmp/work",
			},
		},
		{
			name:     "runtime.json that mounts the root wins",
			writable: true,
			runtime: `{"mounts": [
				{"destination": "/containers/onboot/000-x/tmp", "type": "tmpfs", "source": "tmpfs"},
				{"destination": "/containers/onboot/000-x/tmp", "options": ["remount", "private"]},
				{"destination": "/containers/onboot/000-x/rootfs", "type": "overlay", "source": "overlay",
				 "options": ["lowerdir=/containers/services/y/lower", "upperdir=/containers/onboot/000-x/tmp/upper", "workdir=/containers/onboot/000-x/tmp/work"]}]}`,
			want: []string{
				"mount tmpfs /containers/onboot/000-x/tmp tmpfs 0x0 ",
				"mount  /containers/onboot/000-x/tmp  0x40000 ",
				"mkdir /containers/onboot/000-x/tmp/upper",
				"mkdir /containers/onboot/000-x/tmp/work",
				"mount overlay /containers/onboot/000-x/rootfs overlay 0x0 lowerdir=/containers/services/y/lower,upperdir=/containers/onboot/000-x/tmp/upper,workdir=/containers/onboot/000-x/tmp/work",
			},
		},
		{
			name: "readonly bind with root bind",
			runtime: `{"mounts": [{"destination": "/containers/onboot/000-x/rootfs", "source": "/containers/onboot/000-y/rootfs", "options": ["bind"]},
				{"destination": "/var/lib/x", "type": "bind", "source": "/data", "options": ["rbind", "ro", "rshared"]}]}`,
			want: []string{
				"mount /containers/onboot/000-y/rootfs /containers/onboot/000-x/rootfs  0x1000 ",
				"mkdir /var/lib/x",
				"mount /data /var/lib/x bind 0x5001 ",
				"mount  /var/lib/x  0x5021 ",
				"mount  /var/lib/x  0x104000 ",
			},
		},
		{
			name:    "mkdir and cgroups after mounts",
			runtime: `{"mounts": [{"destination": "/run/x", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}], "mkdir": ["/var/lib/x"], "cgroups": ["kit/x", "y"]}`,
			want: []string{
				"mount tmpfs /run/x tmpfs 0x2 size=1m",
				"mkdir /var/lib/x",
				"mkdir /sys/fs/cgroup/kit/x",
				"mkdir /sys/fs/cgroup/y",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.bundle(t, Onboot, "000-x", tt.writable, tt.runtime)
			bs, err := ListBundles(f.root, Onboot)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := readRuntimeConfig(bs[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := f.in.Prepare(bs[0], rc); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range f.rec.list() {
				if strings.HasPrefix(e, "mount") || e == "mkdir /var/lib/x" || strings.HasPrefix(e, "mkdir /sys/fs/cgroup/") ||
					strings.HasSuffix(e, "/upper") || strings.HasSuffix(e, "/work") {
					got = append(got, e)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPrepareMountFailure(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Onboot, "000-x", true, "")
	f.sys.failOn["/containers/onboot/000-x/tmp"] = unix.EPERM
	res := f.in.RunSection(context.Background(), Onboot)
	if len(res) != 1 || !errors.Is(res[0].Err, unix.EPERM) {
		t.Fatalf("results = %+v", res)
	}
	if !strings.Contains(f.console.String(), "onboot 000-x: error: onboot 000-x: writable root:") {
		t.Errorf("console:\n%s", f.console.String())
	}
}

func TestBindNamespaces(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Onboot, "000-x", false, `{"bindNS": {"net": "/run/netns/x", "uts": "/run/uts/x"}, "interfaces": [{"name": "eth1"}]}`)
	f.in.RunSection(context.Background(), Onboot)
	want := []string{
		"create x 000-x",
		"mkdir /run/netns", "touch /run/netns/x", "mount /proc/101/ns/net /run/netns/x  0x1000 ",
		"mkdir /run/uts", "touch /run/uts/x", "mount /proc/101/ns/uts /run/uts/x  0x1000 ",
		"link move eth1 ns=101",
		"start x", "delete x",
	}
	if got := f.rec.list(); !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestShutdownSequence(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Services, "good", false, "")
	f.bundle(t, Services, "stubborn", false, "")
	f.bundle(t, Onshutdown, "001-second", false, "")
	f.bundle(t, Onshutdown, "000-first", false, "")
	f.rt.block["good"], f.rt.block["stubborn"] = true, true
	f.rt.ignore["stubborn"] = true
	f.rt.status["first"] = 1
	f.sys.mounts = []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/run", "/sys/fs/cgroup", "/containers/services/good/rootfs"}
	f.in.StartServices(context.Background())
	start := len(f.rec.list())
	if err := f.in.Shutdown(context.Background(), Poweroff); err != nil {
		t.Fatal(err)
	}
	events := f.rec.list()[start:]

	// services: TERM to both, KILL to the stubborn one only, both deleted
	for _, e := range []string{"kill good 15", "kill stubborn 15", "kill stubborn 9", "delete good", "delete stubborn"} {
		if !slices.Contains(events, e) {
			t.Errorf("missing %q in %v", e, events)
		}
	}
	if slices.Contains(events, "kill good 9") {
		t.Error("a service that stopped on SIGTERM got SIGKILL")
	}
	at := func(e string) int { return slices.Index(events, e) }
	lastService := max(at("delete good"), at("delete stubborn"))
	rest := []string{
		"create first 000-first", "start first", "delete first",
		"create second 001-second", "start second", "delete second",
		"killall 15", "killall 9", "sync",
		"umount /containers/services/good/rootfs 2", "umount /sys/fs/cgroup 2", "umount /dev/pts 2", "umount /run 2",
		"sync", "reboot 0x4321fedc",
	}
	got := events[lastService+1:]
	if !slices.Equal(got, rest) {
		t.Errorf("after the services:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(rest, "\n"))
	}
	console := f.console.String()
	for _, line := range []string{"service stubborn: still running after 1s; killing", "onshutdown 000-first: exit 1", "kit-init: poweroff\n"} {
		if !strings.Contains(console, line) {
			t.Errorf("console lacks %q:\n%s", line, console)
		}
	}
}

func TestShutdownRebootCommands(t *testing.T) {
	for _, tt := range []struct {
		a    Action
		want string
	}{{Poweroff, "reboot 0x4321fedc"}, {Reboot, "reboot 0x1234567"}, {Halt, "reboot 0xcdef0123"}} {
		f := newFixture(t)
		if err := f.in.Shutdown(context.Background(), tt.a); err != nil {
			t.Fatal(err)
		}
		if ev := f.rec.list(); ev[len(ev)-1] != tt.want {
			t.Errorf("%s: last call %q, want %q", tt.a, ev[len(ev)-1], tt.want)
		}
	}
}

func TestSignals(t *testing.T) {
	tests := []struct {
		sig  os.Signal
		want Action
		ok   bool
	}{
		{syscall.SIGUSR2, Poweroff, true},
		{syscall.SIGTERM, Reboot, true},
		{syscall.SIGINT, Reboot, true},
		{syscall.SIGUSR1, Halt, true},
		{syscall.SIGHUP, 0, false},
		{syscall.SIGCHLD, 0, false},
	}
	for _, tt := range tests {
		a, ok := ActionForSignal(tt.sig)
		if a != tt.want || ok != tt.ok {
			t.Errorf("%v: got %s %v, want %s %v", tt.sig, a, ok, tt.want, tt.ok)
		}
	}
	for _, a := range []Action{Poweroff, Reboot, Halt} {
		if got, _ := ActionForSignal(SignalForAction(a)); got != a {
			t.Errorf("SignalForAction(%s) = %v, which means %s", a, SignalForAction(a), got)
		}
		if got, ok := ParseAction(a.String()); !ok || got != a {
			t.Errorf("ParseAction(%q) = %s, %v", a, got, ok)
		}
	}
	if _, ok := ParseAction("shutdown"); ok {
		t.Error("ParseAction accepted shutdown")
	}
}

func TestWait(t *testing.T) {
	f := newFixture(t)
	sigs := make(chan os.Signal, 2)
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGUSR2
	if a := f.in.Wait(context.Background(), sigs, nil); a != Poweroff {
		t.Errorf("got %s", a)
	}
	actions := make(chan Action, 1)
	actions <- Reboot
	if a := f.in.Wait(context.Background(), nil, actions); a != Reboot {
		t.Errorf("got %s", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if a := f.in.Wait(ctx, nil, nil); a != Poweroff {
		t.Errorf("got %s on a cancelled context", a)
	}
}

func TestMountEarly(t *testing.T) {
	f := newFixture(t)
	f.sys.failOn["/dev/pts"] = unix.ENODEV
	err := f.in.MountEarly()
	if !errors.Is(err, unix.ENODEV) {
		t.Errorf("err = %v, want the devpts failure", err)
	}
	var targets []string
	for _, e := range f.rec.matching("mount") {
		targets = append(targets, strings.Split(e, " ")[2])
	}
	want := []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/tmp", "/sys/fs/cgroup"}
	if !slices.Equal(targets, want) {
		t.Errorf("mount targets %v, want %v", targets, want)
	}
	if !strings.Contains(f.console.String(), "mounting devpts on /dev/pts") {
		t.Errorf("console:\n%s", f.console.String())
	}
}

func TestOnshutdownLimit(t *testing.T) {
	f := newFixture(t)
	f.in.onshutdownLimit = 50 * time.Millisecond
	f.bundle(t, Onshutdown, "000-hangs", false, "")
	f.bundle(t, Onshutdown, "001-next", false, "")
	f.rt.block["hangs"] = true
	if err := f.in.Shutdown(context.Background(), Poweroff); err != nil {
		t.Fatal(err)
	}
	console := f.console.String()
	for _, line := range []string{"onshutdown 000-hangs: error: context deadline exceeded", "onshutdown 001-next: skipped", "kit-init: poweroff\n"} {
		if !strings.Contains(console, line) {
			t.Errorf("console lacks %q:\n%s", line, console)
		}
	}
	if f.rec.index("delete hangs") < 0 || f.rec.index("create next 001-next") >= 0 {
		t.Errorf("events: %v", f.rec.list())
	}
}

func TestRunPoweroffDuringBoot(t *testing.T) {
	f := newFixture(t)
	f.bundle(t, Onboot, "000-hangs", false, "")
	f.bundle(t, Onboot, "001-never", false, "")
	f.bundle(t, Services, "svc", false, "")
	f.rt.block["hangs"] = true
	signals := make(chan os.Signal, 1)
	go func() {
		eventually(t, "the onboot container", func() bool { return f.rec.index("start hangs") >= 0 })
		signals <- syscall.SIGUSR2
	}()
	a, err := f.in.Run(context.Background(), nil, signals)
	if a != Poweroff || err != nil {
		t.Fatalf("Run = %s, %v", a, err)
	}
	for _, e := range []string{"create never 001-never", "create svc svc"} {
		if f.rec.index(e) >= 0 {
			t.Errorf("%q after a poweroff during boot", e)
		}
	}
	del, off := f.rec.index("delete hangs"), f.rec.index("reboot 0x4321fedc")
	if del < 0 || off < del {
		t.Errorf("delete hangs at %d, poweroff at %d", del, off)
	}
}

func TestClientUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "", "usage: kit-init"},
		{[]string{"a", "b"}, 2, "", "usage: kit-init"},
		{[]string{"--help"}, 0, "usage: kit-init", ""},
		{[]string{"shutdown"}, 2, "", `unknown command "shutdown"`},
	}
	for _, tt := range tests {
		var out, errb strings.Builder
		if code := client(tt.args, &out, &errb); code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("client(%q) = %d, stdout %q, stderr %q", tt.args, code, out.String(), errb.String())
		}
	}
}

func TestInterfaces(t *testing.T) {
	tests := []struct {
		name, ifaces string
		want         []string
		wantErr      string
	}{
		{"move existing", `[{"name": "eth0"}]`, []string{"link move eth0 ns=101"}, ""},
		{"none moves", `[{"name": "eth0", "add": "none"}]`, []string{"link move eth0 ns=101"}, ""},
		{"veth in the container", `[{"name": "eth1", "add": "veth", "peer": "veth-x"}]`, []string{"link add eth1 veth peer=veth-x ns=101"}, ""},
		{"peer implies veth", `[{"name": "eth1", "peer": "veth-x"}]`, []string{"link add eth1 veth peer=veth-x ns=101"}, ""},
		{"created in root then moved", `[{"name": "wg0", "add": "wireguard", "createInRoot": true}]`,
			[]string{"link add wg0 wireguard peer= ns=0", "link move wg0 ns=101"}, ""},
		{"veth without peer", `[{"name": "eth1", "add": "veth"}]`, nil, "interfaces[0] eth1: a veth interface needs a peer"},
		{"no name", `[{"add": "dummy"}]`, nil, "an interface needs a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.bundle(t, Onboot, "000-x", false, `{"interfaces": `+tt.ifaces+`}`)
			res := f.in.RunSection(context.Background(), Onboot)
			if got := f.rec.matching("link"); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.wantErr == "" && res[0].Err != nil || tt.wantErr != "" && (res[0].Err == nil || !strings.Contains(res[0].Err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", res[0].Err, tt.wantErr)
			}
			if tt.wantErr != "" && f.rec.index("start x") >= 0 {
				t.Error("started after an interface failed")
			}
		})
	}
}
