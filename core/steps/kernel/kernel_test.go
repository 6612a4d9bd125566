package kernel

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
	"github.com/kitbuild/kit/core/steps/unpack"
)

const ref = "registry.test/kernel:6.6"

var (
	file     = steptest.File
	dir      = steptest.Dir
	symlink  = steptest.Symlink
	hardlink = steptest.Hardlink
)

// modules is an unsorted modules tar, as kernel builds make them.
func modules(t testing.TB) []byte {
	return steptest.Tar(t,
		dir("lib/", 0o755), dir("lib/modules/", 0o755),
		file("lib/modules/6.6/modules.dep", "dep", 0o644),
		dir("lib/modules/6.6/", 0o755),
		file("lib/modules/6.6/kernel/a.ko", "ko", 0o644),
		hardlink("lib/modules/6.6/kernel/0.ko", "lib/modules/6.6/kernel/a.ko"),
		steptest.Entry{Header: tar.Header{Name: "lib/modules/6.6/build", Typeflag: tar.TypeSymlink, Linkname: "/usr/src/linux", Mode: 0o777,
			Uname: "builder", ModTime: time.Unix(2e9, 0)}},
	)
}

var modulesWant = []string{
	"lib/ dir", "lib/modules/ dir", "lib/modules/6.6/ dir", "lib/modules/6.6/build -> /usr/src/linux",
	"lib/modules/6.6/kernel/ dir", `lib/modules/6.6/kernel/0.ko "ko"`, "lib/modules/6.6/kernel/a.ko => lib/modules/6.6/kernel/0.ko",
	`lib/modules/6.6/modules.dep "dep"`,
}

func kernelImage(t testing.TB, extra ...steptest.Entry) v1.Image {
	base := []steptest.Entry{
		file("kernel", "bzImage-old", 0o644),
		file("kernel.tar", string(modules(t)), 0o644),
		file("System.map", "map", 0o644),
		file("intel-ucode.cpio", "ucode", 0o644),
	}
	return steptest.Image(t, steptest.Layer(t, base...), steptest.Layer(t, append([]steptest.Entry{file("kernel", "bzImage", 0o644)}, extra...)...))
}

func run(t *testing.T, op Op, img v1.Image) (map[string]graph.Output, *steptest.Exec, error) {
	t.Helper()
	x := steptest.NewExec(t)
	in := steptest.Fetch(t, x, img)
	outs, err := op.Exec(context.Background(), x, []graph.Result{in})
	if err != nil {
		return nil, x, err
	}
	m := map[string]graph.Output{}
	for _, o := range outs {
		m[o.Name] = o
	}
	if len(m) != len(outs) {
		t.Fatalf("duplicate outputs %v", outs)
	}
	return m, x, nil
}

func describe(t *testing.T, x *steptest.Exec, o graph.Output) []string {
	var out []string
	for _, e := range steptest.Entries(t, x, o) {
		h := e.Header
		switch h.Typeflag {
		case tar.TypeDir:
			out = append(out, h.Name+"/ dir")
		case tar.TypeReg:
			out = append(out, fmt.Sprintf("%s %q", h.Name, e.Data))
		case tar.TypeSymlink:
			out = append(out, h.Name+" -> "+h.Linkname)
		case tar.TypeLink:
			out = append(out, h.Name+" => "+h.Linkname)
		}
	}
	return out
}

