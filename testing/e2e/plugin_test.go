package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/kitbuild/kit/sdk/sdktest"
	"github.com/kitbuild/kit/testing/imagegen"
)

// testPlugin is the test plugin of core/plugin (formats greet, wrap and
// needy; see its main.go), built once for the package's tests.
var testPlugin struct {
	once sync.Once
	path string
	err  error
}

// pluginDir returns a fresh directory holding kit-plugin-testfmt, for
// $KIT_PLUGIN_PATH.
func pluginDir(t testing.TB) (dir, bin string) {
	t.Helper()
	testPlugin.once.Do(func() {
		out, err := os.MkdirTemp("", "kit-e2e-plugin-")
		if err != nil {
			testPlugin.err = err
			return
		}
		testPlugin.path, testPlugin.err = sdktest.BuildBinary(context.Background(), "../../core/plugin/testdata/kit-plugin-testfmt", out)
	})
	if testPlugin.err != nil {
		t.Fatal(testPlugin.err)
	}
	b, err := os.ReadFile(testPlugin.path)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "kit-plugin-testfmt")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// pluginEnv is the environment of a kit that finds the plugins of dir, and
// in which the test plugin behaves as behaviour says.
func pluginEnv(dir, behaviour string) []string {
	return []string{"KIT_PLUGIN_PATH=" + dir, "KIT_TEST_PLUGIN_BEHAVIOUR=" + behaviour}
}

