package formatdisk

import (
	"context"
	"io"

	"github.com/kitbuild/kit/plugins/internal/vdisk/qcow2"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vhd"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vmdk"
	"github.com/kitbuild/kit/sdk"
)

// Name is the plugin's name: its binary is kit-plugin-format-disk.
const Name = "format-disk"

// Version is the plugin's version.
const Version = "0.1.0"

// Names of the formats the plugin serves.
const (
	RawBIOSName    = "raw-bios"
	RawEFIName     = "raw-efi"
	QCOW2BIOSName  = "qcow2-bios"
	QCOW2EFIName   = "qcow2-efi"
	VHDName        = "vhd"
	DynamicVHDName = "dynamic-vhd"
	VMDKName       = "vmdk"
)

// Output suffixes (the artifact is NAME+suffix). raw-bios, raw-efi,
// qcow2-bios, qcow2-efi, vhd and vmdk are named as LinuxKit names them;
// LinuxKit writes dynamic-vhd to NAME.vhd as well, which would overwrite
// vhd's output when both are built, so kit names it NAME-dynamic.vhd.
const (
	RawBIOSSuffix    = "-bios.img"
	RawEFISuffix     = "-efi.img"
	QCOW2BIOSSuffix  = ".qcow2"
	QCOW2EFISuffix   = "-efi.qcow2"
	VHDSuffix        = ".vhd"
	DynamicVHDSuffix = "-dynamic.vhd"
	VMDKSuffix       = ".vmdk"
)

// Media types of the outputs (as shared-mime-info names them).
const (
	MediaTypeRaw   = "application/x-raw-disk-image"
	MediaTypeQCOW2 = "application/x-qemu-disk"
	MediaTypeVHD   = "application/x-vhd-disk"
	MediaTypeVMDK  = "application/x-vmdk-disk"
)

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the formats the plugin serves: raw-bios, raw-efi,
// qcow2-bios, qcow2-efi, vhd, dynamic-vhd and vmdk (vhd, dynamic-vhd and
// vmdk wrap raw-bios; see the package doc for why).
func Formats() []sdk.Format {
	return []sdk.Format{
		RawBIOS(),
		RawEFI(),
		Derived{
			Name: QCOW2BIOSName, Version: "1", Source: RawBIOSName,
			Output: sdk.Output{Suffix: QCOW2BIOSSuffix, MediaType: MediaTypeQCOW2},
			Write:  writeQCOW2,
		},
		Derived{
			Name: QCOW2EFIName, Version: "1", Source: RawEFIName,
			Output: sdk.Output{Suffix: QCOW2EFISuffix, MediaType: MediaTypeQCOW2},
			Write:  writeQCOW2,
		},
		Derived{
			Name: VHDName, Version: "1", Source: RawBIOSName,
			Output: sdk.Output{Suffix: VHDSuffix, MediaType: MediaTypeVHD},
			Write: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, req *sdk.BuildRequest) error {
				return vhd.WriteFixed(ctx, w, src, size, vhd.WithSourceDateEpoch(req.SourceDateEpoch))
			},
		},
		Derived{
			Name: DynamicVHDName, Version: "1", Source: RawBIOSName,
			Output: sdk.Output{Suffix: DynamicVHDSuffix, MediaType: MediaTypeVHD},
			Write: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, req *sdk.BuildRequest) error {
				return vhd.WriteDynamic(ctx, w, src, size, vhd.WithSourceDateEpoch(req.SourceDateEpoch))
			},
		},
		Derived{
			Name: VMDKName, Version: "1", Source: RawBIOSName,
			Output: sdk.Output{Suffix: VMDKSuffix, MediaType: MediaTypeVMDK},
			Write: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, _ *sdk.BuildRequest) error {
				return vmdk.Write(ctx, w, src, size)
			},
		},
	}
}

func writeQCOW2(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, _ *sdk.BuildRequest) error {
	return qcow2.Write(ctx, w, src, size)
}

// RawSuffix returns the output suffix of the raw disk format name
// (raw-bios or raw-efi) and whether it is one.
func RawSuffix(name string) (string, bool) {
	switch name {
	case RawBIOSName:
		return RawBIOSSuffix, true
	case RawEFIName:
		return RawEFISuffix, true
	}
	return "", false
}

// InputName is the name under which a format that needs format gets its
// output with suffix: "raw-bios/-bios.img".
func InputName(format, suffix string) string {
	return format + "/" + suffix
}
