package pkg

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
)

// Outputs of the image step.
const (
	ManifestName = "manifest"
	ConfigName   = "config"
)

// gzipLevel is the fixed compression level of layers: the same tar always
// compresses to the same bytes with the same klauspost/compress version.
const gzipLevel = gzip.BestSpeed

// ImageOp is the "pkg-image" step: it compresses its inputs' LayerName tars
// (gzip, fixed level, no name or time in the header) as the image's layers,
// in input order, and writes an OCI image config and manifest whose times are
// the epoch. Outputs: "layer/0"…, ConfigName, ManifestName.
type ImageOp struct {
	Config Config
	// History describes each layer (one per input), e.g. "debian: redis-server".
	History []string
	// Arch is the GOARCH of the image platform.
	Arch  string
	Epoch int64
}

// Kind returns KindImage.
func (ImageOp) Kind() string { return KindImage }

// Version returns the implementation version.
func (ImageOp) Version() string { return "1" }

// Params returns the image config, the layer descriptions, the platform and
// the epoch.
func (o ImageOp) Params() ([]byte, error) {
	c, err := o.imageConfig()
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Config  ocispec.ImageConfig `json:"config"`
		History []string            `json:"history"`
		Arch    string              `json:"arch"`
		Epoch   int64               `json:"sourceDateEpoch"`
		Gzip    int                 `json:"gzipLevel"`
	}{c, o.History, o.Arch, o.Epoch, gzipLevel})
}

func (o ImageOp) imageConfig() (ocispec.ImageConfig, error) {
	c := ocispec.ImageConfig{
		Entrypoint: o.Config.Entrypoint,
		Cmd:        o.Config.Cmd,
		Env:        o.Config.Env,
		WorkingDir: o.Config.Workdir,
		User:       o.Config.User,
	}
	if len(o.Config.Labels) > 0 || o.Config.Moby != nil {
		c.Labels = map[string]string{}
		for k, v := range o.Config.Labels {
			c.Labels[k] = v
		}
		if o.Config.Moby != nil {
			if _, err := spec.DecodeLabel(o.Config.Moby, spec.LabelKey); err != nil {
				return c, err
			}
			c.Labels[spec.LabelKey] = string(o.Config.Moby)
		}
	}
	return c, nil
}

// Exec compresses the layers and writes config and manifest.
func (o ImageOp) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if len(inputs) != len(o.History) {
		return nil, fmt.Errorf("pkg-image: %d inputs for %d layers", len(inputs), len(o.History))
	}
	cfg, err := o.imageConfig()
	if err != nil {
		return nil, fmt.Errorf("pkg-image: %w", err)
	}
	created := time.Unix(o.Epoch, 0).UTC()
	img := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: o.Arch, OS: "linux"},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
	}
	var outs []graph.Output
	var layers []ocispec.Descriptor
	for i, in := range inputs {
		l, ok := in.Get(LayerName)
		if !ok {
			return nil, fmt.Errorf("pkg-image: input %d has no %s", i, LayerName)
		}
		out, diffID, err := compressLayer(ctx, x, l, fmt.Sprintf("layer/%d", i))
		if err != nil {
			return nil, fmt.Errorf("pkg-image: layer %d (%s): %w", i, o.History[i], err)
		}
		outs = append(outs, out)
		layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.Digest(out.Digest), Size: out.Size})
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, diffID)
		img.History = append(img.History, ocispec.History{Created: &created, CreatedBy: "kit pkg build: " + o.History[i]})
	}
	cb, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}
	cout, err := commitBytes(ctx, x, cb, ConfigName, ocispec.MediaTypeImageConfig)
	if err != nil {
		return nil, err
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.Digest(cout.Digest), Size: cout.Size},
		Layers:    layers,
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mout, err := commitBytes(ctx, x, mb, ManifestName, ocispec.MediaTypeImageManifest)
	if err != nil {
		return nil, err
	}
	return append(outs, cout, mout), nil
}

func commitBytes(ctx context.Context, x graph.Exec, b []byte, name, mediaType string) (graph.Output, error) {
	w, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return graph.Output{}, err
	}
	return w.Commit(name, mediaType, "")
}

// compressLayer gzips the tar l into a new blob named name and returns it
// with the tar's digest (the layer's diff ID).
func compressLayer(ctx context.Context, x graph.Exec, l graph.Output, name string) (graph.Output, digest.Digest, error) {
	rc, err := x.Open(ctx, l.Digest)
	if err != nil {
		return graph.Output{}, "", err
	}
	defer rc.Close()
	w, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, "", err
	}
	defer w.Close()
	bw := bufio.NewWriterSize(w, 1<<16)
	zw, err := gzip.NewWriterLevel(bw, gzipLevel)
	if err != nil {
		return graph.Output{}, "", err
	}
	h := sha256.New()
	if _, err := io.Copy(zw, io.TeeReader(rc, h)); err != nil {
		return graph.Output{}, "", err
	}
	if err := zw.Close(); err != nil {
		return graph.Output{}, "", err
	}
	if err := bw.Flush(); err != nil {
		return graph.Output{}, "", err
	}
	out, err := w.Commit(name, ocispec.MediaTypeImageLayerGzip, "")
	if err != nil {
		return graph.Output{}, "", err
	}
	return out, digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))), nil
}
