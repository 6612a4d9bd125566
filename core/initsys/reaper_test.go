//go:build linux

package initsys

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startReaper starts a reaper for the test; it stops when the test ends.
// The test process becomes a child subreaper.
func startReaper(t *testing.T) *Reaper {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := NewReaper()
	if err := r.Start(ctx); err != nil {
		cancel()
		t.Skipf("cannot reap here: %v", err)
	}
	// later tests use os/exec, whose Wait must not lose its child to us
	t.Cleanup(func() {
		cancel()
		<-r.stopped
	})
	return r
}

func TestReaperRun(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	r := startReaper(t)
	ctx := context.Background()
	tests := []struct {
		script string
		want   int
		out    string
	}{
		{"exit 0", 0, ""},
		{"echo out; echo err >&2; exit 3", 3, "out\nerr\n"},
		{"kill -9 $$", 128 + 9, ""},
	}
	for _, tt := range tests {
		status, out, err := r.Output(ctx, []string{sh, "-c", tt.script})
		if err != nil || status != tt.want || string(out) != tt.out {
			t.Errorf("%q: status %d, output %q, err %v; want %d, %q", tt.script, status, out, err, tt.want, tt.out)
		}
	}
	if _, err := r.Run(ctx, []string{"/nonexistent/binary"}, Stdio{}); err == nil {
		t.Error("no error for a missing binary")
	}
	if _, err := r.Run(ctx, nil, Stdio{}); err == nil {
		t.Error("no error for an empty command")
	}
}

func TestReaperRunCancel(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	r := startReaper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Run(ctx, []string{sh, "-c", "sleep 10"}, Stdio{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the process was not killed")
	}
}

// TestReaperOrphan waits for a grandchild that is reparented to the
// reaper (as a container process is after `runc create` exits).
func TestReaperOrphan(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	r := startReaper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, out, err := r.Output(ctx, []string{sh, "-c", "(sleep 0.2; exit 5) >/dev/null 2>&1 & echo $!"})
	if err != nil || status != 0 {
		t.Fatalf("status %d, err %v", status, err)
	}
	var pid int
	for _, c := range strings.TrimSpace(string(out)) {
		pid = pid*10 + int(c-'0')
	}
	r.Expect(pid)
	got, err := r.Wait(ctx, pid)
	if err != nil || got != 5 {
		t.Errorf("orphan %d: status %d, err %v; want 5", pid, got, err)
	}
}

// TestReaperDeliverBeforeWait covers a container that exits (and is
// reaped) before Wait is called, as a quick one does during `runc start`.
func TestReaperDeliverBeforeWait(t *testing.T) {
	r := NewReaper()
	const pid = 1 << 22 // above any real pid of the test
	r.Expect(pid)
	r.mu.Lock()
	r.deliver(pid, 7)
	r.deliver(pid, 9) // a later process with the same id: kept aside
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := r.Wait(ctx, pid); err != nil || got != 7 {
		t.Errorf("first Wait = %d, %v; want 7", got, err)
	}
	if got, err := r.Wait(ctx, pid); err != nil || got != 9 {
		t.Errorf("second Wait = %d, %v; want 9", got, err)
	}
	// an unannounced orphan's status waits in unclaimed
	r.mu.Lock()
	r.deliver(pid+1, 2)
	r.mu.Unlock()
	if got, err := r.Wait(ctx, pid+1); err != nil || got != 2 {
		t.Errorf("orphan Wait = %d, %v; want 2", got, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := r.Wait(short, pid+2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait of an unknown process: %v", err)
	}
}

func TestReaperUnclaimedBound(t *testing.T) {
	r := NewReaper()
	r.mu.Lock()
	for i := range maxUnclaimed + 10 {
		r.deliver(1<<22+i, 0)
	}
	n := len(r.unclaimed)
	_, oldest := r.unclaimed[1<<22]
	r.mu.Unlock()
	if n != maxUnclaimed || oldest {
		t.Errorf("%d unclaimed kept (oldest kept: %v), want %d without the oldest", n, oldest, maxUnclaimed)
	}
}
