package initrd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/format/initramfs"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/assemble"
)

// PackKind is the step kind of PackOp.
const PackKind = "initrd-pack"

// packVersion is the implementation version of PackOp: change it with
// the pack format (initramfs.PackIndex.Format), or cached packs of the old
// format would be refused by the formats.
const packVersion = "2"

// Outputs of PackOp.
const (
	PackChunks = "chunks"
	PackIndex  = "index"
)

// PackNeedPrefix starts the names of the needs by which the initramfs
// formats take packs: "pack 0", "pack 1", ...
const PackNeedPrefix = "pack "

// maxIndex bounds the pack index read into memory (about 100 bytes a
// chunk).
const maxIndex = 256 << 20

// PackOp is the "initrd-pack" step: it compresses the large files of one
// tar part of a root filesystem (an unpacked image, the kernel's modules)
// as initramfs chunks (initramfs.BuildPack), right after the part is made
// and in parallel with the rest of the build. The initramfs formats then
// copy those chunks instead of compressing the files again, so the work
// is done once per part, however many systems hold it; their output is the
// same with or without packs.
type PackOp struct {
	// Output names the tar output of the input to pack.
	Output string
}

var _ graph.Op = PackOp{}

// Kind implements graph.Op.
func (PackOp) Kind() string { return PackKind }

// Version implements graph.Op.
func (PackOp) Version() string { return packVersion }

// Params implements graph.Op.
func (o PackOp) Params() ([]byte, error) {
	if o.Output == "" {
		return nil, fmt.Errorf("%s: no output named", PackKind)
	}
	return json.Marshal(struct {
		Output string `json:"output"`
	}{o.Output})
}

// Exec implements graph.Op: it writes the chunks and the index.
func (o PackOp) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: want 1 input, have %d", PackKind, len(inputs))
	}
	src, ok := inputs[0].Get(o.Output)
	if !ok {
		return nil, fmt.Errorf("%s: input has no output %q", PackKind, o.Output)
	}
	f, err := assemble.OpenFile(ctx, x, src.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", PackKind, o.Output, src.Digest.Short(), err)
	}
	defer f.Close()
	var idx initramfs.PackIndex
	chunks, err := format.WriteBlob(ctx, x, PackChunks, format.MediaTypeBinary, func(w io.Writer) error {
		var err error
		idx, err = initramfs.BuildPack(ctx, w, f, src.Size)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", PackKind, o.Output, src.Digest.Short(), err)
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	index, err := format.WriteBlob(ctx, x, PackIndex, initramfs.PackMediaType, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PackKind, err)
	}
	x.Logf("%d chunks, %d bytes", len(idx.Chunks), chunks.Size)
	return []graph.Output{chunks, index}, nil
}

// UsesPacks reports whether the format f takes packs as needs: the
// built-in initramfs formats do.
func UsesPacks(f format.Format) bool {
	switch f.(type) {
	case KernelInitrd, TarKernelInitrd:
		return true
	}
	return false
}

// packSet opens the packs among the needs of in. The files stay open
// until close is called.
func packSet(ctx context.Context, x graph.Exec, in format.Input) (set *initramfs.PackSet, closeAll func(), err error) {
	set = &initramfs.PackSet{}
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			f.Close()
		}
	}
	var names []string
	for name := range in.Needs {
		if strings.HasPrefix(name, PackNeedPrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		r := in.Needs[name]
		data, ok1 := r.Get(PackChunks)
		index, ok2 := r.Get(PackIndex)
		if !ok1 || !ok2 {
			closeAll()
			return nil, nil, fmt.Errorf("need %q: not a pack (outputs %s and %s)", name, PackChunks, PackIndex)
		}
		b, err := format.ReadSmallBlob(ctx, x, index, maxIndex)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("need %q: %w", name, err)
		}
		idx, err := initramfs.ParsePackIndex(b)
		if err == nil && !idx.Current() {
			// Another kit's pack: the format compresses those files itself,
			// to the same bytes.
			x.Logf("need %q: pack format %q is not this kit's: not used", name, idx.Format)
			continue
		}
		if err == nil {
			err = idx.Validate(data.Size)
		}
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("need %q: %w", name, err)
		}
		f, err := assemble.OpenFile(ctx, x, data.Digest)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("need %q: %w", name, err)
		}
		files = append(files, f)
		set.Add(idx, f)
	}
	return set, closeAll, nil
}
