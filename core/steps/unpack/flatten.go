package unpack

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

// Default limits on what an image's layers may hold together: entries
// (whiteouts included) and bytes of file content (uncompressed).
const (
	DefaultMaxEntries = 1 << 20
	DefaultMaxSize    = 64 << 30
)

// FlattenOptions configures Flatten.
type FlattenOptions struct {
	// Image is the image reference, for errors.
	Image string
	// SourceDateEpoch clamps every time (seconds since 1970).
	SourceDateEpoch int64
	// TempDir is where Flatten keeps its spool file (required).
	TempDir string
	// Drop, if set, is asked about every name of the flattened tree; a name
	// it returns true for is left out, before hard links are assigned (so a
	// link to a dropped file gets the file's content). Parent directories of
	// kept names are synthesized when missing.
	Drop func(name string) bool
	// MaxEntries limits the number of entries; 0 means DefaultMaxEntries.
	MaxEntries int
	// MaxSize limits the bytes of file content; 0 means DefaultMaxSize.
	MaxSize int64
	// Progress, if set, is told how many bytes of the layers were read.
	Progress func(done, total int64)
}

// EmitFunc receives the entries of the flattened tree, sorted by name, with
// normalized headers. r holds the content of a regular file and is valid
// only during the call. The header is the callee's to keep or change.
type EmitFunc func(h *tar.Header, r io.Reader) error

// Flatten applies layers, bottom first, as a container runtime does (OCI
// whiteouts ".wh.<name>" delete a name and everything below it in lower
// layers, ".wh..wh..opq" empties a directory of lower layers' entries, a
// later entry replaces an earlier one of the same name, and a non-directory
// replaces a directory with everything below it) and calls emit for every
// entry of the resulting tree in sorted order.
//
// Memory stays flat: entries are spooled to a file in TempDir and only a
// small record per name is kept. Hard links are kept when their target is the
// same file at the end; the first name of a group in sort order carries the
// content and later names link to it. Missing parent directories are
// synthesized (mode 0755, owner 0:0).
//
// Hostile input is refused with an *EntryError: names with a ".." component,
// entries (whiteouts included) whose parent path goes through a symlink or a
// non-directory of the tree, hard links to a missing name, to a directory or
// to themselves, device nodes other than the well-known character devices of
// wellKnownDevices, unsupported entry types (GNU sparse files included: they
// could expand to any size), and more than MaxEntries entries or MaxSize
// bytes. Symlinks may point anywhere: nothing is ever written through them.
func Flatten(ctx context.Context, layers []Layer, opt FlattenOptions, emit EmitFunc) error {
	if opt.TempDir == "" {
		return errors.New("unpack: Flatten needs a TempDir")
	}
	f, err := os.CreateTemp(opt.TempDir, "flatten-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fl := &flattener{
		opt:     opt,
		max:     opt.MaxEntries,
		file:    f,
		index:   map[string]record{},
		implied: map[string]struct{}{},
		marks:   map[string]mark{},
		buf:     make([]byte, 128<<10),
	}
	if fl.max <= 0 {
		fl.max = DefaultMaxEntries
	}
	fl.max = min(fl.max, math.MaxInt32) // sequence numbers are uint32
	if fl.opt.MaxSize <= 0 {
		fl.opt.MaxSize = DefaultMaxSize
	}
	fl.bw = bufio.NewWriterSize(&countWriter{w: f, n: &fl.size}, 256<<10)
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

// record is what Flatten remembers of a name: the sequence number of the
// entry (its position among all entries of all layers), its type and the
// spool offset of its header — for a hard link, of the header of the file it
// links to.
type record struct {
	off int64
	seq uint32
	typ byte
}

// mark records deletions: entries whose seq is below self are deleted at
// this name, entries whose seq is below desc are deleted below it.
type mark struct{ self, desc uint32 }

type flattener struct {
	opt  FlattenOptions
	max  int
	file *os.File
	bw   *bufio.Writer
	tw   *tar.Writer
	size int64 // bytes written to the spool so far
	data int64 // bytes of file content so far
	seq  uint32
	// index holds the last record of every name (possibly deleted since).
	index map[string]record
	// implied holds every name that some entry had below it.
	implied map[string]struct{}
	marks   map[string]mark
	buf     []byte
}

func (fl *flattener) readLayer(ctx context.Context, l Layer, done *int64, total int64) error {
	rc, err := l.Open(ctx)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", fl.image(), l.Name, err)
	}
	defer rc.Close()
	zr, err := decompress(&progressReader{r: rc, done: done, total: total, report: fl.opt.Progress})
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

func (fl *flattener) image() string {
	if fl.opt.Image == "" {
		return "image"
	}
	return fl.opt.Image
}

func (fl *flattener) fail(l Layer, entry string, err error) error {
	return &EntryError{Image: fl.opt.Image, Layer: l.Name, Entry: entry, Err: err}
}

// wellKnownDevices are the only device nodes an image may hold: character
// devices with their standard numbers, which give no access to hardware.
var wellKnownDevices = map[string][2]int64{
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
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueName     = ".wh..wh..opq"
)

// add applies one entry of a layer whose first entry had sequence number
// start.
func (fl *flattener) add(l Layer, h *tar.Header, content io.Reader, start, seq uint32) error {
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
	if strings.HasPrefix(name, whiteoutMeta) && name != opaqueName {
		// AUFS metadata directories (.wh..wh.plnk, .wh..wh.orph) and what
		// they hold: not part of the tree.
		return nil
	}
	dir, base := tarutil.Parent(name), path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == opaqueName:
			fl.mark(dir, mark{desc: start})
		case strings.HasPrefix(base, whiteoutMeta):
			// Other AUFS metadata (.wh..wh.aufs): ignored.
		case base == whiteoutPrefix:
			return fl.fail(l, h.Name, fmt.Errorf("%w: no name after %q", ErrWhiteout, whiteoutPrefix))
		default:
			fl.mark(path.Join(dir, base[len(whiteoutPrefix):]), mark{self: start, desc: start})
		}
		return nil
	}
	if isSparse(h) {
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
		want, ok := wellKnownDevices[name]
		if !ok || h.Typeflag != tar.TypeChar || want != [2]int64{h.Devmajor, h.Devminor} {
			return fl.fail(l, h.Name, fmt.Errorf("%w: %s %d:%d (only the standard character devices %s are allowed)",
				ErrDevice, deviceKind(h.Typeflag), h.Devmajor, h.Devminor, strings.Join(wellKnownNames(), ", ")))
		}
	}
	rec := record{seq: seq, typ: h.Typeflag}
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
			fl.mark(name, mark{desc: seq})
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

