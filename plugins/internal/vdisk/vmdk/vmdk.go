package vmdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zlib"
	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
)

const (
	// GrainSize is the size of a grain (the unit of allocation and compression).
	GrainSize = grainSectors * vdisk.SectorSize
	// MaxSize is the largest virtual size a sparse extent can describe: grain table
	// entries are 32-bit sector numbers.
	MaxSize = (1<<32 - 1) * vdisk.SectorSize
	// CompressionLevel is the fixed zlib level of the grains; output depends on it and on
	// the version of github.com/klauspost/compress.
	CompressionLevel = 6

	grainSectors = 128
	gtEntries    = 512 // grain table entries per grain table
	gtSectors    = gtEntries * 4 / vdisk.SectorSize
	descOffset   = 1   // sector of the embedded descriptor
	descSectors  = 20  // space reserved for it
	overhead     = 128 // sector of the first grain

	magic      = 0x564d444b // "KDMV"
	flagNL     = 1 << 0     // newline detection bytes are valid
	flagComp   = 1 << 16    // grains are compressed
	flagMarker = 1 << 17    // markers are used
	gdAtEnd    = ^uint64(0) // the grain directory's offset is in the footer

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3
)

// AdapterType is the disk controller recorded in the descriptor (ddb.adapterType), a hint
// for the VM an importer creates.
type AdapterType string

// Adapter types VMware knows.
const (
	IDE       AdapterType = "ide"
	LSILogic  AdapterType = "lsilogic"
	BusLogic  AdapterType = "buslogic"
	LegacyESX AdapterType = "legacyESX"
)

// Option sets an optional parameter of Write.
type Option func(*config)

type config struct {
	concurrency int
	adapter     AdapterType
	fileName    string

	descSectors, overhead uint64
}

// WithConcurrency sets how many grains are compressed at once (default GOMAXPROCS). The
// output does not depend on it.
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = n }
}

// WithAdapterType sets the descriptor's adapter type (default LSILogic).
func WithAdapterType(t AdapterType) Option {
	return func(c *config) { c.adapter = t }
}

// WithFileName sets the file name in the descriptor's extent line (default "disk.vmdk");
// VMware expects the name the file is stored under.
func WithFileName(name string) Option {
	return func(c *config) { c.fileName = name }
}

// Write writes the raw disk of size bytes read from src to w as a streamOptimized VMDK.
// size must be a positive multiple of 512 (vdisk.ErrUnaligned otherwise) and at most
// MaxSize; a partial last grain is stored zero-padded to a whole grain. All-zero grains are
// not stored. src is read twice (a scan, which also derives the descriptor's CID from the
// content, then the copy) and must not change in between. Write stops with ctx's error when
// ctx is cancelled.
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts ...Option) error {
	c := config{concurrency: runtime.GOMAXPROCS(0), adapter: LSILogic, fileName: "disk.vmdk",
		descSectors: descSectors, overhead: overhead}
	for _, o := range opts {
		o(&c)
	}
	return write(ctx, w, src, size, c)
}

func write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, c config) error {
	c.concurrency = max(c.concurrency, 1)
	if err := vdisk.CheckSize(size); err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	if size > MaxSize {
		return fmt.Errorf("vmdk: size %d is more than the sparse extent maximum of %d", size, int64(MaxSize))
	}
	if err := checkName(c.fileName); err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	m, digest, err := vdisk.Scan(ctx, src, size, GrainSize, true)
	if err != nil {
		return fmt.Errorf("vmdk: scan source: %w", err)
	}
	sw := &streamWriter{w: w, m: m, size: size, sectors: uint64(size / vdisk.SectorSize), c: c}
	sw.gts = vdisk.DivUp(m.Blocks, gtEntries)
	sw.gd = make([]uint32, sw.gts)

	desc := descriptor(c, cid(digest), sw.sectors)
	if uint64(len(desc)) > c.descSectors*vdisk.SectorSize {
		return fmt.Errorf("vmdk: descriptor of %d bytes does not fit in %d sectors", len(desc), c.descSectors)
	}
	head := make([]byte, c.overhead*vdisk.SectorSize)
	copy(head, sw.header(gdAtEnd))
	copy(head[descOffset*vdisk.SectorSize:], desc)
	if err := sw.write(head); err != nil {
		return fmt.Errorf("vmdk: header: %w", err)
	}
	if err := sw.grains(ctx, src, c.concurrency); err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	if err := sw.finish(); err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > 200 {
		return fmt.Errorf("extent file name %q: want 1 to 200 bytes", name)
	}
	for _, r := range name {
		if r < 0x20 || r == '"' || r == 0x7f {
			return fmt.Errorf("extent file name %q: control character or quote", name)
		}
	}
	return nil
}

