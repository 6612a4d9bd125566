package initramfs

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
)

// The deflate stream of an initrd is a sequence of independently made
// pieces, each a run of non-final deflate blocks ending on a byte boundary
// (a sync flush), whose back-references never reach before the piece's
// own dictionary. Such pieces concatenate into one valid stream, so the
// pieces of large files (chunks) can be compressed once, kept in the cache
// (see BuildPack), and copied into every initrd holding the same file.
//
// A block is at most GzipBlockSize bytes of input compressed at GzipLevel
// with the previous dictSize bytes of the same sequence as dictionary:
// the sequence is either one chunk file's data, or a run of everything
// between two chunk files (cpio headers, small files, padding). Where the
// blocks fall depends only on the data, never on the number of CPUs.
const dictSize = 32 << 10

// flateWriters are reused: a level 6 writer is about 1 MiB of tables.
var flateWriters = sync.Pool{New: func() any {
	w, err := flate.NewWriter(io.Discard, GzipLevel)
	if err != nil {
		panic(err) // GzipLevel is a valid level
	}
	return w
}}

// storeMax is the size under which a block is stored, not compressed:
// the cpio header between two chunks is a block of a couple of hundred
// bytes, where building Huffman tables costs far more than it saves.
const storeMax = 4 << 10

// deflateBlock compresses in with dict as the preset dictionary into a
// sync-flushed, non-final piece appended to out; inputs under storeMax
// become one stored block.
func deflateBlock(out *bytes.Buffer, dict, in []byte) error {
	if len(in) < storeMax {
		// BFINAL 0, BTYPE 00, padding to the byte; LEN and its complement.
		n := uint16(len(in))
		out.Write([]byte{0, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
		out.Write(in)
		return nil
	}
	w := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(w)
	w.ResetDict(out, dict)
	if _, err := w.Write(in); err != nil {
		return err
	}
	return w.Flush()
}

// finalBlock is an empty final deflate block (fixed Huffman codes, just
// the end-of-block code): it ends a stream of sync-flushed pieces.
var finalBlock = []byte{0x03, 0x00}

// piece is one unit of ordered output: a block to compress, or bytes to
// copy as they are.
type piece struct {
	dict, in []byte        // a block: compressed by a worker
	read     func() error  // a read of the block's input, run by the worker first
	raw      io.Reader     // copied by the writer as is
	rawCRC   *ChunkKey     // a raw piece's uncompressed size and CRC, when it counts toward the trailer
	release  func()        // called once the piece is written
	out      *bytes.Buffer // from outBufs
	err      error
	done     chan struct{}
}

// pipeline compresses blocks on every CPU and writes the results, and raw
// pieces, to w in the order they were queued. Memory is bounded: at most
// 2×GOMAXPROCS pieces are in flight.
type pipeline struct {
	ctx    context.Context
	w      io.Writer
	work   chan *piece
	order  chan *piece
	wg     sync.WaitGroup
	done   chan struct{}
	mu     sync.Mutex
	err    error
	n      int64 // bytes written to w
	closed bool
	// crc and size are the CRC-32 and length of the uncompressed data of
	// the pieces written so far (blocks, and raw pieces with rawCRC): the
	// gzip trailer's, kept by the writer.
	crc  uint32
	size int64
}

func newPipeline(ctx context.Context, w io.Writer) *pipeline {
	n := runtime.GOMAXPROCS(0)
	p := &pipeline{ctx: ctx, w: w, work: make(chan *piece, 2*n), order: make(chan *piece, 2*n), done: make(chan struct{})}
	p.wg.Add(n)
	for range n {
		go p.worker()
	}
	go p.writer()
	return p
}

// outBufs holds the output buffers of blocks.
var outBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// chunkBufs holds the buffers of chunk blocks: a block and its dictionary.
var chunkBufs = sync.Pool{New: func() any {
	b := make([]byte, dictSize+GzipBlockSize)
	return &b
}}

// bufs holds the input buffers of run blocks.
var bufs = sync.Pool{New: func() any {
	b := make([]byte, 0, GzipBlockSize)
	return &b
}}

func (p *pipeline) worker() {
	defer p.wg.Done()
	for pc := range p.work {
		if p.failed() == nil {
			if pc.read != nil {
				pc.err = pc.read()
			}
			if pc.err == nil {
				pc.out = outBufs.Get().(*bytes.Buffer)
				pc.out.Grow(len(pc.in) + len(pc.in)/8 + 1024)
				pc.err = deflateBlock(pc.out, pc.dict, pc.in)
			}
		}
		close(pc.done)
	}
}

func (p *pipeline) writer() {
	defer close(p.done)
	for pc := range p.order {
		if pc.raw != nil {
			if p.failed() == nil {
				n, err := io.Copy(p.w, pc.raw)
				p.n += n
				if err != nil {
					p.fail(err)
				}
				if k := pc.rawCRC; k != nil {
					p.crc = crc32Combine(p.crc, k.CRC32, k.Size)
					p.size += k.Size
				}
			}
			continue
		}
		<-pc.done
		if pc.err != nil {
			p.fail(pc.err)
		}
		if pc.out != nil {
			if p.failed() == nil {
				p.crc = crc32.Update(p.crc, crc32.IEEETable, pc.in)
				p.size += int64(len(pc.in))
				n, err := p.w.Write(pc.out.Bytes())
				p.n += int64(n)
				if err != nil {
					p.fail(err)
				}
			}
			pc.out.Reset()
			outBufs.Put(pc.out)
		}
		if pc.release != nil {
			pc.release()
		}
	}
}

func (p *pipeline) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *pipeline) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && p.ctx.Err() != nil {
		p.err = p.ctx.Err()
	}
	return p.err
}

