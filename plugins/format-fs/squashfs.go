package formatfs

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/plugins/internal/squashfs"
	"github.com/kitbuild/kit/sdk"
)

// KernelSquashfs is the kernel+squashfs format, as LinuxKit writes it:
// NAME-kernel (the kernel), NAME-squashfs.img (the root filesystem without
// boot/ as SquashFS 4.0: owners, modes, times, links, device nodes and
// extended attributes kept) and NAME-cmdline (the kernel command line). A VM
// boots the kernel directly and mounts the image as its root.
type KernelSquashfs struct{}

var _ sdk.Format = KernelSquashfs{}

type squashfsConfig struct {
	Compression string `json:"compression"`
	BlockSize   int    `json:"blockSize"`
}

const squashfsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "compression": {
      "enum": ["zstd", "gzip"],
      "default": "zstd",
      "description": "Block compressor: zstd (Linux 4.14 and later) or gzip (every kernel with SquashFS)."
    },
    "blockSize": {
      "enum": [4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576],
      "default": 131072,
      "description": "Data block size in bytes, a power of two from 4 KiB to 1 MiB: larger compresses better, smaller reads less for small files."
    }
  },
  "additionalProperties": false
}`

// Info implements sdk.Format.
func (KernelSquashfs) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:    "kernel+squashfs",
		Version: "1",
		Outputs: []sdk.Output{
			{Suffix: "-kernel", MediaType: MediaTypeBinary},
			{Suffix: "-squashfs.img", MediaType: MediaTypeSquashfs},
			{Suffix: "-cmdline", MediaType: MediaTypeText},
		},
		Needs:        []string{sdk.InputRootfs, sdk.InputKernel, sdk.InputCmdline},
		ConfigSchema: json.RawMessage(squashfsSchema),
	}
}

// compression maps the config's names to compressors.
var compression = map[string]squashfs.Compression{"zstd": squashfs.Zstd, "gzip": squashfs.Gzip}

// Build implements sdk.Format.
func (KernelSquashfs) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	cfg := squashfsConfig{Compression: "zstd", BlockSize: 128 << 10}
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return nil, err
	}
	comp, ok := compression[cfg.Compression]
	if !ok {
		return nil, fmt.Errorf("config: compression %q: want zstd or gzip", cfg.Compression)
	}
	if b := cfg.BlockSize; b < 4<<10 || b > 1<<20 || b&(b-1) != 0 {
		return nil, fmt.Errorf("config: blockSize %d: want a power of two from 4096 to 1048576", b)
	}
	return buildKernelImage(ctx, req, "squashfs", func(f *os.File, rootfs io.Reader) error {
		size, err := writeSquashfs(ctx, f, rootfs, req.SourceDateEpoch,
			squashfs.WithCompression(comp), squashfs.WithBlockSize(cfg.BlockSize))
		if err != nil {
			return err
		}
		req.Log.Debug("squashfs written", "bytes", size, "compression", cfg.Compression, "blockSize", cfg.BlockSize)
		return nil
	})
}

// xattrPAX prefixes the PAX records of extended attributes in kit's tars.
const xattrPAX = "SCHILY.xattr."

// writeSquashfs writes a SquashFS image of the entries of the tar stream r
// outside boot/ to w and returns its size.
func writeSquashfs(ctx context.Context, w io.WriterAt, r io.Reader, epoch int64, opts ...squashfs.Option) (int64, error) {
	sw, err := squashfs.NewWriter(w, epoch, opts...)
	if err != nil {
		return 0, err
	}
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("tar entry %d: %w", i, err)
		}
		if fmtutil.InBoot(h.Name) {
			continue
		}
		if h.Uid < 0 || h.Gid < 0 || int64(uint32(h.Uid)) != int64(h.Uid) || int64(uint32(h.Gid)) != int64(h.Gid) {
			return 0, fmt.Errorf("tar entry %s: uid/gid %d/%d out of range", h.Name, h.Uid, h.Gid)
		}
		e := squashfs.Entry{Path: h.Name, Mode: uint32(h.Mode) & 0o7777, UID: uint32(h.Uid), GID: uint32(h.Gid),
			ModTime: h.ModTime, Target: h.Linkname, Major: uint32(h.Devmajor), Minor: uint32(h.Devminor)}
		for k, v := range h.PAXRecords {
			if name, ok := strings.CutPrefix(k, xattrPAX); ok {
				if e.Xattrs == nil {
					e.Xattrs = map[string]string{}
				}
				e.Xattrs[name] = v
			}
		}
		var data io.Reader
		switch h.Typeflag {
		case tar.TypeReg, '\x00': // '\x00' is the pre-POSIX regular file
			e.Type, e.Size, data = squashfs.TypeFile, h.Size, tr
		case tar.TypeDir:
			e.Type = squashfs.TypeDir
		case tar.TypeSymlink:
			e.Type = squashfs.TypeSymlink
		case tar.TypeLink:
			if fmtutil.InBoot(h.Linkname) {
				return 0, fmt.Errorf("tar entry %s: a hard link to %s, which is in boot/ (left out of the root filesystem)", h.Name, h.Linkname)
			}
			e.Type = squashfs.TypeHardlink
		case tar.TypeChar:
			e.Type = squashfs.TypeCharDev
		case tar.TypeBlock:
			e.Type = squashfs.TypeBlockDev
		case tar.TypeFifo:
			e.Type = squashfs.TypeFifo
		default:
			return 0, fmt.Errorf("tar entry %s: unsupported type %q", h.Name, h.Typeflag)
		}
		if err := sw.Add(ctx, e, data); err != nil {
			return 0, fmt.Errorf("tar entry %s: %w", h.Name, err)
		}
	}
	return sw.Close(ctx)
}
