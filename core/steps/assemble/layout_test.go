package assemble

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/files"
	"github.com/kitbuild/kit/core/steps/steptest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// system stores the inputs of a small LinuxKit-style system and returns
// them with the layout that assembles them.
func system(t testing.TB, x *steptest.Exec) ([]graph.Result, *Layout) {
	t.Helper()
	put := func(name, data string) graph.Output { return x.Put(name, "application/octet-stream", []byte(data)) }
	rootfs := func(entries ...steptest.Entry) graph.Result {
		return result(t, x, tarOut(t, x, "rootfs.tar", entries...))
	}
	runtime := func(name string) graph.Result {
		return result(t, x, put("config.json", `{"name":"`+name+`"}`), put("runtime.json", `{"mounts":[]}`))
	}
	fileOp := files.Op{SourceDateEpoch: epoch, Entries: []files.Entry{
		{Path: "etc/motd", Kind: files.KindFile, Mode: 0o644, Contents: []byte("welcome\n")},
		{Path: "etc/sysctl.d/10-net.conf", Kind: files.KindFile, Mode: 0o600, UID: 100, GID: 100, Contents: []byte("net.ipv4.ip_forward=1\n")},
		{Path: "root/.ssh/authorized_keys", Kind: files.KindFile, Mode: 0o600, Contents: []byte("ssh-ed25519 AAAA\n")},
		{Path: "usr/bin/runc", Kind: files.KindFile, Mode: 0o755, Contents: []byte("patched runc")},
	}}
	fileOuts, err := fileOp.Exec(context.Background(), x, nil)
	if err != nil {
		t.Fatal(err)
	}

	inputs := []graph.Result{
		0: result(t, x, put("kernel", "bzImage"), tarOut(t, x, "kernel.tar",
			dir("lib"), dir("lib/modules"), dir("lib/modules/6.6.1"), file("lib/modules/6.6.1/modules.dep", "x.ko:")),
			put("ucode.cpio", "UCODE")),
		1: rootfs( // init[0]: the init, with busybox and its links
			dir("bin"), owned(file("bin/busybox", "busybox-1"), 0o755, 0, 0), link("bin/sh", "bin/busybox"),
			dir("etc"), symlink("etc/resolv.conf", "/run/resolvconf/resolv.conf"),
			owned(file("init", "#!/bin/sh"), 0o755, 0, 0),
			owned(dir("lib"), 0o700, 0, 0), dir("lib/apk"), dir("lib/apk/db"), file("lib/apk/db/installed", "P:busybox")),
		2: rootfs( // init[1]: runc
			dir("lib"), dir("lib/apk"), dir("lib/apk/db"), file("lib/apk/db/installed", "P:runc"),
			dir("usr"), dir("usr/bin"), owned(file("usr/bin/runc", "runc"), 0o755, 0, 0)),
		3: rootfs( // init[2]: containerd, with a newer busybox
			dir("bin"), owned(file("bin/busybox", "busybox-2"), 0o755, 0, 0),
			file("etc/containerd/config.toml", "root = \"/var/lib/containerd\""),
			owned(file("usr/bin/containerd", "containerd"), 0o755, 0, 0)),
		4: rootfs( // dhcpcd
			dir("bin"), owned(file("bin/dhcpcd", "dhcpcd"), 0o755, 0, 0), dir("etc"), file("etc/hosts", "127.0.0.1 localhost"),
			dir("sbin"), link("sbin/dhcpcd", "bin/dhcpcd")),
		5:  runtime("dhcpcd"),
		6:  rootfs(dir("sbin"), owned(file("sbin/sysctl", "sysctl"), 0o755, 0, 0)),
		7:  runtime("sysctl"),
		8:  rootfs(dir("usr"), dir("usr/bin"), owned(file("usr/bin/redis-server", "redis"), 0o755, 999, 999)),
		9:  runtime("redis"),
		10: runtime("redis-replica"),
		11: rootfs(owned(dir("seed"), 0o750, 999, 999), file("seed/dump.rdb", "REDIS0011")),
		12: {Outputs: fileOuts},
	}
	redis := Container{Section: Services, Name: "redis", Rootfs: 8, Runtime: 9}
	l := NewLayout(epoch).
		Files(12).
		Container(redis).
		Container(Container{Section: Services, Name: "redis-replica", Runtime: 10, SharedRoot: redis.Root()}).
		Container(Container{Section: Onboot, Index: 0, Name: "dhcpcd", Readonly: true, Rootfs: 4, Runtime: 5}).
		Container(Container{Section: Onboot, Index: 1, Name: "sysctl", Rootfs: 6, Runtime: 7}).
		Volume(Volume{Name: "data", Input: 11}).
		Volume(Volume{Name: "cache", Blank: true}).
		Init(1).Init(2).Init(3).
		Kernel(0, "console=ttyS0 quiet", true, true)
	return inputs, l
}

