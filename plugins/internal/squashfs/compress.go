package squashfs

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression is a SquashFS compressor id.
type Compression uint16

// Compressors this package writes. Debian's kernel (CONFIG_SQUASHFS_ZLIB,
// CONFIG_SQUASHFS_ZSTD) reads both.
const (
	Gzip Compression = 1
	Zstd Compression = 6
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression %d", uint16(c))
}

// compressor compresses one block; it is safe for concurrent use and gives
// the same output for the same input.
type compressor interface {
	compress(dst, src []byte) ([]byte, error)
}

func newCompressor(c Compression, blockSize int) (compressor, error) {
	switch c {
	case Gzip:
		return &zlibCompressor{}, nil
	case Zstd:
		if c, ok := zstdEncoders.Load(blockSize); ok {
			return c.(zstdCompressor), nil
		}
		// The kernel decompresses with a window of the block size: the
		// frames must not ask for more.
		window := max(blockSize, zstd.MinWindowSize)
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(false), zstd.WithWindowSize(window),
			zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, fmt.Errorf("squashfs: zstd: %w", err)
		}
		c, _ := zstdEncoders.LoadOrStore(blockSize, zstdCompressor{enc})
		return c.(zstdCompressor), nil
	}
	return nil, fmt.Errorf("squashfs: unsupported %v", c)
}

// zstdEncoders holds one encoder per block size: EncodeAll is safe for
// concurrent use, and an encoder is costly to make.
var zstdEncoders sync.Map

type zstdCompressor struct{ enc *zstd.Encoder }

func (z zstdCompressor) compress(dst, src []byte) ([]byte, error) {
	return z.enc.EncodeAll(src, dst[:0]), nil
}

// zlibCompressor is SquashFS's "gzip": a zlib stream at level 9, as
// mksquashfs writes it.
type zlibCompressor struct{ pool sync.Pool }

func (z *zlibCompressor) compress(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst[:0])
	w, _ := z.pool.Get().(*zlib.Writer)
	if w == nil {
		var err error
		if w, err = zlib.NewWriterLevel(buf, zlib.BestCompression); err != nil {
			return nil, err
		}
	} else {
		w.Reset(buf)
	}
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	z.pool.Put(w)
	return buf.Bytes(), nil
}
