package run

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string // created in the temp dir
		arg   string            // relative to the temp dir
		want  Artifact          // paths relative to the temp dir
		err   []string          // substrings of the error
	}{
		{
			name:  "prefix",
			files: map[string]string{"os-kernel": "k", "os-initrd.img": "i", "os-cmdline": " console=ttyS0\n  quiet \n"},
			arg:   "os",
			want:  Artifact{Kind: KernelInitrd, Path: "os-kernel", Kernel: "os-kernel", Initrd: "os-initrd.img", Cmdline: "console=ttyS0 quiet"},
		},
		{
			name:  "prefix without cmdline",
			files: map[string]string{"os-kernel": "k", "os-initrd.img": "i"},
			arg:   "os",
			want:  Artifact{Kind: KernelInitrd, Path: "os-kernel", Kernel: "os-kernel", Initrd: "os-initrd.img"},
		},
		{
			name:  "initrd path stands for its prefix",
			files: map[string]string{"os-kernel": "k", "os-initrd.img": "i"},
			arg:   "os-initrd.img",
			want:  Artifact{Kind: KernelInitrd, Path: "os-kernel", Kernel: "os-kernel", Initrd: "os-initrd.img"},
		},
		{
			name:  "kernel path stands for its prefix",
			files: map[string]string{"os-kernel": "k", "os-initrd.img": "i", "os-cmdline": "a=b"},
			arg:   "os-kernel",
			want:  Artifact{Kind: KernelInitrd, Path: "os-kernel", Kernel: "os-kernel", Initrd: "os-initrd.img", Cmdline: "a=b"},
		},
		{
			name:  "missing initrd is named",
			files: map[string]string{"os-kernel": "k"},
			arg:   "os",
			err:   []string{"os-initrd.img", "no such file"},
		},
		{
			name:  "missing kernel is named",
			files: map[string]string{"os-initrd.img": "i"},
			arg:   "os",
			err:   []string{"os-kernel", "no such file"},
		},
		{
			name:  "missing kernel, initrd path given",
			files: map[string]string{"os-initrd.img": "i"},
			arg:   "os-initrd.img",
			err:   []string{"os-kernel"},
		},
		{
			name:  "iso by prefix",
			files: map[string]string{"os.iso": "x"},
			arg:   "os",
			want:  Artifact{Kind: ISO, Path: "os.iso"},
		},
		{
			name:  "qcow2 by prefix",
			files: map[string]string{"os.qcow2": "x"},
			arg:   "os",
			want:  Artifact{Kind: QCOW2Disk, Path: "os.qcow2"},
		},
		{
			name:  "kernel+initrd wins over an image of the same prefix",
			files: map[string]string{"os.raw": "x", "os-kernel": "k", "os-initrd.img": "i"},
			arg:   "os",
			want:  Artifact{Kind: KernelInitrd, Path: "os-kernel", Kernel: "os-kernel", Initrd: "os-initrd.img"},
		},
		{
			name:  "raw image path",
			files: map[string]string{"disk.img": "x"},
			arg:   "disk.img",
			want:  Artifact{Kind: RawDisk, Path: "disk.img"},
		},
		{
			name:  "iso path, upper-case extension",
			files: map[string]string{"CD.ISO": "x"},
			arg:   "CD.ISO",
			want:  Artifact{Kind: ISO, Path: "CD.ISO"},
		},
		{
			name: "nothing there",
			arg:  "os",
			err:  []string{"no bootable artifact", "os-kernel", "os.iso", "os.qcow2"},
		},
		{
			name:  "directory",
			files: map[string]string{"out/x": "x"},
			arg:   "out",
			err:   []string{"is a directory"},
		},
		{
			name: "empty",
			arg:  "",
			err:  []string{"empty"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			arg := tc.arg
			if arg != "" {
				arg = filepath.Join(dir, arg)
			}
			got, err := Resolve(arg)
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatalf("Resolve(%q) = %+v, want an error", tc.arg, got)
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			for _, p := range []*string{&want.Path, &want.Kernel, &want.Initrd} {
				if *p != "" {
					*p = filepath.Join(dir, *p)
				}
			}
			if got != want {
				t.Errorf("Resolve(%q) =\n %+v\nwant\n %+v", tc.arg, got, want)
			}
		})
	}
}

func TestResolveNotFoundIs(t *testing.T) {
	_, err := Resolve(filepath.Join(t.TempDir(), "none"))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not wrap ErrNotFound", err)
	}
}
