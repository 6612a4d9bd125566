package formatiso

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

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
	sr := io.NewSectionReader(r, 0, size)
	tr := tar.NewReader(sr)
	for i := 0; ; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar entry %d: %w", i, err)
		}
		if fmtutil.InBoot(h.Name) {
			continue
		}
		e := iso9660.Entry{Path: h.Name, Mode: uint32(h.Mode) & 0o7777, UID: uint32(h.Uid), GID: uint32(h.Gid), ModTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeReg, '\x00': // '\x00' is the pre-POSIX regular file
			if sparse(h) {
				return fmt.Errorf("tar entry %s: a sparse file (kit's root filesystem tars hold none)", h.Name)
			}
			// The reader stands at the entry's data.
			off, err := sr.Seek(0, io.SeekCurrent)
			if err != nil {
				return fmt.Errorf("tar entry %s: %w", h.Name, err)
			}
			if h.Size < 0 || off+h.Size > size {
				return fmt.Errorf("tar entry %s: size %d past the end of the archive", h.Name, h.Size)
			}
			e.Type, e.Data = iso9660.TypeFile, iso9660.ReaderAtSource(io.NewSectionReader(r, off, h.Size), h.Size)
		case tar.TypeDir:
			e.Type = iso9660.TypeDir
		case tar.TypeSymlink:
			e.Type, e.Target = iso9660.TypeSymlink, h.Linkname
		case tar.TypeLink:
			if fmtutil.InBoot(h.Linkname) {
				return fmt.Errorf("tar entry %s: a hard link to %s, which is in boot/ (left out of the root filesystem)", h.Name, h.Linkname)
			}
			e.Type, e.Target = iso9660.TypeHardlink, h.Linkname
		case tar.TypeChar:
			e.Type, e.Major, e.Minor = iso9660.TypeCharDev, uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeBlock:
			e.Type, e.Major, e.Minor = iso9660.TypeBlockDev, uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeFifo:
			e.Type = iso9660.TypeFifo
		default:
			return fmt.Errorf("tar entry %s: unsupported type %q", h.Name, h.Typeflag)
		}
		if err := im.Add(e); err != nil {
			return fmt.Errorf("tar entry %s: %w", h.Name, err)
		}
	}
}

// sparse reports whether a header is a PAX sparse file, whose archived data
// is not its content.
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
