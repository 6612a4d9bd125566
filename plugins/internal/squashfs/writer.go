package squashfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// EntryType is the kind of an Entry.
type EntryType uint8

// Entry types.
const (
	TypeFile EntryType = iota
	TypeDir
	TypeSymlink
	// TypeHardlink is another name for the entry at Target (not a
	// directory), added before it.
	TypeHardlink
	TypeCharDev
	TypeBlockDev
	TypeFifo
)

// Entry is one name in the image.
type Entry struct {
	// Path is slash-separated and relative to the root; leading slashes
	// and "." components are dropped, ".." is refused. "" is the root.
	Path string
	Type EntryType
	// Mode holds the Unix permission bits (07777).
	Mode     uint32
	UID, GID uint32
	// ModTime is clamped to SOURCE_DATE_EPOCH (and to 1970); the zero
	// time means the epoch.
	ModTime time.Time
	// Size is a regular file's length; Add reads exactly that much data.
	Size int64
	// Target is a symlink's target or the Path of a hard link's entry.
	Target       string
	Major, Minor uint32
	// Xattrs are extended attributes by full name ("security.capability").
	// SquashFS holds the user., trusted. and security. namespaces; others
	// are an error.
	Xattrs map[string]string
}

// ErrExists is wrapped by Add when a path is added twice.
var ErrExists = errors.New("path already in the image")

// Option sets an optional property of a Writer.
type Option func(*options)

type options struct {
	comp      Compression
	blockSize int
	workers   int
}

// WithCompression picks the compressor (default Zstd).
func WithCompression(c Compression) Option { return func(o *options) { o.comp = c } }

// WithBlockSize sets the data block size: a power of two from 4 KiB to
// 1 MiB (default 128 KiB, as mksquashfs).
func WithBlockSize(n int) Option { return func(o *options) { o.blockSize = n } }

// WithConcurrency sets how many blocks of a file are compressed at once
// (default GOMAXPROCS). The output does not depend on it.
func WithConcurrency(n int) Option { return func(o *options) { o.workers = n } }

// inode is one file system object (hard links share one).
type inode struct {
	typ          EntryType
	mode         uint16
	uid, gid     uint16 // id table indexes
	mtime        uint32
	xattr        uint32 // xattr id, noXattr when none
	nlink        uint32
	size         uint64
	blocksStart  uint64
	blockSizes   []uint32
	sparse       uint64
	frag, fragOf uint32
	target       string
	major, minor uint32
	children     map[string]*inode // directories
	parent       *inode

	num     uint32
	ref     uint64
	written bool
	// directory listing position and size (+3)
	listBlock  uint32
	listOffset uint16
	listSize   uint32
}

const (
	noFragment = 0xFFFFFFFF
	noXattr    = 0xFFFFFFFF
	noTable    = 0xFFFFFFFFFFFFFFFF
	superSize  = 96
)

// Writer writes one SquashFS image. Add entries (file data is compressed
// and written at once), then Close to write the tables and the superblock.
// A Writer is not safe for concurrent use.
type Writer struct {
	o      options
	out    *seqWriter
	comp   compressor
	epoch  int64
	root   *inode
	nodes  map[string]*inode
	frag   []byte
	frags  []fragment
	ids    []uint32
	idIdx  map[uint32]uint16
	xattrs []xattrSet
	xidx   map[string]uint32
	dups   map[dupKey]*inode
	count  uint32
	closed bool
	bufs   [][]byte
	cbufs  [][]byte
}

type fragment struct {
	start uint64
	size  uint32
}

