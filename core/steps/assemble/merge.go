package assemble

import (
	"archive/tar"
	"container/heap"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/kitbuild/kit/core/internal/ctxio"
	"github.com/kitbuild/kit/core/recipe"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Precedence tiers: on a path that several inputs hold, an input of a higher
// tier wins, and within a tier the later input wins.
const (
	tierSynth  = iota // parent directories the merge makes itself
	tierFill          // parts that only fill gaps (Part.Fill)
	tierNormal        // every other part
)

// input is one source of entries for the merge.
type input struct {
	// name labels the input in messages: "init[0]", "services/redis".
	name   string
	tier   int
	concat bool
	// prefix is a directory the input needs even when it holds no entry.
	prefix string
	// open returns a fresh stream over the input; it is called once for
	// the scan and once for the merge. A tar stream adds the bytes it reads
	// to progress when that is not nil.
	open func(progress *int64) (stream, error)
}

// mergeOptions are the settings of a merge.
type mergeOptions struct {
	epoch int64
	// concat lists paths whose regular files are concatenated across the
	// concat inputs that hold them (see Op.Concat).
	concat map[string]bool
	logf   func(format string, args ...any)
	// progress counts the input bytes read by the merge (not the scan);
	// tick is called after every path.
	progress *int64
	tick     func()
	// recipe, when set, receives the output instead of w: contents that
	// lie in a blob become ranges of it, everything else literal bytes.
	recipe *recipe.Builder
}

// lostRec is an entry that did not make it into the output but that a
// later hard link of the same input points to.
type lostRec struct {
	hdr  *tar.Header
	open opener
	// alias, when set, is the output name the link should point to
	// instead (the target was itself a link, or was already copied).
	alias string
}

// member is an input during the merge.
type member struct {
	in   *input
	rank int
	s    stream
	hdr  *tar.Header
	// targets are the names the input's hard links point to; seen those
	// of them already passed; lost those of them that lost their path.
	targets map[string]bool
	seen    map[string]bool
	lost    map[string]lostRec
}

type memberHeap []*member

func (h memberHeap) Len() int { return len(h) }
func (h memberHeap) Less(i, j int) bool {
	if h[i].hdr.Name != h[j].hdr.Name {
		return h[i].hdr.Name < h[j].hdr.Name
	}
	return h[i].rank < h[j].rank
}
func (h memberHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *memberHeap) Push(x any)   { *h = append(*h, x.(*member)) }
func (h *memberHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	*h = old[:len(old)-1]
	return m
}

// placed is an entry written to the output, kept while later names may lie
// beneath it.
type placed struct {
	name string
	typ  byte
	rank int
	part string
	// dropped counts the entries of lower-ranked inputs beneath this
	// non-directory that were left out; droppedFrom names the first such
	// input.
	dropped     int
	droppedFrom string
}

// inRange reports whether name sorts within the range of names that may
// follow dir and still lie beneath it: dir followed by a byte up to '/'.
// Such ranges nest, so the entries whose range is still open form a stack.
func inRange(dir, name string) bool {
	return len(name) > len(dir) && strings.HasPrefix(name, dir) && name[len(dir)] <= '/'
}

// scan reads an input's headers (archive/tar seeks over contents) and
// returns the directories its entries need that it does not hold, and the
// targets of its hard links.
func scan(ctx context.Context, in *input) (missing []string, targets map[string]bool, err error) {
	s, err := in.open(nil)
	if err != nil {
		return nil, nil, err
	}
	defer s.close()
	type open struct {
		name string
		dir  bool
	}
	var stack []open
	made := map[string]bool{}
	need := func(d string) {
		if !made[d] {
			made[d] = true
			missing = append(missing, d)
		}
	}
	if in.prefix != "" {
		for d := in.prefix; d != "."; d = path.Dir(d) {
			need(d)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		h, err := s.next()
		if err == io.EOF {
			return missing, targets, nil
		}
		if err != nil {
			return nil, nil, err
		}
		for len(stack) > 0 && !inRange(stack[len(stack)-1].name, h.Name) {
			stack = stack[:len(stack)-1]
		}
	ancestors:
		for d := path.Dir(h.Name); d != "."; d = path.Dir(d) {
			for _, o := range stack {
				if o.name == d {
					if !o.dir {
						return nil, nil, fmt.Errorf("entry %s: it lies beneath %s, which is not a directory", h.Name, d)
					}
					continue ancestors
				}
			}
			need(d)
		}
		stack = append(stack, open{h.Name, h.Typeflag == tar.TypeDir})
		if h.Typeflag == tar.TypeLink {
			if targets == nil {
				targets = map[string]bool{}
			}
			targets[h.Linkname] = true
		}
	}
}

// merge writes the normalized tar that results from laying the inputs over
// each other, later over earlier, as a streaming k-way merge: memory grows
// with the number of inputs, the depth of the tree, and the directories
// and hard-link targets that are missing or lost, not with the size of the
// inputs.
//
// The rules, for each path:
//   - the entry of the highest-ranked input that holds it wins (tier, then
//     order);
//   - directories that an entry needs and no input holds are made 0755
//     root:root (so are the parts' prefixes);
//   - a non-directory that replaces a directory of an earlier input hides
//     what that input and any earlier one put beneath it (as when a
//     container layer replaces a directory); the step logs it;
//   - an entry beneath a non-directory that a lower-ranked input placed is
//     an error: it cannot be laid out;
//   - a hard link whose target lost its path to another input becomes a
//     copy of the target it had (further links to it link to the copy);
//   - regular files at a concat path are concatenated across the concat
//     inputs that hold them, when the winner is one of them.
func merge(ctx context.Context, w io.Writer, inputs []*input, opts mergeOptions) error {
	if opts.logf == nil {
		opts.logf = func(string, ...any) {}
	}
	members := make([]*member, 0, len(inputs)+1)
	var need []string
	made := map[string]bool{}
	for i, in := range inputs {
		missing, targets, err := scan(ctx, in)
		if err != nil {
			return fmt.Errorf("%s: %w", in.name, err)
		}
		for _, d := range missing {
			if !made[d] {
				made[d] = true
				need = append(need, d)
			}
		}
		members = append(members, &member{
			in: in, rank: in.tier*(len(inputs)+1) + i + 1, targets: targets,
			seen: map[string]bool{}, lost: map[string]lostRec{},
		})
	}
	if len(need) > 0 {
		sort.Strings(need)
		entries := make([]listEntry, len(need))
		for i, d := range need {
			entries[i] = listEntry{hdr: dirHeader(d, opts.epoch)}
		}
		synth := &input{name: "parent directories", tier: tierSynth, open: func(*int64) (stream, error) {
			return newList(entries)
		}}
		members = append(members, &member{in: synth, rank: 0})
	}

	m := &merger{ctx: ctx, opts: opts, buf: make([]byte, 1<<16)}
	if opts.recipe != nil {
		m.sink = &recipeSink{b: opts.recipe}
		w = m.sink
	}
	m.tw = tarutil.NewWriter(w, opts.epoch)
	defer func() {
		for _, mb := range members {
			if mb.s != nil {
				mb.s.close()
			}
		}
	}()
	h := make(memberHeap, 0, len(members))
	for _, mb := range members {
		s, err := mb.in.open(opts.progress)
		if err != nil {
			return fmt.Errorf("%s: %w", mb.in.name, err)
		}
		mb.s = s
		if err := m.advance(&h, mb); err != nil {
			return err
		}
	}
	heap.Init(&h)
	var group []*member
	for h.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		group = group[:0]
		group = append(group, heap.Pop(&h).(*member))
		name := group[0].hdr.Name
		for h.Len() > 0 && h[0].hdr.Name == name {
			group = append(group, heap.Pop(&h).(*member))
		}
		if err := m.place(name, group); err != nil {
			return err
		}
		for _, mb := range group {
			if err := m.advance(&h, mb); err != nil {
				return err
			}
		}
		if m.opts.tick != nil {
			m.opts.tick()
		}
	}
	m.settle("")
	if err := m.tw.Close(); err != nil {
		return fmt.Errorf("writing the root filesystem: %w", err)
	}
	return nil
}

type merger struct {
	ctx   context.Context
	tw    *tarutil.Writer
	opts  mergeOptions
	stack []*placed
	buf   []byte
	sink  *recipeSink // recipe mode
}

// recipeSink is what the tar writer writes to in recipe mode: literal
// bytes for the recipe, but for the skip bytes of contents already added
// as a range.
type recipeSink struct {
	b    *recipe.Builder
	skip int64
}

func (s *recipeSink) Write(p []byte) (int, error) {
	n := len(p)
	k := int(min(s.skip, int64(len(p))))
	s.skip -= int64(k)
	if k < len(p) {
		s.b.Write(p[k:])
	}
	return n, nil
}

// zeros stand for contents the recipe refers to: the tar writer counts
// them, the sink drops them.
var zeros [64 << 10]byte

// advance moves mb to its next entry and puts it back on the heap, or
// closes it at the end.
func (m *merger) advance(h *memberHeap, mb *member) error {
	hdr, err := mb.s.next()
	if err == io.EOF {
		mb.hdr = nil
		err := mb.s.close()
		mb.s = nil
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", mb.in.name, err)
	}
	mb.hdr = hdr
	heap.Push(h, mb)
	return nil
}

// settle closes the ranges of placed entries that name no longer falls in
// ("" closes all), reporting replaced directories.
func (m *merger) settle(name string) {
	for len(m.stack) > 0 {
		top := m.stack[len(m.stack)-1]
		if name != "" && inRange(top.name, name) {
			return
		}
		if top.dropped > 0 {
			m.opts.logf("%s: the %s %s replaces a directory: %d entries beneath it left out (the first from %s)",
				top.part, typeWord(top.typ), top.name, top.dropped, top.droppedFrom)
		}
		m.stack = m.stack[:len(m.stack)-1]
	}
}

// place decides the path name that the inputs of group (in rank order)
// hold, and writes the winner.
func (m *merger) place(name string, group []*member) error {
	m.settle(name)
	win := group[len(group)-1]
	var parent *placed
	for i := len(m.stack) - 1; i >= 0; i-- {
		p := m.stack[i]
		if len(name) > len(p.name) && name[len(p.name)] == '/' {
			if p.typ != tar.TypeDir {
				if win.rank > p.rank {
					return fmt.Errorf("%s: entry %s: it lies beneath %s, which %s made a %s",
						win.in.name, name, p.name, p.part, typeWord(p.typ))
				}
				if p.dropped == 0 {
					p.droppedFrom = win.in.name
				}
				p.dropped++
				for _, mb := range group {
					m.lose(mb)
				}
				return nil
			}
			if parent == nil {
				parent = p
			}
		}
	}
	if dir := path.Dir(name); dir != "." && (parent == nil || parent.name != dir) {
		// The scan makes every missing parent; reaching this is a bug.
		return fmt.Errorf("%s: entry %s: internal error: parent directory %s was not placed", win.in.name, name, dir)
	}
	consumed, err := m.write(win, group)
	if err != nil {
		return err
	}
	p := &placed{name: name, typ: win.hdr.Typeflag, rank: win.rank, part: win.in.name}
	for _, mb := range group[:len(group)-1] {
		if consumed[mb] {
			if mb.targets[name] {
				mb.seen[name] = true
			}
			continue
		}
		m.lose(mb)
	}
	if win.targets[name] {
		win.seen[name] = true
	}
	m.stack = append(m.stack, p)
	return nil
}

// lose records an entry that is not written, when a later hard link of its
// input may need it.
func (m *merger) lose(mb *member) {
	name := mb.hdr.Name
	if !mb.targets[name] {
		return
	}
	mb.seen[name] = true
	if mb.hdr.Typeflag == tar.TypeLink {
		target := mb.hdr.Linkname
		if rec, ok := mb.lost[target]; ok {
			mb.lost[name] = rec
		} else {
			mb.lost[name] = lostRec{alias: target}
		}
		return
	}
	mb.lost[name] = lostRec{hdr: mb.hdr, open: mb.s.saved()}
}

// write writes the winner of a path. It returns the other members whose
// contents went into the output too (concatenation).
func (m *merger) write(win *member, group []*member) (map[*member]bool, error) {
	hdr := win.hdr
	name := hdr.Name
	if hdr.Typeflag == tar.TypeLink {
		return nil, m.writeLink(win)
	}
	if hdr.Typeflag == tar.TypeReg && win.in.concat && m.opts.concat[name] {
		var parts []*member
		var size int64
		for _, mb := range group {
			if mb.in.concat && mb.hdr.Typeflag == tar.TypeReg {
				parts = append(parts, mb)
				size += mb.hdr.Size + 2
			}
		}
		if len(parts) > 1 {
			out := *hdr
			out.Size = size
			if err := m.tw.WriteHeader(&out); err != nil {
				return nil, fmt.Errorf("%s: %w", win.in.name, err)
			}
			consumed := map[*member]bool{}
			for _, mb := range parts {
				if err := m.copy(mb, mb.hdr.Size); err != nil {
					return nil, err
				}
				if _, err := m.tw.Write([]byte("\n\n")); err != nil {
					return nil, fmt.Errorf("%s: entry %s: %w", mb.in.name, name, err)
				}
				consumed[mb] = true
			}
			return consumed, nil
		}
	}
	if err := m.tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("%s: %w", win.in.name, err)
	}
	if hdr.Typeflag == tar.TypeReg {
		return nil, m.copy(win, hdr.Size)
	}
	return nil, nil
}

