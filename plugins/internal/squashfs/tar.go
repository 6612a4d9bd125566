package squashfs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"
)

const xattrPAX = "SCHILY.xattr."

// FromTar writes to w a SquashFS image of the tar stream r (kit's
// normalized rootfs tar: regular files, directories, symlinks, hard links,
// devices and fifos, with owners, modes, times and SCHILY.xattr records)
// and returns the image size. Times are clamped to epoch.
func FromTar(ctx context.Context, w io.WriterAt, r io.Reader, epoch int64, opts ...Option) (int64, error) {
	sw, err := NewWriter(w, epoch, opts...)
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
			return 0, fmt.Errorf("squashfs: tar entry %d: %w", i, err)
		}
		e := Entry{Path: h.Name, Mode: uint32(h.Mode) & 0o7777, UID: uint32(h.Uid), GID: uint32(h.Gid),
			ModTime: h.ModTime, Target: h.Linkname, Major: uint32(h.Devmajor), Minor: uint32(h.Devminor)}
		if h.Uid < 0 || h.Gid < 0 || int64(uint32(h.Uid)) != int64(h.Uid) || int64(uint32(h.Gid)) != int64(h.Gid) {
			return 0, fmt.Errorf("squashfs: tar entry %q: uid/gid %d/%d out of range", h.Name, h.Uid, h.Gid)
		}
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
			e.Type, e.Size, data = TypeFile, h.Size, tr
		case tar.TypeDir:
			e.Type = TypeDir
		case tar.TypeSymlink:
			e.Type = TypeSymlink
		case tar.TypeLink:
			e.Type = TypeHardlink
		case tar.TypeChar:
			e.Type = TypeCharDev
		case tar.TypeBlock:
			e.Type = TypeBlockDev
		case tar.TypeFifo:
			e.Type = TypeFifo
		default:
			return 0, fmt.Errorf("squashfs: tar entry %q: unsupported type %q", h.Name, h.Typeflag)
		}
		if err := sw.Add(ctx, e, data); err != nil {
			return 0, fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
	}
	return sw.Close(ctx)
}
