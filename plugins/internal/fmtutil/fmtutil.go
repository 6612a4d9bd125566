package fmtutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kitbuild/kit/sdk"
)

// Input returns the path of the request's required input name.
func Input(req *sdk.BuildRequest, name string) (string, error) {
	in, ok := req.Inputs[name]
	if !ok || in.Path == "" {
		return "", fmt.Errorf("input %s is missing", name)
	}
	return in.Path, nil
}

// maxCmdline bounds the command line read into memory.
const maxCmdline = 64 << 10

// Cmdline returns the kernel command line of the request's cmdline input
// as one line: its words joined by single spaces ("" without the input).
// A NUL byte or a file over 64 KiB is an error.
func Cmdline(req *sdk.BuildRequest) (string, error) {
	in, ok := req.Inputs[sdk.InputCmdline]
	if !ok || in.Path == "" {
		return "", nil
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return "", fmt.Errorf("input %s: %w", sdk.InputCmdline, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCmdline+1))
	if err != nil {
		return "", fmt.Errorf("input %s: %w", sdk.InputCmdline, err)
	}
	if len(b) > maxCmdline {
		return "", fmt.Errorf("input %s: longer than %d bytes", sdk.InputCmdline, maxCmdline)
	}
	if strings.ContainsRune(string(b), 0) {
		return "", fmt.Errorf("input %s: holds a NUL byte", sdk.InputCmdline)
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

// Create creates the new file name in the request's scratch directory.
func Create(req *sdk.BuildRequest, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(req.ScratchDir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return f, nil
}

// CloseOnError closes f and removes it when *err is set; use it as
// `defer fmtutil.CloseOnError(f, &err)` with a named error result.
func CloseOnError(f *os.File, err *error) {
	if *err != nil {
		f.Close()
		os.Remove(f.Name())
	}
}

// CopyInput copies the input file src to the new scratch file name and
// returns the copy's path.
func CopyInput(ctx context.Context, req *sdk.BuildRequest, src, name string) (out string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	f, err := Create(req, name)
	if err != nil {
		return "", err
	}
	defer CloseOnError(f, &err)
	if _, err = io.Copy(f, ctxReader{ctx, in}); err != nil {
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	return f.Name(), f.Close()
}

// WriteCmdline copies the command line input as it is to the scratch file
// "cmdline" (empty when the host passed none) and returns its path.
func WriteCmdline(ctx context.Context, req *sdk.BuildRequest) (string, error) {
	if in, ok := req.Inputs[sdk.InputCmdline]; ok && in.Path != "" {
		p, err := CopyInput(ctx, req, in.Path, "cmdline")
		if err != nil {
			return "", fmt.Errorf("cmdline: %w", err)
		}
		return p, nil
	}
	f, err := Create(req, "cmdline")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// KernelFiles are the inputs of a kernel+X format (kernel, root
// filesystem, command line) after KernelInputs.
type KernelFiles struct {
	// Kernel is the scratch copy of the kernel input.
	Kernel string
	// Cmdline is the scratch copy of the cmdline input (empty without it).
	Cmdline string
	// Rootfs is the path of the rootfs input (the host's file, not a copy).
	Rootfs string
}

// KernelInputs gets what every kernel+X format starts from: it copies the
// kernel to the scratch file "kernel", writes the command line with
// WriteCmdline and returns them with the rootfs input's path.
func KernelInputs(ctx context.Context, req *sdk.BuildRequest) (KernelFiles, error) {
	kernel, err := Input(req, sdk.InputKernel)
	if err != nil {
		return KernelFiles{}, fmt.Errorf("%w (does the spec have a kernel?)", err)
	}
	rootfs, err := Input(req, sdk.InputRootfs)
	if err != nil {
		return KernelFiles{}, fmt.Errorf("%w (does the spec have a kernel?)", err)
	}
	k, err := CopyInput(ctx, req, kernel, "kernel")
	if err != nil {
		return KernelFiles{}, fmt.Errorf("kernel: %w", err)
	}
	cl, err := WriteCmdline(ctx, req)
	if err != nil {
		return KernelFiles{}, err
	}
	return KernelFiles{Kernel: k, Cmdline: cl, Rootfs: rootfs}, nil
}

// InBoot reports whether a tar entry is boot/ or below it: the kernel, its
// command line and microcode, which the root filesystem of the kernel+X
// formats leaves out (LinuxKit does the same).
func InBoot(name string) bool {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	return p == "boot" || strings.HasPrefix(p, "boot/")
}

// Logger returns the request's logger, or one that discards.
func Logger(req *sdk.BuildRequest) *slog.Logger {
	if req.Log != nil {
		return req.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
