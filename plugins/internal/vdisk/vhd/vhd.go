package vhd

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
)

const (
	// BlockSize is the block size of the dynamic VHDs this package writes.
	BlockSize = 2 << 20
	// MaxSize is the largest virtual size written: 2040 GiB, the limit qemu enforces (the
	// VHD format tops out just under 2 TiB).
	MaxSize = 2040 << 30
	// AzureAlign is the alignment Azure requires of a VHD's virtual size.
	AzureAlign = 1 << 20

	footerSize    = 512
	dynHeaderSize = 1024
	// vhdEpoch is 2000-01-01T00:00:00Z in Unix seconds, the zero of VHD timestamps.
	vhdEpoch = 946684800

	typeFixed   = 2
	typeDynamic = 3

	// fixedOffset is the footer's data offset of a fixed disk (no further structures).
	fixedOffset = ^uint64(0)
	// batOffset is where the block allocation table of a dynamic disk starts: after the
	// footer copy and the dynamic disk header.
	batOffset = footerSize + dynHeaderSize
	// bitmapSize is the per-block sector bitmap (one bit per sector), padded to a sector.
	bitmapSize = BlockSize / vdisk.SectorSize / 8
)

// creatorApp names kit as the footer's creator application. Readers disagree on how to
// size a VHD: Hyper-V, Azure and qemu >= 10 take the footer's current size for any creator
// but "vpc " and "qemu"; qemu < 10 takes it only for a few creators it knows ("win ",
// "qem2", "d2v ", "CTXS", "tap\0") or when the geometry is the maximum one, and otherwise
// multiplies the CHS geometry out. kit does not pretend to be another application: it
// writes a geometry that every reader turns into the current size (see footerGeometry).
var creatorApp = [4]byte{'k', 'i', 't', ' '}

// Option sets an optional parameter of a writer.
type Option func(*config)

type config struct {
	epoch int64
}

