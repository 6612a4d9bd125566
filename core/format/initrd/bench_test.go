package initrd

import (
	"archive/tar"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/format"
	ft "github.com/kitbuild/kit/core/format/formattest"
	"github.com/kitbuild/kit/core/graph"
)

// benchRootfs stores a ~200 MB normalized rootfs: 1600 files of 128 KiB,
// each half random bytes (like compressed or machine code) and half text.
func benchRootfs(b *testing.B, x *ft.Exec) graph.Output {
	b.Helper()
	w, err := x.Create(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	tw := tar.NewWriter(w)
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 128<<10)
	dir := func(name string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			b.Fatal(err)
		}
	}
	dir("usr")
	for d := range 16 {
		dir(fmt.Sprintf("usr/d%02d", d))
		for f := range 100 {
			half := len(buf) / 2
			for i := 0; i < half; i += 8 {
				v := r.Uint64()
				for j := range 8 {
					buf[i+j] = byte(v >> (8 * j))
				}
			}
			for i := half; i < len(buf); i++ {
				buf[i] = "the quick brown fox jumps over the lazy dog\n"[r.IntN(44)]
			}
			h := &tar.Header{Name: fmt.Sprintf("usr/d%02d/f%03d", d, f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(buf)), ModTime: time.Unix(0, 0)}
			if err := tw.WriteHeader(h); err != nil {
				b.Fatal(err)
			}
			if _, err := tw.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	o, err := w.Commit(format.RootfsOutput, "", "")
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkInitrd measures kernel+initrd on a ~200 MB rootfs, in rootfs
// bytes per second.
func BenchmarkInitrd(b *testing.B) {
	x := ft.NewExec(b)
	in := format.Input{Rootfs: benchRootfs(b, x), Kernel: x.Put(b, "kernel", []byte("KERNEL"))}
	b.SetBytes(in.Rootfs.Size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := (KernelInitrd{}).Write(context.Background(), x, in, format.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
