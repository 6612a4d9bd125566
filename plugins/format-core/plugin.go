package formatcore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/sdk"

	// The formats served are the built-in ones.
	_ "github.com/kitbuild/kit/core/format/builtin"
)

// Name is the plugin's name: its binary is kit-plugin-format-core.
const Name = "format-core"

// Version is the plugin's version.
const Version = "0.1.0"

// VersionPrefix starts each format's version, before the built-in
// format's own: the plugin's cache keys never equal the built-in's.
const VersionPrefix = "plugin-"

// spec is what the plugin declares of one built-in format besides what
// core/format says of it: its outputs' media types (the built-ins return
// them from Write only) and the host inputs it reads.
type spec struct {
	name  string
	media map[string]string // suffix → media type
	needs []string
}

var (
	rootfsOnly = []string{sdk.InputRootfs}
	boot       = []string{sdk.InputRootfs, sdk.InputKernel, sdk.InputCmdline, sdk.InputUcode}
)

var specs = []spec{
	{name: "tar", media: map[string]string{".tar": format.MediaTypeTar}, needs: rootfsOnly},
	{name: "docker", media: map[string]string{".docker": format.MediaTypeTar}, needs: rootfsOnly},
	{name: "kernel+initrd", media: map[string]string{
		"-kernel": format.MediaTypeBinary, "-initrd.img": format.MediaTypeBinary, "-cmdline": format.MediaTypeText,
	}, needs: boot},
	{name: "tar-kernel-initrd", media: map[string]string{"-initrd.tar": format.MediaTypeTar}, needs: boot},
}

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the four built-in formats as sdk.Formats. It panics when
// one is not registered, which is a programming mistake.
func Formats() []sdk.Format {
	out := make([]sdk.Format, 0, len(specs))
	for _, s := range specs {
		f, err := format.Get(s.name)
		if err != nil {
			panic(fmt.Sprintf("plugin %s: %v", Name, err))
		}
		out = append(out, Format{f: f, spec: s})
	}
	return out
}

// Format serves one core/format.Format over the plugin protocol.
type Format struct {
	f    format.Format
	spec spec
}

var _ sdk.Format = Format{}

// Info implements sdk.Format: the built-in's name and output suffixes, its
// version prefixed with VersionPrefix; no configuration.
func (c Format) Info() sdk.FormatInfo {
	outs := make([]sdk.Output, 0, len(c.f.Outputs()))
	for _, s := range c.f.Outputs() {
		outs = append(outs, sdk.Output{Suffix: s, MediaType: c.spec.media[s]})
	}
	return sdk.FormatInfo{
		Name:    c.f.Name(),
		Version: VersionPrefix + c.f.Version(),
		Outputs: outs,
		Needs:   append([]string(nil), c.spec.needs...),
	}
}

// Build implements sdk.Format: it runs the built-in's Write on a store
// over req.ScratchDir and returns its outputs as files there (an output
// that is an input renamed, as tar's rootfs, is copied in).
func (c Format) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	name := c.f.Name()
	x, err := newDirExec(filepath.Join(req.ScratchDir, "store"), req.Log)
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", name, err)
	}
	var in format.Input
	for _, i := range []struct {
		need string
		out  *graph.Output
	}{
		{sdk.InputRootfs, &in.Rootfs}, {sdk.InputKernel, &in.Kernel}, {sdk.InputCmdline, &in.Cmdline}, {sdk.InputUcode, &in.UCode},
	} {
		inp, ok := req.Inputs[i.need]
		if !ok {
			continue
		}
		o, err := input(i.need, inp)
		if err != nil {
			return nil, fmt.Errorf("format %s: %w", name, err)
		}
		x.addInput(o.Digest, inp.Path)
		*i.out = o
	}
	if !format.Has(in.Rootfs) {
		return nil, fmt.Errorf("format %s: no input %s", name, sdk.InputRootfs)
	}
	if !format.EmptyConfig(req.Config) {
		return nil, fmt.Errorf("format %s takes no configuration, got %s", name, req.Config)
	}
	outs, err := c.f.Write(ctx, x, in, format.Options{SourceDateEpoch: req.SourceDateEpoch, Arch: req.Arch})
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", name, err)
	}
	files := make([]sdk.File, 0, len(outs))
	for _, o := range outs {
		if want, ok := c.spec.media[o.Name]; !ok || want != o.MediaType {
			return nil, fmt.Errorf("format %s: output %q has media type %q, the plugin declares %q", name, o.Name, o.MediaType, want)
		}
		p, err := c.file(ctx, x, req.ScratchDir, o)
		if err != nil {
			return nil, fmt.Errorf("format %s: output %s: %w", name, o.Name, err)
		}
		files = append(files, sdk.File{Suffix: o.Name, Path: p})
	}
	return files, nil
}

// input returns the host's input file as a graph.Output.
func input(need string, in sdk.Input) (graph.Output, error) {
	d, err := graph.ParseDigest(in.Digest)
	if err != nil {
		return graph.Output{}, fmt.Errorf("input %s: %w", need, err)
	}
	fi, err := os.Stat(in.Path)
	if err != nil {
		return graph.Output{}, fmt.Errorf("input %s: %w", need, err)
	}
	if !fi.Mode().IsRegular() {
		return graph.Output{}, fmt.Errorf("input %s: %s is not a regular file", need, in.Path)
	}
	return graph.Output{Name: need, Digest: d, Size: fi.Size()}, nil
}

// file returns the path in scratch of output o: the blob Write made, or a
// copy of the input o renames (the host's inputs are read-only and
// outside scratch).
func (c Format) file(ctx context.Context, x *dirExec, scratch string, o graph.Output) (string, error) {
	if p, ok := x.written(o.Digest); ok {
		return p, nil
	}
	r, err := x.Open(ctx, o.Digest)
	if err != nil {
		return "", err
	}
	defer r.Close()
	p := filepath.Join(scratch, "out"+o.Name)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, format.ContextReader(ctx, r))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", o.Digest, err)
	}
	if n != o.Size {
		return "", fmt.Errorf("copy %s: %d bytes, expected %d", o.Digest, n, o.Size)
	}
	return p, nil
}
