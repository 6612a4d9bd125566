package unpack

import (
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/kitbuild/kit/core/internal/freelist"
)

// gunzip decompresses a gzip stream ahead of its reader, on a goroutine of
// its own, so that inflating a layer overlaps with what the caller does
// with the tar: gzipBlocks blocks at most, the one being filled and the
// one being read included. Its blocks and its decompressor are reused by
// the next layers: a build unpacks a dozen layers, and fresh buffers cost
// a page fault for every 4 KiB of them. (pgzip's reader does the same
// read-ahead, but cannot be reset after Close, so its 4 MiB of blocks were
// made anew for each layer.)
type gunzip struct {
	zr   *gzip.Reader
	out  chan gzBlock // decompressed blocks, in order; closed after the last
	stop chan struct{}
	done chan struct{}
	cur  gzBlock
	off  int
	err  error
}

// gzBlock is a block of decompressed data, or the end of the stream (err
// io.EOF) or a failure.
type gzBlock struct {
	b   *[]byte // from gzBlocks; nil with err
	n   int
	err error
}

var (
	// gzBlocks keeps enough blocks for a few layers decompressing at once.
	gzBlocks = freelist.New(2*gzipBlocks, func() *[]byte {
		b := make([]byte, gzipBlockSize)
		return &b
	})
	gzReaders sync.Pool // *gzip.Reader
)

// newGunzip reads the gzip header from r (an error if it is not one) and
// starts decompressing.
func newGunzip(r io.Reader) (*gunzip, error) {
	zr, _ := gzReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(r)
	} else if err = zr.Reset(r); err != nil {
		gzReaders.Put(zr)
	}
	if err != nil {
		return nil, err
	}
	g := &gunzip{zr: zr, out: make(chan gzBlock, gzipBlocks-2), stop: make(chan struct{}), done: make(chan struct{})}
	go g.inflate()
	return g, nil
}

// inflate fills blocks until the end of the stream, an error or Close.
func (g *gunzip) inflate() {
	defer close(g.done)
	defer close(g.out)
	for {
		bp := gzBlocks.Get()
		b := *bp
		n := 0
		var err error
		for n < len(b) && err == nil {
			var k int
			k, err = g.zr.Read(b[n:])
			n += k
		}
		if n > 0 {
			select {
			case g.out <- gzBlock{b: bp, n: n}:
			case <-g.stop:
				gzBlocks.Put(bp)
				return
			}
		} else {
			gzBlocks.Put(bp)
		}
		if err != nil {
			select {
			case g.out <- gzBlock{err: err}:
			case <-g.stop:
			}
			return
		}
	}
}

func (g *gunzip) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for g.cur.b == nil || g.off == g.cur.n {
		if g.err != nil {
			return 0, g.err
		}
		g.release()
		blk, ok := <-g.out
		switch {
		case !ok:
			g.err = errors.New("gzip: read after close")
		case blk.err != nil:
			g.err = blk.err
		default:
			g.cur, g.off = blk, 0
		}
	}
	n := copy(p, (*g.cur.b)[g.off:g.cur.n])
	g.off += n
	return n, nil
}

// release returns the current block to the pool.
func (g *gunzip) release() {
	if g.cur.b != nil {
		gzBlocks.Put(g.cur.b)
		g.cur = gzBlock{}
	}
}

// Close stops the decompression and returns the blocks and the
// decompressor to their pools. It does not close the underlying reader.
func (g *gunzip) Close() error {
	if g.zr == nil {
		return nil
	}
	close(g.stop)
	for blk := range g.out {
		if blk.b != nil {
			gzBlocks.Put(blk.b)
		}
	}
	<-g.done
	g.release()
	gzReaders.Put(g.zr)
	g.zr = nil
	if g.err == nil {
		g.err = errors.New("gzip: read after close")
	}
	return nil
}