// NewWriter starts an image written to w from offset 0; times are clamped
// to epoch (SOURCE_DATE_EPOCH), which is also the image's time. When w has
// a Truncate method (an *os.File), Close cuts it to the image's size.
func NewWriter(w io.WriterAt, epoch int64, opts ...Option) (*Writer, error) {
	o := options{comp: Zstd, blockSize: 128 << 10, workers: runtime.GOMAXPROCS(0)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.blockSize < 4<<10 || o.blockSize > 1<<20 || o.blockSize&(o.blockSize-1) != 0 {
		return nil, fmt.Errorf("squashfs: block size %d is not a power of two from 4 KiB to 1 MiB", o.blockSize)
	}
	o.workers = max(o.workers, 1)
	c, err := newCompressor(o.comp, o.blockSize)
	if err != nil {
		return nil, err
	}
	if epoch < 0 || epoch > 1<<32-1 {
		return nil, fmt.Errorf("squashfs: SOURCE_DATE_EPOCH %d out of the 32-bit range", epoch)
	}
	sw := &Writer{o: o, out: newSeqWriter(w, superSize), comp: c, epoch: epoch,
		nodes: map[string]*inode{}, idIdx: map[uint32]uint16{}, xidx: map[string]uint32{}, dups: map[dupKey]*inode{}}
	sw.root = &inode{typ: TypeDir, mode: 0o755, mtime: uint32(epoch), xattr: noXattr, children: map[string]*inode{}}
	sw.nodes[""] = sw.root
	sw.root.parent = sw.root
	if sw.root.uid, err = sw.id(0); err != nil {
		return nil, err
	}
	sw.root.gid = sw.root.uid
	return sw, nil
}

func (w *Writer) id(v uint32) (uint16, error) {
	if i, ok := w.idIdx[v]; ok {
		return i, nil
	}
	if len(w.ids) == 1<<16 {
		return 0, fmt.Errorf("squashfs: more than 65536 distinct uids and gids")
	}
	i := uint16(len(w.ids))
	w.ids = append(w.ids, v)
	w.idIdx[v] = i
	return i, nil
}

func cleanPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %q has a NUL byte", p)
	}
	var parts []string
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("path %q has a \"..\" component", p)
		}
		if len(c) > 256 {
			return "", fmt.Errorf("path %q has a component longer than 256 bytes", p)
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, "/"), nil
}

func (w *Writer) mtime(t time.Time) uint32 {
	s := t.Unix()
	if t.IsZero() || s > w.epoch {
		s = w.epoch
	}
	return uint32(max(s, 0))
}

// Add puts e into the image; for a regular file it reads e.Size bytes of
// data from r and writes them compressed. Missing parent directories are
// created (0755, root, the epoch); adding a directory that exists sets its
// metadata; any other repeated path is an error wrapping ErrExists.
func (w *Writer) Add(ctx context.Context, e Entry, r io.Reader) error {
	if w.closed {
		return errors.New("squashfs: add after close")
	}
	p, err := cleanPath(e.Path)
	if err != nil {
		return fmt.Errorf("squashfs: add: %w", err)
	}
	if err := w.add(ctx, p, e, r); err != nil {
		return fmt.Errorf("squashfs: add %s: %w", p, err)
	}
	return nil
}

func (w *Writer) add(ctx context.Context, p string, e Entry, r io.Reader) error {
	if e.Type == TypeHardlink {
		t, err := cleanPath(e.Target)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		target, ok := w.nodes[t]
		if !ok {
			return fmt.Errorf("hard link target %q is not in the image", t)
		}
		if target.typ == TypeDir {
			return fmt.Errorf("hard link to directory %q", t)
		}
		if _, ok := w.nodes[p]; ok {
			return ErrExists
		}
		parent, err := w.dir(path.Dir(p))
		if err != nil {
			return err
		}
		target.nlink++
		parent.children[path.Base(p)] = target
		w.nodes[p] = target
		return nil
	}
	in := &inode{typ: e.Type, mode: uint16(e.Mode & 0o7777), mtime: w.mtime(e.ModTime), xattr: noXattr, nlink: 1,
		frag: noFragment, target: e.Target, major: e.Major, minor: e.Minor}
	var err error
	if in.uid, err = w.id(e.UID); err != nil {
		return err
	}
	if in.gid, err = w.id(e.GID); err != nil {
		return err
	}
	if len(e.Xattrs) > 0 {
		if in.xattr, err = w.xattrID(e.Xattrs); err != nil {
			return err
		}
	}
	switch e.Type {
	case TypeDir:
		in.children = map[string]*inode{}
		if old, ok := w.nodes[p]; ok && old.typ == TypeDir {
			old.mode, old.uid, old.gid, old.mtime, old.xattr = in.mode, in.uid, in.gid, in.mtime, in.xattr
			return nil
		}
	case TypeSymlink:
		if e.Target == "" {
			return errors.New("empty symlink target")
		}
	case TypeFile:
		if e.Size < 0 {
			return fmt.Errorf("negative size %d", e.Size)
		}
	case TypeCharDev, TypeBlockDev, TypeFifo:
	default:
		return fmt.Errorf("unknown entry type %d", e.Type)
	}
	if _, ok := w.nodes[p]; ok {
		return ErrExists
	}
	if p == "" {
		return errors.New("the root must be a directory")
	}
	parent, err := w.dir(path.Dir(p))
	if err != nil {
		return err
	}
	if e.Type == TypeFile {
		if err := w.writeData(ctx, in, r, e.Size); err != nil {
			return err
		}
	}
	if e.Type == TypeDir {
		in.parent = parent
	}
	parent.children[path.Base(p)] = in
	w.nodes[p] = in
	return nil
}