// cid derives the descriptor's content ID from the disk's content digest. 0xffffffff means
// "no parent" in parentCID and is avoided.
func cid(digest [32]byte) uint32 {
	h := sha256.Sum256(append([]byte("kit vmdk cid\x00"), digest[:]...))
	id := binary.BigEndian.Uint32(h[:4])
	if id == ^uint32(0) {
		id--
	}
	return id
}

func descriptor(c config, cid uint32, sectors uint64) []byte {
	heads := uint64(255)
	if c.adapter == IDE {
		heads = 16
	}
	cyl := sectors / (heads * 63)
	if c.adapter == IDE {
		cyl = min(cyl, 16383)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", cid)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE \"%s\"\n\n", sectors, c.fileName)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.virtualHWVersion = \"4\"\n")
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"%d\"\nddb.geometry.sectors = \"63\"\n", cyl, heads)
	fmt.Fprintf(&b, "ddb.adapterType = \"%s\"\n", c.adapter)
	fmt.Fprintf(&b, "ddb.toolsVersion = \"2147483647\"\n")
	return b.Bytes()
}

type streamWriter struct {
	c       config
	w       io.Writer
	m       *vdisk.Map
	size    int64
	sectors uint64
	off     int64    // bytes written so far
	gts     int64    // number of grain tables
	gd      []uint32 // grain directory: sector of each grain table
	gt      []byte   // the grain table being filled
	gtIndex int64    // its index
}

func (s *streamWriter) write(b []byte) error {
	n, err := s.w.Write(b)
	s.off += int64(n)
	return err
}

func (s *streamWriter) sector() uint64 { return uint64(s.off / vdisk.SectorSize) }

// sector32 is the current sector as a grain or directory entry stores it.
func (s *streamWriter) sector32() (uint32, error) {
	if n := s.sector(); n > 1<<32-1 {
		return 0, fmt.Errorf("the stream passed 2 TiB (sector %d), beyond what a 32-bit table entry addresses", n)
	}
	return uint32(s.sector()), nil
}

func (s *streamWriter) header(gdOffset uint64) []byte {
	h := make([]byte, vdisk.SectorSize)
	le := binary.LittleEndian
	le.PutUint32(h[0:], magic)
	le.PutUint32(h[4:], 3) // version 3: what VMware writes and wants for streamOptimized
	le.PutUint32(h[8:], flagNL|flagComp|flagMarker)
	le.PutUint64(h[12:], s.sectors)
	le.PutUint64(h[20:], grainSectors)
	le.PutUint64(h[28:], descOffset)
	le.PutUint64(h[36:], s.c.descSectors)
	le.PutUint32(h[44:], gtEntries)
	// 48: no redundant grain directory
	le.PutUint64(h[56:], gdOffset)
	le.PutUint64(h[64:], s.c.overhead)
	// 72: clean shutdown; 73..76: newline detection bytes
	copy(h[73:], "\n \r\n")
	le.PutUint16(h[77:], 1) // deflate
	return h
}

// metadataMarker writes a marker sector announcing n sectors of metadata of type t.
func (s *streamWriter) metadataMarker(n uint64, t uint32) error {
	b := make([]byte, vdisk.SectorSize)
	binary.LittleEndian.PutUint64(b[0:], n)
	binary.LittleEndian.PutUint32(b[12:], t)
	return s.write(b)
}

// flushTables writes the grain tables before table index upto that are not written yet:
// the one being filled and any empty ones after it. Every table is written, even an empty
// one, so the directory has no holes.
func (s *streamWriter) flushTables(upto int64) error {
	for ; s.gtIndex < upto; s.gtIndex++ {
		if s.gt == nil {
			s.gt = make([]byte, gtEntries*4)
		}
		if err := s.metadataMarker(gtSectors, markerGT); err != nil {
			return fmt.Errorf("grain table %d: %w", s.gtIndex, err)
		}
		at, err := s.sector32()
		if err != nil {
			return fmt.Errorf("grain table %d: %w", s.gtIndex, err)
		}
		s.gd[s.gtIndex] = at
		if err := s.write(s.gt); err != nil {
			return fmt.Errorf("grain table %d: %w", s.gtIndex, err)
		}
		clear(s.gt)
	}
	return nil
}

