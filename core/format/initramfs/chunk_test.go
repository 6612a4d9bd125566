package initramfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	ft "github.com/kitbuild/kit/core/format/formattest"
)

// semiRandom is n bytes that compress about by half.
func semiRandom(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 9))
	b := make([]byte, n)
	for i := 0; i < n; i += 2 {
		b[i] = byte(r.Uint32() % 16)
	}
	return string(b)
}

// bigRootfs has files below, at and above ChunkMin and GzipBlockSize, the
// same large contents twice, and hard links to a large file.
func bigRootfs(t testing.TB) []byte {
	return ft.Tar(t,
		ft.Dir("a", 0o755),
		ft.File("a/big", semiRandom(1, 3*GzipBlockSize+100), 0o644),
		ft.File("a/edge", semiRandom(2, ChunkMin), 0o644),
		ft.Hardlink("a/link", "a/big"),
		ft.File("a/small", semiRandom(3, ChunkMin-1), 0o644),
		ft.File("a/twin", semiRandom(1, 3*GzipBlockSize+100), 0o600),
		ft.Dir("b", 0o755),
		ft.File("b/mid", semiRandom(4, GzipBlockSize+dictSize/2), 0o755),
		ft.File("b/text", string(compressible(2*GzipBlockSize+5)), 0o644),
		ft.File("boot/kernel", semiRandom(5, ChunkMin*2), 0o644),
	)
}

func writeGzip(t testing.TB, src []byte, chunks Chunks) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := WriteGzip(context.Background(), &buf, bytes.NewReader(src), int64(len(src)), chunks,
		WithSkip(SkipBoot), WithSourceDateEpoch(epoch))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

// TestWriteGzipChunks checks that the compressed initramfs holds exactly
// the archive Write makes, that its bytes do not depend on the number of
// CPUs or on whether chunks come from a pack, and that packs hold what
// WriteGzip would make.
func TestWriteGzipChunks(t *testing.T) {
	src := bigRootfs(t)
	plain, _ := convert(t, src, WithSkip(SkipBoot), WithSourceDateEpoch(epoch))

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	one, st := writeGzip(t, src, nil)
	runtime.GOMAXPROCS(4)
	four, _ := writeGzip(t, src, nil)
	if !bytes.Equal(one, four) {
		t.Fatal("output depends on GOMAXPROCS")
	}
	if len(one)%4 != 0 {
		t.Errorf("%d bytes: not padded to 4", len(one))
	}
	if got := gunzip(t, one); !bytes.Equal(got, plain) {
		t.Fatalf("gunzip gives %d bytes, not the %d of the plain archive", len(got), len(plain))
	}
	if st.Size != int64(len(plain)) {
		t.Errorf("Stats.Size %d, want %d", st.Size, len(plain))
	}

	var data bytes.Buffer
	idx, err := BuildPack(context.Background(), &data, bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Validate(int64(data.Len())); err != nil {
		t.Fatal(err)
	}
	// a/big and a/twin share contents; a/small is too small; boot/kernel
	// is chunked in the pack although the initramfs skips it.
	if n := len(idx.Chunks); n != 5 {
		t.Errorf("%d chunks, want 5: %+v", n, idx.Chunks)
	}
	var set PackSet
	set.Add(idx, bytes.NewReader(data.Bytes()))
	counted := &countingChunks{Chunks: &set}
	packed, _ := writeGzip(t, src, counted)
	if !bytes.Equal(packed, one) {
		t.Fatal("output with chunks from a pack differs from the output without")
	}
	// a/big, a/edge, a/twin, b/mid, b/text (boot/ is skipped, a/link is a
	// hard link, a/small is too small).
	if counted.found != 5 || counted.missed != 0 {
		t.Errorf("%d chunks copied, %d looked up in vain; want 5 and 0", counted.found, counted.missed)
	}
	// Each chunk is in the initramfs verbatim (but boot/kernel's).
	for _, c := range idx.Chunks {
		if c.Size == 2*ChunkMin {
			continue
		}
		r, _ := set.Chunk(c.ChunkKey)
		b, _ := io.ReadAll(r)
		if !bytes.Contains(one, b) {
			t.Errorf("chunk %+v is not in the initramfs", c.ChunkKey)
		}
	}
	// Two builds of the pack are the same.
	var again bytes.Buffer
	if _, err := BuildPack(context.Background(), &again, bytes.NewReader(src), int64(len(src))); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(again.Bytes()) != sha256.Sum256(data.Bytes()) {
		t.Error("BuildPack is not reproducible")
	}
}

// countingReaderAt counts the bytes read from it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestWriteGzipEmptyPackSet checks that with an empty pack set, as without
// one, WriteGzip reads the data of large files once: no keys are computed
// when there is nothing to look them up in.
func TestWriteGzipEmptyPackSet(t *testing.T) {
	src := bigRootfs(t)
	read := func(chunks Chunks) (int64, []byte) {
		var buf bytes.Buffer
		r := &countingReaderAt{r: bytes.NewReader(src)}
		if _, err := WriteGzip(context.Background(), &buf, r, int64(len(src)), chunks, WithSkip(SkipBoot), WithSourceDateEpoch(epoch)); err != nil {
			t.Fatal(err)
		}
		return r.n, buf.Bytes()
	}
	none, want := read(nil)
	empty, got := read(&PackSet{})
	if !bytes.Equal(got, want) {
		t.Fatal("output with an empty pack set differs from the output without")
	}
	if empty != none {
		t.Errorf("read %d bytes with an empty pack set, %d without", empty, none)
	}
	// With a pack that holds none of the files, every large file is read
	// once more for its key.
	var pack bytes.Buffer
	other := ft.Tar(t, ft.File("x", semiRandom(9, ChunkMin), 0o644))
	idx, err := BuildPack(context.Background(), &pack, bytes.NewReader(other), int64(len(other)))
	if err != nil {
		t.Fatal(err)
	}
	var set PackSet
	set.Add(idx, bytes.NewReader(pack.Bytes()))
	keyed, got := read(&set)
	if !bytes.Equal(got, want) {
		t.Fatal("output with an unrelated pack differs from the output without")
	}
	if keyed <= none {
		t.Errorf("read %d bytes with a pack to look in, %d without: keys were not computed", keyed, none)
	}
}

// TestWriteGzipTools checks the output with gzip(1) and GNU cpio.
func TestWriteGzipTools(t *testing.T) {
	cpioBin := requireCPIO(t)
	gzipBin, err := exec.LookPath("gzip")
	if err != nil {
		t.Skip("no gzip")
	}
	src := bigRootfs(t)
	out, _ := writeGzip(t, src, nil)
	cmd := exec.Command(gzipBin, "-t")
	cmd.Stdin = bytes.NewReader(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gzip -t: %v\n%s", err, b)
	}
	dir := t.TempDir()
	cmd = exec.Command(gzipBin, "-dc")
	cmd.Stdin = bytes.NewReader(out)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip -dc: %v", err)
	}
	cmd = exec.Command(cpioBin, "-idm", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, b)
	}
	for _, f := range []struct {
		name string
		want string
	}{{"a/big", semiRandom(1, 3*GzipBlockSize+100)}, {"a/link", semiRandom(1, 3*GzipBlockSize+100)}, {"b/mid", semiRandom(4, GzipBlockSize+dictSize/2)}} {
		got, err := readFile(dir, f.name)
		if err != nil {
			t.Fatal(err)
		}
		if got != f.want {
			t.Errorf("%s: extracted contents differ", f.name)
		}
	}
}

