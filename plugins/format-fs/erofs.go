package formatfs

import (
	"context"
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
func (KernelErofs) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	return buildKernelImage(ctx, req, "erofs", func(f *os.File, rootfs io.Reader) error {
		// go-erofs spools file data to an unlinked temporary file until it
		// writes the image: in the scratch directory, which the host cleans.
		if err := writeErofs(ctx, f, rootfs, req.SourceDateEpoch, req.ScratchDir); err != nil {
			return err
		}
		if fi, err := f.Stat(); err == nil {
			req.Log.Debug("erofs written", "bytes", fi.Size())
		}
		return nil
	})
}

// writeErofs writes an EROFS image of the entries of the tar stream r
// outside boot/ to w, spooling file data in tempDir.
func writeErofs(ctx context.Context, w io.WriteSeeker, r io.Reader, epoch int64, tempDir string) error {
	return erofs.FromTar(ctx, w, r, epoch, erofs.WithTempDir(tempDir), erofs.WithExclude(fmtutil.InBoot))
}
