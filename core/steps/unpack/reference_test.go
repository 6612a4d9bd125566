package unpack

// The implementation of Flatten before layers were read in parallel and
// single sorted layers streamed: the reference that TestFlattenMatchesReference
// and FuzzFlattenMatchesReference compare Flatten with.

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/kitbuild/kit/core/internal/ctxio"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Flatten applies layers, bottom first, as a container runtime does (OCI
// whiteouts ".wh.<name>" delete a name and everything below it in lower
// layers, ".wh..wh..opq" empties a directory of lower layers' entries, a
// later entry replaces an earlier one of the same name, and a non-directory
// replaces a directory with everything below it) and calls emit for every
// entry of the resulting tree in sorted order.
//
// Memory stays flat: entries are spooled to a file in TempDir and only a
// small refRecord per name is kept. Hard links are kept when their target is the
// same file at the end; the first name of a group in sort order carries the
// content and later names link to it. Missing parent directories are
// synthesized (mode 0755, owner 0:0).
//
// Hostile input is refused with an *EntryError: names with a ".." component,
// entries (whiteouts included) whose parent path goes through a symlink or a
// non-directory of the tree, hard links to a missing name, to a directory or
// to themselves, device nodes other than the well-known character devices of
// refWellKnownDevices, unsupported entry types (GNU sparse files included: they
// could expand to any size), and more than MaxEntries entries or MaxSize
// bytes. Symlinks may point anywhere: nothing is ever written through them.
func refFlatten(ctx context.Context, layers []Layer, opt FlattenOptions, emit EmitFunc) error {
	if opt.TempDir == "" {
		return errors.New("unpack: Flatten needs a TempDir")
	}
	f, err := os.CreateTemp(opt.TempDir, "flatten-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fl := &refFlattener{
		opt:     opt,
		max:     opt.MaxEntries,
		file:    f,
		index:   map[string]refRecord{},
		implied: map[string]struct{}{},
		marks:   map[string]refMark{},
		buf:     make([]byte, 128<<10),
	}
	if fl.max <= 0 {
		fl.max = DefaultMaxEntries
	}
	fl.max = min(fl.max, math.MaxInt32) // sequence numbers are uint32
	if fl.opt.MaxSize <= 0 {
		fl.opt.MaxSize = DefaultMaxSize
	}
	fl.bw = bufio.NewWriterSize(&refCountWriter{w: f, n: &fl.size}, 256<<10)
	fl.tw = tar.NewWriter(fl.bw)
	var total, done int64
	for _, l := range layers {
		total += l.Size
	}
	for _, l := range layers {
		if err := fl.readLayer(ctx, l, &done, total); err != nil {
			return err
		}
	}
	if err := fl.tw.Flush(); err != nil {
		return err
	}
	if err := fl.bw.Flush(); err != nil {
		return err
	}
	return fl.emit(ctx, emit)
}

// refRecord is what Flatten remembers of a name: the sequence number of the
// entry (its position among all entries of all layers), its type and the
// spool offset of its header — for a hard link, of the header of the file it
// links to.
type refRecord struct {
	off int64
	seq uint32
	typ byte
}

// mark refRecords deletions: entries whose seq is below self are deleted at
// this name, entries whose seq is below desc are deleted below it.
type refMark struct{ self, desc uint32 }

type refFlattener struct {
	opt  FlattenOptions
	max  int
	file *os.File
	bw   *bufio.Writer
	tw   *tar.Writer
	size int64 // bytes written to the spool so far
	data int64 // bytes of file content so far
	seq  uint32
	// index holds the last refRecord of every name (possibly deleted since).
	index map[string]refRecord
	// implied holds every name that some entry had below it.
	implied map[string]struct{}
	marks   map[string]refMark
	buf     []byte
}

