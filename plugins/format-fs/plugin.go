package formatfs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/kitbuild/kit/plugins/internal/fmtutil"
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

// buildKernelImage is the Build of a kernel+X format: the kernel and the
// command line copied (fmtutil.KernelInputs), and write's image of the
// rootfs tar (read through a 1 MiB buffer) in the scratch file name+".img",
// returned as -kernel, -NAME.img and -cmdline.
func buildKernelImage(ctx context.Context, req *sdk.BuildRequest, name string, write func(f *os.File, rootfs io.Reader) error) (files []sdk.File, err error) {
	kin, err := fmtutil.KernelInputs(ctx, req)
	if err != nil {
		return nil, err
	}
	r, err := os.Open(kin.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	defer r.Close()
	f, err := fmtutil.Create(req, name+".img")
	if err != nil {
		return nil, err
	}
	defer fmtutil.CloseOnError(f, &err)
	if err = write(f, bufio.NewReaderSize(r, 1<<20)); err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	if err = f.Close(); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: "-kernel", Path: kin.Kernel}, {Suffix: "-" + name + ".img", Path: f.Name()}, {Suffix: "-cmdline", Path: kin.Cmdline}}, nil
}
