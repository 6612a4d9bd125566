package initramfs

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/kitbuild/kit/core/format/internal/tarscan"
	"github.com/kitbuild/kit/core/internal/ctxio"
)

// ChunkMin is the size from which a regular file's data is compressed as
// a chunk of its own (see deflate.go): files this large are compressed
// alone, so that the compressed bytes can be made once and reused. Smaller
// files stay in the runs, where they share a dictionary: with chunks from
// 16 KiB, RedisOS's initrd (kernel modules of 16 to 64 KiB compress far
// better together) grew by 5%; from 64 KiB it is within 0.1% of one
// stream.
const ChunkMin = 64 << 10

// castagnoli is the CRC-32C table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ChunkKey identifies a chunk by its file's data: the size and two CRCs
// (IEEE, which the gzip trailer needs anyway, and Castagnoli), both
// computed in hardware. Chunks are only looked up for files of the same
// size, so telling two different files of one size apart rests on 64 bits
// of checksum.
type ChunkKey struct {
	Size   int64  `json:"size"`
	CRC32  uint32 `json:"crc32"`
	CRC32C uint32 `json:"crc32c"`
}

// keyBufs holds keyOf's read buffers: an initrd has hundreds of chunks.
var keyBufs = sync.Pool{New: func() any {
	b := make([]byte, 64<<10)
	return &b
}}

// keyOf computes the key of the size bytes of src at off.
func keyOf(ctx context.Context, src io.ReaderAt, off, size int64) (ChunkKey, error) {
	k := ChunkKey{Size: size}
	bp := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(bp)
	buf := *bp
	r := io.NewSectionReader(ctxio.ReaderAt(ctx, src), off, size)
	for {
		n, err := r.Read(buf)
		k.CRC32 = crc32.Update(k.CRC32, crc32.IEEETable, buf[:n])
		k.CRC32C = crc32.Update(k.CRC32C, castagnoli, buf[:n])
		if err == io.EOF {
			return k, nil
		}
		if err != nil {
			return k, err
		}
	}
}

// Chunks finds compressed chunks made earlier (by BuildPack).
type Chunks interface {
	// Chunk returns a reader of the chunk of the data with key k, and
	// whether there is one.
	Chunk(k ChunkKey) (io.Reader, bool)
}

// Pack index format: what BuildPack writes beside the chunks.
const (
	// PackMediaType is the media type of a pack's index.
	PackMediaType = "application/vnd.kit.initramfs.pack.v1+json"
	// packFormat changes whenever chunks made by the same inputs would
	// differ (gzip parameters, klauspost/compress, the chunk layout).
	packFormat = "chunks/1 level=6 block=1048576 dict=32768 min=65536 klauspost/compress=1.20"
)

// PackIndex lists the chunks of a pack: Offset and Length place each in
// the pack's data.
type PackIndex struct {
	Format string       `json:"format"`
	Chunks []PackRecord `json:"chunks"`
}

// PackRecord is one chunk of a pack.
type PackRecord struct {
	ChunkKey
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// BuildPack compresses, as chunks, the data of every distinct regular file
// of ChunkMin bytes or more in the tar held in the first size bytes of src,
// writes the chunks to w one after another, and returns their index. Its
// chunks are byte for byte those that WriteGzip makes for the same files.
func BuildPack(ctx context.Context, w io.Writer, src io.ReaderAt, size int64) (PackIndex, error) {
	idx := PackIndex{Format: packFormat, Chunks: []PackRecord{}}
	seen := map[ChunkKey]bool{}
	cw := &countWriter{w: w}
	p := newPipeline(ctx, cw)
	s := tarscan.New(src, size)
	var err error
	var pending []PackRecord // queued chunks
	var ends []*int64        // where each ends in w, set by the pipeline's writer
	for {
		var e tarscan.Entry
		e, err = s.Next()
		if err == io.EOF {
			err = nil
			break
		}
		if err != nil {
			break
		}
		h := e.Header
		if h.Typeflag != '0' || h.Size < ChunkMin {
			continue
		}
		var k ChunkKey
		if k, err = keyOf(ctx, src, e.Data, h.Size); err != nil {
			err = fmt.Errorf("tar member %q: %w", h.Name, err)
			break
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if err = p.chunkData(src, e.Data, h.Size); err != nil {
			break
		}
		// Lengths are known once the pipeline has written the blocks: an
		// empty raw piece after them records where they end.
		pending = append(pending, PackRecord{ChunkKey: k})
		end := new(int64)
		ends = append(ends, end)
		if err = p.raw(markReader(func() { *end = cw.n }), nil); err != nil {
			break
		}
	}
	if cerr := p.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return PackIndex{}, err
	}
	// The chunks are back to back.
	var start int64
	for i := range pending {
		pending[i].Offset, pending[i].Length = start, *ends[i]-start
		start = *ends[i]
	}
	idx.Chunks = pending
	return idx, nil
}

// markReader is an empty reader that calls f when the pipeline's writer
// reaches it, that is once everything queued before it is written.
type markReader func()

func (m markReader) Read([]byte) (int, error) {
	m()
	return 0, io.EOF
}

// Validate checks that the index is of the format this version makes and
// that its chunks fit in dataSize bytes.
func (idx PackIndex) Validate(dataSize int64) error {
	if idx.Format != packFormat {
		return fmt.Errorf("pack format %q, want %q", idx.Format, packFormat)
	}
	for _, c := range idx.Chunks {
		if c.Size < ChunkMin || c.Offset < 0 || c.Length <= 0 || c.Offset > dataSize || c.Length > dataSize-c.Offset {
			return fmt.Errorf("pack chunk %+v out of range (data of %d bytes)", c, dataSize)
		}
	}
	return nil
}

// Current reports whether the index is of the format this version of
// BuildPack writes (its chunks are then the ones WriteGzip would make).
func (idx PackIndex) Current() bool { return idx.Format == packFormat }

// ParsePackIndex decodes an index written by BuildPack (as JSON).
func ParsePackIndex(b []byte) (PackIndex, error) {
	var idx PackIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("pack index: %w", err)
	}
	return idx, nil
}

// PackSet is a Chunks over the data of several packs.
type PackSet struct {
	m map[ChunkKey]chunkAt
}

type chunkAt struct {
	data        io.ReaderAt
	off, length int64
}

// Add makes the chunks of idx, whose data data holds, available.
func (s *PackSet) Add(idx PackIndex, data io.ReaderAt) {
	if s.m == nil {
		s.m = map[ChunkKey]chunkAt{}
	}
	for _, c := range idx.Chunks {
		if _, ok := s.m[c.ChunkKey]; !ok {
			s.m[c.ChunkKey] = chunkAt{data, c.Offset, c.Length}
		}
	}
}

// Len is the number of distinct chunks.
func (s *PackSet) Len() int { return len(s.m) }

// Chunk implements Chunks.
func (s *PackSet) Chunk(k ChunkKey) (io.Reader, bool) {
	c, ok := s.m[k]
	if !ok {
		return nil, false
	}
	return io.NewSectionReader(c.data, c.off, c.length), true
}
