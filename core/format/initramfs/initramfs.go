package initramfs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math"
	"path"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/kitbuild/kit/core/format/internal/tarscan"
	"github.com/kitbuild/kit/core/internal/ctxio"
)

// Limits of the newc format and of the kernel's unpacker.
const (
	// MaxFileSize is the largest file newc can hold: c_filesize has 32 bits.
	MaxFileSize = math.MaxUint32
	// MaxArchiveSize is the largest (uncompressed) archive Write produces.
	// Bootloaders load initrds through 32-bit size fields and the kernel
	// unpacks the whole archive into RAM; a larger one is refused rather
	// than truncated.
	MaxArchiveSize = 1 << 32
	// MaxPath is the kernel's PATH_MAX: the unpacker silently skips
	// records whose name (with its NUL) or symlink target is longer.
	MaxPath = 4096
)

// Stats describes an archive Write produced.
type Stats struct {
	// Entries counts the records written, the trailer excluded.
	Entries int
	// HardLinks counts the records that share an earlier record's inode.
	HardLinks int
	// Skipped counts the tar members left out by the skip function.
	Skipped int
	// XattrsDropped counts members whose extended attributes were dropped
	// (newc cannot carry them).
	XattrsDropped int
	// Size is the size of the cpio archive in bytes.
	Size int64
}

// Option changes how Write converts.
type Option func(*config)

type config struct {
	gz       *gzipWriter // set by WriteGzip: large files become chunks
	skip     func(name string) bool
	epoch    int64
	clamp    bool
	progress func(done, total int64)
}

// WithSkip leaves out every member for which skip returns true. A hard
// link to a skipped file still gets the file's data.
func WithSkip(skip func(name string) bool) Option {
	return func(c *config) { c.skip = skip }
}

// WithSourceDateEpoch clamps every mtime to epoch (seconds since 1970).
func WithSourceDateEpoch(epoch int64) Option {
	return func(c *config) { c.epoch, c.clamp = epoch, true }
}

// WithProgress reports how many bytes of the tar have been converted.
func WithProgress(fn func(done, total int64)) Option {
	return func(c *config) { c.progress = fn }
}

// SkipBoot is the skip function of LinuxKit's initrd: everything below
// boot/ (the kernel, its command line and microcode, which travel beside
// the initrd) is left out; the boot directory itself stays.
func SkipBoot(name string) bool { return strings.HasPrefix(name, "boot/") }

// Write converts the normalized tar held in the first size bytes of src
// into an uncompressed newc cpio archive (trailer included) written to w.
//
// Members keep their names, permission bits, uid, gid, mtime and device
// numbers; inode numbers are assigned sequentially in member order from 1.
// Hard links become newc hard links, as the kernel's unpacker expects them:
// every record of a link group carries the same inode number and the group
// size as nlink, and the data travels with the first record only (the
// kernel links later records to the first and writes no data; GNU cpio -i
// extracts it too). A hard link to a symlink is written as a copy of the
// symlink, since the kernel does not link symlinks.
//
// src is read twice: a first pass over the headers only (it skips data by
// seeking) checks the archive and computes link counts and the archive size,
// so a file of MaxFileSize bytes or more, an archive over MaxArchiveSize, a
// name or symlink target over MaxPath, an unsorted or unnormalized tar fail
// before any data is written; the second pass writes. Extended attributes
// are dropped (counted in Stats).
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts ...Option) (Stats, error) {
	c := config{skip: func(string) bool { return false }}
	for _, o := range opts {
		o(&c)
	}
	p, err := scan(ctx, src, size, &c)
	if err != nil {
		return Stats{}, err
	}
	return write(ctx, w, src, size, &c, p)
}

