package formatdisk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/kitbuild/kit/plugins/internal/bootdisk"
	"github.com/kitbuild/kit/plugins/internal/bootimages"
	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/sdk"
)

// DiskSizeKey is the config property that sets a disk's size in bytes; kit
// build --disk-size sets it in every format whose schema declares it.
const DiskSizeKey = "diskSize"

// DiskSizeSchema is the JSON Schema of a config whose only property is
// diskSize: an integer number of bytes, a positive multiple of 512.
// derived says how the size is chosen when the config has none.
func DiskSizeSchema(derived string) json.RawMessage {
	desc, _ := json.Marshal("Size of the disk image in bytes, a positive multiple of 512 (kit build --disk-size sets it). " +
		"Default: derived from the content: " + derived + ". A size too small for the content is an error that says the smallest that fits.")
	return json.RawMessage(`{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "` + DiskSizeKey + `": {
      "type": "integer",
      "minimum": 512,
      "multipleOf": 512,
      "description": ` + string(desc) + `
    }
  }
}`)
}

// DiskSizeConfig is the decoded config of a format whose schema is
// DiskSizeSchema.
type DiskSizeConfig struct {
	// DiskSize is the disk's size in bytes; 0 derives it.
	DiskSize int64 `json:"diskSize"`
}

// DecodeDiskSize decodes a DiskSizeSchema config and checks it as the
// schema does (for callers that bypass kit's validation).
func DecodeDiskSize(config json.RawMessage) (DiskSizeConfig, error) {
	var c DiskSizeConfig
	if err := sdk.DecodeConfig(config, &c); err != nil {
		return c, err
	}
	if c.DiskSize < 0 || c.DiskSize%512 != 0 {
		return c, fmt.Errorf("config: %s %d is not a positive multiple of 512 bytes", DiskSizeKey, c.DiskSize)
	}
	return c, nil
}

// rawDerived describes the derived raw disk size for the schema.
const rawDerived = "1 MiB before the boot partition, the partition (the smallest FAT file system holding the boot files, rounded up to a whole MiB, plus 1 MiB free) and, on a GPT disk, 1 MiB after it for the backup table"

// Raw is a bootable raw disk format: the kernel, the initrd and the command
// line on a FAT boot partition with a boot loader from an image.
type Raw struct {
	name     string
	suffix   string
	image    sdk.Image
	firmware string
	write    func(context.Context, io.WriterAt, bootdisk.Input) (*bootdisk.Result, error)
}

var _ sdk.Format = Raw{}

// RawBIOS is raw-bios: an MBR disk whose one bootable FAT partition holds
// SYSLINUX (from the syslinux image), the kernel, the initrd and
// syslinux.cfg (serial console ttyS0 at 115200). Output NAME-bios.img.
func RawBIOS() Raw {
	return Raw{
		name: RawBIOSName, suffix: RawBIOSSuffix, firmware: "BIOS (SYSLINUX)",
		image: sdk.Image{Name: bootimages.Syslinux, Default: bootimages.MustRef(bootimages.Syslinux)},
		write: bootdisk.RawBIOS,
	}
}

// RawEFI is raw-efi: a GPT disk whose EFI System Partition (FAT32) holds
// systemd-boot (from the systemd-boot image) as EFI/BOOT/BOOTX64.EFI, its
// loader entry, the kernel and the initrd. Output NAME-efi.img.
func RawEFI() Raw {
	return Raw{
		name: RawEFIName, suffix: RawEFISuffix, firmware: "UEFI (systemd-boot)",
		image: sdk.Image{Name: bootimages.SystemdBoot, Default: bootimages.MustRef(bootimages.SystemdBoot)},
		write: bootdisk.RawEFI,
	}
}

// Info describes the format.
func (r Raw) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:         r.name,
		Version:      "1",
		Outputs:      []sdk.Output{{Suffix: r.suffix, MediaType: MediaTypeRaw}},
		Needs:        []string{sdk.InputKernel, sdk.InputInitrd, sdk.InputCmdline},
		Images:       []sdk.Image{r.image},
		ConfigSchema: DiskSizeSchema(rawDerived),
	}
}

// Build writes the disk into the scratch directory.
func (r Raw) Build(ctx context.Context, req *sdk.BuildRequest) (_ []sdk.File, err error) {
	if req.Arch != "" && req.Arch != "amd64" {
		return nil, fmt.Errorf("%s: arch %s is not supported: the disk boots by %s, x86-64 only; build with --arch amd64", r.name, req.Arch, r.firmware)
	}
	cfg, err := DecodeDiskSize(req.Config)
	if err != nil {
		return nil, err
	}
	in := bootdisk.Input{SourceDateEpoch: req.SourceDateEpoch, DiskSize: cfg.DiskSize}
	if in.Kernel, err = fmtutil.Input(req, sdk.InputKernel); err != nil {
		return nil, fmt.Errorf("%w (does the spec have a kernel?)", err)
	}
	if in.Initrd, err = fmtutil.Input(req, sdk.InputInitrd); err != nil {
		return nil, err
	}
	if in.Cmdline, err = fmtutil.Cmdline(req); err != nil {
		return nil, err
	}
	bl, ok := req.Images[r.image.Name]
	if !ok || bl.Path == "" {
		return nil, fmt.Errorf("image %s is missing", r.image.Name)
	}
	in.Bootloader = bl.Path
	f, err := fmtutil.Create(req, "disk"+r.suffix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("output: %w", cerr)
		}
	}()
	res, err := r.write(ctx, f, in)
	if err != nil {
		return nil, err
	}
	fmtutil.Logger(req).Info("raw disk written", "size", res.Size, "partitionOffset", res.PartitionOffset,
		"partitionSize", res.PartitionSize, "fat", res.FAT.String(), "bootloader", bl.Ref)
	return []sdk.File{{Suffix: r.suffix, Path: f.Name()}}, nil
}
