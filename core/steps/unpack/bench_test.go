package unpack

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
)

// genSpec describes a generated image: layers of files of random content
// and sizes (uniform in [0, 2*fileSize)), drawn from a seeded RNG. Upper
// layers replace some files of lower ones and delete others.
type genSpec struct {
	seed     uint64
	layers   int
	files    int // per layer
	fileSize int
}

// generate writes the image into x the way the fetch step stores one and
// returns the result and the number of content bytes.
func generate(ctx context.Context, x graph.Exec, g genSpec) (graph.Result, int64, error) {
	rng := rand.New(rand.NewPCG(g.seed, 1))
	fill := rand.NewChaCha8([32]byte{byte(g.seed)})
	put := func(name, mt string, write func(io.Writer) error) (graph.Output, error) {
		w, err := x.Create(ctx)
		if err != nil {
			return graph.Output{}, err
		}
		defer w.Close()
		if err := write(w); err != nil {
			return graph.Output{}, err
		}
		return w.Commit(name, mt, "")
	}
	cfg, err := put("config", "application/vnd.oci.image.config.v1+json", func(w io.Writer) error {
		_, err := io.WriteString(w, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		return err
	})
	if err != nil {
		return graph.Result{}, 0, err
	}
	var content int64
	buf := make([]byte, 1<<20)
	var layers []graph.Output
	for l := range g.layers {
		o, err := put(fmt.Sprintf("layer/%d", l), "application/vnd.oci.image.layer.v1.tar+gzip", func(w io.Writer) error {
			zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
			if err != nil {
				return err
			}
			tw := tar.NewWriter(zw)
			mtime := time.Unix(1.6e9, 0)
			for d := range 16 {
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%02d/", d), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
					return err
				}
			}
			for f := range g.files {
				name := fmt.Sprintf("d%02d/f%06d", rng.IntN(16), f)
				if l > 0 && rng.IntN(8) == 0 {
					dir, base := name[:3], name[4:]
					if err := tw.WriteHeader(&tar.Header{Name: dir + "/.wh." + base, Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
						return err
					}
					continue
				}
				size := rng.IntN(2*g.fileSize + 1)
				if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size), ModTime: mtime}); err != nil {
					return err
				}
				for size > 0 {
					n := min(size, len(buf))
					fill.Read(buf[:n])
					if _, err := tw.Write(buf[:n]); err != nil {
						return err
					}
					size -= n
					content += int64(n)
				}
			}
			if err := tw.Close(); err != nil {
				return err
			}
			return zw.Close()
		})
		if err != nil {
			return graph.Result{}, 0, err
		}
		layers = append(layers, o)
	}
	type desc struct {
		MediaType string       `json:"mediaType"`
		Digest    graph.Digest `json:"digest"`
		Size      int64        `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json", Config: desc{cfg.MediaType, cfg.Digest, cfg.Size}}
	for _, l := range layers {
		m.Layers = append(m.Layers, desc{l.MediaType, l.Digest, l.Size})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return graph.Result{}, 0, err
	}
	mo, err := put("manifest", m.MediaType, func(w io.Writer) error { _, err := w.Write(raw); return err })
	if err != nil {
		return graph.Result{}, 0, err
	}
	return graph.Result{Key: mo.Digest, Outputs: append([]graph.Output{mo, cfg}, layers...)}, content, nil
}

// peakHeap samples the heap while f runs and returns its highest value.
func peakHeap(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := read(); v > peak {
					mu.Lock()
					peak = v
					mu.Unlock()
				}
			}
		}
	}()
	runtime.GC()
	base := read()
	f()
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkUnpack unpacks a generated image of about 200 MB (4 gzip layers
// of 400 files of 0–256 KiB random content, with replaced and deleted files
// in upper layers). It reports allocations per op and the peak growth of the
// live heap, which stays at a few MB whatever the image size.
func BenchmarkUnpack(b *testing.B) {
	x, err := steptest.NewExecDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	in, content, err := generate(context.Background(), x, genSpec{seed: 1, layers: 4, files: 400, fileSize: 128 << 10})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(content)
	b.ReportAllocs()
	var peak uint64
	b.ResetTimer()
	for range b.N {
		p := peakHeap(func() {
			if _, err := (Op{Image: "bench"}).Exec(context.Background(), x, []graph.Result{in}); err != nil {
				b.Fatal(err)
			}
		})
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// TestMemoryFlat checks that memory does not grow with content: two images
// with the same entries, one with 16 times more content, allocate about the
// same (once the block pools are filled) and keep about the same peak heap.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 64 MB")
	}
	measure := func(fileSize int) (alloc, peak uint64, content int64) {
		x := steptest.NewExec(t)
		in, content, err := generate(context.Background(), x, genSpec{seed: 2, layers: 2, files: 256, fileSize: fileSize})
		if err != nil {
			t.Fatal(err)
		}
		// A first run fills the free list of decompression blocks (see
		// gunzip), which is bounded.
		if _, err := (Op{}).Exec(context.Background(), x, []graph.Result{in}); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		peak = peakHeap(func() {
			if _, err := (Op{}).Exec(context.Background(), x, []graph.Result{in}); err != nil {
				t.Fatal(err)
			}
		})
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, peak, content
	}
	smallAlloc, smallPeak, smallContent := measure(4 << 10)
	bigAlloc, bigPeak, bigContent := measure(64 << 10)
	t.Logf("content %d → %d bytes: allocated %d → %d, peak heap %d → %d", smallContent, bigContent, smallAlloc, bigAlloc, smallPeak, bigPeak)
	grow := uint64(bigContent - smallContent)
	if bigAlloc > smallAlloc+grow/16 {
		t.Errorf("allocations grow with content: %d → %d bytes for %d more content bytes", smallAlloc, bigAlloc, grow)
	}
	if bigPeak > 32<<20 {
		t.Errorf("peak heap %d bytes for %d bytes of content", bigPeak, bigContent)
	}
}
