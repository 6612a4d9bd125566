//go:build linux

package initsys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxUnclaimed bounds the exit statuses kept for processes nobody waits
// for yet (orphans reparented to the init).
const maxUnclaimed = 1024

// Reaper reaps every child of the process (PID 1, or a child subreaper) and
// hands exit statuses to whoever waits for them. Processes must be started
// through it (Run, Output) or announced (Expect) so that their status is
// not lost; os/exec's Wait cannot be used beside it.
type Reaper struct {
	mu        sync.Mutex
	waiters   map[int]chan int
	unclaimed map[int]int
	order     []int
	// stopped is closed when the reaping goroutine of Start ends.
	stopped chan struct{}
}

var _ Commander = (*Reaper)(nil)

// NewReaper returns a Reaper; call Start to begin reaping.
func NewReaper() *Reaper {
	return &Reaper{waiters: map[int]chan int{}, unclaimed: map[int]int{}, stopped: make(chan struct{})}
}

// Start reaps children on every SIGCHLD until ctx ends. When the process is
// not PID 1 it becomes a child subreaper, so that orphaned container
// processes are reparented to it.
func (r *Reaper) Start(ctx context.Context) error {
	if os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("becoming a child subreaper: %w", err)
		}
	}
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGCHLD)
	go func() {
		defer close(r.stopped)
		defer signal.Stop(ch)
		for {
			r.reap()
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// reap collects every exited child.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.deliver(pid, exitStatus(ws))
	}
}

// deliver hands a status to its waiter (which Wait removes) or keeps it;
// r.mu is held.
func (r *Reaper) deliver(pid, status int) {
	if ch, ok := r.waiters[pid]; ok {
		select {
		case ch <- status:
			return
		default: // a status nobody took yet: keep the new one aside
		}
	}
	if _, ok := r.unclaimed[pid]; !ok {
		r.order = append(r.order, pid)
	}
	r.unclaimed[pid] = status
	for len(r.order) > maxUnclaimed {
		delete(r.unclaimed, r.order[0])
		r.order = r.order[1:]
	}
}

// exitStatus is the shell's view of a wait status: the exit code, or
// 128+n for a death by signal n.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Expect announces a process that is a child (or will be reparented to
// the reaper), so that a later Wait gets its status. A status kept for an
// earlier process with the same id is dropped if pid is alive.
func (r *Reaper) Expect(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.waiters[pid]; ok {
		return
	}
	if status, ok := r.unclaimed[pid]; ok {
		if unix.Kill(pid, 0) == nil {
			delete(r.unclaimed, pid)
		} else {
			// it is gone: the status kept is its own
			ch := make(chan int, 1)
			ch <- status
			delete(r.unclaimed, pid)
			r.waiters[pid] = ch
			return
		}
	}
	r.waiters[pid] = make(chan int, 1)
}

// Wait waits for process pid, which must be a child started by the
// reaper, expected, or already reaped. One Wait per process.
func (r *Reaper) Wait(ctx context.Context, pid int) (int, error) {
	r.mu.Lock()
	ch, ok := r.waiters[pid]
	if !ok {
		if status, done := r.unclaimed[pid]; done {
			delete(r.unclaimed, pid)
			r.mu.Unlock()
			return status, nil
		}
		ch = make(chan int, 1)
		r.waiters[pid] = ch
	}
	r.mu.Unlock()
	select {
	case status := <-ch:
		r.mu.Lock()
		if r.waiters[pid] == ch {
			delete(r.waiters, pid)
		}
		r.mu.Unlock()
		return status, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for process %d: %w", pid, ctx.Err())
	}
}

// spawn starts argv with the reaper locked, so that its status cannot be
// reaped before it is expected.
func (r *Reaper) spawn(argv []string, stdio Stdio) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("empty command")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	files := []*os.File{null, stdio.Stdout, stdio.Stderr}
	for i, f := range files {
		if f == nil {
			files[i] = null
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: files, Env: os.Environ()})
	if err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	pid := p.Pid
	_ = p.Release()
	r.waiters[pid] = make(chan int, 1)
	return pid, nil
}

// Run starts argv (argv[0] a path) with stdin from /dev/null and waits for
// it. When ctx ends the process is killed and its end awaited.
func (r *Reaper) Run(ctx context.Context, argv []string, stdio Stdio) (int, error) {
	pid, err := r.spawn(argv, stdio)
	if err != nil {
		return 0, err
	}
	status, err := r.Wait(ctx, pid)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = r.Wait(context.WithoutCancel(ctx), pid)
		return 0, fmt.Errorf("%s: %w", argv[0], err)
	}
	return status, nil
}

// Output runs argv like Run and returns its combined output too (up to
// 64 KiB).
func (r *Reaper) Output(ctx context.Context, argv []string) (int, []byte, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, nil, err
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&buf, io.LimitReader(pr, 64<<10))
		_, _ = io.Copy(io.Discard, pr)
		pr.Close()
		close(done)
	}()
	status, err := r.Run(ctx, argv, Stdio{Stdout: pw, Stderr: pw})
	pw.Close()
	<-done
	return status, buf.Bytes(), err
}
