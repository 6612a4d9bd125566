package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

// Roles of the images of a system.
const (
	roleKernel  = "kernel"
	roleInit    = "init"
	roleOnboot  = "onboot"
	roleService = "service"
)

// imageDef is one image of a benchmark system.
type imageDef struct {
	role string
	name string
	mk   func() (v1.Image, error)
}

// system is a benchmark system: the images of its spec.
type system struct {
	name   string
	images []imageDef
}

// modulesMB is the size of the kernel modules of every system, as in the
// small system of the targets (a Debian kernel with 47 MiB of modules); a
// LinuxKit 6.6 kernel image carries about as much.
const modulesMB = 47

// systems are the benchmarked systems. small is a typical minimal system;
// medium and large hold the same images except the size of one database
// service image, so that their peak RSS shows whether memory grows with
// image size (images of about 100 MB and 300 MB in all, compressed).
var systems = []system{
	{name: "small", images: []imageDef{
		{roleKernel, "kernel", kernelImage},
		{roleInit, "init", busyboxInit},
		{roleOnboot, "dhcpcd", containerImage("dhcpcd")},
		{roleService, "getty", containerImage("getty")},
		{roleService, "sshd", containerImage("sshd")},
	}},
	bigSystem("medium", 68),
	bigSystem("large", 430),
}

// bigSystem has a kernel, a 30 MiB init image, an onboot and two service
// images, and a database service of dbMB MiB of semi-compressible data.
func bigSystem(name string, dbMB int) system {
	return system{name: name, images: []imageDef{
		{roleKernel, "kernel", kernelImage},
		{roleInit, "init", bigImage(30, 3, 1)},
		{roleOnboot, "dhcpcd", bigImage(8, 2, 2)},
		{roleService, "getty", bigImage(16, 3, 3)},
		{roleService, "sshd", bigImage(16, 3, 4)},
		{roleService, "db", bigImage(dbMB, 6, 5)},
	}}
}

func systemNamed(n string) (system, bool) {
	for _, s := range systems {
		if s.name == n {
			return s, true
		}
	}
	return system{}, false
}

func containerImage(n string) func() (v1.Image, error) {
	return func() (v1.Image, error) {
		return imagegen.Container(n, imagegen.Config{Cmd: []string{"/bin/" + n}, Env: []string{"PATH=/bin"}})
	}
}

func bigImage(mb, layers int, seed uint64) func() (v1.Image, error) {
	return func() (v1.Image, error) {
		return imagegen.Big(imagegen.BigOptions{MB: mb, Layers: layers, Semi: true, Seed: seed})
	}
}

// kernelOnce makes the kernel image of every system: with
// $KIT_BENCH_DEBIAN_KERNEL (an extracted Debian linux-image package, as
// run.sh fetches it), its kernel and a sample of its modules; else a
// synthetic one, whose modules deflate faster and compress less than real
// ones (see DebianKernelImage).
var kernelOnce = sync.OnceValues(func() (v1.Image, error) {
	if d := os.Getenv("KIT_BENCH_DEBIAN_KERNEL"); d != "" {
		img, desc, err := DebianKernelImage(d, modulesMB<<20)
		kernelSource = desc
		return img, err
	}
	kernelSource = fmt.Sprintf("synthetic (%d MiB of generated modules, half of each 4 KiB random)", modulesMB)
	return KernelImage(modulesMB<<20, 8<<20)
})

// kernelSource and initSource say what the systems' kernel image and the
// small system's init image were made of, once made.
var kernelSource, initSource string

// busyboxInit is the small system's init image: with
// $KIT_BENCH_DEBIAN_BUSYBOX (Debian's static busybox, as run.sh fetches it),
// a busybox init; else a shell script alone.
func busyboxInit() (v1.Image, error) {
	p := os.Getenv("KIT_BENCH_DEBIAN_BUSYBOX")
	if p == "" {
		initSource = "synthetic (a shell script)"
		return imagegen.Init("init")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("busybox init: %w", err)
	}
	initSource = fmt.Sprintf("Debian's static busybox (%.1f MiB)", float64(len(b))/(1<<20))
	return imagegen.Init("init",
		imagegen.File{Name: "bin/busybox", Body: b, Mode: 0o755},
		imagegen.Symlink("bin/sh", "busybox"),
		imagegen.Symlink("sbin/init", "../bin/busybox"),
		imagegen.Exec("init", "#!/bin/sh\nexec /sbin/init\n"),
		imagegen.Exec("etc/init.d/rcS", "#!/bin/sh\nmount -t proc proc /proc\n"),
	)
}

func kernelImage() (v1.Image, error) { return kernelOnce() }

// KernelImage returns a LinuxKit-style kernel image whose kernel.tar holds
// about modules bytes of semi-compressible modules (sizes from 2 KiB to
// 130 KiB, as real ones) and whose kernel is size incompressible bytes.
func KernelImage(modules, size int) (v1.Image, error) {
	files, err := imagegen.KernelFiles(imagegen.KernelOptions{Size: size})
	if err != nil {
		return nil, err
	}
	const dir = "lib/modules/6.6.13-linuxkit/"
	subdirs := []string{"drivers/net", "drivers/gpu", "drivers/scsi", "drivers/usb", "drivers/md", "fs", "net", "crypto", "sound", "lib"}
	rng := rand.New(rand.NewPCG(47, 6))
	var mods []imagegen.File
	var dep strings.Builder
	for total, i := 0, 0; total < modules; i++ {
		n := min(2<<10+rng.IntN(128<<10), modules-total)
		rel := fmt.Sprintf("kernel/%s/mod%04d.ko", subdirs[i%len(subdirs)], i)
		mods = append(mods, imagegen.File{Name: dir + rel, Body: semi(rng, n)})
		fmt.Fprintf(&dep, "%s:\n", rel)
		total += n
	}
	mods = append(mods, imagegen.Reg(dir+"modules.dep", dep.String()))
	ktar, err := imagegen.Tar(imagegen.WithParents(mods...)...)
	if err != nil {
		return nil, err
	}
	return imagegen.Image(imagegen.Config{}, []imagegen.File{
		{Name: "kernel", Body: files["kernel"]},
		{Name: "kernel.tar", Body: ktar},
	})
}

