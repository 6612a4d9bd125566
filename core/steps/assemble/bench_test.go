package assemble

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// bigTar writes a normalized tar of n files of size bytes each, half of
// them under a directory that every input shares, and returns its path.
func bigTar(tb testing.TB, dir string, input, n int, size int64) string {
	tb.Helper()
	name := filepath.Join(dir, fmt.Sprintf("in%d-%d.tar", input, size))
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	tw := tar.NewWriter(w)
	chunk := make([]byte, 1<<16)
	rand.New(rand.NewSource(int64(input))).Read(chunk)
	mtime := time.Unix(epoch, 0)
	own := fmt.Sprintf("own%d", input)
	for _, d := range []string{own, "shared"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime}); err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < n/2; i++ {
			h := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/f%05d", d, i), Mode: 0o644, Size: size, ModTime: mtime}
			if err := tw.WriteHeader(h); err != nil {
				tb.Fatal(err)
			}
			for left := size; left > 0; left -= int64(len(chunk)) {
				if _, err := tw.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return name
}

// mergeFiles merges tar files into w, the first under a prefix.
func mergeFiles(files []string, w io.Writer) error {
	var ins []*input
	for i, f := range files {
		prefix := ""
		if i == 0 {
			prefix = "containers/services/x/rootfs"
		}
		ins = append(ins, &input{name: f, tier: tierNormal, prefix: prefix, open: func(*int64) (stream, error) {
			return openTar(fileOpener(f), blobRange{}, prefix, nil)
		}})
	}
	return merge(context.Background(), w, ins, mergeOptions{epoch: epoch})
}

// allocated returns the bytes allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMergeMemoryIsFlat merges the same entries with small and with large
// contents: what the merge allocates must not grow with the contents.
func TestMergeMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 48 MB of inputs")
	}
	dir := t.TempDir()
	var small, big []string
	for i := 0; i < 3; i++ {
		small = append(small, bigTar(t, dir, i, 4, 1<<10))
		big = append(big, bigTar(t, dir, i, 4, 4<<20))
	}
	run := func(files []string) uint64 {
		var err error
		n := allocated(func() { err = mergeFiles(files, io.Discard) })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	run(small) // warm up lazily initialized state
	s, b := run(small), run(big)
	t.Logf("allocated %d bytes for 12 KB of contents, %d bytes for 48 MB", s, b)
	if b > s+256<<10 {
		t.Errorf("merging 48 MB allocated %d bytes, 12 KB %d: memory grows with the contents", b, s)
	}
}

// BenchmarkMerge merges three inputs of tens of MB; B/op and allocs/op stay
// the same as the files grow (compare the sub-benchmarks).
func BenchmarkMerge(b *testing.B) {
	for _, size := range []int64{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("files=32x%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			var files []string
			for i := 0; i < 3; i++ {
				files = append(files, bigTar(b, dir, i, 32, size))
			}
			b.SetBytes(3 * 32 * size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := mergeFiles(files, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
