package unpack

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Kind is the step kind of Op.
const Kind = "unpack"

// Version is the implementation version of Op.
const Version = "1"

// Output is the name of Op's only output.
const Output = "rootfs.tar"

// Op flattens the image fetched by its only input into one normalized tar
// (output "rootfs.tar"), rewritten for Mode.
//
// SOURCE_DATE_EPOCH is an Op field (and a param), as in the other built-in
// steps: the planner copies graph.Env.SourceDateEpoch into it, and the key
// holds it twice, which costs nothing and keeps Params self-describing.
//
// The rewriting follows linuxkit (src/cmd/linuxkit/moby/build/image.go) with
// these deviations: the dropped names (.dockerenv, Dockerfile, dev/console
// except in Init mode, dev/pts, dev/shm, etc/hostname) are dropped with
// everything below them; etc/hosts and etc/resolv.conf are always replaced by
// fresh entries (0644, owner 0:0, not the image's mode and owner); symlinks
// kit adds have mode 0777; every added entry has mtime SOURCE_DATE_EPOCH; and
// an image whose dev or etc is not a directory is refused, since entries are
// added below them. Init and Volume modes make etc/resolv.conf a symlink to
// /run/resolvconf/resolv.conf; only Init keeps dev/console.
type Op struct {
	// Mode selects the rewriting.
	Mode Mode
	// Image is the image reference, for messages only (not in Params).
	Image string
	// SourceDateEpoch clamps every time in the output.
	SourceDateEpoch int64
}

var _ graph.Op = Op{}

// Kind returns "unpack".
func (Op) Kind() string { return Kind }

// Version returns the implementation version.
func (Op) Version() string { return Version }

type params struct {
	Mode            Mode  `json:"mode"`
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
}

// Params returns {"mode":…,"sourceDateEpoch":…}.
func (o Op) Params() ([]byte, error) {
	return json.Marshal(params{Mode: o.Mode, SourceDateEpoch: o.SourceDateEpoch})
}

// Exec flattens the image of inputs[0], the result of a fetch step.
func (o Op) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("unpack %s: want 1 input (a fetched image), have %d", o.Image, len(inputs))
	}
	if _, err := o.Mode.MarshalText(); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", o.Image, err)
	}
	layers, err := ImageLayers(ctx, x, inputs[0])
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", o.Image, err)
	}
	tmp, err := x.TempDir()
	if err != nil {
		return nil, err
	}
	// A fresh blob for every attempt: Flatten may start over (see
	// FlattenOptions.Restart).
	var w graph.BlobWriter
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	create := func() (io.Writer, error) {
		if w != nil {
			w.Close()
		}
		// The blob buffers: no bufio needed.
		if w, err = x.Create(ctx); err != nil {
			return nil, err
		}
		return w, nil
	}
	if err := o.write(ctx, create, layers, tmp, x.Progress); err != nil {
		return nil, err
	}
	out, err := w.Commit(Output, tarutil.MediaType, "")
	if err != nil {
		return nil, err
	}
	return []graph.Output{out}, nil
}

// write flattens layers as a normalized tar rewritten for o.Mode into a
// writer from create, which it calls again (for a fresh writer) whenever
// Flatten starts over.
func (o Op) write(ctx context.Context, create func() (io.Writer, error), layers []Layer, tmp string, progress func(done, total int64)) error {
	r := modeRules(o.Mode)
	epoch := time.Unix(o.SourceDateEpoch, 0).UTC()
	var tw *tarutil.Writer
	var next int
	start := func() error {
		w, err := create()
		if err != nil {
			return err
		}
		tw, next = tarutil.NewWriter(w, o.SourceDateEpoch), 0
		return nil
	}
	if err := start(); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	add := func(s synthetic) error {
		h := s.h
		h.ModTime = epoch
		h.Size = int64(len(s.data))
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
		_, err := io.WriteString(tw, s.data)
		return err
	}
	emit := func(h *tar.Header, content io.Reader) error {
		for next < len(r.add) && r.add[next].h.Name < h.Name {
			if err := add(r.add[next]); err != nil {
				return err
			}
			next++
		}
		if next < len(r.add) && r.add[next].h.Name == h.Name {
			next++ // a touched name the image has: the image's entry stays
		}
		if r.dirs[h.Name] && h.Typeflag != tar.TypeDir {
			return &EntryError{Image: o.Image, Layer: "flattened image", Entry: h.Name,
				Err: fmt.Errorf("%w: kit adds entries below %s in %s mode", ErrNotDir, h.Name, o.Mode)}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", o.Image, err)
		}
		if content != nil {
			if _, err := io.CopyBuffer(tw, content, buf); err != nil {
				return fmt.Errorf("%s: entry %q: %w", o.Image, h.Name, err)
			}
		}
		return nil
	}
	err := Flatten(ctx, layers, FlattenOptions{
		Image:           o.Image,
		SourceDateEpoch: o.SourceDateEpoch,
		TempDir:         tmp,
		Drop:            r.dropName,
		Progress:        progress,
		Restart:         start,
	}, emit)
	if err != nil {
		return err
	}
	for ; next < len(r.add); next++ {
		if err := add(r.add[next]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// StreamsInputs reports that Op may start on an image still being fetched
// (graph.StreamingOp): it reads the layers through Exec.Open, in order.
func (Op) StreamsInputs() bool { return true }
