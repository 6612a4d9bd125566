package assemble

import (
	"context"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/unpack"
)

// TestWithUnpack assembles what the unpack step really makes of an image
// with hard links, used as an init image and as a writable container.
func TestWithUnpack(t *testing.T) {
	x := steptest.NewExec(t)
	img := steptest.Image(t,
		steptest.Layer(t, dir("bin"), file("bin/busybox", "bb1"), link("bin/sh", "bin/busybox"), link("bin/ash", "bin/busybox")),
		steptest.Layer(t, dir("bin"), file("bin/busybox", "bb2"), dir("usr"), dir("usr/bin"), link("usr/bin/env", "bin/busybox")))
	fetched := steptest.Fetch(t, x, img)
	run := func(mode unpack.Mode) graph.Result {
		outs, err := unpack.Op{Mode: mode, SourceDateEpoch: epoch}.Exec(context.Background(), x, []graph.Result{fetched})
		if err != nil {
			t.Fatal(err)
		}
		return graph.Result{Outputs: outs}
	}
	runtime := result(t, x, x.Put("config.json", "", []byte("{}")), x.Put("runtime.json", "", []byte("{}")))
	op, err := NewLayout(epoch).
		Init(0).
		Container(Container{Section: Onboot, Name: "sh", Rootfs: 1, Runtime: 2}).
		Op()
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec(t, x, op, run(unpack.Init), run(unpack.Container), runtime)
	if err != nil {
		t.Fatal(err)
	}
	got := listing(t, x.Read(outs[RootfsName]))
	for _, want := range []string{
		"containers/onboot/000-sh/lower/bin/sh h 0644 0:0 -> containers/onboot/000-sh/lower/bin/ash\n",
		"containers/onboot/000-sh/tmp d 0755 0:0\n",
		"containers/onboot/000-sh/rootfs d 0755 0:0\n",
		"bin/ash f 0644 0:0 \"bb1\"\n",
		"bin/busybox f 0644 0:0 \"bb2\"\n",
		"usr/bin/env h 0644 0:0 -> bin/busybox\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rootfs lacks %q:\n%s", want, got)
		}
	}
}
