package initrd

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
	"github.com/u-root/uio/uio"

	"github.com/kitbuild/kit/core/format"
	ft "github.com/kitbuild/kit/core/format/formattest"
	"github.com/kitbuild/kit/core/graph"
)

const epoch = 1_700_000_000

// ucode is an uncompressed cpio like the microcode archives kernels ship.
func ucode(t testing.TB) []byte {
	var b bytes.Buffer
	w := cpio.Newc.Writer(&b)
	if err := cpio.WriteRecords(w, []cpio.Record{
		cpio.Directory("kernel", 0o755),
		cpio.Directory("kernel/x86", 0o755),
		cpio.Directory("kernel/x86/microcode", 0o755),
		cpio.StaticFile("kernel/x86/microcode/GenuineIntel.bin", "MICROCODE", 0o644),
	}); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func entries() []ft.Entry {
	late := ft.File("etc/late", "late", 0o644)
	late.ModTime = epoch + 100
	return []ft.Entry{
		ft.Dir("bin", 0o755),
		ft.File("bin/busybox", "BUSYBOX", 0o755),
		ft.Hardlink("bin/sh", "bin/busybox"),
		ft.Dir("dev", 0o755),
		ft.Device("dev/null", tar.TypeChar, 0o666, 1, 3),
		ft.Dir("etc", 0o755),
		late,
		ft.Symlink("init", "bin/busybox"),
	}
}

// listed is what the initramfs holds: everything but boot/*.
var listed = []string{"bin", "bin/busybox", "bin/sh", "boot", "dev", "dev/null", "etc", "etc/late", "init"}

func TestRegistered(t *testing.T) {
	for _, n := range []string{"kernel+initrd", "tar-kernel-initrd"} {
		if _, ok := format.Lookup(n); !ok {
			t.Errorf("format %s is not registered", n)
		}
	}
}

// splitInitrd checks that img starts with uc and returns the uncompressed
// cpio that follows.
func splitInitrd(t *testing.T, img, uc []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(img, uc) {
		t.Fatalf("initrd does not start with the microcode cpio")
	}
	rest := img[len(uc):]
	if len(rest)%4 != 0 {
		t.Errorf("compressed initramfs of %d bytes is not padded to 4", len(rest))
	}
	zr, err := gzip.NewReader(bytes.NewReader(rest))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func cpioList(t *testing.T, raw []byte) []string {
	t.Helper()
	bin, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio is not installed (apt-get install cpio)")
	}
	cmd := exec.Command(bin, "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestKernelInitrd(t *testing.T) {
	uc := ucode(t)
	tests := []struct {
		name string
		sys  ft.System
	}{
		{"with microcode", ft.System{Kernel: []byte("KERNEL"), Cmdline: []byte("console=ttyS0"), UCode: uc, Entries: entries()}},
		{"without microcode", ft.System{Kernel: []byte("KERNEL"), Cmdline: []byte("console=ttyS0"), Entries: entries()}},
		{"without cmdline", ft.System{Kernel: []byte("KERNEL"), Entries: entries()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := ft.NewExec(t)
			in := ft.Assembled(t, x, tc.sys)
			outs := ft.Check(t, KernelInitrd{}, x, in, format.Options{SourceDateEpoch: epoch})
			if outs[0].Digest != in.Kernel.Digest {
				t.Errorf("-kernel is %s, want the kernel blob %s", outs[0].Digest, in.Kernel.Digest)
			}
			if got := string(x.Read(t, outs[2])); got != string(tc.sys.Cmdline) {
				t.Errorf("-cmdline %q", got)
			}
			raw := splitInitrd(t, x.Read(t, outs[1]), tc.sys.UCode)
			if got := cpioList(t, raw); !slices.Equal(got, listed) {
				t.Errorf("cpio -t lists %q, want %q", got, listed)
			}
			rs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]cpio.Record{}
			for _, r := range rs {
				got[r.Name] = r
			}
			data := func(n string) string {
				b, err := uio.ReadAll(got[n])
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			if data("bin/busybox") != "BUSYBOX" || data("init") != "bin/busybox" || got["bin/sh"].Ino != got["bin/busybox"].Ino || got["bin/sh"].NLink != 2 {
				t.Errorf("records %v", rs)
			}
			if r := got["dev/null"]; r.Mode != cpio.S_IFCHR|0o666 || r.Rmajor != 1 || r.Rminor != 3 {
				t.Errorf("dev/null %v", r.Info)
			}
			if r := got["etc/late"]; r.MTime != epoch {
				t.Errorf("etc/late mtime %d, want %d", r.MTime, epoch)
			}
		})
	}
}

func TestNeedsKernel(t *testing.T) {
	x := ft.NewExec(t)
	in := ft.Assembled(t, x, ft.System{Entries: entries()})
	for _, f := range []format.Format{KernelInitrd{}, TarKernelInitrd{}} {
		_, err := f.Write(context.Background(), x, in, format.Options{})
		if err == nil || !strings.Contains(err.Error(), "needs a kernel") {
			t.Errorf("%s without kernel: %v", f.Name(), err)
		}
	}
}

func TestTarKernelInitrd(t *testing.T) {
	uc := ucode(t)
	tests := []struct {
		name string
		sys  ft.System
		want []string
	}{
		{"everything", ft.System{Kernel: []byte("KERNEL"), Cmdline: []byte("console=ttyS0"), UCode: uc, Entries: entries()},
			[]string{"kernel", "initrd.img", "cmdline", "ucode.cpio"}},
		{"kernel only", ft.System{Kernel: []byte("KERNEL"), Cmdline: []byte{}, Entries: entries()},
			[]string{"kernel", "initrd.img"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := ft.NewExec(t)
			in := ft.Assembled(t, x, tc.sys)
			opts := format.Options{SourceDateEpoch: epoch}
			outs := ft.Check(t, TarKernelInitrd{}, x, in, opts)
			// The initrd.img member is kernel+initrd's initramfs without
			// the microcode.
			ki, err := KernelInitrd{}.Write(context.Background(), x, in, opts)
			if err != nil {
				t.Fatal(err)
			}
			wantImg := x.Read(t, ki[1])[len(tc.sys.UCode):]
			tr := tar.NewReader(bytes.NewReader(x.Read(t, outs[0])))
			var names []string
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
				b, _ := io.ReadAll(tr)
				if h.Mode != 0o644 || h.ModTime.Unix() != epoch || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Typeflag != tar.TypeReg {
					t.Errorf("member %s: header %+v", h.Name, h)
				}
				want := map[string][]byte{"kernel": tc.sys.Kernel, "initrd.img": wantImg, "cmdline": tc.sys.Cmdline, "ucode.cpio": tc.sys.UCode}[h.Name]
				if !bytes.Equal(b, want) {
					t.Errorf("member %s: %d bytes differ from the expected %d", h.Name, len(b), len(want))
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("members %q, want %q", names, tc.want)
			}
		})
	}
}

// TestReproducible: the same input gives the same bytes whatever the
// number of CPUs; SOURCE_DATE_EPOCH changes them when an mtime is later.
func TestReproducible(t *testing.T) {
	x := ft.NewExec(t)
	sys := ft.System{Kernel: []byte("KERNEL"), Cmdline: []byte("c"), UCode: ucode(t), Entries: entries()}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 8 { // several pgzip blocks
		b := make([]byte, 600<<10)
		for j := range b {
			b[j] = "abcdefgh"[r.IntN(8)]
		}
		sys.Entries = append(sys.Entries, ft.File(fmt.Sprintf("var/%d", i), string(b), 0o644))
	}
	sys.Entries = append(sys.Entries, ft.Dir("var", 0o755))
	in := ft.Assembled(t, x, sys)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	run := func(procs int, epoch int64) []graph.Output {
		runtime.GOMAXPROCS(procs)
		var all []graph.Output
		for _, f := range []format.Format{KernelInitrd{}, TarKernelInitrd{}} {
			outs, err := f.Write(context.Background(), x, in, format.Options{SourceDateEpoch: epoch})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, outs...)
		}
		return all
	}
	a, b, c := run(1, epoch), run(2, epoch), run(4, epoch)
	if !slices.Equal(a, b) || !slices.Equal(a, c) {
		t.Fatalf("outputs differ with GOMAXPROCS:\n%v\n%v\n%v", a, b, c)
	}
	if d := run(2, epoch+1); d[1].Digest == a[1].Digest || d[3].Digest == a[3].Digest {
		t.Error("SOURCE_DATE_EPOCH does not reach the initramfs")
	}
}

func TestOp(t *testing.T) {
	x := ft.NewExec(t)
	in := ft.Assembled(t, x, ft.System{Kernel: []byte("K"), Cmdline: []byte("c"), Entries: entries()})
	op, err := format.NewOp("kernel+initrd", format.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := graph.Result{Outputs: []graph.Output{in.Rootfs, in.Kernel, in.Cmdline}}
	outs, err := op.Exec(context.Background(), x, []graph.Result{res})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 3 || outs[1].Name != "-initrd.img" {
		t.Errorf("outputs %v", outs)
	}
}
