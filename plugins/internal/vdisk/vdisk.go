package vdisk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
)

// SectorSize is the size in bytes of a disk sector in every format kit writes.
const SectorSize = 512

// ErrUnaligned is returned by a writer given a disk size that is not a positive multiple of
// SectorSize. Pad the raw disk first (ZeroPad, RoundUp) when another size is wanted.
var ErrUnaligned = errors.New("virtual disk size is not a positive multiple of 512 bytes")

// CheckSize returns an error wrapping ErrUnaligned unless size is a positive multiple of
// SectorSize.
func CheckSize(size int64) error {
	if size <= 0 || size%SectorSize != 0 {
		return fmt.Errorf("size %d: %w", size, ErrUnaligned)
	}
	return nil
}

// RoundUp returns the smallest multiple of align that is >= n (align > 0, n >= 0).
func RoundUp(n, align int64) int64 {
	return (n + align - 1) / align * align
}

// DivUp returns n/d rounded up (d > 0, n >= 0).
func DivUp(n, d int64) int64 {
	return (n + d - 1) / d
}

// ZeroPad returns a reader of src's first n bytes followed by zeros at every offset past n,
// so a disk can be presented at a larger virtual size without copying it.
func ZeroPad(src io.ReaderAt, n int64) io.ReaderAt {
	return &zeroPad{src: src, n: n}
}

type zeroPad struct {
	src io.ReaderAt
	n   int64
}

func (z *zeroPad) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("zero pad: negative offset %d", off)
	}
	var read int
	if off < z.n {
		m := min(int64(len(p)), z.n-off)
		if err := readFull(z.src, p[:m], off); err != nil {
			return 0, err
		}
		read = int(m)
	}
	clear(p[read:])
	return len(p), nil
}

// readFull reads exactly len(p) bytes at off; io.EOF together with a full read is success.
func readFull(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at offset %d: got %d: %w", len(p), off, n, err)
}

// ReadBlock fills buf with the disk's bytes at off, where the disk is size bytes long: the
// part of buf past size is zeroed (the partial last block of a disk whose size is not a
// multiple of the block size).
func ReadBlock(src io.ReaderAt, buf []byte, off, size int64) error {
	m := int64(len(buf))
	if off+m > size {
		m = max(size-off, 0)
	}
	if m > 0 {
		if err := readFull(src, buf[:m], off); err != nil {
			return fmt.Errorf("read source disk: %w", err)
		}
	}
	clear(buf[m:])
	return nil
}

var zeros [1 << 16]byte

// IsZero reports whether every byte of b is zero.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// WriteZeros writes n zero bytes to w.
func WriteZeros(w io.Writer, n int64) error {
	for n > 0 {
		m := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// Map records which fixed-size blocks of a disk hold any non-zero byte.
type Map struct {
	// BlockSize is the size of a block in bytes.
	BlockSize int64
	// Blocks is the number of blocks of the disk, the last one possibly partial.
	Blocks int64
	bits   []uint64
	count  int64
}

// NewMap returns an empty map of a disk of size bytes cut into blocks of blockSize.
func NewMap(size, blockSize int64) *Map {
	n := DivUp(size, blockSize)
	return &Map{BlockSize: blockSize, Blocks: n, bits: make([]uint64, DivUp(n, 64))}
}

// Set marks block i as holding data.
func (m *Map) Set(i int64) {
	w, b := i/64, uint(i%64)
	if m.bits[w]&(1<<b) == 0 {
		m.bits[w] |= 1 << b
		m.count++
	}
}

// Allocated reports whether block i holds any non-zero byte.
func (m *Map) Allocated(i int64) bool {
	return m.bits[i/64]&(1<<uint(i%64)) != 0
}

// Count returns the number of blocks holding data.
func (m *Map) Count() int64 { return m.count }

// CountRange returns the number of blocks in [from, to) holding data.
func (m *Map) CountRange(from, to int64) int64 {
	var n int64
	for i := from; i < to; {
		if i%64 == 0 && to-i >= 64 {
			n += int64(bits.OnesCount64(m.bits[i/64]))
			i += 64
			continue
		}
		if m.Allocated(i) {
			n++
		}
		i++
	}
	return n
}

// Digester computes a disk's content digest: sha256 over the disk size, the block size and,
// for each block holding data, its index and bytes (a partial last block zero-padded). All-zero
// blocks add nothing, so the digest of a sparse disk is cheap and two disks with the same
// bytes and size always get the same digest. Writers derive their identifiers (VHD unique
// ID, VMDK CID) from it.
type Digester struct {
	h         hash.Hash
	blockSize int64
}

// NewDigester starts the digest of a disk of size bytes read in blocks of blockSize.
func NewDigester(size, blockSize int64) *Digester {
	d := &Digester{h: sha256.New(), blockSize: blockSize}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(blockSize))
	d.h.Write(b[:])
	return d
}

// Block adds block i with content b (len(b) == the block size); the caller passes only
// blocks holding data, in increasing order.
func (d *Digester) Block(i int64, b []byte) {
	var ib [8]byte
	binary.BigEndian.PutUint64(ib[:], uint64(i))
	d.h.Write(ib[:])
	d.h.Write(b)
}

// Sum returns the digest.
func (d *Digester) Sum() [32]byte {
	var s [32]byte
	d.h.Sum(s[:0])
	return s
}

// scanChunk is how much Scan reads per call to ReadAt.
const scanChunk = 4 << 20

// Scan reads a disk of size bytes from src and returns the map of its blocks of blockSize
// holding data and, when digest is true, the disk's content digest (see Digester). It checks
// ctx between reads.
func Scan(ctx context.Context, src io.ReaderAt, size, blockSize int64, digest bool) (*Map, [32]byte, error) {
	m := NewMap(size, blockSize)
	var d *Digester
	if digest {
		d = NewDigester(size, blockSize)
	}
	chunk := max(blockSize, scanChunk/blockSize*blockSize)
	buf := make([]byte, chunk)
	for off := int64(0); off < size; off += chunk {
		if err := ctx.Err(); err != nil {
			return nil, [32]byte{}, err
		}
		n := min(chunk, RoundUp(size-off, blockSize))
		b := buf[:n]
		if err := ReadBlock(src, b, off, size); err != nil {
			return nil, [32]byte{}, err
		}
		for j := int64(0); j < n; j += blockSize {
			blk := b[j : j+blockSize]
			if IsZero(blk) {
				continue
			}
			i := (off + j) / blockSize
			m.Set(i)
			if d != nil {
				d.Block(i, blk)
			}
		}
	}
	var sum [32]byte
	if d != nil {
		sum = d.Sum()
	}
	return m, sum, nil
}

// CountingWriter counts the bytes written through it.
type CountingWriter struct {
	W io.Writer
	N int64
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
