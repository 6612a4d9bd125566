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
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// maxLayers bounds the layers of one image (record.layer has 16 bits).
const maxLayers = 1 << 16

// FlattenOptions configures Flatten.
type FlattenOptions struct {
	// Image is the image reference, for errors.
	Image string
	// SourceDateEpoch clamps every time (seconds since 1970).
	SourceDateEpoch int64
	// TempDir is where Flatten keeps its spool files (required).
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
	// Restart, if set, lets Flatten stream an image of one layer straight
	// from the layer to emit, without a spool file, as long as the layer's
	// entries come in the order of the flattened tree (as in a normalized
	// tar, or any tar whose names are sorted). An image of up to
	// maxMergeLayers layers streams too, its layers read side by side, when
	// each is sorted and plain: no whiteouts, no hard links, no name that is
	// a directory in one layer and not in another (see merge). If it finds
	// partway that they do not, it calls Restart, which must discard
	// everything emit received so far, and emits the whole tree again
	// through a spool. Drop may then be asked about a name twice.
	Restart func() error
}

// EmitFunc receives the entries of the flattened tree, sorted by name, with
// normalized headers. r holds the content of a regular file and is valid
// only during the call. The header is the callee's to keep or change.
//
// When it returns an error, Flatten returns it; while streaming, it first
// reads the rest of the layer for an entry it must refuse (see stream),
// unless the error wraps ErrAbort.
type EmitFunc func(h *tar.Header, r io.Reader) error

// ErrAbort, wrapped by an error of an EmitFunc, makes Flatten return that
// error at once, even while streaming.
var ErrAbort = errors.New("flatten aborted")

// Flatten applies layers, bottom first, as a container runtime does (OCI
// whiteouts ".wh.<name>" delete a name and everything below it in lower
// layers, ".wh..wh..opq" empties a directory of lower layers' entries, a
// later entry replaces an earlier one of the same name, and a non-directory
// replaces a directory with everything below it) and calls emit for every
// entry of the resulting tree in sorted order.
//
// Memory stays flat: entries are spooled to files in TempDir, one per
// layer, and only a small record per name is kept. The layers are read,
// decompressed and spooled in parallel (as many at once as there are
// CPUs), then applied in order. With opt.Restart, an image of one sorted
// layer, or of a few sorted plain ones, is not spooled at all (see
// FlattenOptions.Restart). Hard links are
// kept when their target is the same file at the end; the first name of a
// group in sort order carries the content and later names link to it.
// Missing parent directories are synthesized (mode 0755, owner 0:0).
//
// Hostile input is refused with an *EntryError: names with a ".." component,
// entries (whiteouts included) whose parent path goes through a symlink or a
// non-directory of the tree, hard links to a missing name, to a directory or
// to themselves, device nodes other than the well-known character devices of
// wellKnownDevices, unsupported entry types (GNU sparse files included: they
// could expand to any size), and more than MaxEntries entries or MaxSize
// bytes (each layer being read stops at these limits too, so that the
// spool files of the layers read at once hold at most the limit each).
// Errors are the same, and about the same entry, as when the layers are
// read one after another. Symlinks may point anywhere: nothing is ever
// written through them.
func Flatten(ctx context.Context, layers []Layer, opt FlattenOptions, emit EmitFunc) error {
	if opt.TempDir == "" {
		return errors.New("unpack: Flatten needs a TempDir")
	}
	if len(layers) > maxLayers {
		return fmt.Errorf("%s: %d layers, more than the %d supported", imageName(opt.Image), len(layers), maxLayers)
	}
	var total int64
	for _, l := range layers {
		total += l.Size
	}
	if opt.Restart != nil && len(layers) >= 1 && len(layers) <= maxMergeLayers {
		fl := newFlattener(opt, total)
		var err error
		if len(layers) == 1 {
			err = fl.stream(ctx, layers[0], emit)
		} else {
			err = fl.merge(ctx, layers, emit)
		}
		if !errors.Is(err, errNotStreamable) {
			return err
		}
		if err := opt.Restart(); err != nil {
			return err
		}
	}
	fl := newFlattener(opt, total)
	defer fl.removeSpools()
	if err := fl.load(ctx, layers); err != nil {
		return err
	}
	return fl.emit(ctx, emit)
}

