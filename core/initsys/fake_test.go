//go:build linux

package initsys

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recorder is the ordered log of what the fakes were asked to do.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// matching returns the events that start with one of the prefixes.
func (r *recorder) matching(prefixes ...string) []string {
	var out []string
	for _, e := range r.list() {
		for _, p := range prefixes {
			if strings.HasPrefix(e, p) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// index returns the position of the first event equal to e, or -1.
func (r *recorder) index(e string) int {
	for i, x := range r.list() {
		if x == e {
			return i
		}
	}
	return -1
}

// fakeSys records kernel calls with paths relative to root; directories
// and files are really made under root.
type fakeSys struct {
	rec      *recorder
	root     string
	mounts   []string
	failOn   map[string]error // mount target (relative) → error
	hostname string
}

var _ System = (*fakeSys)(nil)

func (f *fakeSys) rel(p string) string {
	if r, err := filepath.Rel(f.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return "/" + strings.TrimPrefix(r, ".")
	}
	return p
}

func (f *fakeSys) Mount(source, target, fstype string, flags uintptr, data string) error {
	t := f.rel(target)
	if strings.HasPrefix(data, "lowerdir") || strings.Contains(data, f.root) {
		data = strings.ReplaceAll(data, f.root, "")
	}
	if strings.HasPrefix(source, f.root) {
		source = f.rel(source)
	}
	f.rec.add("mount %s %s %s %#x %s", source, t, fstype, flags, data)
	if err := f.failOn[t]; err != nil {
		return err
	}
	return nil
}

func (f *fakeSys) Unmount(target string, flags int) error {
	f.rec.add("umount %s %d", f.rel(target), flags)
	return nil
}

func (f *fakeSys) MkdirAll(p string, perm os.FileMode) error {
	f.rec.add("mkdir %s", f.rel(p))
	return os.MkdirAll(p, perm)
}

func (f *fakeSys) CreateFile(p string) error {
	f.rec.add("touch %s", f.rel(p))
	return os.WriteFile(p, nil, 0o444)
}

func (f *fakeSys) Sethostname(name string) error {
	f.rec.add("hostname %s", name)
	f.hostname = name
	return nil
}

func (f *fakeSys) LinkUp(name string) error {
	f.rec.add("up %s", name)
	return nil
}

func (f *fakeSys) CreateLink(name, kind, peer string, nsPid int) error {
	f.rec.add("link add %s %s peer=%s ns=%d", name, kind, peer, nsPid)
	return nil
}

func (f *fakeSys) MoveLink(name string, nsPid int) error {
	f.rec.add("link move %s ns=%d", name, nsPid)
	return nil
}

func (f *fakeSys) Mounts() ([]string, error) {
	out := make([]string, len(f.mounts))
	for i, m := range f.mounts {
		out[i] = filepath.Join(f.root, m)
	}
	return out, nil
}

func (f *fakeSys) KernelRelease() (string, error) { return "6.6-test", nil }

func (f *fakeSys) InitModule(p string, compressed bool) error {
	f.rec.add("insmod %s %v", f.rel(p), compressed)
	return nil
}

func (f *fakeSys) KillAll(sig syscall.Signal) error {
	f.rec.add("killall %d", int(sig))
	return nil
}

func (f *fakeSys) Sync() { f.rec.add("sync") }

func (f *fakeSys) Reboot(cmd int) error {
	f.rec.add("reboot %#x", cmd)
	return nil
}

// fakeRuntime runs no process: onboot-like containers exit at once with
// their status; those in block run until a signal they do not ignore.
type fakeRuntime struct {
	rec       *recorder
	mu        sync.Mutex
	next      int
	status    map[string]int   // id → exit status
	createErr map[string]error // id → Create error
	block     map[string]bool  // id → runs until killed
	ignore    map[string]bool  // id → ignores SIGTERM
	pids      map[int]string
	dead      map[string]chan int
}

var _ Runtime = (*fakeRuntime)(nil)

func newFakeRuntime(rec *recorder) *fakeRuntime {
	return &fakeRuntime{rec: rec, next: 100, status: map[string]int{}, createErr: map[string]error{},
		block: map[string]bool{}, ignore: map[string]bool{}, pids: map[int]string{}, dead: map[string]chan int{}}
}

func (f *fakeRuntime) Create(_ context.Context, id, bundle string, stdio Stdio) (int, error) {
	f.rec.add("create %s %s", id, filepath.Base(bundle))
	if err := f.createErr[id]; err != nil {
		return 0, err
	}
	if stdio.Stdout != nil {
		fmt.Fprintf(stdio.Stdout, "output of %s\n", id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.pids[f.next] = id
	f.dead[id] = make(chan int, 1)
	return f.next, nil
}

func (f *fakeRuntime) Start(_ context.Context, id string) error {
	f.rec.add("start %s", id)
	return nil
}

func (f *fakeRuntime) Wait(ctx context.Context, pid int) (int, error) {
	f.mu.Lock()
	id := f.pids[pid]
	ch := f.dead[id]
	block := f.block[id]
	f.mu.Unlock()
	if !block {
		return f.status[id], nil
	}
	select {
	case s := <-ch:
		return s, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *fakeRuntime) Kill(_ context.Context, id string, sig syscall.Signal) error {
	f.rec.add("kill %s %d", id, int(sig))
	f.mu.Lock()
	defer f.mu.Unlock()
	if sig == syscall.SIGTERM && f.ignore[id] {
		return nil
	}
	select {
	case f.dead[id] <- 128 + int(sig):
	default:
	}
	return nil
}

func (f *fakeRuntime) Delete(_ context.Context, id string) error {
	f.rec.add("delete %s", id)
	return nil
}

// syncBuffer is a console safe for the goroutines of services.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually waits for cond, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 10*time.Second, what, cond)
}

// eventuallyWithin waits for cond, failing the test after d.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// fixture is a root with bundles, a fake kernel and a fake runtime.
type fixture struct {
	root    string
	rec     *recorder
	sys     *fakeSys
	rt      *fakeRuntime
	console *syncBuffer
	in      *Init
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	root := t.TempDir()
	rec := &recorder{}
	f := &fixture{root: root, rec: rec, sys: &fakeSys{rec: rec, root: root, failOn: map[string]error{}},
		rt: newFakeRuntime(rec), console: &syncBuffer{}}
	opts = append([]Option{WithRoot(root), WithConsole(f.console), WithStopTimeout(time.Second, 100*time.Millisecond)}, opts...)
	f.in = New(f.sys, f.rt, opts...)
	return f
}

// bundle makes a bundle directory: section/name with rootfs/ (readonly)
// or lower/, tmp/ and rootfs/ (writable), and runtime.json when given.
func (f *fixture) bundle(t *testing.T, section Section, name string, writable bool, runtimeJSON string) string {
	t.Helper()
	dir := filepath.Join(f.root, "containers", string(section), name)
	subs := []string{"rootfs"}
	if writable {
		subs = []string{"lower", "tmp", "rootfs"}
	}
	for _, s := range subs {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if runtimeJSON != "" {
		if err := os.WriteFile(filepath.Join(dir, "runtime.json"), []byte(runtimeJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
