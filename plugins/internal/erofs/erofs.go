package erofs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strings"
	"time"

	goerofs "github.com/erofs/go-erofs"
)

// Option sets an optional property of an image.
type Option func(*options)

type options struct {
	tempDir string
	exclude func(name string) bool
}

// WithTempDir sets where file data is spooled until the image is written
// (default os.TempDir()).
func WithTempDir(dir string) Option { return func(o *options) { o.tempDir = dir } }

// WithExclude leaves out of the image every tar entry for which exclude
// returns true; it is called with each entry's absolute, cleaned name
// ("/boot/kernel"), directories included, and excluding a directory does
// not exclude its children (exclude them too). A hard link to an excluded
// entry is an error.
func WithExclude(exclude func(name string) bool) Option {
	return func(o *options) { o.exclude = exclude }
}

// Unix file type bits, as EROFS records them.
const (
	sIFIFO = 0o010000
	sIFCHR = 0o020000
	sIFBLK = 0o060000
)

const xattrPAX = "SCHILY.xattr."

// FromTar writes to w an uncompressed EROFS image (4 KiB blocks) of the tar
// stream r: regular files, directories, symlinks, devices and fifos with
// their owners, modes, extended attributes and modification times clamped
// to epoch, which is also the image's build time; owners that do not fit in
// 32 bits are an error. go-erofs has no hard links: a hard link becomes a
// copy of its target (same data and metadata, a link count of one each).
func FromTar(ctx context.Context, w io.WriteSeeker, r io.Reader, epoch int64, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cOpts := []goerofs.CreateOpt{goerofs.WithBuildTime(uint64(max(epoch, 0)), 0)}
	if o.tempDir != "" {
		cOpts = append(cOpts, goerofs.WithTempDir(o.tempDir))
	}
	ew := goerofs.Create(w, cOpts...)
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("erofs: tar entry %d: %w", i, err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return fmt.Errorf("erofs: tar entry %q: %w", h.Name, err)
		}
		if o.exclude != nil && o.exclude(name) {
			continue
		}
		if h.Typeflag == tar.TypeLink && o.exclude != nil {
			if target, err := cleanName(h.Linkname); err == nil && o.exclude(target) {
				return fmt.Errorf("erofs: tar entry %q: a hard link to %s, which is left out of the image", h.Name, h.Linkname)
			}
		}
		if h.Uid < 0 || h.Gid < 0 || int64(h.Uid) > math.MaxUint32 || int64(h.Gid) > math.MaxUint32 {
			return fmt.Errorf("erofs: tar entry %q: uid/gid %d/%d out of range", h.Name, h.Uid, h.Gid)
		}
		if err := add(ew, name, h, tr, headers, epoch); err != nil {
			return fmt.Errorf("erofs: tar entry %q: %w", h.Name, err)
		}
	}
	if err := ew.Close(); err != nil {
		return fmt.Errorf("erofs: write image: %w", err)
	}
	return nil
}

// cleanName is name as go-erofs takes it: absolute, without "." or empty
// components; ".." is refused.
func cleanName(name string) (string, error) {
	var parts []string
	for c := range strings.SplitSeq(name, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("name has a \"..\" component")
		}
		parts = append(parts, c)
	}
	return "/" + strings.Join(parts, "/"), nil
}

func add(ew *goerofs.Writer, name string, h *tar.Header, data io.Reader, headers map[string]*tar.Header, epoch int64) error {
	meta := h
	switch h.Typeflag {
	case tar.TypeDir:
		if name == "/" {
			break
		}
		if _, err := ew.Stat(name); err == nil { // made as a parent already
			break
		}
		if err := ew.Mkdir(name, fs.FileMode(h.Mode)&fs.ModePerm); err != nil {
			return err
		}
	case tar.TypeReg, '\x00': // '\x00' is the pre-POSIX regular file
		if err := writeFile(ew, name, data); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		th, ok := headers[target]
		if !ok {
			return fmt.Errorf("hard link target %q is not an earlier file", h.Linkname)
		}
		meta = th
		if err := link(ew, name, target, th); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := ew.Symlink(h.Linkname, name); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint16{tar.TypeChar: sIFCHR, tar.TypeBlock: sIFBLK, tar.TypeFifo: sIFIFO}[h.Typeflag]
		major, minor := uint32(h.Devmajor), uint32(h.Devminor)
		rdev := minor&0xFF | major<<8 | (minor&^0xFF)<<12 // the kernel's new_encode_dev
		if err := ew.Mknod(name, typ|uint16(h.Mode&0o7777), rdev); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported type %q", h.Typeflag)
	}
	if h.Typeflag != tar.TypeDir {
		headers[name] = meta
	}
	return setMeta(ew, name, meta, epoch)
}

func writeFile(ew *goerofs.Writer, name string, data io.Reader) error {
	f, err := ew.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(data); err != nil {
		return err
	}
	return f.Close()
}

// link copies the target of a hard link (a file, symlink, device or fifo).
func link(ew *goerofs.Writer, name, target string, th *tar.Header) error {
	switch th.Typeflag {
	case tar.TypeReg, '\x00':
		src, err := ew.Open(target)
		if err != nil {
			return err
		}
		defer src.Close()
		return writeFile(ew, name, src)
	}
	return add(ew, name, th, nil, map[string]*tar.Header{}, 0)
}

func setMeta(ew *goerofs.Writer, name string, h *tar.Header, epoch int64) error {
	mode := fs.FileMode(h.Mode) & fs.ModePerm
	if h.Mode&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	if h.Typeflag != tar.TypeSymlink {
		if err := ew.Chmod(name, mode); err != nil {
			return err
		}
	}
	if err := ew.Chown(name, h.Uid, h.Gid); err != nil {
		return err
	}
	mt := h.ModTime
	if mt.IsZero() || mt.Unix() > epoch {
		mt = time.Unix(epoch, 0)
	}
	mt = time.Unix(max(mt.Unix(), 0), 0)
	if err := ew.Chtimes(name, mt, mt); err != nil {
		return err
	}
	for k, v := range h.PAXRecords {
		if attr, ok := strings.CutPrefix(k, xattrPAX); ok {
			if err := ew.Setxattr(name, attr, v); err != nil {
				return err
			}
		}
	}
	return nil
}