// isSparse reports whether h is a GNU sparse file (old GNU or PAX format).
func isSparse(h *tar.Header) bool {
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

func deviceKind(t byte) string {
	if t == tar.TypeBlock {
		return "block device"
	}
	return "character device"
}

func wellKnownNames() []string {
	var names []string
	for n := range wellKnownDevices {
		names = append(names, "/"+n)
	}
	slices.Sort(names)
	return names
}

func (fl *flattener) mark(name string, m mark) {
	old := fl.marks[name]
	fl.marks[name] = mark{self: max(old.self, m.self), desc: max(old.desc, m.desc)}
}

// live reports whether r, the record of name, has not been deleted since it
// was added.
func (fl *flattener) live(name string, r record) bool {
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
func (fl *flattener) checkParents(name string) error {
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
func (fl *flattener) spool(h *tar.Header, content io.Reader) (int64, error) {
	if err := fl.tw.Flush(); err != nil {
		return 0, err
	}
	off := fl.size + int64(fl.bw.Buffered())
	if err := fl.tw.WriteHeader(h); err != nil {
		return 0, err
	}
	if h.Typeflag == tar.TypeReg {
		if _, err := io.CopyBuffer(fl.tw, onlyReader{content}, fl.buf); err != nil {
			return 0, err
		}
	}
	return off, nil
}

// onlyReader hides any WriterTo of a reader so that io.CopyBuffer uses the
// given buffer.
type onlyReader struct{ io.Reader }

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n *int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// emit calls fn for every live entry, sorted.
func (fl *flattener) emit(ctx context.Context, fn EmitFunc) error {
	drop := fl.opt.Drop
	if drop == nil {
		drop = func(string) bool { return false }
	}
	// The names of the tree; synthesized directories get a zero record.
	keep := make(map[string]record, len(fl.index))
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
			keep[p] = record{typ: tar.TypeDir, off: -1}
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
			content = &bufferedReader{r: tr, buf: fl.buf}
		}
		if err := fn(h, content); err != nil {
			return err
		}
	}
	return nil
}

// read returns the spooled entry whose header is at off.
func (fl *flattener) read(off int64) (*tar.Header, *tar.Reader, error) {
	tr := tar.NewReader(io.NewSectionReader(fl.file, off, fl.size-off))
	h, err := tr.Next()
	if err != nil {
		return nil, nil, err
	}
	return h, tr, nil
}

// bufferedReader copies itself with a shared buffer (io.Copy would allocate
// one per entry).
type bufferedReader struct {
	r   io.Reader
	buf []byte
}

func (b *bufferedReader) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *bufferedReader) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(onlyWriter{w}, onlyReader{b.r}, b.buf)
}

// onlyWriter hides any ReaderFrom of a writer (which would call WriteTo
// again).
type onlyWriter struct{ io.Writer }