// writeLink writes a hard link, or a copy of its target when the target
// lost its path.
func (m *merger) writeLink(win *member) error {
	hdr := win.hdr
	name, target := hdr.Name, hdr.Linkname
	if !win.seen[target] {
		return fmt.Errorf("%s: entry %s: hard link to %s, which the input does not hold before it", win.in.name, name, target)
	}
	rec, ok := win.lost[target]
	switch {
	case !ok:
		return m.writeHeader(win, hdr)
	case rec.alias != "":
		out := *hdr
		out.Linkname = rec.alias
		return m.writeHeader(win, &out)
	}
	out := *rec.hdr
	out.Name = name
	if err := m.writeHeader(win, &out); err != nil {
		return err
	}
	if out.Typeflag == tar.TypeReg {
		r, err := rec.open()
		if err != nil {
			return fmt.Errorf("%s: entry %s: reopening the contents of %s: %w", win.in.name, name, target, err)
		}
		defer r.Close()
		if err := m.copyFrom(win, r, out.Size); err != nil {
			return err
		}
	}
	// Later links to the same target link to this copy.
	win.lost[target] = lostRec{alias: name}
	return nil
}

func (m *merger) writeHeader(mb *member, hdr *tar.Header) error {
	if err := m.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", mb.in.name, err)
	}
	return nil
}