// semi returns n bytes like imagegen.Big's Semi data: half of every 4 KiB
// block random, half zeros.
func semi(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for off := 0; off < n; off += 4096 {
		end := min(off+2048, n)
		for i := off; i < end; i++ {
			b[i] = byte(rng.Uint32())
		}
	}
	return b
}

// env is what the benchmarks of one process share: a registry, the kit
// binary and the state of every system.
type env struct {
	dir string // scratch, removed at exit

	regOnce sync.Once
	reg     *registry.Registry
	regErr  error

	kitOnce sync.Once
	kit     string
	kitErr  error

	mu      sync.Mutex
	systems map[string]*state
}

var shared = &env{systems: map[string]*state{}}

// state is a system pushed to the registry, with its spec written out.
type state struct {
	sys      system
	spec     string   // spec file
	refs     []string // image references, in spec order
	layersMB float64  // compressed layer bytes of all images, in MB
	layers   int
	err      error
	once     sync.Once

	// initrd is an initrd a build produced (for the proxy), "" until then.
	initrd string
	// warmCache is a cache filled by a cold build, "" until then.
	warmCache string

	proxyOnce sync.Once
	proxy     proxyResult
	proxyErr  error
}

func (e *env) registry() (*registry.Registry, error) {
	e.regOnce.Do(func() { e.reg, e.regErr = registry.Serve("127.0.0.1:0") })
	return e.reg, e.regErr
}

// kitBinary returns $KIT_BENCH_KIT, or builds cmd/kit once.
func (e *env) kitBinary() (string, error) {
	e.kitOnce.Do(func() {
		if p := os.Getenv("KIT_BENCH_KIT"); p != "" {
			e.kit, e.kitErr = filepath.Abs(p)
			return
		}
		e.kit = filepath.Join(e.dir, "kit")
		cmd := exec.Command("go", "build", "-o", e.kit, "github.com/kitbuild/kit/cmd/kit")
		if out, err := cmd.CombinedOutput(); err != nil {
			e.kitErr = fmt.Errorf("go build ./cmd/kit: %w\n%s", err, out)
		}
	})
	return e.kit, e.kitErr
}

// system returns the state of the named system, generating and pushing its
// images on first use.
func (e *env) system(tb testing.TB, n string) *state {
	tb.Helper()
	sys, ok := systemNamed(n)
	if !ok {
		tb.Fatalf("no system %q", n)
	}
	e.mu.Lock()
	s := e.systems[n]
	if s == nil {
		s = &state{sys: sys}
		e.systems[n] = s
	}
	e.mu.Unlock()
	s.once.Do(func() { s.err = e.setup(s) })
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s
}

func (e *env) setup(s *state) error {
	reg, err := e.registry()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.dir, s.sys.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var total int64
	for _, d := range s.sys.images {
		img, err := d.mk()
		if err != nil {
			return fmt.Errorf("image %s/%s: %w", s.sys.name, d.name, err)
		}
		ref := fmt.Sprintf("bench/%s/%s:v1", s.sys.name, d.name)
		if _, err := reg.Write(context.Background(), ref, img); err != nil {
			return err
		}
		ls, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range ls {
			n, err := l.Size()
			if err != nil {
				return err
			}
			total += n
			s.layers++
		}
		s.refs = append(s.refs, reg.Ref(ref))
	}
	s.layersMB = float64(total) / 1e6
	s.spec = filepath.Join(dir, s.sys.name+".yml")
	return os.WriteFile(s.spec, []byte(specYAML(s.sys, s.refs)), 0o644)
}

// specYAML writes the spec of sys with the given image references.
func specYAML(sys system, refs []string) string {
	var b strings.Builder
	sections := map[string][]string{}
	for i, d := range sys.images {
		switch d.role {
		case roleKernel:
			fmt.Fprintf(&b, "kernel:\n  image: %s\n  cmdline: \"console=ttyS0\"\n", refs[i])
		case roleInit:
			sections["init"] = append(sections["init"], fmt.Sprintf("  - %s\n", refs[i]))
		case roleOnboot, roleService:
			sec := "onboot"
			if d.role == roleService {
				sec = "services"
			}
			sections[sec] = append(sections[sec], fmt.Sprintf("  - name: %s\n    image: %s\n    command: [\"/bin/%s\"]\n", d.name, refs[i], d.name))
		}
	}
	for _, sec := range []string{"init", "onboot", "services"} {
		if len(sections[sec]) > 0 {
			b.WriteString(sec + ":\n" + strings.Join(sections[sec], ""))
		}
	}
	return b.String()
}

// layerBlobs reads every compressed layer blob of the system's images from
// the registry.
func (s *state) layerBlobs(ctx context.Context) ([][]byte, error) {
	var blobs [][]byte
	for _, ref := range s.refs {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(r, remote.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		ls, err := img.Layers()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ref, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ref, err)
			}
			blobs = append(blobs, b)
		}
	}
	return blobs, nil
}
