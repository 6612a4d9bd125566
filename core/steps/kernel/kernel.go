package kernel

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/tarutil"
	"github.com/kitbuild/kit/core/steps/unpack"
)

// Kind is the step kind of Op.
const Kind = "kernel"

// Version is the implementation version of Op.
const Version = "1"

// Defaults of the spec's kernel section.
const (
	DefaultBinary = "kernel"
	DefaultTar    = "kernel.tar"
)

// Names and media types of the outputs.
const (
	OutputKernel = "kernel"
	OutputTar    = "kernel.tar"
	OutputUCode  = "ucode.cpio"

	MediaTypeKernel = "application/octet-stream"
	MediaTypeUCode  = "application/x-cpio"
)

// Op extracts a kernel from the image fetched by its only input: the binary
// (output "kernel"), the modules tar normalized (output "kernel.tar", laid
// into / of the root filesystem) and microcode (output "ucode.cpio").
//
// Files are found by name in the flattened image, as linuxkit does. The
// modules tar may be plain or gzip/zstd-compressed; it is flattened like a
// one-layer image, so its entries are sorted and checked like a layer's.
type Op struct {
	// Binary is the kernel file in the image; "" means DefaultBinary.
	Binary string
	// Tar is the modules tar in the image; "" or "none" disables it (the
	// planner turns the spec's absent tar into DefaultTar; FromSpec does).
	Tar string
	// UCode is the microcode cpio in the image; "" (or "none") means none.
	UCode string
	// Image is the image reference, for messages only (not in Params).
	Image string
	// SourceDateEpoch clamps every time in kernel.tar.
	SourceDateEpoch int64
}

var _ graph.Op = Op{}

// FromSpec returns the Op for a spec's kernel section, with the spec's
// defaults applied.
func FromSpec(k spec.Kernel, sourceDateEpoch int64) Op {
	op := Op{Binary: DefaultBinary, Tar: DefaultTar, Image: k.Image, SourceDateEpoch: sourceDateEpoch}
	if k.Binary != nil && *k.Binary != "" {
		op.Binary = *k.Binary
	}
	if k.Tar != nil {
		op.Tar = *k.Tar
	}
	if k.UCode != nil {
		op.UCode = *k.UCode
	}
	return op
}

// Kind returns "kernel".
func (Op) Kind() string { return Kind }

// Version returns the implementation version.
func (Op) Version() string { return Version }

// StreamsInputs reports that Op may start on a kernel image still being
// fetched (graph.StreamingOp): it reads the layers through Exec.Open.
func (Op) StreamsInputs() bool { return true }

type params struct {
	Binary          string `json:"binary"`
	Tar             string `json:"tar"`
	UCode           string `json:"ucode"`
	SourceDateEpoch int64  `json:"sourceDateEpoch"`
}

func (o Op) params() params {
	p := params{Binary: o.Binary, Tar: o.Tar, UCode: o.UCode, SourceDateEpoch: o.SourceDateEpoch}
	if p.Binary == "" {
		p.Binary = DefaultBinary
	}
	if p.Tar == "none" {
		p.Tar = ""
	}
	if p.UCode == "none" {
		p.UCode = ""
	}
	return p
}

// Params returns the file names with defaults applied ("" for a disabled
// tar or no ucode) and SOURCE_DATE_EPOCH.
func (o Op) Params() ([]byte, error) { return json.Marshal(o.params()) }

// wanted is one file of the image the op extracts.
type wanted struct {
	field  string // spec field, for messages
	name   string // clean name in the image
	output string
	found  bool
	out    graph.Output // the output made of it
	path   string       // for the tar in tarCopy mode: its temp copy
}

// How extract turns the modules tar into the output kernel.tar.
type tarMode int

const (
	// tarStream flattens the modules tar as it is read out of the image,
	// without a spool when its entries are sorted.
	tarStream tarMode = iota
	// tarSpool flattens it as it is read out of the image, through a
	// spool: for a modules tar whose entries are not sorted.
	tarSpool
	// tarCopy copies it to a temp file first: for an image where another
	// wanted file is a hard link to it, and needs its bytes again.
	tarCopy
)

// errTarUnsorted stops a tarStream extraction whose modules tar turned out
// unsorted (it cannot start over by itself: it is read out of the image).
var errTarUnsorted = fmt.Errorf("modules tar is not sorted: %w", unpack.ErrAbort)

// errLinkToTar stops an extraction where a wanted file is a hard link to
// the modules tar.
var errLinkToTar = fmt.Errorf("a wanted file links to the modules tar: %w", unpack.ErrAbort)

// Exec extracts the files from the image of inputs[0], the result of a
// fetch step.
func (o Op) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("kernel %s: want 1 input (a fetched image), have %d", o.Image, len(inputs))
	}
	p := o.params()
	var files []*wanted
	for _, f := range []struct{ field, name, output string }{
		{"binary", p.Binary, OutputKernel},
		{"tar", p.Tar, OutputTar},
		{"ucode", p.UCode, OutputUCode},
	} {
		if f.name == "" {
			continue
		}
		name, err := tarutil.CleanName(f.name)
		if err != nil || name == "" {
			return nil, fmt.Errorf("kernel %s: %s %q is not a file name in the image", o.Image, f.field, f.name)
		}
		for _, w := range files {
			if w.name == name {
				return nil, fmt.Errorf("kernel %s: %s and %s name the same file %q", o.Image, w.field, f.field, name)
			}
		}
		files = append(files, &wanted{field: f.field, name: name, output: f.output})
	}
	layers, err := unpack.ImageLayers(ctx, x, inputs[0])
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", o.Image, err)
	}
	tmp, err := x.TempDir()
	if err != nil {
		return nil, err
	}
	outs, err := o.extract(ctx, x, layers, files, tmp, tarStream)
	if errors.Is(err, errTarUnsorted) {
		outs, err = o.extract(ctx, x, layers, files, tmp, tarSpool)
	}
	if errors.Is(err, errLinkToTar) {
		outs, err = o.extract(ctx, x, layers, files, tmp, tarCopy)
	}
	return outs, err
}

