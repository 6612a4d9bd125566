package formatfs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/kitbuild/kit/plugins/internal/erofs"
	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/sdk"
)

// MediaTypeErofs is the media type of an EROFS image (none is registered).
const MediaTypeErofs = "application/vnd.erofs"

// KernelErofs is the kernel+erofs format, with LinuxKit's file names:
// NAME-kernel (the kernel), NAME-erofs.img (the root filesystem without
// boot/ as an uncompressed EROFS image with 4 KiB blocks: owners, modes,
// times, symlinks, device nodes, fifos and extended attributes kept; a hard
// link becomes a copy of its target) and NAME-cmdline (the kernel command
// line). A VM boots the kernel directly and mounts the image as its root
// (Linux 5.4 or later, CONFIG_EROFS_FS). It takes no config.
type KernelErofs struct{}

var _ sdk.Format = KernelErofs{}

// Info implements sdk.Format.
func (KernelErofs) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:    "kernel+erofs",
		Version: "1",
		Outputs: []sdk.Output{
			{Suffix: "-kernel", MediaType: MediaTypeBinary},
			{Suffix: "-erofs.img", MediaType: MediaTypeErofs},
			{Suffix: "-cmdline", MediaType: MediaTypeText},
		},
		Needs: []string{sdk.InputRootfs, sdk.InputKernel, sdk.InputCmdline},
	}
}

// Build implements sdk.Format.
func (KernelErofs) Build(ctx context.Context, req *sdk.BuildRequest) (files []sdk.File, err error) {
	kin, err := fmtutil.KernelInputs(ctx, req)
	if err != nil {
		return nil, err
	}
	r, err := os.Open(kin.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	defer r.Close()
	f, err := fmtutil.Create(req, "erofs.img")
	if err != nil {
		return nil, err
	}
	defer fmtutil.CloseOnError(f, &err)
	// go-erofs spools file data to an unlinked temporary file until it
	// writes the image: in the scratch directory, which the host cleans.
	if err = writeErofs(ctx, f, bufio.NewReaderSize(r, 1<<20), req.SourceDateEpoch, req.ScratchDir); err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	if fi, err := f.Stat(); err == nil {
		req.Log.Debug("erofs written", "bytes", fi.Size())
	}
	if err = f.Close(); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: "-kernel", Path: kin.Kernel}, {Suffix: "-erofs.img", Path: f.Name()}, {Suffix: "-cmdline", Path: kin.Cmdline}}, nil
}

// writeErofs writes an EROFS image of the entries of the tar stream r
// outside boot/ to w, spooling file data in tempDir.
func writeErofs(ctx context.Context, w io.WriteSeeker, r io.Reader, epoch int64, tempDir string) error {
	return erofs.FromTar(ctx, w, r, epoch, erofs.WithTempDir(tempDir), erofs.WithExclude(fmtutil.InBoot))
}
