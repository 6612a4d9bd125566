package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kitbuild/kit/core/build"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

// TestSpecs checks that every benchmark system's spec is valid.
func TestSpecs(t *testing.T) {
	for _, sys := range systems {
		refs := make([]string, len(sys.images))
		for i, d := range sys.images {
			refs[i] = "127.0.0.1:5000/bench/" + sys.name + "/" + d.name + ":v1"
		}
		p := filepath.Join(t.TempDir(), sys.name+".yml")
		if err := os.WriteFile(p, []byte(specYAML(sys, refs)), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := spec.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", sys.name, err)
		}
		var n int
		if s.Kernel != nil {
			n++
		}
		n += len(s.Init) + len(s.Onboot) + len(s.Services)
		if n != len(sys.images) {
			t.Errorf("%s: spec names %d images, want %d", sys.name, n, len(sys.images))
		}
	}
}

// TestHarness runs the harness on a tiny system, in process: the build's
// initrd yields a cpio payload, the proxy measures it, and a warm build
// fetches no blob.
func TestHarness(t *testing.T) {
	reg := registry.Start(t)
	tiny := system{name: "tiny", images: []imageDef{
		{roleKernel, "kernel", func() (v1.Image, error) { return KernelImage(256<<10, 4<<10) }},
		{roleInit, "init", func() (v1.Image, error) { return imagegen.Init("init") }},
		{roleService, "db", bigImage(2, 2, 9)},
	}}
	e := &env{dir: t.TempDir(), reg: reg, systems: map[string]*state{}}
	e.regOnce.Do(func() {})
	s := &state{sys: tiny}
	if err := e.setup(s); err != nil {
		t.Fatal(err)
	}
	if s.layers != 4 || s.layersMB < 1 {
		t.Errorf("tiny system: %d layers, %.2f MB; want 4 layers, more than 1 MB", s.layers, s.layersMB)
	}
	cache, out := t.TempDir(), t.TempDir()
	opts := build.Options{Specs: []string{s.spec}, OutDir: out, Name: "tiny", CacheDir: cache}
	if _, err := build.Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	payload, err := initrdPayload(s.initrdPath(out))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(payload, []byte("070701")) || !bytes.Contains(payload, []byte("lib/modules/6.6.13-linuxkit/modules.dep")) {
		t.Errorf("initrd payload (%d bytes) is not a newc cpio holding the modules", len(payload))
	}
	blobs, err := s.layerBlobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := measureProxy(blobs, payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != s.layers || p.Decompress <= 0 || p.Compress <= 0 || p.LayersMB < 1 {
		t.Errorf("proxy of %d blobs: %+v", len(blobs), p)
	}

	reg.Reset()
	if _, err := build.Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if n := reg.Count("GET", "/blobs/"); n != 0 {
		t.Errorf("warm build fetched %d blobs", n)
	}
}

// TestTargets checks the verdicts of the table.
func TestTargets(t *testing.T) {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	run := func(wall, cpu float64, rssMB int64) measure {
		return measure{Wall: sec(wall), User: sec(cpu), MaxRSS: rssMB * 1e6}
	}
	proxy := []proxyResult{{Decompress: sec(4), Compress: sec(6)}}
	defer func(n int) { cores = n }(cores)
	cores = 2
	tests := []struct {
		name string
		rows []row
		want []string
	}{
		{"all met", []row{
			{System: "medium", ImagesMB: 100, Cold: []measure{run(5, 9, 150)}, Warm: []measure{run(0.1, 0.1, 30)}, Proxy: proxy},
			{System: "large", ImagesMB: 300, Cold: []measure{run(14, 25, 160)}, Warm: []measure{run(0.2, 0.1, 30)}, Proxy: proxy},
		}, []string{"ok   large: cold/proxy 1.40 ≤ 1.50 (cpu floor/proxy 1.25)", "ok   large: peak RSS 160 MB", "ok   peak RSS flat", "ok   large: warm/cold 0.014"}},
		{"missed", []row{
			{System: "medium", ImagesMB: 100, Cold: []measure{run(5, 5, 100)}},
			{System: "large", ImagesMB: 300, Cold: []measure{run(20, 20, 300), run(16, 20, 200), run(30, 30, 200)}, Warm: []measure{run(2, 1, 30)}, Proxy: proxy},
		}, []string{"MISS large: cold/proxy 1.60 ≤ 1.50 (cpu floor/proxy 1.00)", "MISS large: peak RSS 300 MB", "MISS peak RSS flat", "MISS large: warm/cold 0.125", "MISS large: cold cpu/wall 1.25", "MISS medium: cold cpu/wall 1.00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeTable(&b, tt.rows)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("table lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestServe, when KIT_BENCH_SERVE names a system, pushes its images,
// prints its spec's path and serves the registry until interrupted, for
// profiling kit by hand:
//
//	KIT_BENCH_SERVE=large go test -run TestServe -timeout 0 ./testing/bench
func TestServe(t *testing.T) {
	n := os.Getenv("KIT_BENCH_SERVE")
	if n == "" {
		t.Skip("KIT_BENCH_SERVE is not set")
	}
	s := shared.system(t, n)
	fmt.Printf("spec %s\nregistry %s\nimages %.1f MB in %d layers\n", s.spec, shared.reg.URL(), s.layersMB, s.layers)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}
