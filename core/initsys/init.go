//go:build linux

package initsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stdio are the standard output and error given to a process; nil means
// /dev/null.
type Stdio struct {
	Stdout, Stderr *os.File
}

// Runtime runs container bundles. Runc is the real one.
type Runtime interface {
	// Create creates container id from bundle, its process stopped before
	// exec, and returns the process id.
	Create(ctx context.Context, id, bundle string, stdio Stdio) (pid int, err error)
	// Start lets a created container run.
	Start(ctx context.Context, id string) error
	// Wait waits for the process pid of a started container to exit and
	// returns its exit status (128+n for a death by signal n).
	Wait(ctx context.Context, pid int) (status int, err error)
	// Kill sends sig to the container's process.
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	// Delete removes the container, killing it if needed.
	Delete(ctx context.Context, id string) error
}

// Commander runs a host process (the debug hook) and waits for it.
type Commander interface {
	Run(ctx context.Context, argv []string, stdio Stdio) (status int, err error)
}

// Init is the sequencing of kit-init: early mounts, onboot bundles,
// services, the debug hook and the shutdown. Make it with New.
type Init struct {
	sys     System
	rt      Runtime
	cmd     Commander
	root    string
	cgroups string
	logDir  string
	console io.Writer
	stop    time.Duration
	kill    time.Duration
	tee     bool
	modules []string
	// onshutdownLimit bounds the whole onshutdown section.
	onshutdownLimit time.Duration

	mu       sync.Mutex
	services []*service
}

// service is a started service.
type service struct {
	b    Bundle
	pid  int
	done chan struct{}
}

// Option is an optional setting of New.
type Option func(*Init)

// WithRoot makes the init work under dir instead of "/" (for tests).
func WithRoot(dir string) Option { return func(in *Init) { in.root = dir } }

// WithCgroupRoot sets where runtime.json cgroups are made (default
// /sys/fs/cgroup under the root).
func WithCgroupRoot(dir string) Option { return func(in *Init) { in.cgroups = dir } }

// WithConsole sets where messages and onboot output go (default stdout).
func WithConsole(w io.Writer) Option { return func(in *Init) { in.console = w } }

// WithLogDir sets the directory of service logs (default /var/log under
// the root).
func WithLogDir(dir string) Option { return func(in *Init) { in.logDir = dir } }

// WithStopTimeout sets how long a service has to exit after SIGTERM at
// shutdown before it gets SIGKILL, and how long after SIGKILL the init
// waits before giving up on it (defaults 10s and 3s).
func WithStopTimeout(term, kill time.Duration) Option {
	return func(in *Init) { in.stop, in.kill = term, kill }
}

// WithServiceConsole copies service output to the console as well as to
// its log file.
func WithServiceConsole() Option { return func(in *Init) { in.tee = true } }

// WithModules names kernel modules that Boot loads before the onboot
// containers.
func WithModules(names ...string) Option { return func(in *Init) { in.modules = names } }

// WithCommander sets what runs the debug hook (default none: the hook is
// refused).
func WithCommander(c Commander) Option { return func(in *Init) { in.cmd = c } }

// New returns an Init that uses sys for the kernel and rt for containers.
func New(sys System, rt Runtime, opts ...Option) *Init {
	in := &Init{sys: sys, rt: rt, root: "/", console: os.Stdout, stop: 10 * time.Second, kill: 3 * time.Second,
		onshutdownLimit: time.Minute}
	for _, o := range opts {
		o(in)
	}
	if in.cgroups == "" {
		in.cgroups = filepath.Join(in.root, "sys/fs/cgroup")
	}
	if in.logDir == "" {
		in.logDir = filepath.Join(in.root, "var/log")
	}
	return in
}

// Logf prints a console message prefixed "kit-init: ".
func (in *Init) Logf(format string, args ...any) {
	fmt.Fprintf(in.console, "kit-init: "+format+"\n", args...)
}

// host maps an absolute path of the system to the init's root.
func (in *Init) host(p string) string { return filepath.Join(in.root, p) }