func (fl *refFlattener) readLayer(ctx context.Context, l Layer, done *int64, total int64) error {
	rc, err := l.Open(ctx)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", fl.image(), l.Name, err)
	}
	defer rc.Close()
	zr, err := decompress(&refProgressReader{r: rc, done: done, total: total, report: fl.opt.Progress})
	if err != nil {
		return fmt.Errorf("%s: %s: %w", fl.image(), l.Name, err)
	}
	defer zr.Close()
	tr := tar.NewReader(ctxio.Reader(ctx, zr))
	start := fl.seq
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("%s: %s: reading tar: %w", fl.image(), l.Name, err)
		}
		if int(fl.seq) >= fl.max {
			return fl.fail(l, h.Name, fmt.Errorf("%w: more than %d entries", ErrLimit, fl.max))
		}
		if fl.seq%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		seq := fl.seq
		fl.seq++
		if err := fl.add(l, h, tr, start, seq); err != nil {
			return err
		}
	}
}

func (fl *refFlattener) image() string {
	if fl.opt.Image == "" {
		return "image"
	}
	return fl.opt.Image
}

func (fl *refFlattener) fail(l Layer, entry string, err error) error {
	return &EntryError{Image: fl.opt.Image, Layer: l.Name, Entry: entry, Err: err}
}

// refWellKnownDevices are the only device nodes an image may hold: character
// devices with their standard numbers, which give no access to hardware.
var refWellKnownDevices = map[string][2]int64{
	"dev/console":  {5, 1},
	"dev/full":     {1, 7},
	"dev/null":     {1, 3},
	"dev/ptmx":     {5, 2},
	"dev/pts/ptmx": {5, 2},
	"dev/random":   {1, 8},
	"dev/tty":      {5, 0},
	"dev/urandom":  {1, 9},
	"dev/zero":     {1, 5},
}

const (
	refWhiteoutPrefix = ".wh."
	refWhiteoutMeta   = ".wh..wh."
	refOpaqueName     = ".wh..wh..opq"
)

// add applies one entry of a layer whose first entry had sequence number
// start.
func (fl *refFlattener) add(l Layer, h *tar.Header, content io.Reader, start, seq uint32) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := tarutil.CleanName(h.Name)
	if err != nil {
		return fl.fail(l, h.Name, err)
	}
	if name == "" {
		return nil // the root directory: its metadata has no place in the tree
	}
	if err := fl.checkParents(name); err != nil {
		return fl.fail(l, h.Name, err)
	}
	if strings.HasPrefix(name, refWhiteoutMeta) && name != refOpaqueName {
		// AUFS metadata directories (.wh..wh.plnk, .wh..wh.orph) and what
		// they hold: not part of the tree.
		return nil
	}
	dir, base := tarutil.Parent(name), path.Base(name)
	if strings.HasPrefix(base, refWhiteoutPrefix) {
		switch {
		case base == refOpaqueName:
			fl.mark(dir, refMark{desc: start})
		case strings.HasPrefix(base, refWhiteoutMeta):
			// Other AUFS metadata (.wh..wh.aufs): ignored.
		case base == refWhiteoutPrefix:
			return fl.fail(l, h.Name, fmt.Errorf("%w: no name after %q", ErrWhiteout, refWhiteoutPrefix))
		default:
			fl.mark(path.Join(dir, base[len(refWhiteoutPrefix):]), refMark{self: start, desc: start})
		}
		return nil
	}
	if refIsSparse(h) {
		return fl.fail(l, h.Name, fmt.Errorf("%w: GNU sparse file", tarutil.ErrType))
	}
	if err := tarutil.Normalize(h, fl.opt.SourceDateEpoch); err != nil {
		return fl.fail(l, h.Name, err)
	}
	if fl.data += h.Size; fl.data > fl.opt.MaxSize {
		return fl.fail(l, h.Name, fmt.Errorf("%w: more than %d bytes of content", ErrLimit, fl.opt.MaxSize))
	}
	switch h.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		want, ok := refWellKnownDevices[name]
		if !ok || h.Typeflag != tar.TypeChar || want != [2]int64{h.Devmajor, h.Devminor} {
			return fl.fail(l, h.Name, fmt.Errorf("%w: %s %d:%d (only the standard character devices %s are allowed)",
				ErrDevice, refDeviceKind(h.Typeflag), h.Devmajor, h.Devminor, strings.Join(refWellKnownNames(), ", ")))
		}
	}
	rec := refRecord{seq: seq, typ: h.Typeflag}
	if h.Typeflag == tar.TypeLink {
		if h.Linkname == name {
			return fl.fail(l, h.Name, fmt.Errorf("%w: links to itself", ErrHardLink))
		}
		t, ok := fl.index[h.Linkname]
		if !ok || !fl.live(h.Linkname, t) {
			return fl.fail(l, h.Name, fmt.Errorf("%w: target %q is not in the image", ErrHardLink, h.Linkname))
		}
		if t.typ == tar.TypeDir {
			return fl.fail(l, h.Name, fmt.Errorf("%w: target %q is a directory", ErrHardLink, h.Linkname))
		}
		rec.off = t.off
	} else {
		off, err := fl.spool(h, content)
		if err != nil {
			return fmt.Errorf("%s: %s: entry %q: %w", fl.image(), l.Name, h.Name, err)
		}
		rec.off = off
	}
	fl.index[name] = rec
	if h.Typeflag != tar.TypeDir {
		if _, ok := fl.implied[name]; ok {
			fl.mark(name, refMark{desc: seq})
		}
	}
	for p := tarutil.Parent(name); p != ""; p = tarutil.Parent(p) {
		if _, ok := fl.implied[p]; ok {
			break
		}
		fl.implied[p] = struct{}{}
	}
	return nil
}

