package formatcloud

import (
	"context"
	"fmt"
	"io"

	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/plugins/internal/vdisk/gce"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vhd"
	"github.com/kitbuild/kit/sdk"
)

// Name is the plugin's name: its binary is kit-plugin-format-cloud.
const Name = "format-cloud"

// Version is the plugin's version.
const Version = "0.1.0"

// Names of the formats the plugin serves.
const (
	GCPName   = "gcp"
	AWSName   = "aws"
	AzureName = "azure"
)

// Output suffixes (the artifact is NAME+suffix).
const (
	GCPSuffix   = ".img.tar.gz"
	AWSSuffix   = ".raw"
	AzureSuffix = "-azure.vhd"
)

// MediaTypeGzip is the media type of the gcp archive.
const MediaTypeGzip = "application/gzip"

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the formats the plugin serves: gcp, aws and azure, each
// derived from the raw-bios disk.
func Formats() []sdk.Format {
	return []sdk.Format{
		formatdisk.Derived{
			Name: GCPName, Version: "1", Source: formatdisk.RawBIOSName,
			Output: sdk.Output{Suffix: GCPSuffix, MediaType: MediaTypeGzip},
			Write: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, req *sdk.BuildRequest) error {
				return gce.Write(ctx, w, src, size, gce.WithSourceDateEpoch(req.SourceDateEpoch))
			},
		},
		formatdisk.Derived{
			Name: AWSName, Version: "1", Source: formatdisk.RawBIOSName,
			Output: sdk.Output{Suffix: AWSSuffix, MediaType: formatdisk.MediaTypeRaw},
			Write:  copyRaw,
		},
		formatdisk.Derived{
			Name: AzureName, Version: "1", Source: formatdisk.RawBIOSName,
			Output: sdk.Output{Suffix: AzureSuffix, MediaType: formatdisk.MediaTypeVHD},
			Write: func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, req *sdk.BuildRequest) error {
				return vhd.WriteAzure(ctx, w, src, size, vhd.WithSourceDateEpoch(req.SourceDateEpoch))
			},
		},
	}
}

// copyChunk is how much copyRaw copies between checks of the context.
const copyChunk = 4 << 20

// copyRaw copies the raw disk as it is.
func copyRaw(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, _ *sdk.BuildRequest) error {
	buf := make([]byte, copyChunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), size-off)
		if _, err := src.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("reading at %d: %w", off, err)
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}
