package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runKit runs kit's real root command and returns its output and the exit
// code Execute would return.
func runKit(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("kit: " + err.Error() + "\n")
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), errb.String(), code
}

// kernelPrefix writes a fake kernel+initrd artifact and returns its prefix.
func kernelPrefix(t *testing.T) string {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "os")
	for sfx, content := range map[string]string{"-kernel": "k", "-initrd.img": "i", "-cmdline": "console=ttyS0 quiet"} {
		if err := os.WriteFile(prefix+sfx, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
}

// fakeQEMU puts a qemu-system-x86_64 running script first on $PATH; the
// script writes its arguments, one a line, to the returned file first.
func fakeQEMU(t *testing.T, script string) (argsFile string) {
	t.Helper()
	bin := t.TempDir()
	argsFile = filepath.Join(bin, "args")
	body := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\n" + script + "\n"
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return argsFile
}

func TestRunQEMUMissingBinary(t *testing.T) {
	prefix := kernelPrefix(t)
	t.Setenv("PATH", t.TempDir()) // empty: no QEMU
	_, stderr, code := runKit(t, "run", "qemu", prefix)
	if code == 0 {
		t.Fatal("exit code 0 without QEMU")
	}
	for _, want := range []string{"qemu-system-x86_64", "apt-get install qemu-system-x86"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	_, stderr, _ = runKit(t, "run", "qemu", "--arch", "arm64", prefix)
	if !strings.Contains(stderr, "apt-get install qemu-system-arm") {
		t.Errorf("arm64: stderr lacks the package:\n%s", stderr)
	}
	// Through the entry point main uses.
	if code := Execute(context.Background(), []string{"run", "qemu", prefix}); code == 0 {
		t.Error("Execute returned 0 without QEMU")
	}
}

func TestRunQEMUExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "power off", script: "echo KIT-MARKER; exit 0", code: 0, stdout: "KIT-MARKER\n", stderr: "TCG software emulation"},
		{name: "qemu fails", script: "echo 'qemu: could not load kernel' >&2; exit 1", code: 1, stderr: "qemu exited with status 1"},
		{name: "timeout", script: "exec sleep 30", args: []string{"--timeout", "300ms"}, code: 124, stderr: "did not power off within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argsFile := fakeQEMU(t, tc.script)
			prefix := kernelPrefix(t)
			args := append([]string{"run", "qemu", "--accel", "tcg", "-p", "2222:22", "--cmdline-append", "debug"}, tc.args...)
			stdout, stderr, code := runKit(t, append(args, prefix)...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if stdout != tc.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tc.stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			got, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"-no-reboot\n", "user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22\n", "console=ttyS0 quiet debug\n", prefix + "-initrd.img\n"} {
				if !strings.Contains(string(got), want) {
					t.Errorf("qemu arguments lack %q:\n%s", want, got)
				}
			}
		})
	}
}

func TestRunQEMUDryRun(t *testing.T) {
	argsFile := fakeQEMU(t, "exit 0")
	prefix := kernelPrefix(t)
	stdout, _, code := runKit(t, "run", "qemu", "--dry-run", "--accel", "tcg", "--mem", "2G", "--cpus", "2", prefix)
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	want := filepath.Join(filepath.Dir(argsFile), "qemu-system-x86_64") +
		" -machine q35 -accel tcg -m 2G -smp 2 -nographic -serial stdio -monitor none -no-reboot -device virtio-rng-pci" +
		" -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= -kernel " + prefix + "-kernel -initrd " + prefix + "-initrd.img -append 'console=ttyS0 quiet'\n"
	if stdout != want {
		t.Errorf("dry run printed\n%s\nwant\n%s", stdout, want)
	}
	if _, err := os.Stat(argsFile); err == nil {
		t.Error("dry run started QEMU")
	}
}

func TestRunQEMUFlagErrors(t *testing.T) {
	prefix := kernelPrefix(t)
	fakeQEMU(t, "exit 0")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--publish", "80", prefix}, `publish "80"`},
		{[]string{"--publish", "80:80/icmp", prefix}, `protocol "icmp"`},
		{[]string{"--publish", "80:80", "-p", "80:81", prefix}, "already published"},
		{[]string{"--mem", "lots", prefix}, `memory "lots"`},
		{[]string{"--cpus", "0", "--cpus", "-2", prefix}, "cpus -2"},
		{[]string{"--arch", "mips", prefix}, `architecture "mips"`},
		{[]string{"--accel", "whpx", prefix}, `accel "whpx"`},
		{[]string{"--timeout", "-1s", prefix}, "--timeout"},
		{[]string{filepath.Join(filepath.Dir(prefix), "none")}, "no bootable artifact"},
		{[]string{}, "accepts 1 arg"},
	} {
		_, stderr, code := runKit(t, append([]string{"run", "qemu"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("kit run qemu %q: exit %d, stderr %q; want non-zero and %q", tc.args, code, stderr, tc.want)
		}
	}
	if err := os.Remove(prefix + "-initrd.img"); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runKit(t, "run", "qemu", prefix)
	if code == 0 || !strings.Contains(stderr, prefix+"-initrd.img") {
		t.Errorf("missing initrd: exit %d, stderr %q", code, stderr)
	}
}
