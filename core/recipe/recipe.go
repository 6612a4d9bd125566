package recipe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/kitbuild/kit/core/graph"
)

// MediaType is the media type of a recipe blob.
const MediaType = "application/vnd.kit.recipe.v1"

// magic starts every recipe.
const magic = "kit-recipe/1\n"

// Op kinds of the encoding.
const (
	opLiteral = 0
	opRange   = 1
)

// ErrInvalid is wrapped by the errors of malformed recipes.
var ErrInvalid = errors.New("invalid recipe")

// source is a blob a recipe takes ranges of.
type source struct {
	digest graph.Digest
	size   int64
}

// op is a literal run (src < 0) or a range of a source.
type op struct {
	src      int
	off, len int64
	lit      []byte
}

// Builder builds a recipe. Write adds literal bytes; Range adds a range of
// a blob. Adjacent literals, and ranges continuing each other, merge.
type Builder struct {
	sources []source
	index   map[graph.Digest]int
	ops     []op
	size    int64
}

// Write adds p as literal bytes. It never fails.
func (b *Builder) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if n := len(b.ops); n > 0 && b.ops[n-1].src < 0 {
		b.ops[n-1].lit = append(b.ops[n-1].lit, p...)
	} else {
		b.ops = append(b.ops, op{src: -1, lit: append([]byte(nil), p...)})
	}
	b.size += int64(len(p))
	return len(p), nil
}

// Range adds the n bytes at off of the blob d, which is size bytes long.
func (b *Builder) Range(d graph.Digest, size, off, n int64) error {
	if off < 0 || n < 0 || off+n > size {
		return fmt.Errorf("%w: range %d+%d of %s (%d bytes)", ErrInvalid, off, n, d.Short(), size)
	}
	if n == 0 {
		return nil
	}
	if b.index == nil {
		b.index = map[graph.Digest]int{}
	}
	i, ok := b.index[d]
	if !ok {
		i = len(b.sources)
		b.index[d] = i
		b.sources = append(b.sources, source{d, size})
	}
	if k := len(b.ops); k > 0 && b.ops[k-1].src == i && b.ops[k-1].off+b.ops[k-1].len == off {
		b.ops[k-1].len += n
	} else {
		b.ops = append(b.ops, op{src: i, off: off, len: n})
	}
	b.size += n
	return nil
}

// Size is the size of the blob the recipe describes so far.
func (b *Builder) Size() int64 { return b.size }

// Sources lists the blobs the recipe takes ranges of, in first use order.
func (b *Builder) Sources() []graph.Digest {
	out := make([]graph.Digest, len(b.sources))
	for i, s := range b.sources {
		out[i] = s.digest
	}
	return out
}

// SourceSize returns the size of the source blob d, and whether the recipe
// takes ranges of it.
func (b *Builder) SourceSize(d graph.Digest) (int64, bool) {
	i, ok := b.index[d]
	if !ok {
		return 0, false
	}
	return b.sources[i].size, true
}

// Encode returns the recipe's bytes: the magic line, the sources (digest
// and size), then the ops, all numbers as uvarints.
func (b *Builder) Encode() []byte {
	// Sized once: a root filesystem's recipe is thousands of ops and
	// hundreds of KB of headers.
	n := len(magic) + 4*binary.MaxVarintLen64
	for _, s := range b.sources {
		n += len(s.digest) + 2*binary.MaxVarintLen64
	}
	for _, o := range b.ops {
		n += len(o.lit) + 4*binary.MaxVarintLen64
	}
	buf := make([]byte, 0, n)
	buf = append(buf, magic...)
	buf = binary.AppendUvarint(buf, uint64(b.size))
	buf = binary.AppendUvarint(buf, uint64(len(b.sources)))
	for _, s := range b.sources {
		buf = binary.AppendUvarint(buf, uint64(len(s.digest)))
		buf = append(buf, s.digest...)
		buf = binary.AppendUvarint(buf, uint64(s.size))
	}
	buf = binary.AppendUvarint(buf, uint64(len(b.ops)))
	for _, o := range b.ops {
		if o.src < 0 {
			buf = binary.AppendUvarint(buf, opLiteral)
			buf = binary.AppendUvarint(buf, uint64(len(o.lit)))
			buf = append(buf, o.lit...)
			continue
		}
		buf = binary.AppendUvarint(buf, opRange)
		buf = binary.AppendUvarint(buf, uint64(o.src))
		buf = binary.AppendUvarint(buf, uint64(o.off))
		buf = binary.AppendUvarint(buf, uint64(o.len))
	}
	return buf
}

// Recipe is a decoded recipe.
type Recipe struct {
	sources []source
	ops     []op
	starts  []int64 // where each op starts in the described blob
	size    int64
}

