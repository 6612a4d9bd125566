package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/term"
)

// RunOptions are the optional settings of Command.Run.
type RunOptions struct {
	// Stdin, Stdout and Stderr are QEMU's standard streams, which carry
	// the guest's serial console. A nil Stdin reads nothing.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Timeout, when positive, stops the VM after this long; Run then
	// returns a *TimeoutError.
	Timeout time.Duration
	// Grace is how long QEMU may take to exit after SIGTERM before it is
	// killed (default 5s).
	Grace time.Duration
}

// TimeoutError reports a VM stopped because it ran longer than
// RunOptions.Timeout.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the VM did not power off within %v; stopped it", e.After)
}

// Run starts QEMU and waits for it to exit. It returns QEMU's exit code
// (0 when the guest powered off or, with -no-reboot, rebooted) and a nil
// error; or an error when QEMU is not installed (*MissingError), could not
// start, ran longer than the timeout (*TimeoutError), or ctx was cancelled
// (an error wrapping ctx.Err()). On timeout or cancellation QEMU gets SIGTERM, then SIGKILL
// after the grace period.
func (c *Command) Run(ctx context.Context, o RunOptions) (int, error) {
	if c.Missing != nil {
		return -1, c.Missing
	}
	for _, cp := range c.Copies {
		if err := copyFile(cp.From, cp.To); err != nil {
			return -1, err
		}
	}
	runCtx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(runCtx, c.Path, c.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = o.Grace
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	// QEMU puts a terminal on stdio into raw mode; put it back even when
	// QEMU is killed.
	if f, ok := o.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if st, err := term.GetState(int(f.Fd())); err == nil {
			defer func() { _ = term.Restore(int(f.Fd()), st) }()
		}
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, fmt.Errorf("stopped the VM: %w", ctx.Err())
	}
	if runCtx.Err() != nil {
		return -1, &TimeoutError{After: o.Timeout}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return code, nil
		}
		return -1, fmt.Errorf("%s: %w", c.Path, err)
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", c.Path, err)
	}
	return 0, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return dst.Close()
}
