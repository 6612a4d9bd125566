package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

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

// TestDebianKernelImage samples the modules of a fake extracted package:
// every k-th .ko in path order until the size is reached, the package's
// vmlinuz as the kernel, and a modules.dep naming the sample.
func TestDebianKernelImage(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vmlinuz := []byte("\x4d\x5afake bzImage")
	write("boot/vmlinuz-6.1.0-9-amd64", vmlinuz)
	write("boot/config-6.1.0-9-amd64", []byte("CONFIG_X=y\n"))
	mods := "lib/modules/6.1.0-9-amd64/"
	write(mods+"modules.order", []byte("not a module\n"))
	// 12 modules, in path order 1000 bytes at even places and 3000 at odd
	// ones: 24000 bytes.
	var all []string
	for i := range 12 {
		all = append(all, fmt.Sprintf("kernel/%s/m%02d.ko", []string{"drivers", "fs", "net"}[i%3], i))
	}
	slices.Sort(all)
	for i, rel := range all {
		write(mods+rel, bytes.Repeat([]byte{byte(i)}, 1000+2000*(i%2)))
	}

	for _, c := range []struct {
		bytes int
		want  []int // places in path order
	}{
		// One in three just reaches 8000 bytes.
		{8000, []int{0, 3, 6, 9}},
		// One in four gives 3000 (the even places): the next pass adds one.
		{6000, []int{0, 1, 4, 8}},
		// One in two gives 6000: the odd places follow.
		{9000, []int{0, 1, 2, 4, 6, 8, 10}},
		// One in three: places 0, 3 and 6 give 5000, and 9 (3000) would
		// overshoot; the next pass adds 4 and 10, not 1 and 7.
		{7000, []int{0, 3, 4, 6, 10}},
	} {
		img, desc, err := DebianKernelImage(dir, c.bytes)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, i := range c.want {
			want = append(want, all[i])
		}
		if w := fmt.Sprintf("Debian 6.1.0-9-amd64: vmlinuz (0.0 MiB), %d of its 12 modules (0.0 MiB)", len(want)); desc != w {
			t.Errorf("%d bytes: description %q, want %q", c.bytes, desc, w)
		}
		top := tarFiles(t, mutate.Extract(img))
		if !bytes.Equal(top["kernel"], vmlinuz) {
			t.Errorf("kernel is %q, want the package's vmlinuz", top["kernel"])
		}
		inner := tarFiles(t, io.NopCloser(bytes.NewReader(top["kernel.tar"])))
		var got []string
		for name, b := range inner {
			if strings.HasSuffix(name, ".ko") {
				rel := strings.TrimPrefix(name, mods)
				got = append(got, rel)
				if i := slices.Index(all, rel); i < 0 || !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 1000+2000*(i%2))) {
					t.Errorf("%d bytes: module %s is not the package's", c.bytes, rel)
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%d bytes: sampled modules %v, want %v", c.bytes, got, want)
		}
		if dep, w := string(inner[mods+"modules.dep"]), strings.Join(want, ":\n")+":\n"; dep != w {
			t.Errorf("%d bytes: modules.dep %q, want %q", c.bytes, dep, w)
		}
	}
	if _, _, err := DebianKernelImage(dir, 30000); err == nil || !strings.Contains(err.Error(), "want at least 30000") {
		t.Errorf("asking for more modules than the package has: %v", err)
	}
}

// tarFiles returns the regular files of a tar stream by name.
func tarFiles(t *testing.T, rc io.ReadCloser) map[string][]byte {
	t.Helper()
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = b
		}
	}
}

// TestBusyboxInit puts the busybox named by $KIT_BENCH_DEBIAN_BUSYBOX in the
// small system's init image, and a script alone without it.
func TestBusyboxInit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "busybox")
	bin := []byte("\x7fELF fake busybox")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KIT_BENCH_DEBIAN_BUSYBOX", p)
	img, err := busyboxInit()
	if err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, mutate.Extract(img))
	if !bytes.Equal(files["bin/busybox"], bin) || files["init"] == nil {
		t.Errorf("init image with busybox holds %v", slices.Sorted(maps.Keys(files)))
	}
	t.Setenv("KIT_BENCH_DEBIAN_BUSYBOX", "")
	if img, err = busyboxInit(); err != nil {
		t.Fatal(err)
	}
	if files := tarFiles(t, mutate.Extract(img)); files["bin/busybox"] != nil || files["init"] == nil {
		t.Errorf("init image without busybox holds %v", slices.Sorted(maps.Keys(files)))
	}
}