func TestWriteGzipCancelled(t *testing.T) {
	src := bigRootfs(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WriteGzip(ctx, io.Discard, bytes.NewReader(src), int64(len(src)), nil); err == nil {
		t.Fatal("no error after cancel")
	}
	if _, err := BuildPack(ctx, io.Discard, bytes.NewReader(src), int64(len(src))); err == nil {
		t.Fatal("BuildPack: no error after cancel")
	}
}

func TestPackIndexValidate(t *testing.T) {
	good := PackIndex{Format: packFormat, Chunks: []PackRecord{{ChunkKey: ChunkKey{Size: ChunkMin}, Offset: 0, Length: 10}}}
	if err := good.Validate(10); err != nil {
		t.Fatal(err)
	}
	for name, idx := range map[string]PackIndex{
		"format":   {Format: "chunks/0", Chunks: good.Chunks},
		"range":    {Format: packFormat, Chunks: []PackRecord{{ChunkKey: ChunkKey{Size: ChunkMin}, Offset: 5, Length: 10}}},
		"small":    {Format: packFormat, Chunks: []PackRecord{{ChunkKey: ChunkKey{Size: 1}, Offset: 0, Length: 10}}},
		"overflow": {Format: packFormat, Chunks: []PackRecord{{ChunkKey: ChunkKey{Size: ChunkMin}, Offset: 1, Length: 1<<63 - 1}}},
		"negative": {Format: packFormat, Chunks: []PackRecord{{ChunkKey: ChunkKey{Size: ChunkMin}, Offset: -1, Length: 1}}},
	} {
		if err := idx.Validate(10); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return string(b), err
}

type countingChunks struct {
	Chunks
	found, missed int
}

func (c *countingChunks) Chunk(k ChunkKey) (io.Reader, bool) {
	r, ok := c.Chunks.Chunk(k)
	if ok {
		c.found++
	} else {
		c.missed++
	}
	return r, ok
}
func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {100, 3}, {7, 1 << 20}, {65536, 12345}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(append(a, b...)); got != want {
			t.Errorf("%d+%d bytes: combined %08x, want %08x", n[0], n[1], got, want)
		}
	}
}