// refIsSparse reports whether h is a GNU sparse file (old GNU or PAX format).
func refIsSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func refDeviceKind(t byte) string {
	if t == tar.TypeBlock {
		return "block device"
	}
	return "character device"
}

func refWellKnownNames() []string {
	var names []string
	for n := range refWellKnownDevices {
		names = append(names, "/"+n)
	}
	slices.Sort(names)
	return names
}

func (fl *refFlattener) mark(name string, m refMark) {
	old := fl.marks[name]
	fl.marks[name] = refMark{self: max(old.self, m.self), desc: max(old.desc, m.desc)}
}

// live reports whether r, the refRecord of name, has not been deleted since it
// was added.
func (fl *refFlattener) live(name string, r refRecord) bool {
	if len(fl.marks) == 0 {
		return true
	}
	if m, ok := fl.marks[name]; ok && m.self > r.seq {
		return false
	}
	for p := name; p != ""; {
		p = tarutil.Parent(p)
		if m, ok := fl.marks[p]; ok && m.desc > r.seq {
			return false
		}
	}
	return true
}

// checkParents refuses a name whose parent path goes through a live
// non-directory.
func (fl *refFlattener) checkParents(name string) error {
	for p := tarutil.Parent(name); p != ""; p = tarutil.Parent(p) {
		r, ok := fl.index[p]
		if !ok || r.typ == tar.TypeDir || !fl.live(p, r) {
			continue
		}
		if r.typ == tar.TypeSymlink {
			return fmt.Errorf("%w: %q is a symlink", ErrThroughSymlink, p)
		}
		return fmt.Errorf("%w: %q is not a directory", ErrNotDir, p)
	}
	return nil
}

// spool writes a normalized entry to the spool file and returns the offset
// of its header.
func (fl *refFlattener) spool(h *tar.Header, content io.Reader) (int64, error) {
	if err := fl.tw.Flush(); err != nil {
		return 0, err
	}
	off := fl.size + int64(fl.bw.Buffered())
	if err := fl.tw.WriteHeader(h); err != nil {
		return 0, err
	}
	if h.Typeflag == tar.TypeReg {
		if _, err := io.CopyBuffer(fl.tw, refOnlyReader{content}, fl.buf); err != nil {
			return 0, err
		}
	}
	return off, nil
}