// earlyMount is one of the mounts of stage 2.
type earlyMount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// earlyMounts are the file systems of stage 2, in order.
var earlyMounts = []earlyMount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
	{"shm", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "nsdelegate"},
}

// MountEarly makes / recursively shared (so that rshared binds of
// containers propagate) and mounts proc, sys, dev, dev/pts, dev/shm, run,
// tmp and the cgroup2 hierarchy. A failed mount is reported and the others
// are still tried; the error joins the failures.
func (in *Init) MountEarly() error {
	var errs []error
	if err := in.sys.Mount("", in.root, "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		errs = append(errs, fmt.Errorf("making / shared: %w", err))
	}
	for _, m := range earlyMounts {
		target := in.host(m.target)
		err := in.sys.MkdirAll(target, 0o755)
		if err == nil {
			err = in.sys.Mount(m.source, target, m.fstype, m.flags, m.data)
		}
		if err != nil && m.fstype == "cgroup2" && strings.Contains(m.data, "nsdelegate") {
			// kernels before 4.13 do not know nsdelegate
			err = in.sys.Mount(m.source, target, m.fstype, m.flags, "")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err))
		}
	}
	for _, err := range errs {
		in.Logf("%v", err)
	}
	return errors.Join(errs...)
}

// Hostname sets the host name from /etc/hostname, or "kit" when it is
// missing or empty.
func (in *Init) Hostname() error {
	name := "kit"
	if b, err := os.ReadFile(in.host("/etc/hostname")); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			name, _, _ = strings.Cut(s, "\n")
			name = strings.TrimSpace(name)
		}
	}
	if err := in.sys.Sethostname(name); err != nil {
		in.Logf("hostname %s: %v", name, err)
		return err
	}
	in.Logf("hostname %s", name)
	return nil
}

// Loopback brings up lo.
func (in *Init) Loopback() error {
	if err := in.sys.LinkUp("lo"); err != nil {
		in.Logf("loopback: %v", err)
		return err
	}
	return nil
}

// Prepare sets up a bundle before its container is created: its root
// filesystem (unless runtime.json mounts it), then runtime.json's mounts in
// order, mkdirs and cgroups. A writable bundle (one with lower/) gets a
// tmpfs on tmp/ and an overlay of lower/ with tmp/upper and tmp/work on
// rootfs/; a read-only one uses rootfs/ as it is.
func (in *Init) Prepare(b Bundle, rc *RuntimeConfig) error {
	rootfs := path.Join(b.Rel, "rootfs")
	mountsRoot := slices.ContainsFunc(rc.Mounts, func(m Mount) bool { return path.Clean(m.Destination) == rootfs })
	if !mountsRoot {
		if fi, err := os.Stat(filepath.Join(b.Dir, "lower")); err == nil && fi.IsDir() {
			tmp := filepath.Join(b.Dir, "tmp")
			upper, work := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work")
			steps := []func() error{
				func() error { return in.sys.MkdirAll(tmp, 0o755) },
				func() error { return in.sys.Mount("tmpfs", tmp, "tmpfs", 0, "mode=0755") },
				func() error { return in.sys.MkdirAll(upper, 0o755) },
				func() error { return in.sys.MkdirAll(work, 0o755) },
				func() error { return in.sys.MkdirAll(filepath.Join(b.Dir, "rootfs"), 0o755) },
				func() error {
					return in.sys.Mount("overlay", filepath.Join(b.Dir, "rootfs"), "overlay", 0,
						"lowerdir="+filepath.Join(b.Dir, "lower")+",upperdir="+upper+",workdir="+work)
				},
			}
			for _, step := range steps {
				if err := step(); err != nil {
					return fmt.Errorf("%s: writable root: %w", b.Label(), err)
				}
			}
		}
	}
	for i, m := range rc.Mounts {
		if err := in.mount(m); err != nil {
			return fmt.Errorf("%s: runtime.json mounts[%d] on %s: %w", b.Label(), i, m.Destination, err)
		}
	}
	for _, d := range rc.Mkdir {
		if err := in.sys.MkdirAll(in.host(d), 0o755); err != nil {
			return fmt.Errorf("%s: runtime.json mkdir %s: %w", b.Label(), d, err)
		}
	}
	for _, c := range rc.Cgroups {
		if err := in.sys.MkdirAll(filepath.Join(in.cgroups, c), 0o755); err != nil {
			return fmt.Errorf("%s: runtime.json cgroup %s: %w", b.Label(), c, err)
		}
	}
	return nil
}

