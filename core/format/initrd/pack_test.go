package initrd

import (
	"context"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/format"
	ft "github.com/kitbuild/kit/core/format/formattest"
	"github.com/kitbuild/kit/core/format/initramfs"
	"github.com/kitbuild/kit/core/graph"
)

// TestPackOp packs an image-like tar part and checks that both initramfs
// formats give the same bytes with the pack as without, and that a need
// that is not a pack is refused.
func TestPackOp(t *testing.T) {
	x := ft.NewExec(t)
	big := strings.Repeat("module data ", 10000) // above initramfs.ChunkMin
	part := ft.Tar(t,
		ft.Dir("lib", 0o755),
		ft.File("lib/a.ko", big, 0o644),
		ft.File("lib/b.ko", big+"b", 0o644),
		ft.File("lib/small", "s", 0o644),
	)
	in := ft.Assembled(t, x, ft.System{Kernel: []byte("KERNEL"), Cmdline: []byte("console=ttyS0"),
		Entries: append(entries(), ft.Dir("lib", 0o755), ft.File("lib/a.ko", big, 0o644), ft.File("lib/b.ko", big+"b", 0o644))})
	tarPart := x.Put(t, "rootfs.tar", part)

	op := PackOp{Output: "rootfs.tar"}
	if _, err := op.Params(); err != nil {
		t.Fatal(err)
	}
	outs, err := op.Exec(context.Background(), x, []graph.Result{{Outputs: []graph.Output{tarPart}}})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := initramfs.ParsePackIndex(x.Read(t, outs[1]))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Chunks) != 2 || outs[0].Name != PackChunks || outs[1].Name != PackIndex {
		t.Fatalf("outputs %+v, %d chunks; want chunks and index, 2 chunks", outs, len(idx.Chunks))
	}

	opts := format.Options{SourceDateEpoch: epoch}
	for _, f := range []format.Format{KernelInitrd{}, TarKernelInitrd{}} {
		if !UsesPacks(f) {
			t.Errorf("%s does not take packs", f.Name())
		}
		plain := ft.Check(t, f, x, in, opts)
		packed := in
		packed.Needs = map[string]graph.Result{PackNeedPrefix + "0": {Outputs: outs}}
		withPack := ft.Check(t, f, x, packed, opts)
		for i := range plain {
			if plain[i].Digest != withPack[i].Digest {
				t.Errorf("%s: output %s differs with a pack", f.Name(), plain[i].Name)
			}
		}
		bad := in
		bad.Needs = map[string]graph.Result{PackNeedPrefix + "0": {Outputs: []graph.Output{tarPart}}}
		if _, err := f.Write(context.Background(), x, bad, opts); err == nil || !strings.Contains(err.Error(), "not a pack") {
			t.Errorf("%s: a need that is not a pack: %v", f.Name(), err)
		}
	}
	if _, err := (PackOp{}).Params(); err == nil {
		t.Error("PackOp without an output: no error")
	}
}

// TestPackOtherFormat checks that a pack of another pack format is left
// unused, with a log line, rather than failing the build.
func TestPackOtherFormat(t *testing.T) {
	x := ft.NewExec(t)
	in := ft.Assembled(t, x, ft.System{Kernel: []byte("KERNEL"), Entries: entries()})
	plain := ft.Check(t, KernelInitrd{}, x, in, format.Options{SourceDateEpoch: epoch})
	idx := x.Put(t, PackIndex, []byte(`{"format":"chunks/0","chunks":[]}`))
	data := x.Put(t, PackChunks, []byte("x"))
	in.Needs = map[string]graph.Result{PackNeedPrefix + "0": {Outputs: []graph.Output{data, idx}}}
	got := ft.Check(t, KernelInitrd{}, x, in, format.Options{SourceDateEpoch: epoch})
	if got[1].Digest != plain[1].Digest {
		t.Error("the initrd differs with an unused pack")
	}
	logged := false
	for _, l := range x.Logs() {
		if strings.Contains(l, "not used") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no log line about the unused pack: %q", x.Logs())
	}
}