// record is what Flatten remembers of a name: the sequence number of the
// entry (its position among all entries of all layers), its type, and where
// its header is: the layer and spool offset — for a hard link, those of the
// header of the file it links to. When streaming, off is the sequence
// number of the entry that carries the content instead.
type record struct {
	off   int64
	seq   uint32
	layer uint16
	typ   byte
}

// src identifies the header a record points to, across layers.
func (r record) src() int64 { return int64(r.layer)<<48 | r.off }

// mark records deletions: entries whose seq is below self are deleted at
// this name, entries whose seq is below desc are deleted below it.
type mark struct{ self, desc uint32 }

type flattener struct {
	opt FlattenOptions
	max int
	seq uint32
	// data counts the bytes of file content so far.
	data int64
	// index holds the last record of every name (possibly deleted since).
	index map[string]record
	// implied holds every name that some entry had below it.
	implied map[string]struct{}
	marks   map[string]mark

	// Progress: bytes of the layers read so far (by every layer reader).
	done, total, reported atomic.Int64

	spoolMu sync.Mutex
	spools  []*spool // by layer; nil when streaming
}

// spool is the spool file of one layer.
type spool struct {
	file *os.File
	size int64
}

func newFlattener(opt FlattenOptions, total int64) *flattener {
	fl := &flattener{
		opt:     opt,
		max:     opt.MaxEntries,
		index:   map[string]record{},
		implied: map[string]struct{}{},
		marks:   map[string]mark{},
	}
	if fl.max <= 0 {
		fl.max = DefaultMaxEntries
	}
	fl.max = min(fl.max, math.MaxInt32) // sequence numbers are uint32
	if fl.opt.MaxSize <= 0 {
		fl.opt.MaxSize = DefaultMaxSize
	}
	fl.total.Store(total)
	return fl
}

func imageName(image string) string {
	if image == "" {
		return "image"
	}
	return image
}

func (fl *flattener) image() string { return imageName(fl.opt.Image) }

func (fl *flattener) fail(l Layer, entry string, err error) error {
	return &EntryError{Image: fl.opt.Image, Layer: l.Name, Entry: entry, Err: err}
}

// progressed adds n bytes read to the progress, reporting every MiB.
func (fl *flattener) progressed(n int64, eof bool) {
	done := fl.done.Add(n)
	if fl.opt.Progress == nil {
		return
	}
	if last := fl.reported.Load(); (done-last >= 1<<20 || eof) && fl.reported.CompareAndSwap(last, done) {
		fl.opt.Progress(done, fl.total.Load())
	}
}

// openLayer opens a layer's tar stream.
func (fl *flattener) openLayer(ctx context.Context, l Layer) (*tar.Reader, func(), error) {
	tr, closeLayer, _, err := fl.openLayerZstd(ctx, l)
	return tr, closeLayer, err
}

// openLayerZstd opens a layer's tar stream and tells whether the layer is
// zstd-compressed.
func (fl *flattener) openLayerZstd(ctx context.Context, l Layer) (*tar.Reader, func(), bool, error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: %s: %w", fl.image(), l.Name, err)
	}
	zr, err := decompress(&progressReader{r: rc, fl: fl})
	if err != nil {
		rc.Close()
		return nil, nil, false, fmt.Errorf("%s: %s: %w", fl.image(), l.Name, err)
	}
	_, isZstd := zr.(zstdReader)
	return tar.NewReader(ctxio.Reader(ctx, zr)), func() { zr.Close(); rc.Close() }, isZstd, nil
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

// Kinds of scanned entries.
const (
	kindEntry    = iota // an entry of the tree (hard links included)
	kindGlobal          // a PAX global header: ignored
	kindRoot            // the root directory: ignored
	kindNop             // AUFS metadata: ignored, once its parents are checked
	kindOpaque          // an opaque whiteout of the directory in link
	kindWhiteout        // a whiteout of the name in link
	kindFail            // err, at stage
	kindStop            // the layer's reader stopped at a limit here
)

// Stages of an entry's checks, in the order applied: an error found when
// reading a layer is reported at its stage, so that the checks that depend
// on earlier layers (parents, the limits over all layers, hard links) keep
// their place before or after it.
const (
	stageRead   = iota // reading the archive failed: before everything
	stageName          // the name: before the parents are checked
	stageBody          // whiteout, type, header: after the parents
	stageDevice        // device numbers: after the size limit
	stageSpool         // writing the spool: after every check
)