// mount applies one runtime.json mount: the destination is made, the
// directories of an overlay's upperdir and workdir too; propagation options
// are applied by a second call, and a read-only bind by a remount.
func (in *Init) mount(m Mount) error {
	o := ParseMountOptions(m.Options)
	dst := in.host(m.Destination)
	src := m.Source
	if o.Flags&unix.MS_BIND != 0 && path.IsAbs(src) {
		src = in.host(src)
	}
	if m.Type == "overlay" {
		o.Data = in.rootOverlayData(o.Data)
		for _, d := range overlayDirs(o.Data) {
			if err := in.sys.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	if err := in.sys.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if m.Type != "" || o.Flags&^unix.MS_REMOUNT != 0 || o.Data != "" {
		if err := in.sys.Mount(src, dst, m.Type, o.Flags, o.Data); err != nil {
			return err
		}
		if o.Flags&unix.MS_BIND != 0 && o.Flags&unix.MS_RDONLY != 0 && o.Flags&unix.MS_REMOUNT == 0 {
			if err := in.sys.Mount("", dst, "", o.Flags|unix.MS_REMOUNT, ""); err != nil {
				return err
			}
		}
	}
	if o.Propagation != 0 {
		if err := in.sys.Mount("", dst, "", o.Propagation, ""); err != nil {
			return err
		}
	}
	return nil
}

// rootOverlayData maps the absolute directories of overlay options to the
// init's root.
func (in *Init) rootOverlayData(data string) string {
	if in.root == "/" {
		return data
	}
	opts := strings.Split(data, ",")
	for i, o := range opts {
		for _, k := range []string{"lowerdir=", "upperdir=", "workdir="} {
			v, ok := strings.CutPrefix(o, k)
			if !ok {
				continue
			}
			dirs := strings.Split(v, ":")
			for j, d := range dirs {
				if path.IsAbs(d) {
					dirs[j] = in.host(d)
				}
			}
			opts[i] = k + strings.Join(dirs, ":")
		}
	}
	return strings.Join(opts, ",")
}

// bindNamespaces binds the namespaces of process pid to runtime.json's
// bindNS paths and sets up its interfaces.
func (in *Init) bindNamespaces(b Bundle, rc *RuntimeConfig, pid int) error {
	for _, kv := range rc.BindNS.binds() {
		target := in.host(kv[1])
		err := in.sys.MkdirAll(filepath.Dir(target), 0o755)
		if err == nil {
			err = in.sys.CreateFile(target)
		}
		if err == nil {
			err = in.sys.Mount(fmt.Sprintf("/proc/%d/ns/%s", pid, kv[0]), target, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("%s: binding %s namespace to %s: %w", b.Label(), kv[0], kv[1], err)
		}
	}
	for i, iface := range rc.Interfaces {
		if err := in.iface(iface, pid); err != nil {
			return fmt.Errorf("%s: runtime.json interfaces[%d] %s: %w", b.Label(), i, iface.Name, err)
		}
	}
	return nil
}

// iface gives the container of process pid a network interface, as
// LinuxKit's runtime.interfaces do: without add (or "none") the existing
// interface name is moved into the container's network namespace; with
// add (a peer implies "veth") one of that kind is created there, or in the
// root namespace and then moved with createInRoot; a veth's peer stays in
// the root namespace.
func (in *Init) iface(iface Interface, pid int) error {
	kind := iface.Add
	if kind == "" && iface.Peer != "" {
		kind = "veth"
	}
	if iface.Name == "" {
		return errors.New("an interface needs a name")
	}
	if kind == "veth" && iface.Peer == "" {
		return errors.New("a veth interface needs a peer")
	}
	switch {
	case kind == "" || kind == "none":
		return in.sys.MoveLink(iface.Name, pid)
	case iface.CreateInRoot:
		if err := in.sys.CreateLink(iface.Name, kind, iface.Peer, 0); err != nil {
			return err
		}
		return in.sys.MoveLink(iface.Name, pid)
	}
	return in.sys.CreateLink(iface.Name, kind, iface.Peer, pid)
}

// Result is what became of one onboot or onshutdown bundle.
type Result struct {
	Bundle Bundle
	// Status is the exit status (128+n for signal n); meaningful when Err
	// is nil.
	Status int
	Err    error
}

// RunSection runs the bundles of onboot or onshutdown one at a time, in
// order, each to completion, and reports each on the console
// ("kit-init: onboot 000-dhcpcd: exit 0"). A bundle that fails or exits
// non-zero does not stop the others.
func (in *Init) RunSection(ctx context.Context, section Section) []Result {
	bundles, err := ListBundles(in.root, section)
	if err != nil {
		in.Logf("%v", err)
	}
	var out []Result
	for _, b := range bundles {
		if ctx.Err() != nil {
			in.Logf("%s: skipped: %v", b.Label(), ctx.Err())
			out = append(out, Result{Bundle: b, Err: ctx.Err()})
			continue
		}
		in.Logf("%s: starting", b.Label())
		status, err := in.runOnce(ctx, b)
		switch {
		case err != nil:
			in.Logf("%s: error: %v", b.Label(), err)
		default:
			in.Logf("%s: exit %d", b.Label(), status)
		}
		out = append(out, Result{Bundle: b, Status: status, Err: err})
	}
	return out
}

// consoleStdio returns the console as the output of a container, when it
// is a file.
func (in *Init) consoleStdio() Stdio {
	if f, ok := in.console.(*os.File); ok {
		return Stdio{Stdout: f, Stderr: f}
	}
	return Stdio{}
}

// runOnce prepares, creates, starts and waits for one bundle, then deletes
// its container.
func (in *Init) runOnce(ctx context.Context, b Bundle) (int, error) {
	rc, err := readRuntimeConfig(b)
	if err != nil {
		return 0, err
	}
	if err := in.Prepare(b, rc); err != nil {
		return 0, err
	}
	stdio, closeIO, err := in.onceStdio(b)
	if err != nil {
		return 0, err
	}
	defer closeIO()
	pid, err := in.rt.Create(ctx, b.ID, b.Dir, stdio)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := in.rt.Delete(context.WithoutCancel(ctx), b.ID); err != nil {
			in.Logf("%s: delete: %v", b.Label(), err)
		}
	}()
	if err := in.bindNamespaces(b, rc, pid); err != nil {
		return 0, err
	}
	if err := in.rt.Start(ctx, b.ID); err != nil {
		return 0, err
	}
	return in.rt.Wait(ctx, pid)
}

// onceStdio is the console for onboot and onshutdown output; when the
// console is not a file (tests), a pipe copied to it.
func (in *Init) onceStdio(b Bundle) (Stdio, func(), error) {
	if s := in.consoleStdio(); s.Stdout != nil {
		return s, func() {}, nil
	}
	return in.pipeTo(b, in.console, nil)
}

// pipeTo returns a pipe whose read end is copied to w until the last writer
// closes it, then done is called; the returned func closes the init's
// write end.
func (in *Init) pipeTo(b Bundle, w io.Writer, done func() error) (Stdio, func(), error) {
	r, pw, err := os.Pipe()
	if err != nil {
		return Stdio{}, nil, fmt.Errorf("%s: output pipe: %w", b.Label(), err)
	}
	go func() {
		_, _ = io.Copy(w, r)
		r.Close()
		if done != nil {
			_ = done()
		}
	}()
	return Stdio{Stdout: pw, Stderr: pw}, func() { pw.Close() }, nil
}

// StartServices starts every service, in name order, without waiting for
// them; output goes to LOGDIR/NAME.log (and the console with
// WithServiceConsole). A service that fails to start is reported and the
// others are still started. When a service exits, the exit is reported.
func (in *Init) StartServices(ctx context.Context) []Result {
	bundles, err := ListBundles(in.root, Services)
	if err != nil {
		in.Logf("%v", err)
	}
	var out []Result
	for _, b := range bundles {
		if ctx.Err() != nil {
			in.Logf("%s: not started: %v", b.Label(), ctx.Err())
			out = append(out, Result{Bundle: b, Err: ctx.Err()})
			continue
		}
		err := in.startService(ctx, b)
		if err != nil {
			in.Logf("%s: error: %v", b.Label(), err)
		}
		out = append(out, Result{Bundle: b, Err: err})
	}
	return out
}

func (in *Init) startService(ctx context.Context, b Bundle) error {
	rc, err := readRuntimeConfig(b)
	if err != nil {
		return err
	}
	if err := in.Prepare(b, rc); err != nil {
		return err
	}
	if err := in.sys.MkdirAll(in.logDir, 0o755); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	logPath := filepath.Join(in.logDir, b.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	stdio, closeIO := Stdio{Stdout: logFile, Stderr: logFile}, func() { logFile.Close() }
	if in.tee {
		// the copier closes the log file when the service's output ends
		if stdio, closeIO, err = in.pipeTo(b, io.MultiWriter(logFile, in.console), logFile.Close); err != nil {
			logFile.Close()
			return err
		}
	}
	defer closeIO()
	pid, err := in.rt.Create(ctx, b.ID, b.Dir, stdio)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		if derr := in.rt.Delete(context.WithoutCancel(ctx), b.ID); derr != nil {
			in.Logf("%s: delete: %v", b.Label(), derr)
		}
		return err
	}
	if err := in.bindNamespaces(b, rc, pid); err != nil {
		return fail(err)
	}
	if err := in.rt.Start(ctx, b.ID); err != nil {
		return fail(err)
	}
	s := &service{b: b, pid: pid, done: make(chan struct{})}
	in.mu.Lock()
	in.services = append(in.services, s)
	in.mu.Unlock()
	in.Logf("%s: started (pid %d, log %s)", b.Label(), pid, logPath)
	go func() {
		defer close(s.done)
		status, err := in.rt.Wait(context.WithoutCancel(ctx), pid)
		if err != nil {
			in.Logf("%s: wait: %v", b.Label(), err)
			return
		}
		in.Logf("%s: exit %d", b.Label(), status)
	}()
	return nil
}

// StopServices stops every started service, all at once: SIGTERM, then
// SIGKILL after the stop timeout, then the container is deleted. It
// returns when all are gone or have outlived the kill timeout too.
func (in *Init) StopServices(ctx context.Context) {
	in.mu.Lock()
	services := in.services
	in.services = nil
	in.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.stopService(ctx, s)
		}()
	}
	wg.Wait()
}

func (in *Init) stopService(ctx context.Context, s *service) {
	label := s.b.Label()
	select {
	case <-s.done:
	default:
		in.Logf("%s: stopping", label)
		if err := in.rt.Kill(ctx, s.b.ID, syscall.SIGTERM); err != nil {
			in.Logf("%s: kill TERM: %v", label, err)
		}
		if !waitDone(ctx, s.done, in.stop) {
			in.Logf("%s: still running after %v; killing", label, in.stop)
			if err := in.rt.Kill(ctx, s.b.ID, syscall.SIGKILL); err != nil {
				in.Logf("%s: kill KILL: %v", label, err)
			}
			if !waitDone(ctx, s.done, in.kill) {
				in.Logf("%s: did not exit after SIGKILL", label)
			}
		}
	}
	if err := in.rt.Delete(ctx, s.b.ID); err != nil {
		in.Logf("%s: delete: %v", label, err)
	}
}

// waitDone waits for done up to d; false on timeout or cancellation.
func waitDone(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