// extract flattens the image and makes the outputs of the wanted files, the
// modules tar as mode says.
func (o Op) extract(ctx context.Context, x graph.Exec, layers []unpack.Layer, files []*wanted, tmp string, mode tarMode) ([]graph.Output, error) {
	byName := map[string]*wanted{}
	var top []string // the image's top-level names, for messages
	reset := func() error {
		for _, w := range files {
			w.found, w.out, w.path = false, graph.Output{}, ""
			byName[w.name] = w
		}
		top = top[:0]
		return nil
	}
	reset()
	drop := func(name string) bool {
		if !strings.Contains(name, "/") && len(top) < 100 {
			top = append(top, name)
		}
		return byName[name] == nil
	}
	emit := func(h *tar.Header, r io.Reader) error {
		w := byName[h.Name]
		if w == nil {
			return nil // a parent directory of a wanted file
		}
		w.found = true
		switch h.Typeflag {
		case tar.TypeReg:
		case tar.TypeLink:
			// A hard link to a wanted file that came earlier in sort order:
			// copy that file's content.
			target := byName[h.Linkname]
			if target.output == OutputTar && mode != tarCopy {
				return errLinkToTar
			}
			rc, err := o.open(ctx, x, target)
			if err != nil {
				return err
			}
			defer rc.Close()
			r = rc
		case tar.TypeSymlink:
			return fmt.Errorf("kernel %s: %s %q is a symlink to %q, not a regular file", o.Image, w.field, w.name, h.Linkname)
		default:
			return fmt.Errorf("kernel %s: %s %q is not a regular file", o.Image, w.field, w.name)
		}
		if w.output == OutputTar {
			if mode == tarCopy {
				w.path = filepath.Join(tmp, "kernel.tar.in")
				return copyToFile(w.path, r)
			}
			out, err := o.normalizeTar(ctx, x, w.name, r, tmp, mode == tarStream)
			w.out = out
			return err
		}
		mt := MediaTypeKernel
		if w.output == OutputUCode {
			mt = MediaTypeUCode
		}
		out, err := copyToBlob(ctx, x, r, w.output, mt)
		w.out = out
		return err
	}
	err := unpack.Flatten(ctx, layers, unpack.FlattenOptions{
		Image:           o.Image,
		SourceDateEpoch: o.SourceDateEpoch,
		TempDir:         tmp,
		Drop:            drop,
		Progress:        x.Progress,
		Restart:         reset,
	}, emit)
	if err != nil {
		return nil, err
	}
	slices.Sort(top)
	for _, w := range files {
		if !w.found {
			return nil, fmt.Errorf("kernel %s: the image has no %s %q; its top level holds: %s", o.Image, w.field, w.name, listing(top))
		}
	}
	var outs []graph.Output
	for _, w := range files {
		if w.output == OutputTar && mode == tarCopy {
			f, err := os.Open(w.path)
			if err != nil {
				return nil, err
			}
			out, err := o.normalizeTar(ctx, x, w.name, f, tmp, false)
			f.Close()
			if err != nil {
				return nil, err
			}
			w.out = out
		}
		outs = append(outs, w.out)
	}
	return outs, nil
}

// open opens the content extracted for w.
func (o Op) open(ctx context.Context, x graph.Exec, w *wanted) (io.ReadCloser, error) {
	if w.path != "" {
		return os.Open(w.path)
	}
	return x.Open(ctx, w.out.Digest)
}

func listing(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	s := strings.Join(names, ", ")
	if len(names) == 100 {
		s += ", …"
	}
	return s
}

func copyToFile(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyToBlob(ctx context.Context, x graph.Exec, r io.Reader, name, mediaType string) (graph.Output, error) {
	w, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return graph.Output{}, err
	}
	return w.Commit(name, mediaType, "")
}

// normalizeTar flattens the modules tar (name in the image, read from r)
// into the output kernel.tar. With stream, a sorted tar is not spooled; an
// unsorted one stops it with errTarUnsorted. Errors name the image and the
// file.
func (o Op) normalizeTar(ctx context.Context, x graph.Exec, name string, r io.Reader, tmp string, stream bool) (graph.Output, error) {
	used := false
	layer := unpack.Layer{
		Name: name,
		Open: func(context.Context) (io.ReadCloser, error) {
			if used {
				return nil, fmt.Errorf("kernel %s: %s read twice", o.Image, name)
			}
			used = true
			return io.NopCloser(r), nil
		},
	}
	w, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	tw := tarutil.NewWriter(w, o.SourceDateEpoch) // the blob buffers
	buf := make([]byte, 64<<10)
	opts := unpack.FlattenOptions{
		Image:           o.Image,
		SourceDateEpoch: o.SourceDateEpoch,
		TempDir:         tmp,
	}
	if stream {
		opts.Restart = func() error { return errTarUnsorted }
	}
	err = unpack.Flatten(ctx, []unpack.Layer{layer}, opts, func(h *tar.Header, r io.Reader) error {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if r != nil {
			_, err := io.CopyBuffer(tw, r, buf)
			return err
		}
		return nil
	})
	if err != nil {
		return graph.Output{}, err
	}
	if err := tw.Close(); err != nil {
		return graph.Output{}, err
	}
	return w.Commit(OutputTar, tarutil.MediaType, "")
}
