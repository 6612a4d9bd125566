package formatiso

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/plugins/internal/iso9660"
	"github.com/kitbuild/kit/sdk"
)

// KernelISO is the kernel+iso format, as LinuxKit writes it: NAME-kernel
// (the kernel), NAME.iso (the root filesystem without boot/, as a plain ISO
// 9660 tree with Rock Ridge: owners, modes, symlinks, hard links and device
// nodes kept; not bootable by itself) and NAME-cmdline (the kernel command
// line). A VM boots the kernel directly and mounts the ISO as its root.
//
// Its NAME.iso is the same file name iso-bios writes: build the two into
// different directories.
type KernelISO struct{}

var _ sdk.Format = KernelISO{}

type kernelISOConfig struct {
	VolumeID string `json:"volumeId"`
}

// Info implements sdk.Format.
func (KernelISO) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:    "kernel+iso",
		Version: "1",
		Outputs: []sdk.Output{
			{Suffix: "-kernel", MediaType: MediaTypeBinary},
			{Suffix: ".iso", MediaType: MediaTypeISO},
			{Suffix: "-cmdline", MediaType: MediaTypeText},
		},
		Needs:        []string{sdk.InputRootfs, sdk.InputKernel, sdk.InputCmdline},
		ConfigSchema: json.RawMessage(volumeSchema),
	}
}

// Build implements sdk.Format.
func (KernelISO) Build(ctx context.Context, req *sdk.BuildRequest) (files []sdk.File, err error) {
	cfg := kernelISOConfig{VolumeID: defaultVolumeID}
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return nil, err
	}
	if err := checkVolumeID(cfg.VolumeID); err != nil {
		return nil, err
	}
	kin, err := fmtutil.KernelInputs(ctx, req)
	if err != nil {
		return nil, err
	}

	r, err := os.Open(kin.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	im := iso9660.New(req.SourceDateEpoch, iso9660.WithVolumeID(cfg.VolumeID))
	if err := addRootfs(ctx, im, r, fi.Size()); err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
	}
	f, err := fmtutil.Create(req, "rootfs.iso")
	if err != nil {
		return nil, err
	}
	defer fmtutil.CloseOnError(f, &err)
	if _, err = im.Write(ctx, f); err != nil {
		return nil, err
	}
	if err = f.Close(); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: "-kernel", Path: kin.Kernel}, {Suffix: ".iso", Path: f.Name()}, {Suffix: "-cmdline", Path: kin.Cmdline}}, nil
}

// addRootfs adds the entries of the uncompressed tar in r (size bytes)
// outside boot/ to im. File contents are read from r when the image is
// written.
func addRootfs(ctx context.Context, im *iso9660.Image, r io.ReaderAt, size int64) error {
	return im.AddTar(ctx, r, size, iso9660.TarExclude(fmtutil.InBoot))
}