func TestLayoutGolden(t *testing.T) {
	x := steptest.NewExec(t)
	inputs, l := system(t, x)
	op, err := l.Op()
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec(t, x, op, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	got := listing(t, x.Read(outs[RootfsName]))
	golden := filepath.Join("testdata", "system.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("rootfs differs from %s (go test -update rewrites it):\n%s", golden, diff(string(want), got))
	}

	kernel, _ := inputs[0].Get("kernel")
	ucode, _ := inputs[0].Get("ucode.cpio")
	if o := outs[KernelName]; o.Digest != kernel.Digest || o.Size != kernel.Size {
		t.Errorf("kernel output %+v, want the input's %+v", o, kernel)
	}
	if o := outs[UCodeName]; o.Digest != ucode.Digest {
		t.Errorf("ucode output %+v, want the input's %+v", o, ucode)
	}
	if got := string(x.Read(outs[CmdlineName])); got != "console=ttyS0 quiet" {
		t.Errorf("cmdline %q", got)
	}
	if done, total := x.LastProgress(); done != total || total == 0 {
		t.Errorf("last progress %d of %d", done, total)
	}
}

// diff shows the lines that differ.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	in := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, l := range list {
			m[l] = true
		}
		return m
	}
	wm, gm := in(w), in(g)
	var b strings.Builder
	for _, l := range w {
		if !gm[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !wm[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 {
		return "(same lines, other order)\n" + got
	}
	return b.String()
}

func TestDeterministic(t *testing.T) {
	var first graph.Digest
	for i := 0; i < 3; i++ {
		x := steptest.NewExec(t)
		inputs, l := system(t, x)
		op, err := l.Op()
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec(t, x, op, inputs...)
		if err != nil {
			t.Fatal(err)
		}
		d := outs[RootfsName].Digest
		if i == 0 {
			first = d
		} else if d != first {
			t.Fatalf("run %d: rootfs %s, first run %s", i, d, first)
		}
	}
}

func TestLayoutOrderAndPaths(t *testing.T) {
	c := Container{Section: Onboot, Index: 7, Name: "dhcpcd"}
	if c.Dir() != "containers/onboot/007-dhcpcd" || c.Root() != "containers/onboot/007-dhcpcd/lower" {
		t.Errorf("dir %s root %s", c.Dir(), c.Root())
	}
	c.Readonly = true
	if c.Root() != "containers/onboot/007-dhcpcd/rootfs" {
		t.Errorf("read-only root %s", c.Root())
	}
	if d := BundleDir(Services, 3, "sshd"); d != "containers/services/sshd" {
		t.Errorf("service dir %s", d)
	}
	if d := BundleDir(Onshutdown, 12, "x"); d != "containers/onshutdown/012-x" {
		t.Errorf("onshutdown dir %s", d)
	}

	_, l := system(t, steptest.NewExec(t))
	op, err := l.Op()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range op.Parts {
		if len(names) == 0 || names[len(names)-1] != p.Name {
			names = append(names, p.Name)
		}
	}
	want := "kernel init[0] init[1] init[2] volumes/data volumes/cache onboot/000-dhcpcd onboot/001-sysctl " +
		"services/redis services/redis-replica files"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("part order\n%s\nwant\n%s", got, want)
	}
	if len(op.Concat) != 1 || op.Concat[0] != APKInstalled {
		t.Errorf("concat %v", op.Concat)
	}
}

func TestLayoutErrors(t *testing.T) {
	cases := []struct {
		name string
		l    *Layout
		err  string
	}{
		{"two services of one name", NewLayout(0).
			Container(Container{Section: Services, Name: "a", Runtime: 1}).
			Container(Container{Section: Services, Name: "a", Runtime: 2}),
			"services/a and services/a both use containers/services/a"},
		{"two volumes of one name", NewLayout(0).Volume(Volume{Name: "v", Blank: true}).Volume(Volume{Name: "v", Blank: true}),
			"volumes/v and volumes/v both use containers/volumes/v"},
		{"a name with a slash", NewLayout(0).Container(Container{Section: Onboot, Name: "a/b"}),
			`container name "a/b"`},
		{"a volume without a name", NewLayout(0).Volume(Volume{Blank: true}), `volume name ""`},
		{"an unknown section", NewLayout(0).Container(Container{Section: "later", Name: "a"}),
			`unknown container section "later"`},
		{"a negative index", NewLayout(0).Container(Container{Section: Onboot, Index: -1, Name: "a"}),
			"index -1"},
		{"a bad shared root", NewLayout(0).Container(Container{Section: Services, Name: "a", SharedRoot: "/x"}),
			`shared root "/x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.l.Op()
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, c.err)
			}
		})
	}
}
