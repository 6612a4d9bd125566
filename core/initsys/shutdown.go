//go:build linux

package initsys

import (
	"context"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Action is how the system ends.
type Action int

// The shutdown actions.
const (
	Poweroff Action = iota
	Reboot
	Halt
)

// String returns "poweroff", "reboot" or "halt".
func (a Action) String() string {
	switch a {
	case Poweroff:
		return "poweroff"
	case Reboot:
		return "reboot"
	case Halt:
		return "halt"
	}
	return "unknown"
}

// RebootCmd is the reboot(2) command of the action.
func (a Action) RebootCmd() int {
	switch a {
	case Reboot:
		return unix.LINUX_REBOOT_CMD_RESTART
	case Halt:
		return unix.LINUX_REBOOT_CMD_HALT
	}
	return unix.LINUX_REBOOT_CMD_POWER_OFF
}

// Signals are the signals PID 1 acts on, with busybox init's meaning so
// that busybox's poweroff, reboot and halt (and `kit-init poweroff`) work:
// SIGUSR2 powers off, SIGTERM reboots, SIGUSR1 halts, SIGINT (Ctrl-Alt-Del)
// reboots.
var Signals = map[syscall.Signal]Action{
	syscall.SIGUSR2: Poweroff,
	syscall.SIGTERM: Reboot,
	syscall.SIGUSR1: Halt,
	syscall.SIGINT:  Reboot,
}

// ActionForSignal maps a signal to its action.
func ActionForSignal(sig os.Signal) (Action, bool) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return 0, false
	}
	a, ok := Signals[s]
	return a, ok
}

// SignalForAction is the signal that asks PID 1 for an action.
func SignalForAction(a Action) syscall.Signal {
	for s, x := range Signals {
		if x == a && s != syscall.SIGINT {
			return s
		}
	}
	return syscall.SIGUSR2
}

// ParseAction reads "poweroff", "reboot" or "halt".
func ParseAction(s string) (Action, bool) {
	for _, a := range []Action{Poweroff, Reboot, Halt} {
		if a.String() == s {
			return a, true
		}
	}
	return 0, false
}

// keepMounted are the mounts left at shutdown: what the last steps need.
var keepMounted = []string{"/", "/proc", "/sys", "/dev"}

// Shutdown ends the system: the services are stopped, the onshutdown
// bundles run in order (all within a minute, the rest skipped), every remaining process gets SIGTERM then
// SIGKILL, the file systems are synced and unmounted (deepest first,
// detached), synced again, and reboot(2) is called with the action's
// command. It returns only if reboot(2) fails.
func (in *Init) Shutdown(ctx context.Context, a Action) error {
	in.Logf("%s: stopping services", a)
	in.StopServices(ctx)
	octx, cancel := context.WithTimeout(ctx, in.onshutdownLimit)
	in.RunSection(octx, Onshutdown)
	cancel()
	in.Logf("%s: terminating remaining processes", a)
	if err := in.sys.KillAll(syscall.SIGTERM); err != nil {
		in.Logf("%v", err)
	}
	sleep(ctx, min(in.kill, time.Second))
	if err := in.sys.KillAll(syscall.SIGKILL); err != nil {
		in.Logf("%v", err)
	}
	in.sys.Sync()
	mounts, err := in.sys.Mounts()
	if err != nil {
		in.Logf("listing mounts: %v", err)
	}
	keep := make([]string, len(keepMounted))
	for i, k := range keepMounted {
		keep[i] = in.host(k)
	}
	for _, m := range unmountOrder(mounts, keep) {
		if !strings.HasPrefix(m, in.root) {
			continue
		}
		if err := in.sys.Unmount(m, unix.MNT_DETACH); err != nil {
			in.Logf("unmount %s: %v", m, err)
		}
	}
	in.sys.Sync()
	in.Logf("%s", a)
	return in.sys.Reboot(a.RebootCmd())
}

// sleep waits for d or ctx.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