// Decode parses a recipe.
func Decode(data []byte) (*Recipe, error) {
	if !bytes.HasPrefix(data, []byte(magic)) {
		return nil, fmt.Errorf("%w: no %q header", ErrInvalid, magic[:len(magic)-1])
	}
	r := &decoder{b: data[len(magic):]}
	rc := &Recipe{}
	size := r.num("size")
	n := r.num("sources")
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("%d sources", n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		d := graph.Digest(r.bytes("digest"))
		if r.err == nil {
			if err := d.Validate(); err != nil {
				r.fail("source %d: %v", i, err)
			}
		}
		rc.sources = append(rc.sources, source{d, r.int("source size")})
	}
	n = r.num("ops")
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("%d ops", n)
	}
	var pos int64
	for i := uint64(0); i < n && r.err == nil; i++ {
		var o op
		switch kind := r.num("op kind"); kind {
		case opLiteral:
			o = op{src: -1, lit: r.bytes("literal")}
			o.len = int64(len(o.lit))
		case opRange:
			src := r.num("source")
			o = op{off: r.int("offset"), len: r.int("length")}
			switch {
			case r.err != nil:
			case src >= uint64(len(rc.sources)):
				r.fail("op %d: source %d of %d", i, src, len(rc.sources))
			case o.off+o.len > rc.sources[src].size || o.off+o.len < 0:
				r.fail("op %d: range %d+%d beyond the %d bytes of its source", i, o.off, o.len, rc.sources[src].size)
			default:
				o.src = int(src)
			}
		default:
			r.fail("op %d: kind %d", i, kind)
		}
		if r.err == nil && o.len <= 0 {
			r.fail("op %d: empty", i)
		}
		if r.err == nil && o.len > 1<<62-pos {
			r.fail("op %d: the recipe describes more than 2^62 bytes", i)
		}
		rc.starts = append(rc.starts, pos)
		rc.ops = append(rc.ops, o)
		pos += o.len
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the last op", len(r.b))
	}
	if r.err == nil && uint64(pos) != size {
		r.fail("ops make %d bytes, the header says %d", pos, size)
	}
	if r.err != nil {
		return nil, r.err
	}
	rc.size = pos
	return rc, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) num(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int(what string) int64 {
	v := d.num(what)
	if v > 1<<62 {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return int64(v)
}

func (d *decoder) bytes(what string) []byte {
	n := d.num(what + " length")
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("%s of %d bytes, %d left", what, n, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// Size is the size of the blob the recipe describes.
func (r *Recipe) Size() int64 { return r.size }

// Sources lists the blobs the recipe takes ranges of.
func (r *Recipe) Sources() []graph.Digest {
	out := make([]graph.Digest, len(r.sources))
	for i, s := range r.sources {
		out[i] = s.digest
	}
	return out
}

// Opener opens a blob of the store as a file (see Open).
type Opener func(ctx context.Context, d graph.Digest) (*os.File, error)

// Reader reads the blob a recipe describes, from its sources.
type Reader struct {
	r     *Recipe
	files []*os.File
}

// Open opens the sources of r (checking their sizes) for reading through
// the returned Reader, which the caller closes.
func Open(ctx context.Context, r *Recipe, open Opener) (*Reader, error) {
	rd := &Reader{r: r}
	for _, s := range r.sources {
		f, err := open(ctx, s.digest)
		if err != nil {
			rd.Close()
			return nil, fmt.Errorf("recipe source %s: %w", s.digest.Short(), err)
		}
		rd.files = append(rd.files, f)
		if st, err := f.Stat(); err != nil || st.Size() != s.size {
			rd.Close()
			if err == nil {
				err = fmt.Errorf("%d bytes, the recipe says %d", st.Size(), s.size)
			}
			return nil, fmt.Errorf("recipe source %s: %w", s.digest.Short(), err)
		}
	}
	return rd, nil
}

// Size is the size of the described blob.
func (rd *Reader) Size() int64 { return rd.r.size }

// ReadAt implements io.ReaderAt.
func (rd *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("recipe: negative offset %d", off)
	}
	if off >= rd.r.size {
		return 0, io.EOF
	}
	// The op holding off.
	i := sort.Search(len(rd.r.starts), func(i int) bool { return rd.r.starts[i] > off }) - 1
	n := 0
	for n < len(p) && i < len(rd.r.ops) {
		o, start := rd.r.ops[i], rd.r.starts[i]
		within := off + int64(n) - start
		k := int(min(int64(len(p)-n), o.len-within))
		if o.src < 0 {
			copy(p[n:n+k], o.lit[within:])
		} else if _, err := rd.files[o.src].ReadAt(p[n:n+k], o.off+within); err != nil {
			return n, fmt.Errorf("recipe source %s: %w", rd.r.sources[o.src].digest.Short(), err)
		}
		n += k
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteTo writes the described blob to w, op by op.
func (rd *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	buf := make([]byte, 1<<20)
	for _, o := range rd.r.ops {
		var n int64
		var err error
		if o.src < 0 {
			var k int
			k, err = w.Write(o.lit)
			n = int64(k)
		} else {
			n, err = io.CopyBuffer(w, io.NewSectionReader(rd.files[o.src], o.off, o.len), buf)
			if err == nil && n < o.len {
				err = fmt.Errorf("recipe source %s: %w", rd.r.sources[o.src].digest.Short(), io.ErrUnexpectedEOF)
			}
		}
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close closes the sources.
func (rd *Reader) Close() error {
	for _, f := range rd.files {
		f.Close()
	}
	rd.files = nil
	return nil
}
