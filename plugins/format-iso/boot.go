package formatiso

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/kitbuild/kit/plugins/internal/bootimages"
	"github.com/kitbuild/kit/plugins/internal/fat"
	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/plugins/internal/isoboot"
	"github.com/kitbuild/kit/sdk"
)

// Image names the boot formats know their bootloader images by; a spec
// replaces one with {"images": {"NAME": "REF"}} in the format's config.
const (
	ImageSyslinux    = "syslinux"
	ImageSystemdBoot = "systemd-boot"
)

// bootNeeds are the inputs of the boot formats: the kernel, its command
// line and the initramfs kit makes from the root filesystem (with the
// microcode in front when the kernel has some).
var bootNeeds = []string{sdk.InputKernel, sdk.InputCmdline, sdk.InputInitrd}

// BIOS is the iso-bios format: an ISO (NAME.iso) that boots the kernel and
// initrd through ISOLINUX from a CD (El Torito, no emulation) and, through
// its isohybrid MBR, from a disk or USB stick. The ISOLINUX files come from
// the syslinux image.
type BIOS struct{}

var _ sdk.Format = BIOS{}

type biosConfig struct {
	VolumeID string `json:"volumeId"`
	Hybrid   bool   `json:"hybrid"`
}

const biosSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    ` + volumeIDSchema + `,
    "hybrid": {
      "type": "boolean",
      "default": true,
      "description": "Write an isohybrid MBR, so that the image also boots when written to a disk or USB stick."
    }
  },
  "additionalProperties": false
}`

// Info implements sdk.Format.
func (BIOS) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:         "iso-bios",
		Version:      "1",
		Outputs:      []sdk.Output{{Suffix: ".iso", MediaType: MediaTypeISO}},
		Needs:        bootNeeds,
		Images:       []sdk.Image{{Name: ImageSyslinux, Default: bootimages.MustRef(bootimages.Syslinux)}},
		ConfigSchema: json.RawMessage(biosSchema),
	}
}

// Build implements sdk.Format.
func (BIOS) Build(ctx context.Context, req *sdk.BuildRequest) (files []sdk.File, err error) {
	cfg := biosConfig{VolumeID: defaultVolumeID, Hybrid: true}
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return nil, err
	}
	if err := checkVolumeID(cfg.VolumeID); err != nil {
		return nil, err
	}
	if err := checkArch("iso-bios", req.Arch, "ISOLINUX"); err != nil {
		return nil, err
	}
	in, err := bootInput(req, ImageSyslinux)
	if err != nil {
		return nil, err
	}
	opts := []isoboot.Option{isoboot.WithVolumeID(cfg.VolumeID)}
	if !cfg.Hybrid {
		opts = append(opts, isoboot.WithoutHybridMBR())
	}
	f, err := fmtutil.Create(req, "image.iso")
	if err != nil {
		return nil, err
	}
	defer fmtutil.CloseOnError(f, &err)
	if err = isoboot.BIOS(ctx, f, in, opts...); err != nil {
		return nil, err
	}
	if err = f.Close(); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: ".iso", Path: f.Name()}}, nil
}

// EFI is the iso-efi format (NAME-efi.iso) or, with Initrd, the
// iso-efi-initrd format (NAME-efi-initrd.iso): an ISO whose El Torito
// entry for UEFI is a FAT image (an EFI System Partition) holding
// systemd-boot as EFI/BOOT/BOOTX64.EFI, its loader.conf and one entry that
// boots the kernel with the initrd and the command line, and the kernel and
// initrd themselves. systemd-boot comes from the systemd-boot image.
//
// In LinuxKit the two differ in where the initrd is made: iso-efi's tool
// converted the root filesystem tar itself, iso-efi-initrd's was handed the
// initrd LinuxKit had made. kit makes the initramfs once (the kernel+initrd
// step) for every format that needs one, so both formats write the same
// layout from the same inputs; iso-efi-initrd exists so that specs and
// scripts written for LinuxKit keep their format names and file names.
type EFI struct {
	// Initrd selects iso-efi-initrd.
	Initrd bool
}

var _ sdk.Format = EFI{}

type efiConfig struct {
	VolumeID string `json:"volumeId"`
}

// volumeSchema is the config schema of the formats whose only setting is
// the volume identifier.
const volumeSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    ` + volumeIDSchema + `
  },
  "additionalProperties": false
}`

func (e EFI) name() string {
	if e.Initrd {
		return "iso-efi-initrd"
	}
	return "iso-efi"
}

