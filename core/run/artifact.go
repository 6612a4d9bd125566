package run

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Kind is the kind of a bootable artifact.
type Kind string

// The artifact kinds a runner may boot. A runner that cannot boot a kind
// says so with an error naming it.
const (
	KernelInitrd Kind = "kernel+initrd" // PREFIX-kernel, PREFIX-initrd.img, optional PREFIX-cmdline
	ISO          Kind = "iso"           // a bootable CD image (.iso)
	RawDisk      Kind = "raw"           // a raw disk image (.raw, .img)
	QCOW2Disk    Kind = "qcow2"         // a QEMU copy-on-write disk image (.qcow2)
)

// Artifact is a bootable artifact found on disk.
type Artifact struct {
	Kind Kind
	// Path is the image file of an ISO or disk; for kernel+initrd it is the
	// kernel (the same as Kernel).
	Path string
	// Kernel and Initrd are the files of a kernel+initrd artifact.
	Kernel, Initrd string
	// Cmdline is the content of PREFIX-cmdline with surrounding space
	// trimmed, "" when the file does not exist.
	Cmdline string
}

// Suffixes of the kernel+initrd format (docs/formats.md).
const (
	KernelSuffix  = "-kernel"
	InitrdSuffix  = "-initrd.img"
	CmdlineSuffix = "-cmdline"
)

// imageKinds maps file name extensions to image kinds. The ISO, disk and
// cloud formats add theirs here as they arrive.
var imageKinds = []struct {
	ext  string
	kind Kind
}{
	{".iso", ISO},
	{".raw", RawDisk},
	{".img", RawDisk},
	{".qcow2", QCOW2Disk},
}

// DiskKind returns the kind of an image file by its extension: ISO, a
// QCOW2Disk or RawDisk (the default for an unknown extension).
func DiskKind(path string) Kind {
	ext := strings.ToLower(filepath.Ext(path))
	for _, k := range imageKinds {
		if k.ext == ext {
			return k.kind
		}
	}
	return RawDisk
}

// ErrNotFound is wrapped by the error Resolve returns when nothing
// bootable exists for its argument.
var ErrNotFound = errors.New("no bootable artifact")

// Resolve finds the artifact named by arg, which is either a path to an
// artifact file or a build prefix (out/redis-os for out/redis-os-kernel,
// out/redis-os-initrd.img and out/redis-os-cmdline, or out/redis-os.iso,
// .raw, .img, .qcow2 — tried in that order).
//
// A path to one file of a kernel+initrd set (…-kernel, …-initrd.img,
// …-cmdline) stands for its prefix.
func Resolve(arg string) (Artifact, error) {
	if arg == "" {
		return Artifact{}, fmt.Errorf("empty artifact name: %w", ErrNotFound)
	}
	for _, sfx := range []string{KernelSuffix, InitrdSuffix, CmdlineSuffix} {
		if p, ok := strings.CutSuffix(arg, sfx); ok && p != "" && isFile(arg) {
			return resolveKernel(p)
		}
	}
	if st, err := os.Stat(arg); err == nil {
		if st.IsDir() {
			return Artifact{}, fmt.Errorf("%s is a directory; give a build prefix such as %s: %w", arg, filepath.Join(arg, "NAME"), ErrNotFound)
		}
		return Artifact{Kind: DiskKind(arg), Path: arg}, nil
	}
	if isFile(arg+KernelSuffix) || isFile(arg+InitrdSuffix) {
		return resolveKernel(arg)
	}
	for _, k := range imageKinds {
		if p := arg + k.ext; isFile(p) {
			return Artifact{Kind: k.kind, Path: p}, nil
		}
	}
	looked := []string{arg + KernelSuffix + " with " + filepath.Base(arg+InitrdSuffix)}
	for _, k := range imageKinds {
		looked = append(looked, filepath.Base(arg+k.ext))
	}
	return Artifact{}, fmt.Errorf("%s: %w: looked for %s", arg, ErrNotFound, strings.Join(looked, ", "))
}

// resolveKernel resolves a kernel+initrd prefix whose kernel or initrd
// exists; a missing one of the pair is an error naming it.
func resolveKernel(prefix string) (Artifact, error) {
	a := Artifact{Kind: KernelInitrd, Kernel: prefix + KernelSuffix, Initrd: prefix + InitrdSuffix}
	a.Path = a.Kernel
	for _, p := range []string{a.Kernel, a.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return Artifact{}, fmt.Errorf("kernel+initrd %s: %w", prefix, err)
		}
		if !isFile(p) {
			return Artifact{}, fmt.Errorf("kernel+initrd %s: %s is not a regular file", prefix, p)
		}
	}
	b, err := os.ReadFile(prefix + CmdlineSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Artifact{}, fmt.Errorf("kernel+initrd %s: %w", prefix, err)
	default:
		a.Cmdline = strings.Join(strings.Fields(string(b)), " ")
	}
	return a, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