// block queues in (and dict, which must stay unchanged until the block is
// compressed) for compression; read, when set, fills in first.
func (p *pipeline) block(dict, in []byte, read func() error, release func()) error {
	if err := p.failed(); err != nil {
		if release != nil {
			release()
		}
		return err
	}
	pc := &piece{dict: dict, in: in, read: read, release: release, done: make(chan struct{})}
	select {
	case p.order <- pc:
	case <-p.ctx.Done():
		if release != nil {
			release()
		}
		return p.ctx.Err()
	}
	p.work <- pc
	return nil
}

// raw queues r to be copied as is; k, when not nil, is the size and CRC
// of the data r holds compressed, which count toward the trailer.
func (p *pipeline) raw(r io.Reader, k *ChunkKey) error {
	if err := p.failed(); err != nil {
		return err
	}
	select {
	case p.order <- &piece{raw: r, rawCRC: k}:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// close waits for every queued piece and returns the first error.
func (p *pipeline) close() error {
	if !p.closed {
		p.closed = true
		close(p.work)
		close(p.order)
		p.wg.Wait()
		<-p.done
	}
	return p.failed()
}

// run cuts a sequence of writes into blocks, each compressed with the tail
// of the previous one as dictionary.
type run struct {
	p    *pipeline
	cur  []byte
	prev []byte // the previous block of this run, nil at its start
}

func (r *run) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if r.cur == nil {
			r.cur = *bufs.Get().(*[]byte)
		}
		k := min(len(b), GzipBlockSize-len(r.cur))
		r.cur = append(r.cur, b[:k]...)
		b = b[k:]
		if len(r.cur) == GzipBlockSize {
			if err := r.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush queues the current block, if any.
func (r *run) flush() error {
	if len(r.cur) == 0 {
		return nil
	}
	var dict []byte
	if r.prev != nil {
		dict = r.prev[len(r.prev)-min(len(r.prev), dictSize):]
	}
	// The block is the next one's dictionary: copy the tail, since the
	// writer recycles the block's buffer once it is written.
	in := r.cur
	r.prev = append([]byte(nil), in[len(in)-min(len(in), dictSize):]...)
	r.cur = nil
	return r.p.block(dict, in, nil, func() {
		b := in[:0]
		bufs.Put(&b)
	})
}

// end flushes the run; the next write starts a new run.
func (r *run) end() error {
	err := r.flush()
	r.prev = nil
	return err
}

// chunkData queues the compression of the size bytes of src at off as one
// chunk: blocks of GzipBlockSize, each with the previous dictSize bytes of
// the file as dictionary, read by the workers.
func (p *pipeline) chunkData(src io.ReaderAt, off, size int64) error {
	for start := int64(0); start < size; start += GzipBlockSize {
		dictStart := max(0, start-dictSize)
		n := min(GzipBlockSize, size-start)
		bp := chunkBufs.Get().(*[]byte)
		buf := (*bp)[:start-dictStart+n]
		pos := off + dictStart
		read := func() error {
			if _, err := src.ReadAt(buf, pos); err != nil {
				return fmt.Errorf("reading file data at %d: %w", pos, err)
			}
			return nil
		}
		if err := p.block(buf[:start-dictStart], buf[start-dictStart:], read, func() { chunkBufs.Put(bp) }); err != nil {
			return err
		}
	}
	return nil
}

// crc32Combine returns the IEEE CRC-32 of A followed by B from crcA, the
// CRC of A, crcB, the CRC of B, and the length of B, without B's bytes:
// the gzip trailer's CRC over chunks that are copied, not read. It is
// zlib's crc32_combine (Mark Adler's method): appending lenB zero bits to A
// is multiplying its CRC by a matrix over GF(2), raised to lenB by
// repeated squaring. Go's hash/crc32 has no such function.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = 0xedb88320 // the reflected IEEE polynomial: one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		// Each round applies one more bit of lenB, in bytes (8 bits).
		gf2Square(&even, &odd)
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
