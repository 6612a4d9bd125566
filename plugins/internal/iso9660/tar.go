package iso9660

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"
)

// TarOption is an optional setting of AddTar.
type TarOption func(*tarOptions)

type tarOptions struct{ exclude func(name string) bool }

// TarExclude leaves out the tar entries whose names exclude reports.
func TarExclude(exclude func(name string) bool) TarOption {
	return func(o *tarOptions) { o.exclude = exclude }
}

// AddTar adds every entry of the tar archive held in r (size bytes; an
// uncompressed tar such as kit's normalized rootfs) to the image. File
// contents are not copied: each file's Source reads its bytes from r when
// the image is written, so r must stay readable until then. Regular files,
// directories, symlinks, hard links, character and block devices and fifos
// are kept with their mode, owner and time; extended attributes are not
// recorded (ISO 9660 has no place for them); any other type is an error.
//
// A sparse file (GNU tar's PAX sparse formats 0.0, 0.1 and 1.0, or its old
// 'S' type) is an error naming the entry: its archived bytes are only the
// non-zero parts of its content (after a sparse map, in format 1.0), and
// AddTar reads file data in place instead of through the tar reader, which
// would expand it. kit's normalized tars hold no sparse files.
//
// Entries for which a TarExclude option returns true are left out; a hard
// link to one of them is an error.
func (im *Image) AddTar(ctx context.Context, r io.ReaderAt, size int64, opts ...TarOption) error {
	var o tarOptions
	for _, opt := range opts {
		opt(&o)
	}
	excluded := func(name string) bool { return o.exclude != nil && o.exclude(name) }
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
		if excluded(h.Name) {
			continue
		}
		e := Entry{Path: h.Name, Mode: uint32(h.Mode) & 0o7777, UID: uint32(h.Uid), GID: uint32(h.Gid), ModTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeReg, '\x00': // \x00 is the pre-POSIX regular file
			if sparse(h) {
				return fmt.Errorf("iso9660: tar entry %q: a sparse file (GNU sparse PAX records), which AddTar cannot read in place", h.Name)
			}
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
			if excluded(h.Linkname) {
				return fmt.Errorf("iso9660: tar entry %q: a hard link to %s, which is left out", h.Name, h.Linkname)
			}
			e.Type, e.Target = TypeHardlink, h.Linkname
		case tar.TypeChar:
			e.Type, e.Major, e.Minor = TypeCharDev, uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeBlock:
			e.Type, e.Major, e.Minor = TypeBlockDev, uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeFifo:
			e.Type = TypeFifo
		case tar.TypeGNUSparse:
			return fmt.Errorf("iso9660: tar entry %q: a sparse file (GNU type 'S'), which AddTar cannot read in place", h.Name)
		default:
			return fmt.Errorf("iso9660: tar entry %q: unsupported type %q", h.Name, h.Typeflag)
		}
		if err := im.Add(e); err != nil {
			return fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
	}
}

// sparse reports whether archive/tar reads h as a PAX sparse file (GNU
// tar's formats 0.0, 0.1 and 1.0), whose data in the archive is not its
// content. Any GNU.sparse record counts: a record archive/tar ignores is
// refused too rather than risk copying the wrong bytes.
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
