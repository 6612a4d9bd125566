//go:build linux

package initsys

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Kernel command line parameters read by kit-init.
const (
	// CmdlineDebug names a debug hook to run after the services started:
	// kit.debug=/path/in/root[,arg...] (see DebugHook).
	CmdlineDebug = "kit.debug"
	// CmdlineServiceConsole, when "1", copies service output to the
	// console too.
	CmdlineServiceConsole = "kit.console"
	// CmdlineModules lists kernel modules to load before the onboot
	// containers: kit.modules=veth,br_netfilter.
	CmdlineModules = "kit.modules"
	// CmdlineRunc overrides the runc binary (default /usr/bin/runc, else
	// runc in PATH).
	CmdlineRunc = "kit.runc"
)

// DebugScript is the debug hook run when the kernel command line names
// none and the file exists.
const DebugScript = "/etc/kit-init/debug.sh"

// DebugHook returns the command of the debug hook: kit.debug=PATH[,ARG...]
// from the command line, else DebugScript if it exists under root; nil
// when there is none. A hook that is not executable is run with /bin/sh.
func DebugHook(root string, cmdline map[string]string) []string {
	var argv []string
	if v := cmdline[CmdlineDebug]; v != "" {
		argv = strings.Split(v, ",")
	} else if _, err := os.Stat(path.Join(root, DebugScript)); err == nil {
		argv = []string{DebugScript}
	} else {
		return nil
	}
	if !path.IsAbs(argv[0]) {
		return nil
	}
	fi, err := os.Stat(path.Join(root, argv[0]))
	if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 == 0 {
		argv = append([]string{"/bin/sh"}, argv...)
	}
	return argv
}

// RunDebugHook runs the hook with the console as its output and reports
// its end: "kit-init: debug hook /etc/kit-init/debug.sh: exit 0".
func (in *Init) RunDebugHook(ctx context.Context, argv []string) (int, error) {
	label := "debug hook " + strings.Join(argv, " ")
	if in.cmd == nil {
		err := errors.New("no commander to run it")
		in.Logf("%s: %v", label, err)
		return 0, err
	}
	in.Logf("%s: starting", label)
	status, err := in.cmd.Run(ctx, argv, in.consoleStdio())
	if err != nil {
		in.Logf("%s: error: %v", label, err)
		return 0, err
	}
	in.Logf("%s: exit %d", label, status)
	return status, nil
}

// Boot brings the system up after the root switch and MountEarly: host
// name, loopback, kernel modules (WithModules), the onboot bundles in order, the services, and the debug
// hook (started in the background, its end reported). Failures are
// reported on the console and boot goes on.
func (in *Init) Boot(ctx context.Context, debug []string) {
	_ = in.Hostname()
	_ = in.Loopback()
	_ = in.LoadModules(in.modules)
	in.RunSection(ctx, Onboot)
	in.StartServices(ctx)
	if ctx.Err() != nil {
		in.Logf("boot cancelled")
		return
	}
	in.Logf("boot done")
	if len(debug) > 0 {
		// the hook outlives a cancelled boot: the shutdown's kill ends it
		go func() { _, _ = in.RunDebugHook(context.WithoutCancel(ctx), debug) }()
	}
}

// Run boots (in the background, so that a signal during boot is heard:
// the boot is then cancelled, a running onboot container deleted), waits
// for a signal of Signals and shuts down with its action. It returns the
// action and Shutdown's error (as reboot(2) does not return, only on
// failure or with a fake System).
func (in *Init) Run(ctx context.Context, debug []string, signals <-chan os.Signal) (Action, error) {
	bootCtx, cancelBoot := context.WithCancel(ctx)
	defer cancelBoot()
	booted := make(chan struct{})
	go func() {
		defer close(booted)
		in.Boot(bootCtx, debug)
	}()
	a := in.Wait(ctx, signals, nil)
	cancelBoot()
	if !waitDone(ctx, booted, 10*time.Second) {
		in.Logf("boot did not stop within 10s; shutting down anyway")
	}
	return a, in.Shutdown(ctx, a)
}

// Wait waits for a signal of Signals (or an action sent on actions) and
// returns its action; on ctx's end it returns Poweroff.
func (in *Init) Wait(ctx context.Context, signals <-chan os.Signal, actions <-chan Action) Action {
	for {
		select {
		case sig := <-signals:
			if a, ok := ActionForSignal(sig); ok {
				in.Logf("%s: %s", signalName(sig), a)
				return a
			}
		case a := <-actions:
			return a
		case <-ctx.Done():
			return Poweroff
		}
	}
}

// readCmdline reads /proc/cmdline under root.
func readCmdline(root string) (map[string]string, error) {
	b, err := os.ReadFile(path.Join(root, "/proc/cmdline"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the kernel command line: %w", err)
	}
	return ParseCmdline(string(b)), nil
}

// signalName is "SIGUSR2" for syscall.SIGUSR2.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(s); name != "" {
			return name
		}
	}
	return sig.String()
}