// dir returns the directory at p, creating it and its parents if missing.
func (w *Writer) dir(p string) (*inode, error) {
	if p == "." {
		p = ""
	}
	if n, ok := w.nodes[p]; ok {
		if n.typ != TypeDir {
			return nil, fmt.Errorf("%q is not a directory", p)
		}
		return n, nil
	}
	parent, err := w.dir(path.Dir(p))
	if err != nil {
		return nil, err
	}
	root, _ := w.id(0) // the first id: NewWriter added it
	n := &inode{typ: TypeDir, mode: 0o755, mtime: uint32(w.epoch), xattr: noXattr, nlink: 1,
		frag: noFragment, children: map[string]*inode{}, parent: parent, uid: root, gid: root}
	parent.children[path.Base(p)] = n
	w.nodes[p] = n
	return n, nil
}

// dupKey identifies a file's content.
type dupKey struct {
	size uint64
	sum  [sha256.Size]byte
}

// writeData writes a file's data; a file whose content was written before
// is rewound and shares the earlier file's blocks and fragment.
func (w *Writer) writeData(ctx context.Context, in *inode, r io.Reader, size int64) error {
	// A fragment that this file's tail would overflow is written first, so
	// that rewinding a duplicate drops nothing but the duplicate.
	if tail := int(size % int64(w.o.blockSize)); tail > 0 && len(w.frag)+tail > w.o.blockSize {
		if err := w.flushFragment(); err != nil {
			return err
		}
	}
	off, fragLen := w.out.off, len(w.frag)
	h := sha256.New()
	if err := w.writeBlocks(ctx, in, io.TeeReader(r, h), size); err != nil {
		return err
	}
	key := dupKey{size: uint64(size)}
	h.Sum(key.sum[:0])
	first, ok := w.dups[key]
	if !ok {
		w.dups[key] = in
		return nil
	}
	w.out.rewind(off)
	w.frag = w.frag[:fragLen]
	in.blocksStart, in.blockSizes, in.sparse = first.blocksStart, first.blockSizes, first.sparse
	in.frag, in.fragOf = first.frag, first.fragOf
	return nil
}

