package assemble

import (
	"context"
	"fmt"
	"os"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/recipe"
)

// MaterializeKind is the step kind of MaterializeOp.
const MaterializeKind = "rootfs"

// MaterializeOp is the "rootfs" step: it writes out the root filesystem an
// assemble step describes as a recipe, as the normalized tar rootfs.tar,
// for the formats that need a file (tar, docker, the plugins' formats);
// kernel, cmdline and ucode.cpio are passed on. The initramfs formats read
// the recipe and need no copy.
type MaterializeOp struct{}

var _ graph.Op = MaterializeOp{}

// Kind implements graph.Op.
func (MaterializeOp) Kind() string { return MaterializeKind }

// Version implements graph.Op.
func (MaterializeOp) Version() string { return "1" }

// Params implements graph.Op.
func (MaterializeOp) Params() ([]byte, error) { return []byte("{}"), nil }

// Exec implements graph.Op.
func (MaterializeOp) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: want 1 input (assemble), have %d", MaterializeKind, len(inputs))
	}
	in := inputs[0]
	rec, ok := in.Get(RecipeName)
	if !ok {
		return nil, fmt.Errorf("%s: input has no %s", MaterializeKind, RecipeName)
	}
	rd, err := OpenRecipe(ctx, x, rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MaterializeKind, err)
	}
	defer rd.Close()
	bw, err := x.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: creating %s: %w", MaterializeKind, RootfsName, err)
	}
	defer bw.Close()
	if _, err := rd.WriteTo(bw); err != nil {
		return nil, fmt.Errorf("%s: writing %s: %w", MaterializeKind, RootfsName, err)
	}
	rootfs, err := bw.Commit(RootfsName, TarMediaType, "")
	if err != nil {
		return nil, fmt.Errorf("%s: committing %s: %w", MaterializeKind, RootfsName, err)
	}
	outs := []graph.Output{rootfs}
	for _, name := range []string{KernelName, CmdlineName, UCodeName} {
		if o, ok := in.Get(name); ok {
			outs = append(outs, o)
		}
	}
	return outs, nil
}

// maxRecipe bounds a recipe read into memory: tar headers are its literal
// bytes, about 1 KiB a file.
const maxRecipe = 1 << 30

// OpenRecipe opens the recipe output rec of an assemble step as a reader
// of the tar it describes; the caller closes it.
func OpenRecipe(ctx context.Context, x graph.Exec, rec graph.Output) (*recipe.Reader, error) {
	if rec.Size > maxRecipe {
		return nil, fmt.Errorf("%s %s: %d bytes, over %d", RecipeName, rec.Digest.Short(), rec.Size, maxRecipe)
	}
	f, err := OpenFile(ctx, x, rec.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", RecipeName, rec.Digest.Short(), err)
	}
	b := make([]byte, rec.Size)
	_, err = f.ReadAt(b, 0)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", RecipeName, rec.Digest.Short(), err)
	}
	r, err := recipe.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", RecipeName, rec.Digest.Short(), err)
	}
	return recipe.Open(ctx, r, func(ctx context.Context, d graph.Digest) (*os.File, error) { return OpenFile(ctx, x, d) })
}