// writeGrain writes a compressed grain (marker, data, padding to a sector) and records it
// in its grain table.
func (s *streamWriter) writeGrain(i int64, data []byte) error {
	if err := s.flushTables(i / gtEntries); err != nil {
		return err
	}
	if s.gt == nil {
		s.gt = make([]byte, gtEntries*4)
	}
	at, err := s.sector32()
	if err != nil {
		return fmt.Errorf("grain %d: %w", i, err)
	}
	binary.LittleEndian.PutUint32(s.gt[(i%gtEntries)*4:], at)
	if err := s.write(data); err != nil {
		return fmt.Errorf("grain %d: %w", i, err)
	}
	return nil
}

func (s *streamWriter) finish() error {
	if err := s.flushTables(s.gts); err != nil {
		return err
	}
	gd := make([]byte, vdisk.RoundUp(s.gts*4, vdisk.SectorSize))
	for i, v := range s.gd {
		binary.LittleEndian.PutUint32(gd[i*4:], v)
	}
	if err := s.metadataMarker(uint64(len(gd)/vdisk.SectorSize), markerGD); err != nil {
		return fmt.Errorf("grain directory: %w", err)
	}
	gdOffset := s.sector()
	if err := s.write(gd); err != nil {
		return fmt.Errorf("grain directory: %w", err)
	}
	if err := s.metadataMarker(1, markerFooter); err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	if err := s.write(s.header(gdOffset)); err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	if err := s.metadataMarker(0, markerEOS); err != nil {
		return fmt.Errorf("end-of-stream marker: %w", err)
	}
	return nil
}

// grain is one grain on its way through the compression pipeline.
type grain struct {
	index int64
	in    *[]byte       // raw grain, GrainSize bytes
	out   *bytes.Buffer // marker + compressed data + padding
	done  chan error
}

// grains reads, compresses and writes every grain holding data, in disk order. A reader
// goroutine feeds concurrency compressors; the caller's goroutine writes the results in
// the order the reader queued them, so the output does not depend on scheduling.
func (s *streamWriter) grains(ctx context.Context, src io.ReaderAt, concurrency int) error {
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *grain)
	queue := make(chan *grain, 2*concurrency)
	inPool := sync.Pool{New: func() any { b := make([]byte, GrainSize); return &b }}
	outPool := sync.Pool{New: func() any { return new(bytes.Buffer) }}

	g.Go(func() error {
		defer close(work)
		defer close(queue)
		for i := int64(0); i < s.m.Blocks; i++ {
			if !s.m.Allocated(i) {
				continue
			}
			in := inPool.Get().(*[]byte)
			if err := vdisk.ReadBlock(src, *in, i*GrainSize, s.size); err != nil {
				return fmt.Errorf("grain %d: %w", i, err)
			}
			gr := &grain{index: i, in: in, done: make(chan error, 1)}
			select {
			case queue <- gr:
			case <-gctx.Done():
				return gctx.Err()
			}
			select {
			case work <- gr:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range concurrency {
		g.Go(func() error {
			zw, err := zlib.NewWriterLevel(io.Discard, CompressionLevel)
			if err != nil {
				return err
			}
			for gr := range work {
				gr.out = outPool.Get().(*bytes.Buffer)
				gr.done <- compressGrain(zw, gr)
				inPool.Put(gr.in)
			}
			return nil
		})
	}
	g.Go(func() error {
		for gr := range queue {
			var err error
			select {
			case err = <-gr.done:
			case <-gctx.Done():
				return gctx.Err()
			}
			if err != nil {
				return fmt.Errorf("compress grain %d: %w", gr.index, err)
			}
			if err := s.writeGrain(gr.index, gr.out.Bytes()); err != nil {
				return err
			}
			outPool.Put(gr.out)
		}
		return gctx.Err()
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return ctx.Err() // cancellation wins over the errors it caused
	}
	return err
}

// compressGrain fills gr.out with the grain marker (its first sector number and the
// compressed size), the zlib stream and zero padding to a whole sector.
func compressGrain(zw *zlib.Writer, gr *grain) error {
	out := gr.out
	out.Reset()
	var marker [12]byte
	out.Write(marker[:])
	zw.Reset(out)
	if _, err := zw.Write(*gr.in); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	b := out.Bytes()
	binary.LittleEndian.PutUint64(b[0:], uint64(gr.index*grainSectors))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-len(marker)))
	pad := vdisk.RoundUp(int64(len(b)), vdisk.SectorSize) - int64(len(b))
	out.Write(make([]byte, pad))
	return nil
}