func TestExtract(t *testing.T) {
	op := Op{Binary: "kernel", Tar: "kernel.tar", UCode: "intel-ucode.cpio", Image: ref, SourceDateEpoch: 1.7e9}
	outs, x, err := run(t, op, kernelImage(t))
	if err != nil {
		t.Fatal(err)
	}
	k, tr, uc := outs["kernel"], outs["kernel.tar"], outs["ucode.cpio"]
	if string(x.Read(k)) != "bzImage" || k.MediaType != MediaTypeKernel {
		t.Errorf("kernel %q (%s); want the upper layer's", x.Read(k), k.MediaType)
	}
	if string(x.Read(uc)) != "ucode" || uc.MediaType != MediaTypeUCode {
		t.Errorf("ucode %q", x.Read(uc))
	}
	if tr.MediaType != "application/x-tar" {
		t.Errorf("kernel.tar media type %s", tr.MediaType)
	}
	if _, err := tarutil.Verify(bytes.NewReader(x.Read(tr)), op.SourceDateEpoch); err != nil {
		t.Fatalf("kernel.tar is not normalized: %v", err)
	}
	if got := describe(t, x, tr); !slices.Equal(got, modulesWant) {
		t.Errorf("kernel.tar\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(modulesWant, "\n\t"))
	}
}

func TestOutputsAndOrder(t *testing.T) {
	img := kernelImage(t, dir("boot", 0o755), file("boot/bzImage", "boot-kernel", 0o644),
		steptest.Entry{Header: tar.Header{Name: "kernel.tgz", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: steptest.MTime}, Data: gz(t, modules(t))})
	tests := []struct {
		name  string
		op    Op
		names []string
		check func(t *testing.T, x *steptest.Exec, outs map[string]graph.Output)
	}{
		{"defaults", Op{}, []string{"kernel"}, nil},
		{"tar none", Op{Tar: "none"}, []string{"kernel"}, nil},
		{"all", Op{Tar: "kernel.tar", UCode: "intel-ucode.cpio"}, []string{"kernel", "kernel.tar", "ucode.cpio"}, nil},
		{"binary in a directory", Op{Binary: "/boot/bzImage"}, []string{"kernel"}, func(t *testing.T, x *steptest.Exec, outs map[string]graph.Output) {
			if got := string(x.Read(outs["kernel"])); got != "boot-kernel" {
				t.Errorf("kernel %q", got)
			}
		}},
		{"compressed modules tar", Op{Tar: "kernel.tgz"}, []string{"kernel", "kernel.tar"}, func(t *testing.T, x *steptest.Exec, outs map[string]graph.Output) {
			if got := describe(t, x, outs["kernel.tar"]); !slices.Equal(got, modulesWant) {
				t.Errorf("kernel.tar %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := steptest.NewExec(t)
			in := steptest.Fetch(t, x, img)
			outs, err := tt.op.Exec(context.Background(), x, []graph.Result{in})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			m := map[string]graph.Output{}
			for _, o := range outs {
				names = append(names, o.Name)
				m[o.Name] = o
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("outputs %v; want %v", names, tt.names)
			}
			if tt.check != nil {
				tt.check(t, x, m)
			}
		})
	}
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestHardLinkedBinary(t *testing.T) {
	img := steptest.Image(t, steptest.Layer(t, file("boot/vmlinuz-6.6", "vmlinuz", 0o644), hardlink("kernel", "boot/vmlinuz-6.6"),
		hardlink("ucode", "boot/vmlinuz-6.6")))
	outs, x, err := run(t, Op{Image: ref, UCode: "ucode"}, img)
	if err != nil {
		t.Fatal(err)
	}
	if string(x.Read(outs["kernel"])) != "vmlinuz" || string(x.Read(outs["ucode.cpio"])) != "vmlinuz" {
		t.Errorf("kernel %q, ucode %q; want the linked file's content", x.Read(outs["kernel"]), x.Read(outs["ucode.cpio"]))
	}
}

func TestErrors(t *testing.T) {
	kernelImage := func(t *testing.T) v1.Image { return kernelImage(t) }
	tests := []struct {
		name string
		op   Op
		img  func(t *testing.T) v1.Image
		msg  []string
	}{
		{"missing binary", Op{Binary: "bzImage"}, kernelImage,
			[]string{ref, `binary "bzImage"`, "top level holds: System.map, intel-ucode.cpio, kernel, kernel.tar"}},
		{"missing tar", Op{Tar: "modules.tar"}, kernelImage, []string{`tar "modules.tar"`, "top level holds"}},
		{"missing ucode", Op{UCode: "amd-ucode.cpio"}, kernelImage, []string{`ucode "amd-ucode.cpio"`}},
		{"empty image", Op{}, func(t *testing.T) v1.Image { return steptest.Image(t, steptest.Layer(t)) }, []string{"holds: nothing"}},
		{"binary is a symlink", Op{}, func(t *testing.T) v1.Image {
			return steptest.Image(t, steptest.Layer(t, file("boot/k", "k", 0o644), symlink("kernel", "boot/k")))
		}, []string{`binary "kernel" is a symlink to "boot/k"`}},
		{"binary is a directory", Op{}, func(t *testing.T) v1.Image {
			return steptest.Image(t, steptest.Layer(t, dir("kernel", 0o755)))
		}, []string{`binary "kernel" is not a regular file`}},
		{"same file twice", Op{Binary: "k", Tar: "./k"}, kernelImage, []string{`binary and tar name the same file "k"`}},
		{"escaping name", Op{Binary: "../kernel"}, kernelImage, []string{`binary "../kernel" is not a file name`}},
		{"modules tar is not a tar", Op{Tar: "System.map"}, kernelImage, []string{"System.map: reading tar: unexpected EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := tt.op
			op.Image = ref
			_, _, err := run(t, op, tt.img(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, m := range append(tt.msg, ref) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
		})
	}
}

func TestHostileModulesTar(t *testing.T) {
	evil := steptest.Tar(t, dir("lib", 0o755), symlink("lib/modules", "/etc"), file("lib/modules/passwd", "x", 0o644))
	img := steptest.Image(t, steptest.Layer(t, file("kernel", "k", 0o644), file("kernel.tar", string(evil), 0o644)))
	_, _, err := run(t, Op{Tar: "kernel.tar", Image: ref}, img)
	var ee *unpack.EntryError
	if !errors.As(err, &ee) || !errors.Is(err, unpack.ErrThroughSymlink) || ee.Layer != "kernel.tar" || ee.Entry != "lib/modules/passwd" || ee.Image != ref {
		t.Fatalf("err = %v; want an EntryError for kernel.tar's lib/modules/passwd", err)
	}
}

func TestDeterminism(t *testing.T) {
	sorted := steptest.Tar(t,
		dir("lib", 0o755), dir("lib/modules", 0o755), dir("lib/modules/6.6", 0o755),
		symlink("lib/modules/6.6/build", "/usr/src/linux"), dir("lib/modules/6.6/kernel", 0o755),
		file("lib/modules/6.6/kernel/0.ko", "ko", 0o644), hardlink("lib/modules/6.6/kernel/a.ko", "lib/modules/6.6/kernel/0.ko"),
		file("lib/modules/6.6/modules.dep", "dep", 0o644))
	var digests []graph.Digest
	for _, mods := range [][]byte{modules(t), sorted, modules(t)} {
		img := steptest.Image(t, steptest.Layer(t, file("kernel", "k", 0o644), file("kernel.tar", string(mods), 0o644)))
		outs, _, err := run(t, Op{Tar: "kernel.tar", SourceDateEpoch: 1e9}, img)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, outs["kernel.tar"].Digest)
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Errorf("kernel.tar digests differ: %v", digests)
	}
}

func TestParams(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{Op{}, `{"binary":"kernel","tar":"","ucode":"","sourceDateEpoch":0}`},
		{Op{Tar: "none", UCode: "none", Image: "x"}, `{"binary":"kernel","tar":"","ucode":"","sourceDateEpoch":0}`},
		{Op{Binary: "bzImage", Tar: "kernel.tar", UCode: "intel-ucode.cpio", SourceDateEpoch: 3},
			`{"binary":"bzImage","tar":"kernel.tar","ucode":"intel-ucode.cpio","sourceDateEpoch":3}`},
	}
	for _, tt := range tests {
		got, err := tt.op.Params()
		if err != nil || string(got) != tt.want {
			t.Errorf("%+v: Params = %s, %v; want %s", tt.op, got, err, tt.want)
		}
	}
	if (Op{}).Kind() != "kernel" || (Op{}).Version() == "" {
		t.Error("kind or version")
	}
}

func TestFromSpec(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		k    spec.Kernel
		want Op
	}{
		{spec.Kernel{Image: "k"}, Op{Binary: "kernel", Tar: "kernel.tar", Image: "k", SourceDateEpoch: 9}},
		{spec.Kernel{Image: "k", Binary: s("bzImage"), Tar: s("none"), UCode: s("intel-ucode.cpio")},
			Op{Binary: "bzImage", Tar: "none", UCode: "intel-ucode.cpio", Image: "k", SourceDateEpoch: 9}},
		{spec.Kernel{Image: "k", Tar: s("")}, Op{Binary: "kernel", Tar: "", Image: "k", SourceDateEpoch: 9}},
	}
	for _, tt := range tests {
		if got := FromSpec(tt.k, 9); got != tt.want {
			t.Errorf("FromSpec(%+v) = %+v; want %+v", tt.k, got, tt.want)
		}
	}
}

// FuzzKernelTar feeds arbitrary bytes as the modules tar: never a panic, and
// any output is a normalized tar.
func FuzzKernelTar(f *testing.F) {
	f.Add(modules(f))
	f.Add(gz(f, modules(f)))
	f.Add(steptest.Tar(f, symlink("a", "/"), file("a/b", "", 0o644)))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, mods []byte) {
		x := steptest.NewExec(t)
		tmp := t.TempDir()
		op := Op{SourceDateEpoch: 1e9}
		out, err := op.normalizeTar(context.Background(), x, "kernel.tar", bytes.NewReader(mods), tmp, false)
		streamed, serr := op.normalizeTar(context.Background(), x, "kernel.tar", bytes.NewReader(mods), tmp, true)
		switch {
		case errors.Is(serr, errTarUnsorted):
		case (err == nil) != (serr == nil) || err != nil && err.Error() != serr.Error():
			t.Fatalf("spooled: %v; streamed: %v", err, serr)
		case err == nil && out != streamed:
			t.Fatalf("spooled %s, streamed %s", out.Digest, streamed.Digest)
		}
		if err != nil {
			return
		}
		if _, err := tarutil.Verify(bytes.NewReader(x.Read(out)), 1e9); err != nil {
			t.Fatalf("kernel.tar not normalized: %v", err)
		}
	})
}

// TestModes extracts single-layer images, whose modules tar is sorted or
// not, through each way of making kernel.tar: the outputs are the same.
func TestModes(t *testing.T) {
	sorted := steptest.Tar(t,
		dir("lib", 0o755), dir("lib/modules", 0o755), dir("lib/modules/6.6", 0o755),
		symlink("lib/modules/6.6/build", "/usr/src/linux"), dir("lib/modules/6.6/kernel", 0o755),
		file("lib/modules/6.6/kernel/0.ko", "ko", 0o644), hardlink("lib/modules/6.6/kernel/a.ko", "lib/modules/6.6/kernel/0.ko"),
		file("lib/modules/6.6/modules.dep", "dep", 0o644))
	for _, mods := range [][]byte{sorted, modules(t)} {
		img := steptest.Image(t, steptest.Layer(t, file("System.map", "map", 0o644), file("intel-ucode.cpio", "ucode", 0o644),
			file("kernel", "bzImage", 0o644), file("kernel.tar", string(mods), 0o644)))
		op := Op{Tar: "kernel.tar", UCode: "intel-ucode.cpio", SourceDateEpoch: 1e9}
		x := steptest.NewExec(t)
		in := steptest.Fetch(t, x, img)
		layers, err := unpack.ImageLayers(context.Background(), x, in)
		if err != nil {
			t.Fatal(err)
		}
		var want []graph.Output
		for mode := range []tarMode{tarStream, tarSpool, tarCopy} {
			files := []*wanted{{field: "binary", name: "kernel", output: OutputKernel}, {field: "tar", name: "kernel.tar", output: OutputTar},
				{field: "ucode", name: "intel-ucode.cpio", output: OutputUCode}}
			outs, err := op.extract(context.Background(), x, layers, files, t.TempDir(), tarMode(mode))
			if tarMode(mode) == tarStream && errors.Is(err, errTarUnsorted) {
				continue
			}
			if err != nil {
				t.Fatalf("mode %d: %v", mode, err)
			}
			if want == nil {
				want = outs
			} else if !slices.Equal(outs, want) {
				t.Errorf("mode %d: %v; want %v", mode, outs, want)
			}
		}
		outs, err := op.Exec(context.Background(), x, []graph.Result{in})
		if err != nil || !slices.Equal(outs, want) {
			t.Errorf("Exec: %v, %v; want %v", outs, err, want)
		}
		if got := string(x.Read(want[2])); got != "ucode" {
			t.Errorf("ucode %q", got)
		}
	}
}

// TestLinkToModulesTar extracts an image whose microcode is a hard link to
// its modules tar: the tar is copied aside, then both are made from it.
func TestLinkToModulesTar(t *testing.T) {
	mods := modules(t)
	img := steptest.Image(t, steptest.Layer(t, file("kernel", "k", 0o644), file("kernel.tar", string(mods), 0o644),
		hardlink("ucode", "kernel.tar")))
	outs, x, err := run(t, Op{Image: ref, Tar: "kernel.tar", UCode: "ucode"}, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Read(outs["ucode.cpio"]), mods) {
		t.Error("ucode.cpio is not the modules tar's bytes")
	}
	if len(x.Read(outs["kernel.tar"])) == 0 {
		t.Error("empty kernel.tar")
	}
}