// refOnlyReader hides any WriterTo of a reader so that io.CopyBuffer uses the
// given buffer.
type refOnlyReader struct{ io.Reader }

// refCountWriter counts the bytes written through it.
type refCountWriter struct {
	w io.Writer
	n *int64
}

func (c *refCountWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// emit calls fn for every live entry, sorted.
func (fl *refFlattener) emit(ctx context.Context, fn EmitFunc) error {
	drop := fl.opt.Drop
	if drop == nil {
		drop = func(string) bool { return false }
	}
	// The names of the tree; synthesized directories get a zero refRecord.
	keep := make(map[string]refRecord, len(fl.index))
	names := make([]string, 0, len(fl.index))
	for name, r := range fl.index {
		if fl.live(name, r) && !drop(name) {
			keep[name] = r
			names = append(names, name)
		}
	}
	// Links and the files they link to, by spool offset.
	linked := map[int64]bool{}
	for _, r := range keep {
		if r.typ == tar.TypeLink {
			linked[r.off] = true
		}
	}
	n := len(names)
	for _, name := range names[:n] {
		for p := tarutil.Parent(name); p != ""; p = tarutil.Parent(p) {
			r, ok := keep[p]
			if ok && r.typ == tar.TypeDir {
				break
			}
			if ok {
				// add refuses a name below a live non-directory and deletes
				// the names below a new one, so this cannot happen.
				return fmt.Errorf("%s: internal error: %q is below the non-directory %q", fl.image(), name, p)
			}
			keep[p] = refRecord{typ: tar.TypeDir, off: -1}
			names = append(names, p)
		}
	}
	slices.Sort(names)
	first := map[int64]string{} // spool offset → name that carries the content
	epoch := time.Unix(fl.opt.SourceDateEpoch, 0).UTC()
	for i, name := range names {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r := keep[name]
		if r.off < 0 {
			if err := fn(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}, nil); err != nil {
				return err
			}
			continue
		}
		h, tr, err := fl.read(r.off)
		if err != nil {
			return fmt.Errorf("%s: spool of %q: %w", fl.image(), name, err)
		}
		h.Name = name
		if linked[r.off] {
			if target, ok := first[r.off]; ok {
				h.Typeflag, h.Linkname, h.Size, h.PAXRecords = tar.TypeLink, target, 0, nil
				h.Devmajor, h.Devminor = 0, 0
				if err := fn(h, nil); err != nil {
					return err
				}
				continue
			}
			first[r.off] = name
		}
		var content io.Reader
		if h.Typeflag == tar.TypeReg {
			content = &refBufferedReader{r: tr, buf: fl.buf}
		}
		if err := fn(h, content); err != nil {
			return err
		}
	}
	return nil
}

// read returns the spooled entry whose header is at off.
func (fl *refFlattener) read(off int64) (*tar.Header, *tar.Reader, error) {
	tr := tar.NewReader(io.NewSectionReader(fl.file, off, fl.size-off))
	h, err := tr.Next()
	if err != nil {
		return nil, nil, err
	}
	return h, tr, nil
}

// refBufferedReader copies itself with a shared buffer (io.Copy would allocate
// one per entry).
type refBufferedReader struct {
	r   io.Reader
	buf []byte
}

func (b *refBufferedReader) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *refBufferedReader) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(refOnlyWriter{w}, refOnlyReader{b.r}, b.buf)
}

// refOnlyWriter hides any ReaderFrom of a writer (which would call WriteTo
// again).
type refOnlyWriter struct{ io.Writer }

// refProgressReader counts the bytes read through it and reports them.
type refProgressReader struct {
	r        io.Reader
	done     *int64
	total    int64
	reported int64
	report   func(done, total int64)
}

func (p *refProgressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	*p.done += int64(n)
	if p.report != nil && (*p.done-p.reported >= 1<<20 || err == io.EOF) {
		p.reported = *p.done
		p.report(*p.done, p.total)
	}
	return n, err
}
