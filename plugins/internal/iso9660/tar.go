package iso9660

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
)

// AddTar adds every entry of the tar archive held in r (size bytes; an
// uncompressed tar such as kit's normalized rootfs) to the image. File
// contents are not copied: each file's Source reads its bytes from r when
// the image is written, so r must stay readable until then. Regular files,
// directories, symlinks, hard links, character and block devices and fifos
// are kept with their mode, owner and time; extended attributes are not
// recorded (ISO 9660 has no place for them); any other type is an error.
func (im *Image) AddTar(ctx context.Context, r io.ReaderAt, size int64) error {
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
			return fmt.Errorf("iso9660: tar entry %d: %w", i, err)
		}
		e := Entry{Path: h.Name, Mode: uint32(h.Mode) & 0o7777, UID: uint32(h.Uid), GID: uint32(h.Gid), ModTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeReg, '\x00': // \x00 is the pre-POSIX regular file
			// The tar reader has read the header and not the data: the
			// section reader's offset is where the data starts.
			off, err := sr.Seek(0, io.SeekCurrent)
			if err != nil {
				return fmt.Errorf("iso9660: tar entry %q: %w", h.Name, err)
			}
			if h.Size < 0 || off+h.Size > size {
				return fmt.Errorf("iso9660: tar entry %q: size %d past the end of the archive", h.Name, h.Size)
			}
			e.Type, e.Data = TypeFile, ReaderAtSource(io.NewSectionReader(r, off, h.Size), h.Size)
		case tar.TypeDir:
			e.Type = TypeDir
		case tar.TypeSymlink:
			e.Type, e.Target = TypeSymlink, h.Linkname
		case tar.TypeLink:
			e.Type, e.Target = TypeHardlink, h.Linkname
		case tar.TypeChar:
			e.Type, e.Major, e.Minor = TypeCharDev, uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeBlock:
			e.Type, e.Major, e.Minor = TypeBlockDev, uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeFifo:
			e.Type = TypeFifo
		default:
			return fmt.Errorf("iso9660: tar entry %q: unsupported type %q", h.Name, h.Typeflag)
		}
		if err := im.Add(e); err != nil {
			return fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
	}
}
