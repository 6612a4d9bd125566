package initramfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	ft "github.com/kitbuild/kit/core/format/formattest"
)

// modulesTar is about 47 MiB of kernel-module-like files (2 to 130 KiB,
// half random, half zeros), as the bench kernel carries.
func modulesTar(b *testing.B) []byte {
	rng := rand.New(rand.NewPCG(47, 6))
	entries := []ft.Entry{ft.Dir("lib", 0o755)}
	for total, i := 0, 0; total < 47<<20; i++ {
		n := 2<<10 + rng.IntN(128<<10)
		data := make([]byte, n)
		for off := 0; off < n; off += 4096 {
			for j := off; j < min(off+2048, n); j++ {
				data[j] = byte(rng.Uint32())
			}
		}
		entries = append(entries, ft.File(fmt.Sprintf("lib/mod%04d.ko", i), string(data), 0o644))
		total += n
	}
	return ft.Tar(b, entries...)
}

// BenchmarkWriteGzip compresses the modules into an initramfs.
func BenchmarkWriteGzip(b *testing.B) {
	src := modulesTar(b)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := WriteGzip(context.Background(), io.Discard, bytes.NewReader(src), int64(len(src)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGzipWriter compresses the uncompressed archive of the modules
// with the run-only writer, for comparison with BenchmarkWriteGzip.
func BenchmarkGzipWriter(b *testing.B) {
	src := modulesTar(b)
	var plain bytes.Buffer
	if _, err := Write(context.Background(), &plain, bytes.NewReader(src), int64(len(src))); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(plain.Len()))
	b.ResetTimer()
	for b.Loop() {
		w, _ := NewGzipWriter(io.Discard)
		if _, err := w.Write(plain.Bytes()); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
