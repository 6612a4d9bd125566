package initramfs

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Gzip parameters. The compressed bytes depend on them (and on the
// klauspost/compress version) but not on the number of CPUs: the stream is
// cut into blocks at places that depend only on the data (see deflate.go),
// each compressed with the previous block's tail as dictionary. Formats
// that use the gzip writers must change their version when any of these
// change.
const (
	GzipLevel     = 6
	GzipBlockSize = 1 << 20
)

// gzipHeader is the header of every member: no name, comment or extra
// field, mtime 0, no extra flags, OS unknown.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// NewGzipWriter returns a writer that compresses into w as one gzip member
// with a header free of name and time, using every CPU. Close flushes it
// and pads the output with zero bytes to a multiple of 4, as LinuxKit does
// (the kernel skips zero padding between the archives of an initramfs).
// Close does not close w.
func NewGzipWriter(w io.Writer) (io.WriteCloser, error) {
	return newGzip(context.Background(), w, nil), nil
}

// gzipWriter writes one gzip member whose deflate stream is made of runs
// and chunks (see deflate.go).
type gzipWriter struct {
	cw     *countWriter
	p      *pipeline
	r      run
	chunks Chunks
	drop   int64 // bytes of a chunk's file still to come through Write, already accounted for
	closed bool
}

func newGzip(ctx context.Context, w io.Writer, chunks Chunks) *gzipWriter {
	cw := &countWriter{w: w}
	g := &gzipWriter{cw: cw, p: newPipeline(ctx, cw), chunks: chunks}
	g.r.p = g.p
	// The pipeline starts empty: queueing cannot fail.
	_ = g.p.raw(bytesReader(gzipHeader), nil)
	return g
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if g.closed {
		return 0, fmt.Errorf("initramfs: gzip write after close")
	}
	n := len(b)
	if g.drop > 0 {
		k := int(min(g.drop, int64(len(b))))
		g.drop -= int64(k)
		b = b[k:]
	}
	if len(b) == 0 {
		return n, nil
	}
	if _, err := g.r.Write(b); err != nil {
		return 0, err
	}
	return n, nil
}

// chunk ends the current run and adds the size bytes of src at off, a
// file's data, as a chunk: copied from g.chunks when it has it, else
// compressed now. The next size bytes written are that data and are
// dropped.
func (g *gzipWriter) chunk(ctx context.Context, src io.ReaderAt, off, size int64) error {
	if g.drop > 0 {
		return fmt.Errorf("initramfs: chunk started inside another")
	}
	if err := g.r.end(); err != nil {
		return err
	}
	if g.chunks != nil {
		// The chunk a pack may hold is found by the data's key.
		k, err := keyOf(ctx, src, off, size)
		if err != nil {
			return err
		}
		if c, ok := g.chunks.Chunk(k); ok {
			if err := g.p.raw(c, &k); err != nil {
				return err
			}
			g.drop = size
			return nil
		}
	}
	if err := g.p.chunkData(src, off, size); err != nil {
		return err
	}
	g.drop = size
	return nil
}

func (g *gzipWriter) Close() error {
	if g.closed {
		return g.p.close()
	}
	g.closed = true
	err := g.r.end()
	if err == nil && g.drop > 0 {
		err = fmt.Errorf("initramfs: %d bytes of a chunk's file missing", g.drop)
	}
	if cerr := g.p.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	trailer := append([]byte(nil), finalBlock...)
	trailer = binary.LittleEndian.AppendUint32(trailer, g.p.crc)
	trailer = binary.LittleEndian.AppendUint32(trailer, uint32(g.p.size))
	if _, err := g.cw.Write(trailer); err != nil {
		return err
	}
	if pad := (4 - g.cw.n%4) % 4; pad != 0 {
		_, err := g.cw.Write(make([]byte, pad))
		return err
	}
	return nil
}

// chunkFile is the data of a regular file that goes into the initramfs as
// a chunk: the cpio writer reads it through ReadAt right after writing the
// file's header, which is when the chunk starts. What it reads is
// whatever p held: the gzip writer drops those bytes.
type chunkFile struct {
	ctx       context.Context
	g         *gzipWriter
	src       io.ReaderAt
	off, size int64
	started   bool
}

func (f *chunkFile) ReadAt(p []byte, off int64) (int, error) {
	if !f.started {
		if off != 0 {
			return 0, fmt.Errorf("initramfs: chunk data read at %d first", off)
		}
		f.started = true
		if err := f.g.chunk(f.ctx, f.src, f.off, f.size); err != nil {
			return 0, err
		}
	}
	if off >= f.size {
		return 0, io.EOF
	}
	// The bytes are dropped unread: p is left as it is.
	n := int(min(int64(len(p)), f.size-off))
	if off+int64(n) == f.size {
		return n, io.EOF
	}
	return n, nil
}

// bytesReader reads b; a named type keeps the pipeline's raw pieces
// allocation-light.
func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
