package fmtutil

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/sdk"
)

func TestInBoot(t *testing.T) {
	for name, want := range map[string]bool{
		"boot": true, "boot/": true, "./boot/kernel": true, "/boot/cmdline": true, "boot/x/../y": true,
		"bootstrap": false, "etc/boot": false, "": false, ".": false, "boot/../etc": false,
	} {
		if got := InBoot(name); got != want {
			t.Errorf("InBoot(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCmdline(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"words", "  console=ttyS0\n\tquiet  \n", "console=ttyS0 quiet", ""},
		{"empty", "", "", ""},
		{"nul", "a\x00b", "", "NUL byte"},
		{"long", strings.Repeat("x", maxCmdline+1), "", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cmdline")
			if err := os.WriteFile(p, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Cmdline(&sdk.BuildRequest{Inputs: map[string]sdk.Input{sdk.InputCmdline: {Path: p}}})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Cmdline = %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestKernelInputs(t *testing.T) {
	in := t.TempDir()
	kernel := filepath.Join(in, "kernel")
	if err := os.WriteFile(kernel, []byte("KERNEL"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := &sdk.BuildRequest{ScratchDir: t.TempDir(), Inputs: map[string]sdk.Input{
		sdk.InputKernel: {Path: kernel}, sdk.InputRootfs: {Path: filepath.Join(in, "rootfs.tar")},
	}}
	got, err := KernelInputs(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got.Kernel); string(b) != "KERNEL" {
		t.Errorf("kernel copy holds %q", b)
	}
	if fi, err := os.Stat(got.Cmdline); err != nil || fi.Size() != 0 {
		t.Errorf("cmdline: %v, %v; want an empty file", fi, err)
	}
	if got.Rootfs != req.Inputs[sdk.InputRootfs].Path {
		t.Errorf("rootfs = %q", got.Rootfs)
	}
	delete(req.Inputs, sdk.InputKernel)
	if _, err := KernelInputs(context.Background(), req); err == nil || !strings.Contains(err.Error(), "input kernel is missing") {
		t.Errorf("without a kernel: err = %v", err)
	}
}

// FuzzCmdline feeds arbitrary bytes as the command line input: Cmdline
// must return one line without a NUL or an error, never panic.
func FuzzCmdline(f *testing.F) {
	f.Add([]byte("console=ttyS0 quiet\n"))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "cmdline")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Cmdline(&sdk.BuildRequest{Inputs: map[string]sdk.Input{sdk.InputCmdline: {Path: p}}})
		if err == nil && strings.ContainsAny(got, "\x00\n") {
			t.Fatalf("Cmdline = %q", got)
		}
	})
}