// WithSourceDateEpoch sets the footer's timestamp to epoch (seconds since 1970, as
// SOURCE_DATE_EPOCH); times before 2000-01-01, the VHD epoch, are stored as 0. Default 0.
func WithSourceDateEpoch(epoch int64) Option {
	return func(c *config) { c.epoch = epoch }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// maxGeometry is the largest CHS geometry, 65535×16×255 sectors (about 127 GiB): what the
// VHD specification gives disks too large for CHS, and what tells every qemu version to
// size the disk by the footer's current size.
const maxGeometry = 65535 * 16 * 255

// Geometry returns the cylinders, heads and sectors per track of a disk of the given number
// of sectors, computed as the VHD specification (appendix "CHS Calculation") says. The
// product is often less than sectors: a reader that sizes the disk by its geometry (Virtual
// PC; qemu < 10 for a creator it does not know) would see it truncated.
func Geometry(sectors int64) (cylinders uint16, heads, sectorsPerTrack uint8) {
	s := min(sectors, maxGeometry)
	var spt, h, cth int64
	if s >= 65535*16*63 {
		spt, h = 255, 16
		cth = s / spt
	} else {
		spt = 17
		cth = s / spt
		h = max((cth+1023)/1024, 4)
		if cth >= h*1024 || h > 16 {
			spt, h = 31, 16
			cth = s / spt
		}
		if cth >= h*1024 {
			spt, h = 63, 16
			cth = s / spt
		}
	}
	return uint16(cth / h), uint8(h), uint8(spt)
}

// footerGeometry is the geometry written in the footer: the specification's when it
// covers the disk exactly (every reader then agrees on the size), else the maximum
// geometry, which qemu (all versions) reads as "use the current size", as Hyper-V and
// Azure always do. The only reader that would then see the geometry is Virtual PC, which
// is long gone. Sizes whose specification geometry is exact: see ExactGeometrySize.
func footerGeometry(sectors int64) (uint16, uint8, uint8) {
	c, h, s := Geometry(sectors)
	if int64(c)*int64(h)*int64(s) == sectors {
		return c, h, s
	}
	return 65535, 16, 255
}

// ExactGeometrySize returns the smallest size >= size (in bytes, a multiple of 512) whose
// specification CHS geometry covers it exactly, the size `qemu-img create -f vpc` rounds
// to; a disk of that size reads the same in every VHD reader, old ones included. Sizes
// past the CHS range are returned as they are (rounded to a sector).
func ExactGeometrySize(size int64) int64 {
	want := vdisk.DivUp(size, vdisk.SectorSize)
	if want >= maxGeometry {
		return want * vdisk.SectorSize
	}
	for n := want; ; n++ {
		c, h, s := Geometry(n)
		if p := int64(c) * int64(h) * int64(s); p >= want {
			return p * vdisk.SectorSize
		}
	}
}

// AzureSize is the virtual size Azure accepts for a raw disk of size bytes: size rounded up
// to a whole number of MiB.
func AzureSize(size int64) int64 {
	return vdisk.RoundUp(size, AzureAlign)
}

func checkSize(size int64) error {
	if err := vdisk.CheckSize(size); err != nil {
		return err
	}
	if size > MaxSize {
		return fmt.Errorf("size %d is more than the VHD maximum of %d", size, int64(MaxSize))
	}
	return nil
}

// uniqueID derives the footer's unique ID from the disk's content digest and the disk type;
// it is stamped as an RFC 9562 version 8 (custom) UUID.
func uniqueID(digest [32]byte, diskType byte) [16]byte {
	h := sha256.New()
	h.Write([]byte("kit vhd unique id\x00"))
	h.Write([]byte{diskType})
	h.Write(digest[:])
	var id [16]byte
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x80
	id[8] = id[8]&0x3f | 0x80
	return id
}

func checksum(b []byte) uint32 {
	var s uint32
	for _, c := range b {
		s += uint32(c)
	}
	return ^s
}

func footer(c config, size int64, diskType byte, dataOffset uint64, id [16]byte) []byte {
	f := make([]byte, footerSize)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: the reserved bit that must be set
	be.PutUint32(f[12:], 0x00010000) // file format version 1.0
	be.PutUint64(f[16:], dataOffset)
	ts := min(max(c.epoch-vhdEpoch, 0), 1<<32-1)
	be.PutUint32(f[24:], uint32(ts))
	copy(f[28:], creatorApp[:])
	be.PutUint32(f[32:], 0x00010000)   // creator version 1.0
	copy(f[36:], "Wi2k")               // creator host OS: the spec knows only Windows and Mac
	be.PutUint64(f[40:], uint64(size)) // original size
	be.PutUint64(f[48:], uint64(size)) // current size
	cyl, heads, spt := footerGeometry(size / vdisk.SectorSize)
	be.PutUint16(f[56:], cyl)
	f[58], f[59] = heads, spt
	be.PutUint32(f[60:], uint32(diskType))
	copy(f[68:], id[:])
	// 84: saved state 0; the rest reserved, zero.
	be.PutUint32(f[64:], checksum(f))
	return f
}

// WriteFixed writes the raw disk of size bytes read from src to w as a fixed VHD: the bytes
// as they are, then the footer. size must be a positive multiple of 512 (vdisk.ErrUnaligned
// otherwise) and at most MaxSize; src is read once. WriteFixed stops with ctx's error when
// ctx is cancelled.
func WriteFixed(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts ...Option) error {
	c := newConfig(opts)
	if err := checkSize(size); err != nil {
		return fmt.Errorf("vhd fixed: %w", err)
	}
	d := vdisk.NewDigester(size, BlockSize)
	buf := make([]byte, BlockSize)
	for off := int64(0); off < size; off += BlockSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("vhd fixed: %w", err)
		}
		if err := vdisk.ReadBlock(src, buf, off, size); err != nil {
			return fmt.Errorf("vhd fixed: block %d: %w", off/BlockSize, err)
		}
		if !vdisk.IsZero(buf) {
			d.Block(off/BlockSize, buf)
		}
		if _, err := w.Write(buf[:min(BlockSize, size-off)]); err != nil {
			return fmt.Errorf("vhd fixed: block %d: %w", off/BlockSize, err)
		}
	}
	if _, err := w.Write(footer(c, size, typeFixed, fixedOffset, uniqueID(d.Sum(), typeFixed))); err != nil {
		return fmt.Errorf("vhd fixed: footer: %w", err)
	}
	return nil
}