// WriteGzip writes the archive Write writes, gzip-compressed (one member,
// see NewGzipWriter, padded to a multiple of 4 bytes), to w. The data of
// every regular file of ChunkMin bytes or more is compressed on its own, as
// a chunk; chunks, when not nil, supplies chunks compressed earlier (by
// BuildPack) for the files it knows, which are then copied instead of
// compressed. The bytes written are the same with or without chunks. A
// chunks with a Len method that returns 0 (an empty PackSet) is as nil.
func WriteGzip(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, chunks Chunks, opts ...Option) (Stats, error) {
	c := config{skip: func(string) bool { return false }}
	for _, o := range opts {
		o(&c)
	}
	p, err := scan(ctx, src, size, &c)
	if err != nil {
		return Stats{}, err
	}
	if n, ok := chunks.(interface{ Len() int }); ok && n.Len() == 0 {
		// Nothing to look up: the large files need no key, which would
		// take a pass over their data before they are compressed.
		chunks = nil
	}
	c.gz = newGzip(ctx, w, chunks)
	st, err := write(ctx, c.gz, src, size, &c, p)
	// Close even after a failure: it stops the compressor's goroutines.
	if cerr := c.gz.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// plan is what the first pass learns.
type plan struct {
	// links maps each hard link to the member holding the data (chains of
	// links resolved).
	links map[string]string
	// nlink is, for each member that hard links point to, the number of
	// records of its group that are written.
	nlink map[string]uint32
	// size is the size of the archive, exact but for hard links to symlinks
	// (which the second pass counts).
	size int64
}

func scan(ctx context.Context, src io.ReaderAt, size int64, c *config) (*plan, error) {
	p := &plan{links: map[string]string{}, nlink: map[string]uint32{}}
	skippedData := map[string]int64{}
	s := tarscan.New(src, size)
	prev := ""
	for i := 0; ; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h := e.Header
		if err := checkMember(h, prev); err != nil {
			return nil, err
		}
		prev = h.Name
		skip := c.skip(h.Name)
		var data int64
		switch h.Typeflag {
		case tar.TypeReg:
			data = h.Size
			if skip {
				skippedData[h.Name] = h.Size
			}
		case tar.TypeSymlink:
			data = int64(len(h.Linkname))
		case tar.TypeLink:
			root := h.Linkname
			if r, ok := p.links[root]; ok {
				root = r
			}
			p.links[h.Name] = root
			if skip {
				continue
			}
			if p.nlink[root] == 0 {
				// The first record written for a group carries the data:
				// the target's own, or (target skipped) this one.
				p.nlink[root] = 1
				if c.skip(root) {
					data = skippedData[root]
				} else {
					p.nlink[root]++
				}
			} else {
				p.nlink[root]++
			}
		}
		if skip {
			continue
		}
		if data > MaxFileSize {
			return nil, fmt.Errorf("tar member %q: %d bytes: newc cpio cannot hold files of 4 GiB or more", h.Name, data)
		}
		p.size += recordSize(h.Name, data)
		if p.size+trailerSize > MaxArchiveSize {
			return nil, fmt.Errorf("tar member %q: the initramfs would exceed %d bytes (4 GiB)", h.Name, int64(MaxArchiveSize))
		}
	}
	p.size += trailerSize
	return p, nil
}

// checkMember refuses what the unpacker cannot reproduce faithfully.
func checkMember(h *tar.Header, prev string) error {
	if !cleanName(h.Name) {
		return fmt.Errorf("tar member %q: not a clean relative path (is the tar normalized?)", h.Name)
	}
	if prev != "" && h.Name <= prev {
		return fmt.Errorf("tar member %q: after %q: members are not sorted or not unique (is the tar normalized?)", h.Name, prev)
	}
	if len(h.Name)+1 > MaxPath {
		return fmt.Errorf("tar member %q: name longer than the kernel's PATH_MAX (%d)", h.Name, MaxPath)
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeSymlink:
		if len(h.Linkname) == 0 || len(h.Linkname)+1 > MaxPath {
			return fmt.Errorf("tar member %q: symlink target of %d bytes (the kernel takes 1 to %d)", h.Name, len(h.Linkname), MaxPath-1)
		}
	case tar.TypeLink:
		if !cleanName(h.Linkname) {
			return fmt.Errorf("tar member %q: hard link target %q is not a clean relative path", h.Name, h.Linkname)
		}
		if h.Linkname >= h.Name {
			return fmt.Errorf("tar member %q: hard link target %q does not precede the link (is the tar normalized?)", h.Name, h.Linkname)
		}
	default:
		return fmt.Errorf("tar member %q: unsupported type %q", h.Name, h.Typeflag)
	}
	if h.Uid < 0 || h.Uid > math.MaxUint32 || h.Gid < 0 || h.Gid > math.MaxUint32 {
		return fmt.Errorf("tar member %q: uid %d / gid %d out of range", h.Name, h.Uid, h.Gid)
	}
	if h.Devmajor < 0 || h.Devmajor > math.MaxUint32 || h.Devminor < 0 || h.Devminor > math.MaxUint32 {
		return fmt.Errorf("tar member %q: device %d:%d out of range", h.Name, h.Devmajor, h.Devminor)
	}
	return nil
}

func cleanName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.HasPrefix(n, "/") &&
		!strings.HasPrefix(n, "../") && path.Clean(n) == n
}

// recordSize is the size of a newc record: the 110-byte header and the
// NUL-terminated name padded to 4 bytes, then the data padded to 4 bytes.
func recordSize(name string, data int64) int64 {
	return round4(110+int64(len(name))+1) + round4(data)
}

func round4(n int64) int64 { return (n + 3) &^ 3 }

