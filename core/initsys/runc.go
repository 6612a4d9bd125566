//go:build linux

package initsys

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Runc is the Runtime of the runc binary. Container processes are waited
// for through the Reaper, which must be started.
type Runc struct {
	// Path is the runc binary.
	Path string
	// StateDir is runc's --root (empty: runc's default, /run/runc).
	StateDir string
	// PidDir holds the pid files of created containers.
	PidDir string
	// NoPivot makes runc use chroot instead of pivot_root (when the root
	// could not be moved off the initramfs).
	NoPivot bool
	// Reaper starts runc and waits for containers.
	Reaper *Reaper
}

var _ Runtime = (*Runc)(nil)

func (r *Runc) argv(args ...string) []string {
	argv := []string{r.Path}
	if r.StateDir != "" {
		argv = append(argv, "--root", r.StateDir)
	}
	return append(argv, args...)
}

// Create runs `runc create --bundle BUNDLE --pid-file F ID` with stdio (the
// container keeps it) and returns the container's pid.
func (r *Runc) Create(ctx context.Context, id, bundle string, stdio Stdio) (int, error) {
	if err := os.MkdirAll(r.PidDir, 0o755); err != nil {
		return 0, fmt.Errorf("runc create %s: %w", id, err)
	}
	pidFile := filepath.Join(r.PidDir, id+".pid")
	_ = os.Remove(pidFile)
	args := []string{"create", "--bundle", bundle, "--pid-file", pidFile}
	if r.NoPivot {
		args = append(args, "--no-pivot")
	}
	status, err := r.Reaper.Run(ctx, r.argv(append(args, id)...), stdio)
	if err != nil {
		return 0, fmt.Errorf("runc create %s: %w", id, err)
	}
	if status != 0 {
		// leave no half-made container to block the id
		_, _, _ = r.Reaper.Output(context.WithoutCancel(ctx), r.argv("delete", "--force", id))
		return 0, fmt.Errorf("runc create %s: exit %d", id, status)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("runc create %s: %w", id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("runc create %s: bad pid file %s: %q", id, pidFile, b)
	}
	r.Reaper.Expect(pid)
	return pid, nil
}

// run runs a runc command and makes a non-zero exit an error holding its
// output.
func (r *Runc) run(ctx context.Context, what, id string, args ...string) error {
	status, out, err := r.Reaper.Output(ctx, r.argv(args...))
	if err != nil {
		return fmt.Errorf("runc %s %s: %w", what, id, err)
	}
	if status != 0 {
		return fmt.Errorf("runc %s %s: exit %d: %s", what, id, status, strings.TrimSpace(string(out)))
	}
	return nil
}

// Start runs `runc start ID`.
func (r *Runc) Start(ctx context.Context, id string) error {
	return r.run(ctx, "start", id, "start", id)
}

// Wait waits for the container process pid through the Reaper.
func (r *Runc) Wait(ctx context.Context, pid int) (int, error) {
	return r.Reaper.Wait(ctx, pid)
}

// Kill runs `runc kill ID SIG`.
func (r *Runc) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	return r.run(ctx, "kill", id, "kill", id, strconv.Itoa(int(sig)))
}

// Delete runs `runc delete --force ID` and removes the pid file.
func (r *Runc) Delete(ctx context.Context, id string) error {
	_ = os.Remove(filepath.Join(r.PidDir, id+".pid"))
	return r.run(ctx, "delete", id, "delete", "--force", id)
}