// WriteAzure writes the raw disk of size bytes read from src as the fixed VHD Azure accepts:
// virtual size AzureSize(size), the disk followed by zeros up to it. size may be any
// positive number of bytes.
func WriteAzure(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts ...Option) error {
	if size <= 0 {
		return fmt.Errorf("vhd azure: size %d: %w", size, vdisk.ErrUnaligned)
	}
	return WriteFixed(ctx, w, vdisk.ZeroPad(src, size), AzureSize(size), opts...)
}

// WriteDynamic writes the raw disk of size bytes read from src to w as a dynamic VHD: a copy
// of the footer, the dynamic disk header, the block allocation table, then each 2 MiB block
// holding any non-zero byte (a sector bitmap with every sector present, then the data) in
// disk order, and the footer. All-zero blocks are left unallocated. size must be a positive
// multiple of 512 and at most MaxSize; a partial last block is stored zero-padded. src is
// read twice (a scan, then the copy) and must not change in between. WriteDynamic stops
// with ctx's error when ctx is cancelled.
func WriteDynamic(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts ...Option) error {
	c := newConfig(opts)
	if err := checkSize(size); err != nil {
		return fmt.Errorf("vhd dynamic: %w", err)
	}
	m, digest, err := vdisk.Scan(ctx, src, size, BlockSize, true)
	if err != nil {
		return fmt.Errorf("vhd dynamic: scan source: %w", err)
	}
	be := binary.BigEndian
	ft := footer(c, size, typeDynamic, footerSize, uniqueID(digest, typeDynamic))

	entries := m.Blocks
	batSize := vdisk.RoundUp(entries*4, vdisk.SectorSize)
	hdr := make([]byte, dynHeaderSize)
	copy(hdr[0:], "cxsparse")
	be.PutUint64(hdr[8:], ^uint64(0)) // data offset: unused, all ones as Microsoft's tools expect
	be.PutUint64(hdr[16:], batOffset)
	be.PutUint32(hdr[24:], 0x00010000) // header version 1.0
	be.PutUint32(hdr[28:], uint32(entries))
	be.PutUint32(hdr[32:], BlockSize)
	// 40: no parent (UUID, timestamp, name, locators all zero).
	be.PutUint32(hdr[36:], checksum(hdr))

	bat := make([]byte, batSize)
	for i := range bat {
		bat[i] = 0xff // unused BAT entries and padding: 0xFFFFFFFF
	}
	next := int64(batOffset) + batSize
	for i := int64(0); i < entries; i++ {
		if m.Allocated(i) {
			be.PutUint32(bat[i*4:], uint32(next/vdisk.SectorSize))
			next += bitmapSize + BlockSize
		}
	}

	cw := &vdisk.CountingWriter{W: w}
	for _, part := range []struct {
		name string
		b    []byte
	}{{"footer copy", ft}, {"dynamic header", hdr}, {"block allocation table", bat}} {
		if _, err := cw.Write(part.b); err != nil {
			return fmt.Errorf("vhd dynamic: %s: %w", part.name, err)
		}
	}
	bitmap := make([]byte, bitmapSize)
	for i := range bitmap {
		bitmap[i] = 0xff
	}
	buf := make([]byte, BlockSize)
	for i := int64(0); i < entries; i++ {
		if !m.Allocated(i) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("vhd dynamic: %w", err)
		}
		if err := vdisk.ReadBlock(src, buf, i*BlockSize, size); err != nil {
			return fmt.Errorf("vhd dynamic: block %d: %w", i, err)
		}
		if _, err := cw.Write(bitmap); err != nil {
			return fmt.Errorf("vhd dynamic: block %d: %w", i, err)
		}
		if _, err := cw.Write(buf); err != nil {
			return fmt.Errorf("vhd dynamic: block %d: %w", i, err)
		}
	}
	if cw.N != next {
		return fmt.Errorf("vhd dynamic: wrote %d bytes before the footer, planned %d", cw.N, next)
	}
	if _, err := cw.Write(ft); err != nil {
		return fmt.Errorf("vhd dynamic: footer: %w", err)
	}
	return nil
}