var trailerSize = recordSize(cpio.Trailer, 0)

// group is a hard-link group: the member the links point to.
type group struct {
	e       tarscan.Entry
	written bool
	info    cpio.Info
}

func write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, c *config, p *plan) (Stats, error) {
	var st Stats
	cw := &countWriter{w: w}
	rw := cpio.Newc.Writer(cw)
	groups := map[string]*group{}
	var ino uint64
	var reported int64
	s := tarscan.New(src, size)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		e, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		h := e.Header
		_, isRoot := p.nlink[h.Name]
		if c.skip(h.Name) {
			st.Skipped++
			if isRoot {
				groups[h.Name] = &group{e: e}
			}
			continue
		}
		var rec cpio.Record
		if h.Typeflag == tar.TypeLink {
			root := p.links[h.Name]
			g := groups[root]
			if g == nil {
				return st, fmt.Errorf("tar member %q: hard link target %q is not in the archive before it", h.Name, root)
			}
			switch {
			case g.e.Header.Typeflag == tar.TypeDir:
				return st, fmt.Errorf("tar member %q: hard link to directory %q", h.Name, root)
			case g.e.Header.Typeflag == tar.TypeSymlink:
				ino++
				rec = record(ctx, src, g.e, h.Name, ino, 1, c)
			case g.written:
				info := g.info
				info.Name = h.Name
				rec = cpio.Record{Info: info}
				st.HardLinks++
			default:
				ino++
				rec = record(ctx, src, g.e, h.Name, ino, p.nlink[root], c)
				g.info, g.written = rec.Info, true
			}
		} else {
			ino++
			nlink := uint32(1)
			if isRoot {
				nlink = p.nlink[h.Name]
			}
			rec = record(ctx, src, e, h.Name, ino, nlink, c)
			if isRoot {
				groups[h.Name] = &group{e: e, written: true, info: rec.Info}
			}
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				st.XattrsDropped++
				break
			}
		}
		n := recordSize(rec.Name, int64(rec.FileSize))
		if rec.ReaderAt == nil {
			n = recordSize(rec.Name, 0)
		}
		if cw.n+n+trailerSize > MaxArchiveSize {
			return st, fmt.Errorf("tar member %q: the initramfs would exceed %d bytes (4 GiB)", h.Name, int64(MaxArchiveSize))
		}
		if err := rw.WriteRecord(rec); err != nil {
			return st, fmt.Errorf("tar member %q: %w", h.Name, err)
		}
		st.Entries++
		if c.progress != nil && e.End-reported >= 4<<20 {
			reported = e.End
			c.progress(reported, size)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return st, fmt.Errorf("cpio trailer: %w", err)
	}
	st.Size = cw.n
	if c.progress != nil {
		c.progress(size, size)
	}
	return st, nil
}

// record builds the newc record for the tar member e, written under name.
func record(ctx context.Context, src io.ReaderAt, e tarscan.Entry, name string, ino uint64, nlink uint32, c *config) cpio.Record {
	h := e.Header
	mtime := h.ModTime.Unix()
	if c.clamp && mtime > c.epoch {
		mtime = c.epoch
	}
	mtime = max(0, min(mtime, math.MaxUint32))
	info := cpio.Info{
		Ino:   ino,
		Mode:  uint64(h.Mode) & 0o7777,
		UID:   uint64(h.Uid),
		GID:   uint64(h.Gid),
		NLink: uint64(nlink),
		MTime: uint64(mtime),
		Name:  name,
	}
	var data io.ReaderAt
	switch h.Typeflag {
	case tar.TypeReg:
		info.Mode |= cpio.S_IFREG
		info.FileSize = uint64(h.Size)
		data = io.NewSectionReader(ctxio.ReaderAt(ctx, src), e.Data, h.Size)
		if c.gz != nil && h.Size >= ChunkMin {
			data = &chunkFile{ctx: ctx, g: c.gz, src: src, off: e.Data, size: h.Size}
		}
	case tar.TypeDir:
		info.Mode |= cpio.S_IFDIR
		info.NLink = 2
	case tar.TypeSymlink:
		info.Mode |= cpio.S_IFLNK
		info.NLink = 1
		info.FileSize = uint64(len(h.Linkname))
		data = strings.NewReader(h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		info.Mode |= cpio.S_IFCHR
		if h.Typeflag == tar.TypeBlock {
			info.Mode = info.Mode&^cpio.S_IFMT | cpio.S_IFBLK
		}
		info.Rmajor, info.Rminor = uint64(h.Devmajor), uint64(h.Devminor)
	case tar.TypeFifo:
		info.Mode |= cpio.S_IFIFO
	}
	return cpio.Record{Info: info, ReaderAt: data}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
