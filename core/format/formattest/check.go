package formattest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"testing"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graph"
)

// Check runs f twice on in and asserts the contract of a Format: it returns
// exactly the outputs it declares, named by suffix and in order; every
// output is a complete blob of the store (size and digest verified); and
// the two runs agree byte for byte. It returns the outputs.
func Check(t testing.TB, f format.Format, x *Exec, in format.Input, opts format.Options) []graph.Output {
	t.Helper()
	ctx := context.Background()
	first, err := f.Write(ctx, x, in, opts)
	if err != nil {
		t.Fatalf("format %s: %v", f.Name(), err)
	}
	var names []string
	for _, o := range first {
		names = append(names, o.Name)
	}
	if want := f.Outputs(); !slices.Equal(names, want) {
		t.Fatalf("format %s: outputs %q, declares %q", f.Name(), names, want)
	}
	for _, o := range first {
		p, err := x.Path(o.Digest)
		if err != nil {
			t.Fatalf("format %s: output %s: %v", f.Name(), o.Name, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := graph.Digest("sha256:" + hex.EncodeToString(sum[:])); got != o.Digest || int64(len(b)) != o.Size {
			t.Fatalf("format %s: output %s: blob is %s (%d bytes), output says %s (%d bytes)", f.Name(), o.Name, got, len(b), o.Digest, o.Size)
		}
	}
	second, err := f.Write(ctx, x, in, opts)
	if err != nil {
		t.Fatalf("format %s: second run: %v", f.Name(), err)
	}
	if !slices.Equal(first, second) {
		t.Fatalf("format %s: not reproducible:\n%v\n%v", f.Name(), first, second)
	}
	return first
}
