package qcow2

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
)

const (
	// ClusterSize is the size of a qcow2 cluster written by this package.
	ClusterSize = 1 << clusterBits

	clusterBits   = 16
	refcountOrder = 4 // 16-bit refcounts
	headerLength  = 112
	l2Entries     = ClusterSize / 8                        // entries of one L2 table
	rbEntries     = ClusterSize * 8 / (1 << refcountOrder) // refcounts in one refcount block
	oflagCopied   = uint64(1) << 63                        // refcount of the target is exactly 1
	magic         = uint32('Q')<<24 | uint32('F')<<16 | uint32('I')<<8 | 0xfb
)

// layout is where every structure of the image goes, in clusters from the start of the file.
type layout struct {
	size       int64 // virtual size in bytes
	guest      int64 // guest clusters
	l1Size     int64 // L1 entries
	l1Clusters int64
	rtClusters int64 // refcount table clusters
	rbCount    int64 // refcount blocks
	l2Count    int64 // L2 tables (only those with an allocated cluster)
	data       int64 // data clusters
	total      int64 // clusters in the file

	l1Start, rtStart, rbStart, l2Start, dataStart int64
}

func plan(size int64, m *vdisk.Map) layout {
	l := layout{size: size, guest: m.Blocks}
	l.l1Size = vdisk.DivUp(l.guest, l2Entries)
	l.l1Clusters = vdisk.DivUp(l.l1Size*8, ClusterSize)
	for i := int64(0); i < l.l1Size; i++ {
		if m.CountRange(i*l2Entries, min((i+1)*l2Entries, l.guest)) > 0 {
			l.l2Count++
		}
	}
	l.data = m.Count()
	fixed := 1 + l.l1Clusters + l.l2Count + l.data
	// The refcount blocks and table count themselves: iterate to the fixed point.
	l.total = fixed
	for {
		rb := vdisk.DivUp(l.total, rbEntries)
		rt := vdisk.DivUp(rb*8, ClusterSize)
		if fixed+rb+rt == l.total {
			l.rbCount, l.rtClusters = rb, rt
			break
		}
		l.total = fixed + rb + rt
	}
	l.l1Start = 1
	l.rtStart = l.l1Start + l.l1Clusters
	l.rbStart = l.rtStart + l.rtClusters
	l.l2Start = l.rbStart + l.rbCount
	l.dataStart = l.l2Start + l.l2Count
	return l
}

// Write writes the raw disk of size bytes read from src to w as a qcow2 image. size must be
// a positive multiple of 512 (vdisk.ErrUnaligned otherwise); a partial last cluster is
// stored zero-padded and reads back as the disk's bytes. src is read twice (a scan for
// non-zero clusters, then the copy) and must not change in between. Output is a pure
// function of the disk's bytes. Write stops with ctx's error when ctx is cancelled.
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64) error {
	if err := vdisk.CheckSize(size); err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	m, _, err := vdisk.Scan(ctx, src, size, ClusterSize, false)
	if err != nil {
		return fmt.Errorf("qcow2: scan source: %w", err)
	}
	l := plan(size, m)
	cw := &vdisk.CountingWriter{W: w}
	if err := l.writeMetadata(ctx, cw, m); err != nil {
		return fmt.Errorf("qcow2: write metadata: %w", err)
	}
	if err := l.writeData(ctx, cw, src, m); err != nil {
		return fmt.Errorf("qcow2: write data: %w", err)
	}
	if cw.N != l.total*ClusterSize {
		return fmt.Errorf("qcow2: wrote %d bytes, planned %d (source changed between passes?)", cw.N, l.total*ClusterSize)
	}
	return nil
}

func (l *layout) header() []byte {
	c := make([]byte, ClusterSize)
	be := binary.BigEndian
	be.PutUint32(c[0:], magic)
	be.PutUint32(c[4:], 3) // version
	// 8: backing file offset, 16: backing file size: none
	be.PutUint32(c[20:], clusterBits)
	be.PutUint64(c[24:], uint64(l.size))
	// 32: crypt method none
	be.PutUint32(c[36:], uint32(l.l1Size))
	be.PutUint64(c[40:], uint64(l.l1Start*ClusterSize))
	be.PutUint64(c[48:], uint64(l.rtStart*ClusterSize))
	be.PutUint32(c[56:], uint32(l.rtClusters))
	// 60: no snapshots; 72..95: no incompatible, compatible or autoclear features
	be.PutUint32(c[96:], refcountOrder)
	be.PutUint32(c[100:], headerLength)
	// 104: compression type zlib (0), 105..111 padding; at 112 the header extension
	// end marker (type 0, length 0) is already zero.
	return c
}

func (l *layout) writeMetadata(ctx context.Context, w io.Writer, m *vdisk.Map) error {
	be := binary.BigEndian
	if _, err := w.Write(l.header()); err != nil {
		return fmt.Errorf("header: %w", err)
	}

	// L1 table: an entry per 512 MiB of guest space, pointing at an L2 table when any
	// cluster in its range holds data.
	l1 := make([]byte, l.l1Clusters*ClusterSize)
	next := l.l2Start
	for i := int64(0); i < l.l1Size; i++ {
		if m.CountRange(i*l2Entries, min((i+1)*l2Entries, l.guest)) > 0 {
			be.PutUint64(l1[i*8:], uint64(next*ClusterSize)|oflagCopied)
			next++
		}
	}
	if _, err := w.Write(l1); err != nil {
		return fmt.Errorf("L1 table: %w", err)
	}

	rt := make([]byte, l.rtClusters*ClusterSize)
	for i := int64(0); i < l.rbCount; i++ {
		be.PutUint64(rt[i*8:], uint64((l.rbStart+i)*ClusterSize))
	}
	if _, err := w.Write(rt); err != nil {
		return fmt.Errorf("refcount table: %w", err)
	}

	// Every cluster of the file is used exactly once, and the file has no holes: the
	// first l.total refcounts are 1, the rest 0.
	rb := make([]byte, ClusterSize)
	for i := int64(0); i < l.rbCount; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		clear(rb)
		for j := int64(0); j < rbEntries && i*rbEntries+j < l.total; j++ {
			be.PutUint16(rb[j*2:], 1)
		}
		if _, err := w.Write(rb); err != nil {
			return fmt.Errorf("refcount block %d: %w", i, err)
		}
	}

	l2 := make([]byte, ClusterSize)
	data := l.dataStart
	for i := int64(0); i < l.l1Size; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		from, to := i*l2Entries, min((i+1)*l2Entries, l.guest)
		if m.CountRange(from, to) == 0 {
			continue
		}
		clear(l2)
		for g := from; g < to; g++ {
			if m.Allocated(g) {
				be.PutUint64(l2[(g-from)*8:], uint64(data*ClusterSize)|oflagCopied)
				data++
			}
		}
		if _, err := w.Write(l2); err != nil {
			return fmt.Errorf("L2 table %d: %w", i, err)
		}
	}
	return nil
}

func (l *layout) writeData(ctx context.Context, w io.Writer, src io.ReaderAt, m *vdisk.Map) error {
	buf := make([]byte, ClusterSize)
	for g := int64(0); g < l.guest; g++ {
		if !m.Allocated(g) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := vdisk.ReadBlock(src, buf, g*ClusterSize, l.size); err != nil {
			return fmt.Errorf("cluster %d: %w", g, err)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("cluster %d: %w", g, err)
		}
	}
	return nil
}