// TestPluginFormats builds plugin formats with the real kit binary: a
// format alone, one needing another format, one needing the initrd and an
// image (from the loopback registry, named in its config); checks the
// lock file pins the plugin, that a rebuild is all cache hits with the same
// bytes, what --dry-run --explain shows, and kit plugin ls / describe.
func TestPluginFormats(t *testing.T) {
	f := newFixture(t)
	f.reg.Push(t, "e2e/boot:1", must(t)(imagegen.Init("boot", imagegen.Reg("boot/loader.bin", "LOADER\n"))))
	plugins, bin := pluginDir(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "sys.yml", smallSpec)
	env := pluginEnv(plugins, "log")
	args := func(out string, extra ...string) []string {
		return append(append([]string{"build", "--cache", filepath.Join(dir, "cache"), "-o", filepath.Join(dir, out), "--progress=json",
			"-f", "greet", "-f", "wrap", "-f", "needy", "-f", "kernel+initrd",
			"--format-config", `needy={"images":{"boot":"` + f.reg.Host() + `/e2e/boot:1"}}`,
			"--format-config", `greet={"greeting":"hi"}`}, extra...), spec)
	}
	r := kitEnv(t, dir, env, args("out")...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	out := digests(t, filepath.Join(dir, "out"))
	for _, n := range []string{"sys.txt", "sys.wrap", "sys.sum", "sys.needy", "sys-kernel", "sys-initrd.img", "sys-cmdline"} {
		if out[n] == "" {
			t.Errorf("no artifact %s (have %v)", n, out)
		}
	}
	read := func(n string) string {
		b, err := os.ReadFile(filepath.Join(dir, "out", n))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	greet := read("sys.txt")
	if !strings.HasPrefix(greet, "hi from amd64\n") || !strings.Contains(greet, "input rootfs.tar sha256:") {
		t.Errorf("sys.txt:\n%s", greet)
	}
	if w := read("sys.wrap"); w != "wrapped: "+greet {
		t.Errorf("sys.wrap = %q", w)
	}
	needy := read("sys.needy")
	initrd := "input initrd.img sha256:" + out["sys-initrd.img"]
	if !strings.Contains(needy, initrd) || !strings.Contains(needy, "image boot sha256:") || !strings.Contains(needy, "boot/loader.bin") {
		t.Errorf("sys.needy lacks %q, the boot image or its loader:\n%s", initrd, needy)
	}
	// The plugin's log lines are the step's.
	logged := false
	for _, e := range r.events {
		if e.Type == "log" && e.Node == "format greet" && strings.Contains(e.Message, "plugin testfmt: info: greeting greeting=hi") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no log event of the plugin in format greet\n%s", r)
	}
	// The kernel+initrd node is shared by -f kernel+initrd and needy.
	if n := countStarts(r, "format kernel+initrd"); n != 1 {
		t.Errorf("format kernel+initrd started %d times", n)
	}

	lock, err := os.ReadFile(filepath.Join(dir, "sys.lock"))
	if err != nil {
		t.Fatal(err)
	}
	sum := fileDigest(t, bin)
	if !strings.Contains(string(lock), "plugins:\n  - name: testfmt\n    sha256: sha256:"+sum+"\n    version: 1.0.0\n    protocol: 1\n") ||
		!strings.Contains(string(lock), "/e2e/boot:1") {
		t.Errorf("lock file does not pin the plugin and its image:\n%s", lock)
	}

	// A rebuild is cache hits only, with the same bytes.
	r = kitEnv(t, dir, env, args("again")...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if s := r.started(); len(s) != 0 {
		t.Errorf("rebuild started %v", s)
	}
	sameOutputs(t, "rebuild", digests(t, filepath.Join(dir, "again")), out)

	// --explain names the plugin key component.
	r = kitEnv(t, dir, env, "build", "--cache", filepath.Join(dir, "cache"), "--dry-run", "--explain", "--no-cache", "-f", "wrap", spec)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stdout, "format    format greet\n                plugin: sha256:"+sum+"/protocol=1\n") {
		t.Errorf("dry run does not show the plugin component of format greet:\n%s", r.stdout)
	}

	r = kitEnv(t, dir, env, "plugin", "ls", "--cache", filepath.Join(dir, "cache"))
	if r.code != 0 || !strings.Contains(r.stdout, "testfmt  1.0.0    1         format: greet, loop-a, loop-b, needy, orphan, wrap  "+sum[:12]+"  "+bin+" ($KIT_PLUGIN_PATH)") {
		t.Errorf("kit plugin ls:\n%s", r)
	}
	r = kitEnv(t, dir, env, "plugin", "describe", "testfmt")
	if r.code != 0 || !strings.Contains(r.stdout, "format needy (version 1)\n  outputs: .needy (text/plain)\n  needs:   initrd.img, kernel\n  image:   boot, default registry.invalid/kit/boot:1\n") {
		t.Errorf("kit plugin describe:\n%s", r)
	}
	r = kitEnv(t, dir, env, "build", "--help")
	if !strings.Contains(r.stdout, "from plugins: greet, loop-a, loop-b, needy, orphan, wrap") {
		t.Errorf("kit build --help does not list the plugin formats:\n%s", r.stdout)
	}
}

func must(t testing.TB) func(img v1.Image, err error) v1.Image {
	return func(img v1.Image, err error) v1.Image {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
}

func countStarts(r *run, node string) int {
	n := 0
	for _, e := range r.events {
		if e.Type == "start" && e.Node == node {
			n++
		}
	}
	return n
}

// TestPluginErrors: a bad configuration, a plugin that crashes, one that
// hangs past --plugin-timeout, and a binary changed since it was locked
// each fail the build with a clear message, write nothing into -o and
// leave the cache's tmp empty; afterwards the same cache builds what a
// fresh one does.
func TestPluginErrors(t *testing.T) {
	f := newFixture(t)
	plugins, bin := pluginDir(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "sys.yml", smallSpec)
	cache := filepath.Join(dir, "cache")
	build := func(behaviour, out string, extra ...string) *run {
		return kitEnv(t, dir, pluginEnv(plugins, behaviour),
			append(append([]string{"build", "--cache", cache, "-o", filepath.Join(dir, out), "--progress=json", "-f", "greet", "-f", "tar"}, extra...), spec)...)
	}
	for _, tc := range []struct {
		name, behaviour string
		args            []string
		want            []string
		noWork          bool // fails before any step starts
	}{
		{name: "bad config", args: []string{"--format-config", `greet={"greeting":5}`}, noWork: true,
			want: []string{"--format-config greet: format greet: config: at /greeting: got number, want string"}},
		{name: "unknown config key", args: []string{"--format-config", `greet={"colour":"red"}`}, noWork: true,
			want: []string{"additional properties 'colour' not allowed"}},
		{name: "config of an unselected format", args: []string{"--format-config", `wrap={}`}, noWork: true,
			want: []string{"--format-config wrap: the format is neither selected (-f) nor needed by one that is (greet, tar)"}},
		{name: "unknown format", args: []string{"-f", "nope"}, noWork: true,
			want: []string{`-f nope: unknown output format "nope" (built in: docker, kernel+initrd, tar, tar-kernel-initrd; from plugins: greet, loop-a, loop-b, needy, orphan, wrap)`}},
		{name: "crash", behaviour: "crash",
			want: []string{"format greet: ", "plugin testfmt (" + bin + "), format greet: the plugin process died during the build", "exit status 3"}},
		{name: "hang", behaviour: "hang", args: []string{"--plugin-timeout", "3s"},
			want: []string{"plugin testfmt (" + bin + "), format greet: no answer within 3s (--plugin-timeout); the plugin was stopped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := build(tc.behaviour, "bad", tc.args...)
			if r.code == 0 {
				t.Fatalf("the build succeeded\n%s", r)
			}
			msg := r.message()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			if tc.noWork && len(r.started()) > 0 {
				t.Errorf("steps started before the error: %v", r.started())
			}
			noFiles(t, "output directory", filepath.Join(dir, "bad"))
			noFiles(t, "cache tmp", filepath.Join(cache, "tmp"))
			noPluginProcess(t, bin)
		})
	}

	// The cache still builds what a fresh one does.
	r := build("ok", "good")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	ref := kitEnv(t, dir, pluginEnv(plugins, "ok"), "build", "--cache", filepath.Join(dir, "fresh"), "-o", filepath.Join(dir, "ref"), "-f", "greet", "-f", "tar", spec)
	if ref.code != 0 {
		t.Fatalf("%s", ref)
	}
	sameOutputs(t, "build after the failures", digests(t, filepath.Join(dir, "good")), digests(t, filepath.Join(dir, "ref")))

	// A binary changed since the lock file pinned it is refused, before
	// any step runs, until --update-lock.
	old := fileDigest(t, bin)
	replaceBinary(t, bin)
	r = build("ok", "changed")
	want := "kit: plugin testfmt (" + bin + ") changed since it was locked: lock sha256:" + old + ", binary sha256:" + fileDigest(t, bin) + "; rerun with --update-lock to accept it\n"
	if r.code == 0 || r.message() != want {
		t.Errorf("changed binary: exit %d, message:\n%s\nwant\n%s", r.code, r.message(), want)
	}
	if len(r.started()) > 0 {
		t.Errorf("steps started with a changed plugin: %v", r.started())
	}
	noFiles(t, "output directory", filepath.Join(dir, "changed"))
	r = build("ok", "relocked", "--update-lock", "--explain")
	if r.code != 0 {
		t.Fatalf("--update-lock: %s", r)
	}
	explained := false
	for _, e := range r.events {
		if e.Node == "format greet" && e.Type == "queued" && strings.Contains(strings.Join(e.Explain, ";"), "plugin binary or protocol changed") {
			explained = true
		}
	}
	if !explained {
		t.Errorf("--explain does not say the plugin changed:\n%s", r)
	}
	if lock, _ := os.ReadFile(filepath.Join(dir, "sys.lock")); !strings.Contains(string(lock), fileDigest(t, bin)) {
		t.Errorf("the lock file does not pin the new binary:\n%s", lock)
	}
}

// replaceBinary replaces the plugin binary by a copy with one more byte
// (still a working executable), renamed over it as installers do.
func replaceBinary(t testing.TB, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".new", append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
}

// pluginPids returns the processes running the binary at path.
func pluginPids(t testing.TB, path string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.TrimSuffix(exe, " (deleted)") == path {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie(string(st)) {
				continue
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether a /proc/PID/stat line is a zombie's (state Z).
func zombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// noPluginProcess fails the test if a process runs the plugin binary a
// while after kit is gone (it gets SIGKILL when kit dies; the kernel takes
// a moment).
func noPluginProcess(t testing.TB, bin string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pids := pluginPids(t, bin)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("plugin processes %v survived kit", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPluginKilledWithKit: kit killed with SIGKILL while a plugin builds
// leaves no plugin process behind, and the next build on the same cache
// gives what a fresh build gives.
//
// The test process makes itself a child subreaper, so that the orphaned
// plugin becomes its child and it can see how the plugin ended: by the
// SIGKILL that Pdeathsig sends when kit dies (the plugin's own watch of its
// parent would exit with status 3 instead, later).
func TestPluginKilledWithKit(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	f := newFixture(t)
	plugins, bin := pluginDir(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "sys.yml", smallSpec)
	cache := filepath.Join(dir, "cache")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := kitCmd(ctx, dir, "build", "--cache", cache, "-o", filepath.Join(dir, "killed"), "--progress=json", "-f", "greet", spec)
	cmd.Env = append(cmd.Env, pluginEnv(plugins, "hang")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill kit once the plugin says it is hanging (it is then mid-build).
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	killed := false
	var pids []int
	for sc.Scan() {
		l := sc.Text()
		log.WriteString(l + "\n")
		if !killed && isEvent(l, "log", "format") && strings.Contains(l, "hanging") {
			if pids = pluginPids(t, bin); len(pids) != 1 {
				t.Errorf("%d plugin processes run during the build, want 1", len(pids))
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !killed || !errors.As(err, &ee) {
		t.Fatalf("kit was not killed mid-build (%v):\n%s", err, tail(log.String(), 3000))
	}
	for _, pid := range pids {
		done := make(chan unix.WaitStatus, 1)
		go func() {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
				t.Errorf("wait for plugin %d: %v", pid, err)
			}
			done <- ws
		}()
		select {
		case ws := <-done:
			if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
				t.Errorf("plugin %d ended with %v, not by the SIGKILL of Pdeathsig (exited: %v, status %d)", pid, ws.Signal(), ws.Exited(), ws.ExitStatus())
			}
		case <-time.After(20 * time.Second):
			_ = unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("plugin %d survived kit", pid)
		}
	}
	noPluginProcess(t, bin)

	r := kitEnv(t, dir, pluginEnv(plugins, "ok"), "build", "--cache", cache, "-o", filepath.Join(dir, "next"), "-f", "greet", spec)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	ref := kitEnv(t, dir, pluginEnv(plugins, "ok"), "build", "--cache", filepath.Join(dir, "fresh"), "-o", filepath.Join(dir, "ref"), "-f", "greet", spec)
	if ref.code != 0 {
		t.Fatalf("%s", ref)
	}
	sameOutputs(t, "build after SIGKILL", digests(t, filepath.Join(dir, "next")), digests(t, filepath.Join(dir, "ref")))
	noFiles(t, "cache tmp after the next build", filepath.Join(cache, "tmp"))
}
