package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sh returns a Command running a shell script in place of QEMU.
func sh(script string) *Command {
	return &Command{Path: "/bin/sh", Args: []string{"-c", script}}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     *Command
		timeout time.Duration
		code    int
		err     func(error) bool
		out     string
	}{
		{name: "clean exit", cmd: sh("echo console; exit 0"), code: 0, out: "console\n"},
		{name: "exit code passed on", cmd: sh("exit 3"), code: 3},
		{
			name:    "timeout",
			cmd:     sh("exec sleep 30"),
			timeout: 200 * time.Millisecond,
			code:    -1,
			err: func(err error) bool {
				var te *TimeoutError
				return errors.As(err, &te) && te.After == 200*time.Millisecond
			},
		},
		{
			name: "missing binary",
			cmd:  &Command{Path: "qemu-system-x86_64", Missing: &MissingError{What: "qemu-system-x86_64", Package: "qemu-system-x86"}},
			code: -1,
			err:  func(err error) bool { var me *MissingError; return errors.As(err, &me) },
		},
		{
			name: "binary vanished",
			cmd:  &Command{Path: "/nonexistent/qemu"},
			code: -1,
			err:  func(err error) bool { return err != nil && strings.Contains(err.Error(), "/nonexistent/qemu") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			code, err := tc.cmd.Run(context.Background(), RunOptions{Stdout: &out, Stderr: &out, Timeout: tc.timeout, Grace: time.Second})
			if time.Since(start) > 10*time.Second {
				t.Errorf("Run took %v", time.Since(start))
			}
			if code != tc.code {
				t.Errorf("code = %d, want %d", code, tc.code)
			}
			if (tc.err == nil) != (err == nil) || (tc.err != nil && !tc.err(err)) {
				t.Errorf("error = %v", err)
			}
			if out.String() != tc.out {
				t.Errorf("output = %q, want %q", out.String(), tc.out)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// The script ignores SIGTERM: Run must still return after the grace.
	c := sh("trap '' TERM; sleep 30 & wait")
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	code, err := c.Run(ctx, RunOptions{Grace: 300 * time.Millisecond})
	if !errors.Is(err, context.Canceled) || code != -1 {
		t.Errorf("Run = %d, %v; want -1, context.Canceled", code, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned after %v", d)
	}
}

func TestRunCopies(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "VARS.fd")
	if err := os.WriteFile(src, []byte("vars"), 0o444); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "state", "VARS.fd")
	if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	c := sh(`test -w "$0" && cat "$0"`)
	c.Args = append(c.Args, dst)
	c.Copies = []Copy{{From: src, To: dst}}
	var out bytes.Buffer
	code, err := c.Run(context.Background(), RunOptions{Stdout: &out})
	if err != nil || code != 0 || out.String() != "vars" {
		t.Errorf("Run = %d, %v, output %q; want the copy writable with the template's content", code, err, out.String())
	}
	c.Copies = []Copy{{From: filepath.Join(dir, "none.fd"), To: dst}}
	if _, err := c.Run(context.Background(), RunOptions{}); err == nil || !strings.Contains(err.Error(), "none.fd") {
		t.Errorf("missing template: error = %v", err)
	}
}
