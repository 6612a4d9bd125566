//go:build linux

package initsys

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runcPaths are where runc is looked for when the command line names none.
var runcPaths = []string{"/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc", "/bin/runc", "/sbin/runc"}

// Main is kit-init's entry point. As PID 1 it boots the system and never
// returns; otherwise it is a client: `kit-init poweroff|reboot|halt` asks
// PID 1 for the action with its signal. It returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if os.Getpid() == 1 {
		pid1()
	}
	return client(args, stdout, stderr)
}

const usage = `usage: kit-init poweroff|reboot|halt

kit-init is the PID 1 of kit systems (installed as /init). Run by
another process, it asks PID 1 to power off, reboot or halt.
`

func client(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	a, ok := ParseAction(args[0])
	if !ok {
		fmt.Fprintf(stderr, "kit-init: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err := unix.Kill(1, SignalForAction(a)); err != nil {
		fmt.Fprintf(stderr, "kit-init: %s: signalling PID 1: %v\n", a, err)
		return 1
	}
	return 0
}

// pid1 runs the system; it never returns.
func pid1() {
	reopenConsole()
	console := os.Stdout
	logf := func(format string, args ...any) { fmt.Fprintf(console, "kit-init: "+format+"\n", args...) }
	noPivot := false
	if NeedsSwitchRoot() {
		self := os.Args[0]
		if !filepath.IsAbs(self) {
			self = "/init"
		}
		logf("copying the initramfs root to a tmpfs")
		err := SwitchRoot(self)
		logf("%v; going on from the initramfs root, runc without pivot_root (files already moved are under %s)", err, newRootDir)
		noPivot = true
	}
	_ = os.Unsetenv(SwitchedEnv)
	if os.Getenv("PATH") == "" {
		_ = os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	defer func() {
		// a panic of PID 1 would panic the kernel: end cleanly instead
		if r := recover(); r != nil {
			logf("panic: %v; powering off", r)
			unix.Sync()
			_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
			for {
				time.Sleep(time.Hour)
			}
		}
	}()
	ctx := context.Background()
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	// Go's default for these is to exit, which PID 1 must not do
	signal.Ignore(syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTSTP,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM, syscall.SIGPWR)
	// Ctrl-Alt-Del sends SIGINT instead of rebooting at once
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)

	reaper := NewReaper()
	if err := reaper.Start(ctx); err != nil {
		logf("%v", err)
	}
	runc := &Runc{PidDir: "/run/kit-init", NoPivot: noPivot, Reaper: reaper}
	in := New(Linux{}, runc, WithConsole(console), WithCommander(reaper))
	in.Logf("booting")
	_ = in.MountEarly()
	reopenConsole()
	cmdline, cerr := readCmdline("/")
	if cerr != nil {
		in.Logf("%v", cerr)
	}
	runc.Path = cmdline[CmdlineRunc]
	for _, p := range runcPaths {
		if runc.Path != "" {
			break
		}
		if _, err := os.Stat(p); err == nil {
			runc.Path = p
		}
	}
	if runc.Path == "" {
		in.Logf("runc not found (looked in %v); containers will fail", runcPaths)
		runc.Path = "runc"
	}
	in.tee = cmdline[CmdlineServiceConsole] == "1"
	in.modules = in.wantedModules(cmdline)
	a, err := in.Run(ctx, DebugHook("/", cmdline), signals)
	in.Logf("%s failed: %v", a, err)
	for {
		// PID 1 must not exit: that panics the kernel
		time.Sleep(time.Hour)
	}
}
