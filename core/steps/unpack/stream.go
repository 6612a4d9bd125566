package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/kitbuild/kit/core/steps/tarutil"
)

// errNotStreamable is returned by stream when the layer's entries do not
// come in the order of the flattened tree.
var errNotStreamable = errors.New("the layer's entries are not sorted")

// linkMeta is what the header of a hard link takes from the file it links
// to (see emit).
type linkMeta struct {
	mode     int64
	uid, gid int
	mtime    time.Time
}

// emitted is what a streaming flatten has emitted so far: the last name,
// and the directories (made ones included), which tell the parent
// directories it must make.
type emitted struct {
	last string
	any  bool
	dirs map[string]struct{}
}

// add notes that the entry name was emitted; dir says it is a directory.
func (m *emitted) add(name string, dir bool) {
	m.last, m.any = name, true
	if dir {
		if m.dirs == nil {
			m.dirs = map[string]struct{}{}
		}
		m.dirs[name] = struct{}{}
	}
}

// missingParents returns the parent directories of name not emitted yet,
// outermost first, to be made (madeDir) before name; ok is false when they
// would sort before a name already emitted: the stream must start over.
func (m *emitted) missingParents(name string) (missing []string, ok bool) {
	for p := tarutil.Parent(name); p != ""; p = tarutil.Parent(p) {
		if _, ok := m.dirs[p]; ok {
			break
		}
		missing = append(missing, p)
	}
	slices.Reverse(missing)
	// Each parent sorts after the one before it: only the outermost can
	// come too late.
	if len(missing) > 0 && m.any && missing[0] <= m.last {
		return nil, false
	}
	return missing, true
}

// madeDir is the header of a parent directory Flatten makes.
func madeDir(name string, epoch time.Time) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}
}

// stream flattens a single layer whose entries come sorted by name, calling
// emit for each as it is read, without a spool. It applies the same checks
// as the spooled path, with the same errors, and emits the same entries in
// the same order; when that would take entries it has passed already (names
// out of order or repeated, a parent directory to make before a name already
// emitted, a hard link whose file was dropped), it returns errNotStreamable
// and the caller starts over with a spool.
//
// After emit fails, stream reads on without emitting, so that an entry the
// spooled path would refuse before emitting anything is still reported
// first.
func (fl *flattener) stream(ctx context.Context, l Layer, emit EmitFunc) error {
	tr, closeLayer, err := fl.openLayer(ctx, l)
	if err != nil {
		return err
	}
	defer closeLayer()
	epoch := time.Unix(fl.opt.SourceDateEpoch, 0).UTC()
	var (
		last    string
		any     bool
		emitErr error
		done    emitted
		// first is, for the number of an entry that carries content, the
		// name it was emitted as; meta its header's fields for links.
		first = map[int64]string{}
		meta  = map[int64]linkMeta{}
	)
	out := func(h *tar.Header, r io.Reader) {
		done.add(h.Name, h.Typeflag == tar.TypeDir)
		if emitErr == nil {
			emitErr = emit(h, r)
		}
	}
	// parents makes the missing parent directories of name, unless one of
	// them would sort before a name already emitted.
	parents := func(name string) bool {
		missing, ok := done.missingParents(name)
		for _, p := range missing {
			out(madeDir(p, epoch), nil)
		}
		return ok
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return emitErr
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("%s: %s: reading tar: %w", fl.image(), l.Name, err)
		}
		seq, err := fl.next(ctx, l, h.Name)
		if err != nil {
			return err
		}
		e := fl.scanEntry(h)
		if e.kind == kindEntry && e.typ != tar.TypeLink {
			e.off = int64(seq) // the entry stands for its content
		}
		rec, entered, err := fl.apply(l, 0, &e, 0, seq)
		if err != nil {
			return err
		}
		if !entered {
			continue // a whiteout (it deletes nothing in a single layer), the root, metadata
		}
		name := e.name
		if any && name <= last {
			return errNotStreamable
		}
		any, last = true, name
		if emitErr != nil || fl.opt.Drop != nil && fl.opt.Drop(name) {
			continue
		}
		if !parents(name) {
			return errNotStreamable
		}
		if errors.Is(emitErr, ErrAbort) {
			return emitErr
		}
		if e.typ == tar.TypeLink {
			target, ok := first[rec.off]
			if !ok {
				// The file it links to was dropped: this link carries the
				// content, which has gone by.
				return errNotStreamable
			}
			m := meta[rec.off]
			out(&tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: m.mode, Uid: m.uid, Gid: m.gid, ModTime: m.mtime}, nil)
			if errors.Is(emitErr, ErrAbort) {
				return emitErr
			}
			continue
		}
		if e.typ != tar.TypeDir {
			first[rec.off] = name
			meta[rec.off] = linkMeta{mode: h.Mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime}
		}
		var content io.Reader
		if h.Typeflag == tar.TypeReg {
			content = tr
		}
		out(h, content)
		if errors.Is(emitErr, ErrAbort) {
			return emitErr
		}
	}
}
