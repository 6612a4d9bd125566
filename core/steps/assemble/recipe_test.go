package assemble

import (
	"context"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/recipe"
	"github.com/kitbuild/kit/core/steps/steptest"
)

// TestRecipeRefersToParts checks that the assemble step describes file
// contents by reference: its recipe is a fraction of the tar it describes,
// and lists as sources, and outputs, exactly the part blobs it refers to.
func TestRecipeRefersToParts(t *testing.T) {
	x := steptest.NewExec(t)
	big := strings.Repeat("x", 1<<20)
	part := tarOut(t, x, "rootfs.tar", dir("bin"), file("bin/big", big), file("bin/small", "s"))
	fileOut := x.Put("contents", "", []byte(strings.Repeat("f", 100<<10)))
	op := Op{SourceDateEpoch: epoch, Parts: []Part{
		{Name: "init[0]", Input: 0, Output: "rootfs.tar"},
		{Name: "services/a", Input: 0, Output: "rootfs.tar", Prefix: "containers/services/a/rootfs"},
		{Name: "files", Input: 1, Output: "contents", As: "etc/f"},
	}}
	outs, err := op.Exec(context.Background(), x, []graph.Result{result(t, x, part), result(t, x, fileOut)})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Name != RecipeName || outs[0].MediaType != recipe.MediaType {
		t.Fatalf("first output %+v, want the recipe", outs[0])
	}
	r, err := recipe.Decode(x.Read(outs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() < 2<<20 || outs[0].Size > 16<<10 {
		t.Errorf("a recipe of %d bytes describes %d bytes: want a few KiB for 2 MiB of contents", outs[0].Size, r.Size())
	}
	var sources []string
	for _, o := range outs {
		if strings.HasPrefix(o.Name, SourcePrefix) {
			sources = append(sources, string(o.Digest))
		}
	}
	want := []string{string(part.Digest), string(fileOut.Digest)}
	if strings.Join(sources, " ") != strings.Join(want, " ") {
		t.Errorf("source outputs %v, want the part and the file: %v", sources, want)
	}
	var got []string
	for _, d := range r.Sources() {
		got = append(got, string(d))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("recipe sources %v, want %v", got, want)
	}
	// Written out, the recipe is the tar that lists both copies.
	m, err := exec(t, x, op, result(t, x, part), result(t, x, fileOut))
	if err != nil {
		t.Fatal(err)
	}
	l := listing(t, x.Read(m[RootfsName]))
	for _, name := range []string{"bin/big ", "containers/services/a/rootfs/bin/big ", "etc/f "} {
		if !strings.Contains(l, "\n"+name) && !strings.HasPrefix(l, name) {
			t.Errorf("written-out rootfs lacks %s:\n%s", name, l)
		}
	}
}
