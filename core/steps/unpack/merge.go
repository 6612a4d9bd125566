package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"time"
)

// maxMergeLayers bounds the layers merge reads at once: each decompresses
// ahead of the merge, into at most gzipBlocks blocks of gzipBlockSize.
// Images with more layers are spooled. Of zstd layers, whose decoders may
// each hold a window of maxZstdWindow bytes, merge reads at most
// maxMergeZstd, as many as the spooled path reads at once.
const (
	maxMergeLayers = 8
	maxMergeZstd   = 4
)

// cursor is a layer being merged: its tar stream and its current entry.
type cursor struct {
	i     int
	l     Layer
	tr    *tar.Reader
	close func()
	h     *tar.Header
	e     scanned
	seq   uint32
	eof   bool
	any   bool // an entry was read; e.name is then the last name
}

// merge flattens several layers whose entries each come sorted by name and
// are plain (directories, files, symlinks, fifos and the standard devices:
// no whiteouts, hard links or other refused or ignored entries), without a
// spool: it reads the layers side by side and emits the smallest name
// among them, the upper layer's entry where several layers have it. It
// applies the same checks as the spooled path, emits the same entries in
// the same order, and returns errNotStreamable for anything whose outcome
// depends on the order in which the spooled path applies the layers: an
// entry that is not plain, a name out of order, a name that is a directory
// in one layer and not in another, any entry the checks refuse (the
// spooled path then reports the same error as when no merge was tried), a
// failed emit but for ErrAbort, a layer that cannot be read.
//
// The layers decompress ahead of the merge, each on its own goroutine, so
// that layers whose names interleave inflate on several cores.
func (fl *flattener) merge(ctx context.Context, layers []Layer, emit EmitFunc) error {
	cs := make([]*cursor, 0, len(layers))
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	zstds := 0
	for i, l := range layers {
		tr, closeLayer, isZstd, err := fl.openLayerZstd(ctx, l)
		if err != nil {
			return fl.notMergeable(ctx)
		}
		cs = append(cs, &cursor{i: i, l: l, tr: tr, close: closeLayer})
		if isZstd {
			if zstds++; zstds > maxMergeZstd {
				return errNotStreamable
			}
		}
	}
	for _, c := range cs {
		if err := fl.advance(ctx, c); err != nil {
			return err
		}
	}
	epoch := time.Unix(fl.opt.SourceDateEpoch, 0).UTC()
	var (
		done  emitted
		group []*cursor
	)
	out := func(h *tar.Header, r io.Reader) error {
		done.add(h.Name, h.Typeflag == tar.TypeDir)
		if err := emit(h, r); err != nil {
			if errors.Is(err, ErrAbort) {
				return err
			}
			return errNotStreamable
		}
		return nil
	}
	for {
		// The smallest name, and the layers that have it, bottom first.
		group = group[:0]
		for _, c := range cs {
			switch {
			case c.eof:
			case len(group) == 0 || c.e.name < group[0].e.name:
				group = append(group[:0], c)
			case c.e.name == group[0].e.name:
				group = append(group, c)
			}
		}
		if len(group) == 0 {
			return nil
		}
		// Applied bottom first, the upper entry replaces the others.
		top := group[len(group)-1]
		isDir := top.e.typ == tar.TypeDir
		for _, c := range group {
			if (c.e.typ == tar.TypeDir) != isDir {
				// A directory replaces a non-directory, or the other way
				// round: the names below it, which come later, would be
				// checked against the upper layer's type, and a lower layer
				// may have put names below a non-directory.
				return errNotStreamable
			}
			if _, entered, err := fl.apply(c.l, c.i, &c.e, 0, c.seq); err != nil || !entered {
				return fl.notMergeable(ctx)
			}
		}
		name := top.e.name
		if fl.opt.Drop == nil || !fl.opt.Drop(name) {
			missing, ok := done.missingParents(name)
			if !ok {
				return errNotStreamable
			}
			for _, p := range missing {
				if err := out(madeDir(p, epoch), nil); err != nil {
					return err
				}
			}
			var content io.Reader
			if top.h.Typeflag == tar.TypeReg {
				content = top.tr
			}
			if err := out(top.h, content); err != nil {
				return err
			}
		}
		for _, c := range group {
			if err := fl.advance(ctx, c); err != nil {
				return err
			}
		}
	}
}

// advance reads the next entry of c's layer that belongs to the tree
// (PAX global headers and the root are counted, then passed over). It
// returns errNotStreamable for an entry merge does not take.
func (fl *flattener) advance(ctx context.Context, c *cursor) error {
	for {
		h, err := c.tr.Next()
		if err == io.EOF {
			c.eof = true
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fl.notMergeable(ctx)
		}
		seq, err := fl.next(ctx, c.l, h.Name)
		if err != nil {
			return fl.notMergeable(ctx)
		}
		e := fl.scanEntry(h)
		switch {
		case e.kind == kindGlobal || e.kind == kindRoot:
			continue
		case e.kind != kindEntry || e.typ == tar.TypeLink:
			return errNotStreamable
		case c.any && e.name <= c.e.name:
			return errNotStreamable
		}
		e.off = int64(seq) // the entry stands for its content
		c.h, c.e, c.seq, c.any = h, e, seq, true
		return nil
	}
}

// notMergeable is what merge returns when it meets an error the spooled
// path is to report: errNotStreamable, unless ctx is done.
func (fl *flattener) notMergeable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errNotStreamable
}