// copy writes the contents of mb's current entry.
func (m *merger) copy(mb *member, size int64) error {
	if m.sink != nil {
		if src, ok := mb.s.source(); ok && src.n == size {
			if err := m.opts.recipe.Range(src.digest, src.size, src.off, size); err != nil {
				return fmt.Errorf("%s: entry %s: %w", mb.in.name, mb.hdr.Name, err)
			}
			m.sink.skip = size
			for left := size; left > 0; {
				k := min(left, int64(len(zeros)))
				if _, err := m.tw.Write(zeros[:k]); err != nil {
					return fmt.Errorf("%s: entry %s: %w", mb.in.name, mb.hdr.Name, err)
				}
				left -= k
			}
			return nil
		}
	}
	r, err := mb.s.data()
	if err != nil {
		return fmt.Errorf("%s: entry %s: %w", mb.in.name, mb.hdr.Name, err)
	}
	return m.copyFrom(mb, r, size)
}

func (m *merger) copyFrom(mb *member, r io.Reader, size int64) error {
	n, err := io.CopyBuffer(m.tw, io.LimitReader(ctxio.Reader(m.ctx, r), size), m.buf)
	if err == nil && n < size {
		err = errShort
	}
	if err != nil {
		return fmt.Errorf("%s: entry %s: %w", mb.in.name, mb.hdr.Name, err)
	}
	return nil
}

// dirHeader is a directory the step makes: 0755 root:root.
func dirHeader(name string, epoch int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Unix(epoch, 0)}
}
