package formatfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kitbuild/kit/sdk"
)

// Name is the plugin's name: its binary is kit-plugin-format-fs.
const Name = "format-fs"

// Version is the plugin's version.
const Version = "0.1.0"

// Media types of the outputs.
const (
	MediaTypeSquashfs = "application/vnd.squashfs"
	MediaTypeBinary   = "application/octet-stream"
	MediaTypeText     = "text/plain"
)

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the formats the plugin serves.
func Formats() []sdk.Format { return []sdk.Format{KernelSquashfs{}, KernelErofs{}} }

// input returns the path of a required input.
func input(req *sdk.BuildRequest, name string) (string, error) {
	in, ok := req.Inputs[name]
	if !ok || in.Path == "" {
		return "", fmt.Errorf("input %s is missing (does the spec have a kernel?)", name)
	}
	return in.Path, nil
}

// create creates the output file name in the scratch directory.
func create(req *sdk.BuildRequest, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(req.ScratchDir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return f, nil
}

// closeOnError closes f and removes it when *err is set.
func closeOnError(f *os.File, err *error) {
	if *err != nil {
		f.Close()
		os.Remove(f.Name())
	}
}

// copyInput copies the input file src to the scratch file name.
func copyInput(ctx context.Context, req *sdk.BuildRequest, src, name string) (out string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	f, err := create(req, name)
	if err != nil {
		return "", err
	}
	defer closeOnError(f, &err)
	if _, err = io.Copy(f, ctxReader{ctx, in}); err != nil {
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	return f.Name(), f.Close()
}

// writeCmdline copies the command line input to the scratch file
// "cmdline" (empty when the host passed none).
func writeCmdline(ctx context.Context, req *sdk.BuildRequest) (string, error) {
	if in, ok := req.Inputs[sdk.InputCmdline]; ok && in.Path != "" {
		p, err := copyInput(ctx, req, in.Path, "cmdline")
		if err != nil {
			return "", fmt.Errorf("cmdline: %w", err)
		}
		return p, nil
	}
	f, err := create(req, "cmdline")
	if err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// inBoot reports whether a tar entry is boot/ or below it: the kernel, its
// command line and microcode, which the root filesystem of the kernel+X
// formats leaves out (LinuxKit does the same).
func inBoot(name string) bool {
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	return p == "boot" || strings.HasPrefix(p, "boot/")
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