// scanned is an entry of a layer as scanEntry leaves it.
type scanned struct {
	name string // clean name
	raw  string // the name in the archive, when it differs from name
	link string // hard link target (clean), or the name a whiteout deletes
	off  int64  // spool offset of the header of a spooled entry
	size int64  // content bytes (after the header's checks)
	err  error
	// errName is the name that err is about, as the archive or the header's
	// normalization left it.
	errName string
	kind    uint8
	// stage says when err applies.
	stage uint8
	typ   byte
}

func (e *scanned) rawName() string {
	if e.raw != "" {
		return e.raw
	}
	return e.name
}

// scanEntry applies the checks of an entry that do not depend on other
// entries, normalizing h.
func (fl *flattener) scanEntry(h *tar.Header) scanned {
	e := scanned{kind: kindEntry, raw: h.Name}
	fail := func(stage uint8, err error) scanned {
		e.kind, e.stage, e.err, e.errName = kindFail, stage, err, h.Name
		return e
	}
	if h.Typeflag == tar.TypeXGlobalHeader {
		e.kind = kindGlobal
		return e
	}
	name, err := tarutil.CleanName(h.Name)
	if err != nil {
		return fail(stageName, err)
	}
	e.name = name
	if name == h.Name {
		e.raw = ""
	}
	if name == "" {
		e.kind = kindRoot // its metadata has no place in the tree
		return e
	}
	if strings.HasPrefix(name, whiteoutMeta) && name != opaqueName {
		// AUFS metadata directories (.wh..wh.plnk, .wh..wh.orph) and what
		// they hold: not part of the tree.
		e.kind = kindNop
		return e
	}
	dir, base := tarutil.Parent(name), path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == opaqueName:
			e.kind, e.link = kindOpaque, dir
		case strings.HasPrefix(base, whiteoutMeta):
			e.kind = kindNop // other AUFS metadata (.wh..wh.aufs): ignored
		case base == whiteoutPrefix:
			return fail(stageBody, fmt.Errorf("%w: no name after %q", ErrWhiteout, whiteoutPrefix))
		default:
			e.kind, e.link = kindWhiteout, path.Join(dir, base[len(whiteoutPrefix):])
		}
		return e
	}
	if isSparse(h) {
		return fail(stageBody, fmt.Errorf("%w: GNU sparse file", tarutil.ErrType))
	}
	if err := tarutil.Normalize(h, fl.opt.SourceDateEpoch); err != nil {
		return fail(stageBody, err)
	}
	e.size, e.typ = h.Size, h.Typeflag
	switch h.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		want, ok := wellKnownDevices[name]
		if !ok || h.Typeflag != tar.TypeChar || want != [2]int64{h.Devmajor, h.Devminor} {
			return fail(stageDevice, fmt.Errorf("%w: %s %d:%d (only the standard character devices %s are allowed)",
				ErrDevice, deviceKind(h.Typeflag), h.Devmajor, h.Devminor, strings.Join(wellKnownNames(), ", ")))
		}
	case tar.TypeLink:
		e.link = h.Linkname
	}
	return e
}