// writeBlocks reads a file's data, writes its full blocks (compressed, in
// batches compressed in parallel) and puts its tail in a fragment.
func (w *Writer) writeBlocks(ctx context.Context, in *inode, r io.Reader, size int64) error {
	bs := int64(w.o.blockSize)
	in.size = uint64(size)
	in.blocksStart = uint64(w.out.off)
	full := size / bs
	if len(w.bufs) < w.o.workers {
		for range w.o.workers - len(w.bufs) {
			w.bufs = append(w.bufs, make([]byte, bs))
			w.cbufs = append(w.cbufs, make([]byte, 0, bs+bs/8))
		}
	}
	for done := int64(0); done < full; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(full-done, int64(w.o.workers))
		for i := range n {
			if _, err := io.ReadFull(r, w.bufs[i]); err != nil {
				return fmt.Errorf("reading data: %w", err)
			}
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			if allZero(w.bufs[i]) {
				w.cbufs[i] = w.cbufs[i][:0]
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.cbufs[i], errs[i] = w.comp.compress(w.cbufs[i], w.bufs[i])
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				return fmt.Errorf("compress: %w", errs[i])
			}
			raw, c := w.bufs[i], w.cbufs[i]
			switch {
			case allZero(raw):
				in.blockSizes = append(in.blockSizes, 0)
				in.sparse += uint64(bs)
				continue
			case len(c) < len(raw):
				in.blockSizes = append(in.blockSizes, uint32(len(c)))
			default:
				c = raw
				in.blockSizes = append(in.blockSizes, uint32(len(c))|dataUncompressed)
			}
			if _, err := w.out.Write(c); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		done += n
	}
	tail := int(size % bs)
	if tail > 0 {
		if len(w.frag)+tail > w.o.blockSize {
			if err := w.flushFragment(); err != nil {
				return err
			}
		}
		in.frag, in.fragOf = uint32(len(w.frags)), uint32(len(w.frag))
		start := len(w.frag)
		w.frag = append(w.frag, make([]byte, tail)...)
		if _, err := io.ReadFull(r, w.frag[start:]); err != nil {
			return fmt.Errorf("reading data: %w", err)
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (w *Writer) flushFragment() error {
	if len(w.frag) == 0 {
		return nil
	}
	c, err := w.comp.compress(nil, w.frag)
	if err != nil {
		return fmt.Errorf("compress fragment: %w", err)
	}
	f := fragment{start: uint64(w.out.off)}
	if len(c) < len(w.frag) {
		f.size = uint32(len(c))
	} else {
		c = w.frag
		f.size = uint32(len(c)) | dataUncompressed
	}
	if _, err := w.out.Write(c); err != nil {
		return fmt.Errorf("write fragment: %w", err)
	}
	w.frags = append(w.frags, f)
	w.frag = w.frag[:0]
	return nil
}

// sortedChildren returns a directory's names in byte order.
func sortedChildren(d *inode) []string {
	names := make([]string, 0, len(d.children))
	for n := range d.children {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close writes the fragment, inode, directory, id and xattr tables and the
// superblock, pads the image to a multiple of 4 KiB, and returns its size.
func (w *Writer) Close(ctx context.Context) (int64, error) {
	if w.closed {
		return 0, errors.New("squashfs: closed twice")
	}
	w.closed = true
	if err := w.flushFragment(); err != nil {
		return 0, fmt.Errorf("squashfs: %w", err)
	}
	// Inode numbers in the order the inodes are written: depth first,
	// each directory after its contents, so the root is last.
	var number func(d *inode)
	number = func(d *inode) {
		for _, name := range sortedChildren(d) {
			c := d.children[name]
			if c.typ == TypeDir {
				number(c)
			} else if c.num == 0 {
				w.count++
				c.num = w.count
			}
		}
		w.count++
		d.num = w.count
	}
	number(w.root)

	inodes := &metaWriter{c: w.comp}
	dirs := &metaWriter{c: w.comp}
	var emit func(d *inode) error
	emit = func(d *inode) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		names := sortedChildren(d)
		for _, name := range names {
			c := d.children[name]
			if c.typ == TypeDir {
				if err := emit(c); err != nil {
					return err
				}
			} else if !c.written {
				if err := w.writeInode(inodes, c); err != nil {
					return err
				}
			}
		}
		if err := writeListing(dirs, d, names); err != nil {
			return err
		}
		return w.writeInode(inodes, d)
	}
	if err := emit(w.root); err != nil {
		return 0, fmt.Errorf("squashfs: %w", err)
	}
	for _, m := range []*metaWriter{inodes, dirs} {
		if err := m.flush(); err != nil {
			return 0, err
		}
	}
	sb := superblock{
		inodes:      w.count,
		mtime:       uint32(w.epoch),
		blockSize:   uint32(w.o.blockSize),
		fragments:   uint32(len(w.frags)),
		comp:        uint16(w.o.comp),
		flags:       flagAlwaysFragments | flagDuplicates,
		ids:         uint16(len(w.ids)),
		rootRef:     w.root.ref,
		xattrStart:  noTable,
		exportStart: noTable,
	}
	put := func(b []byte) error {
		_, err := w.out.Write(b)
		return err
	}
	sb.inodeStart = uint64(w.out.off)
	if err := put(inodes.out); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	sb.dirStart = uint64(w.out.off)
	if err := put(dirs.out); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	// Fragment table: 16-byte entries in metadata blocks, then the
	// offsets of those blocks.
	fe := make([]byte, 16*len(w.frags))
	for i, f := range w.frags {
		binary.LittleEndian.PutUint64(fe[16*i:], f.start)
		binary.LittleEndian.PutUint32(fe[16*i+8:], f.size)
	}
	var err error
	if sb.fragStart, err = w.lookupTable(fe); err != nil {
		return 0, err
	}
	ie := make([]byte, 4*len(w.ids))
	for i, id := range w.ids {
		binary.LittleEndian.PutUint32(ie[4*i:], id)
	}
	if sb.idStart, err = w.lookupTable(ie); err != nil {
		return 0, err
	}
	if len(w.xattrs) > 0 {
		if sb.xattrStart, err = w.writeXattrs(); err != nil {
			return 0, err
		}
	} else {
		sb.flags |= flagNoXattrs
	}
	sb.bytesUsed = uint64(w.out.off)
	// Pad to 4 KiB. Bytes of rewound duplicates left past the end are cut
	// off when w can be truncated (an *os.File), zeroed otherwise.
	end := w.out.off
	tr, canTruncate := w.out.w.(interface{ Truncate(int64) error })
	if !canTruncate {
		end = max(end, w.out.max)
	}
	if pad := end - w.out.off + (4096-end%4096)%4096; pad > 0 {
		if err := put(make([]byte, pad)); err != nil {
			return 0, fmt.Errorf("squashfs: write: %w", err)
		}
	}
	if err := w.out.flush(); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	if _, err := w.out.w.WriteAt(sb.bytes(), 0); err != nil {
		return 0, fmt.Errorf("squashfs: write superblock: %w", err)
	}
	if canTruncate {
		if err := tr.Truncate(w.out.off); err != nil {
			return 0, fmt.Errorf("squashfs: truncate: %w", err)
		}
	}
	return w.out.off, nil
}

// lookupTable writes entries as metadata blocks followed by the absolute
// offsets of the blocks, and returns where those offsets start.
func (w *Writer) lookupTable(entries []byte) (uint64, error) {
	m := &metaWriter{c: w.comp}
	if err := m.write(entries); err != nil {
		return 0, err
	}
	if err := m.flush(); err != nil {
		return 0, err
	}
	base := uint64(w.out.off)
	if _, err := w.out.Write(m.out); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	start := uint64(w.out.off)
	idx := make([]byte, 8*len(m.starts))
	for i, s := range m.starts {
		binary.LittleEndian.PutUint64(idx[8*i:], base+uint64(s))
	}
	if _, err := w.out.Write(idx); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	return start, nil
}

// Inode types.
const (
	tDir, tFile, tSymlink, tBlock, tChar, tFifo              = 1, 2, 3, 4, 5, 6
	tLDir, tLFile, tLSymlink, tLBlock, tLChar, tLFifo        = 8, 9, 10, 11, 12, 13
	flagNoXattrs, flagAlwaysFragments, flagDuplicates uint16 = 0x0200, 0x0020, 0x0040
)

// basicType is an inode's type as directory entries record it.
func basicType(in *inode) uint16 {
	switch in.typ {
	case TypeDir:
		return tDir
	case TypeSymlink:
		return tSymlink
	case TypeBlockDev:
		return tBlock
	case TypeCharDev:
		return tChar
	case TypeFifo:
		return tFifo
	}
	return tFile
}

func (w *Writer) writeInode(m *metaWriter, in *inode) error {
	in.ref = m.ref()
	in.written = true
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	ext := in.xattr != noXattr
	typ := basicType(in)
	switch in.typ {
	case TypeDir:
		ext = ext || in.listSize > 0xFFFF
		if ext {
			typ = tLDir
		}
	case TypeFile:
		ext = ext || in.nlink > 1 || in.size > 1<<32-1 || in.blocksStart > 1<<32-1 || in.sparse > 0
		if ext {
			typ = tLFile
		}
	case TypeSymlink:
		if ext {
			typ = tLSymlink
		}
	case TypeBlockDev:
		if ext {
			typ = tLBlock
		}
	case TypeCharDev:
		if ext {
			typ = tLChar
		}
	case TypeFifo:
		if ext {
			typ = tLFifo
		}
	}
	le(typ)
	le(in.mode)
	le(in.uid)
	le(in.gid)
	le(in.mtime)
	le(in.num)
	switch typ {
	case tDir:
		le(in.listBlock)
		le(2 + subdirs(in))
		le(uint16(in.listSize))
		le(in.listOffset)
		le(w.parentNum(in))
	case tLDir:
		le(2 + subdirs(in))
		le(in.listSize)
		le(in.listBlock)
		le(w.parentNum(in))
		le(uint16(0)) // no directory index
		le(in.listOffset)
		le(in.xattr)
	case tFile:
		le(uint32(in.blocksStart))
		le(in.frag)
		le(in.fragOf)
		le(uint32(in.size))
		le(in.blockSizes)
	case tLFile:
		le(in.blocksStart)
		le(in.size)
		le(in.sparse)
		le(in.nlink)
		le(in.frag)
		le(in.fragOf)
		le(in.xattr)
		le(in.blockSizes)
	case tSymlink, tLSymlink:
		le(in.nlink)
		le(uint32(len(in.target)))
		b.WriteString(in.target)
		if typ == tLSymlink {
			le(in.xattr)
		}
	case tBlock, tChar, tLBlock, tLChar:
		le(in.nlink)
		le(in.minor&0xFF | in.major<<8 | (in.minor&^0xFF)<<12)
		if ext {
			le(in.xattr)
		}
	case tFifo, tLFifo:
		le(in.nlink)
		if ext {
			le(in.xattr)
		}
	}
	return m.write(b.Bytes())
}

// parentNum is the inode number a directory records as its parent's; the
// root's is one past the last inode, as mksquashfs writes it.
func (w *Writer) parentNum(d *inode) uint32 {
	if d == w.root {
		return w.count + 1
	}
	return d.parent.num
}

func subdirs(d *inode) uint32 {
	var n uint32
	for _, c := range d.children {
		if c.typ == TypeDir {
			n++
		}
	}
	return n
}

// writeListing writes a directory's entries (sorted by name) in runs that
// share an inode block and lie within 32767 inode numbers of their base.
func writeListing(m *metaWriter, d *inode, names []string) error {
	d.listBlock, d.listOffset = m.pos()
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	for i := 0; i < len(names); {
		first := d.children[names[i]]
		block, base := uint32(first.ref>>16), first.num
		j := i
		for j < len(names) && j-i < 256 {
			c := d.children[names[j]]
			if uint32(c.ref>>16) != block || int64(c.num)-int64(base) > 32767 || int64(c.num)-int64(base) < -32768 {
				break
			}
			j++
		}
		le(uint32(j - i - 1))
		le(block)
		le(base)
		for _, name := range names[i:j] {
			c := d.children[name]
			le(uint16(c.ref & 0xFFFF))
			le(int16(int64(c.num) - int64(base)))
			le(basicType(c))
			le(uint16(len(name) - 1))
			b.WriteString(name)
		}
		i = j
	}
	d.listSize = uint32(b.Len()) + 3
	return m.write(b.Bytes())
}

type superblock struct {
	inodes, mtime, blockSize, fragments                                      uint32
	comp, flags, ids                                                         uint16
	rootRef, bytesUsed, idStart, xattrStart, inodeStart, dirStart, fragStart uint64
	exportStart                                                              uint64
}

func (s superblock) bytes() []byte {
	b := make([]byte, superSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0x73717368)
	le.PutUint32(b[4:], s.inodes)
	le.PutUint32(b[8:], s.mtime)
	le.PutUint32(b[12:], s.blockSize)
	le.PutUint32(b[16:], s.fragments)
	le.PutUint16(b[20:], s.comp)
	blockLog := uint16(0)
	for 1<<blockLog < s.blockSize {
		blockLog++
	}
	le.PutUint16(b[22:], blockLog)
	le.PutUint16(b[24:], s.flags)
	le.PutUint16(b[26:], s.ids)
	le.PutUint16(b[28:], 4)
	le.PutUint16(b[30:], 0)
	le.PutUint64(b[32:], s.rootRef)
	le.PutUint64(b[40:], s.bytesUsed)
	le.PutUint64(b[48:], s.idStart)
	le.PutUint64(b[56:], s.xattrStart)
	le.PutUint64(b[64:], s.inodeStart)
	le.PutUint64(b[72:], s.dirStart)
	le.PutUint64(b[80:], s.fragStart)
	le.PutUint64(b[88:], s.exportStart)
	return b
}