func (e EFI) suffix() string {
	if e.Initrd {
		return "-efi-initrd.iso"
	}
	return "-efi.iso"
}

// Info implements sdk.Format.
func (e EFI) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:         e.name(),
		Version:      "1",
		Outputs:      []sdk.Output{{Suffix: e.suffix(), MediaType: MediaTypeISO}},
		Needs:        bootNeeds,
		Images:       []sdk.Image{{Name: ImageSystemdBoot, Default: bootimages.MustRef(bootimages.SystemdBoot)}},
		ConfigSchema: json.RawMessage(volumeSchema),
	}
}

// espLabel is the volume label of the EFI System Partition image.
const espLabel = "KITESP"

// Build implements sdk.Format.
func (e EFI) Build(ctx context.Context, req *sdk.BuildRequest) (files []sdk.File, err error) {
	cfg := efiConfig{VolumeID: defaultVolumeID}
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return nil, err
	}
	if err := checkVolumeID(cfg.VolumeID); err != nil {
		return nil, err
	}
	if err := checkArch(e.name(), req.Arch, "systemd-bootx64.efi"); err != nil {
		return nil, err
	}
	in, err := bootInput(req, ImageSystemdBoot)
	if err != nil {
		return nil, err
	}
	esp, err := fmtutil.Create(req, "esp.img")
	if err != nil {
		return nil, err
	}
	defer func() {
		esp.Close()
		os.Remove(esp.Name())
	}()
	size, err := writeESP(ctx, esp, in, req.SourceDateEpoch)
	if err != nil {
		return nil, err
	}
	req.Log.Debug("EFI system partition", "bytes", size)
	f, err := fmtutil.Create(req, "image.iso")
	if err != nil {
		return nil, err
	}
	defer fmtutil.CloseOnError(f, &err)
	if err = isoboot.EFI(ctx, f, in, isoboot.ESP{R: esp, Size: size}, isoboot.WithVolumeID(cfg.VolumeID)); err != nil {
		return nil, err
	}
	if err = f.Close(); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: e.suffix(), Path: f.Name()}}, nil
}

// bootInput gathers the kernel, initrd, command line and the bootloader
// image of a boot format.
func bootInput(req *sdk.BuildRequest, image string) (isoboot.Input, error) {
	kernel, err := fmtutil.Input(req, sdk.InputKernel)
	if err != nil {
		return isoboot.Input{}, fmt.Errorf("%w (does the spec have a kernel?)", err)
	}
	initrd, err := fmtutil.Input(req, sdk.InputInitrd)
	if err != nil {
		return isoboot.Input{}, fmt.Errorf("%w (does the spec have a kernel?)", err)
	}
	cl, err := fmtutil.Cmdline(req)
	if err != nil {
		return isoboot.Input{}, err
	}
	bl, ok := req.Images[image]
	if !ok || bl.Path == "" {
		return isoboot.Input{}, fmt.Errorf("image %s is missing", image)
	}
	return isoboot.Input{
		Kernel: kernel, Initrd: initrd, Cmdline: cl,
		Bootloaders:     []string{bl.Path},
		SourceDateEpoch: req.SourceDateEpoch,
	}, nil
}

// writeESP writes the FAT image of the EFI System Partition (the files
// isoboot.ESPFiles lists, on the smallest volume that holds them) to w and
// returns its size.
func writeESP(ctx context.Context, w *os.File, in isoboot.Input, epoch int64) (int64, error) {
	files, closeFiles, err := isoboot.ESPFiles(ctx, in)
	if err != nil {
		return 0, err
	}
	defer closeFiles()
	fs := make([]fat.File, len(files))
	for i, f := range files {
		open := f.Open
		fs[i] = fat.File{Path: f.Path, Size: f.Size, Open: func() (io.ReadCloser, error) { return open(ctx) }}
	}
	opts := []fat.Option{fat.WithSourceDateEpoch(epoch), fat.WithLabel(espLabel)}
	size, err := fat.MinSize(fs, opts...)
	if err != nil {
		return 0, fmt.Errorf("esp: %w", err)
	}
	vol, err := fat.Plan(size, fs, opts...)
	if err != nil {
		return 0, fmt.Errorf("esp: %w", err)
	}
	// Free clusters are not written: the file must read as zeros there,
	// and have its full length.
	if err := w.Truncate(vol.Size()); err != nil {
		return 0, fmt.Errorf("esp: %w", err)
	}
	if _, err := vol.Write(ctx, w); err != nil {
		return 0, fmt.Errorf("esp: %w", err)
	}
	return vol.Size(), nil
}