// apply adds the scanned entry e, number seq, of layer l (index layer),
// whose first entry had number start, to the tree. It returns its record,
// whether it entered the index, and the error that refuses it.
func (fl *flattener) apply(l Layer, layer int, e *scanned, start, seq uint32) (record, bool, error) {
	switch {
	case e.kind == kindGlobal:
		return record{}, false, nil
	case e.kind == kindFail && e.stage == stageName:
		return record{}, false, fl.fail(l, e.errName, e.err)
	case e.kind == kindRoot:
		return record{}, false, nil
	}
	name := e.name
	if err := fl.checkParents(name); err != nil {
		return record{}, false, fl.fail(l, e.rawName(), err)
	}
	switch e.kind {
	case kindNop:
		return record{}, false, nil
	case kindOpaque:
		fl.mark(e.link, mark{desc: start})
		return record{}, false, nil
	case kindWhiteout:
		fl.mark(e.link, mark{self: start, desc: start})
		return record{}, false, nil
	}
	if e.kind == kindFail && e.stage == stageBody {
		return record{}, false, fl.fail(l, e.errName, e.err)
	}
	// From here on, messages name the entry by its normalized name.
	if fl.data += e.size; fl.data > fl.opt.MaxSize {
		return record{}, false, fl.fail(l, name, fmt.Errorf("%w: more than %d bytes of content", ErrLimit, fl.opt.MaxSize))
	}
	if e.kind == kindFail && e.stage == stageDevice {
		return record{}, false, fl.fail(l, name, e.err)
	}
	rec := record{seq: seq, typ: e.typ, layer: uint16(layer), off: e.off}
	if e.typ == tar.TypeLink {
		if e.link == name {
			return record{}, false, fl.fail(l, name, fmt.Errorf("%w: links to itself", ErrHardLink))
		}
		t, ok := fl.index[e.link]
		if !ok || !fl.live(e.link, t) {
			return record{}, false, fl.fail(l, name, fmt.Errorf("%w: target %q is not in the image", ErrHardLink, e.link))
		}
		if t.typ == tar.TypeDir {
			return record{}, false, fl.fail(l, name, fmt.Errorf("%w: target %q is a directory", ErrHardLink, e.link))
		}
		rec.off, rec.layer = t.off, t.layer
	} else if e.kind == kindFail {
		// Writing the spool failed: an I/O error, after every check.
		return record{}, false, fmt.Errorf("%s: %s: entry %q: %w", fl.image(), l.Name, name, e.err)
	}
	fl.index[name] = rec
	if e.typ != tar.TypeDir {
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
	return rec, true, nil
}

// next counts the entry about to be applied: it fails past the entry limit
// and, every 256 entries, when ctx is done.
func (fl *flattener) next(ctx context.Context, l Layer, raw string) (uint32, error) {
	if int(fl.seq) >= fl.max {
		return 0, fl.fail(l, raw, fmt.Errorf("%w: more than %d entries", ErrLimit, fl.max))
	}
	if fl.seq%256 == 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
	seq := fl.seq
	fl.seq++
	return seq, nil
}

// layerScan is what scanLayer read of a layer.
type layerScan struct {
	entries []scanned
	// err, when set, is reported after the entries (reading failed, or the
	// layer could not be opened).
	err error
}

// scanLayer reads layer number i, spooling its entries to a file of its
// own. It stops at the first entry it refuses, and at the limits on entries
// and content, which the layer cannot exceed without the layers up to it
// exceeding them too.
func (fl *flattener) scanLayer(ctx context.Context, i int, l Layer) *layerScan {
	res := &layerScan{}
	f, err := os.CreateTemp(fl.opt.TempDir, "flatten-*.tar")
	if err != nil {
		res.err = err
		return res
	}
	sp := &spool{file: f}
	fl.spoolMu.Lock()
	fl.spools[i] = sp
	fl.spoolMu.Unlock()
	tr, closeLayer, err := fl.openLayer(ctx, l)
	if err != nil {
		res.err = err
		return res
	}
	defer closeLayer()
	bw := bufio.NewWriterSize(&countWriter{w: f, n: &sp.size}, 256<<10)
	tw := tar.NewWriter(bw)
	buf := make([]byte, 128<<10)
	var data int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			res.err = fmt.Errorf("%s: %s: reading tar: %w", fl.image(), l.Name, err)
			break
		}
		if n >= fl.max {
			res.entries = append(res.entries, scanned{kind: kindStop, raw: h.Name})
			break
		}
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				res.err = err
				break
			}
		}
		e := fl.scanEntry(h)
		if e.kind == kindEntry || e.kind == kindFail && e.stage == stageDevice {
			if data += e.size; data > fl.opt.MaxSize {
				e.off = -1
				res.entries = append(res.entries, e)
				break
			}
		}
		if e.kind == kindEntry && e.typ != tar.TypeLink {
			if e.off, err = spoolEntry(tw, bw, &sp.size, h, tr, buf); err != nil {
				e.kind, e.stage, e.err = kindFail, stageSpool, err
			}
		}
		res.entries = append(res.entries, e)
		if e.kind == kindFail {
			break
		}
	}
	if err := tw.Flush(); err != nil && res.err == nil {
		res.err = err
	}
	if err := bw.Flush(); err != nil && res.err == nil {
		res.err = err
	}
	return res
}

// spoolEntry writes a normalized entry to a spool and returns the offset
// of its header.
func spoolEntry(tw *tar.Writer, bw *bufio.Writer, size *int64, h *tar.Header, content io.Reader, buf []byte) (int64, error) {
	if err := tw.Flush(); err != nil {
		return 0, err
	}
	off := *size + int64(bw.Buffered())
	if err := tw.WriteHeader(h); err != nil {
		return 0, err
	}
	if h.Typeflag == tar.TypeReg {
		if _, err := io.CopyBuffer(tw, onlyReader{content}, buf); err != nil {
			return 0, err
		}
	}
	return off, nil
}

// load reads every layer into its spool, several at once, and applies them
// in order.
func (fl *flattener) load(ctx context.Context, layers []Layer) error {
	fl.spools = make([]*spool, len(layers))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan *layerScan, len(layers))
	for i := range results {
		results[i] = make(chan *layerScan, 1)
	}
	// Layers start in order, so that the one applied next is never kept
	// waiting behind later ones.
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, min(runtime.GOMAXPROCS(0), 4))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, l := range layers {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, ch := range results[i:] {
					ch <- &layerScan{err: ctx.Err()}
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] <- fl.scanLayer(ctx, i, l)
			}()
		}
	}()
	for i, l := range layers {
		var res *layerScan
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := fl.applyLayer(ctx, i, l, res); err != nil {
			cancel()
			return err
		}
	}
	return nil
}

// applyLayer applies the entries that scanLayer read of layer number i.
func (fl *flattener) applyLayer(ctx context.Context, i int, l Layer, res *layerScan) error {
	start := fl.seq
	for k := range res.entries {
		e := &res.entries[k]
		seq, err := fl.next(ctx, l, e.rawName())
		if err != nil {
			return err
		}
		if e.kind == kindStop {
			return fmt.Errorf("%s: %s: internal error: entry %q passed the entry limit", fl.image(), l.Name, e.rawName())
		}
		if _, _, err := fl.apply(l, i, e, start, seq); err != nil {
			return err
		}
		if e.off < 0 {
			// The layer's reader stopped at the size limit here, which the
			// layers up to this entry exceed: apply reports it.
			return fmt.Errorf("%s: %s: internal error: entry %q passed the size limit", fl.image(), l.Name, e.rawName())
		}
	}
	return res.err
}

// removeSpools closes and removes the spool files.
func (fl *flattener) removeSpools() {
	fl.spoolMu.Lock()
	defer fl.spoolMu.Unlock()
	for _, sp := range fl.spools {
		if sp != nil {
			sp.file.Close()
			os.Remove(sp.file.Name())
		}
	}
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
	// Links and the files they link to, by spool position.
	linked := map[int64]bool{}
	for _, r := range keep {
		if r.typ == tar.TypeLink {
			linked[r.src()] = true
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
	first := map[int64]string{} // spool position → name that carries the content
	epoch := time.Unix(fl.opt.SourceDateEpoch, 0).UTC()
	buf := make([]byte, 128<<10)
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
		h, tr, err := fl.read(r)
		if err != nil {
			return fmt.Errorf("%s: spool of %q: %w", fl.image(), name, err)
		}
		h.Name = name
		if src := r.src(); linked[src] {
			if target, ok := first[src]; ok {
				h.Typeflag, h.Linkname, h.Size, h.PAXRecords = tar.TypeLink, target, 0, nil
				h.Devmajor, h.Devminor = 0, 0
				if err := fn(h, nil); err != nil {
					return err
				}
				continue
			}
			first[src] = name
		}
		var content io.Reader
		if h.Typeflag == tar.TypeReg {
			content = &bufferedReader{r: tr, buf: buf}
		}
		if err := fn(h, content); err != nil {
			return err
		}
	}
	return nil
}

// read returns the spooled entry of r.
func (fl *flattener) read(r record) (*tar.Header, *tar.Reader, error) {
	sp := fl.spools[r.layer]
	tr := tar.NewReader(io.NewSectionReader(sp.file, r.off, sp.size-r.off))
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
