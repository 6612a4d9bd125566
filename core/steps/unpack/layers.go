package unpack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"

	"github.com/kitbuild/kit/core/graph"
)

// Layer is one tar archive to flatten. Layers are applied bottom first.
type Layer struct {
	// Name says which archive it is, in errors: "layer 2 (sha256:…)".
	Name string
	// Size is the size of the blob as stored, for progress (0: unknown).
	Size int64
	// Open opens the blob: a tar, plain or compressed with gzip or zstd
	// (recognized by their magic bytes).
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// maxManifestSize bounds the manifest read into memory.
const maxManifestSize = 4 << 20

// ImageLayers returns the layers of the result of a fetch step, bottom
// first: outputs "layer/0", "layer/1", … checked against the layers of the
// result's "manifest" (count, digests, and media types that are tar
// archives).
func ImageLayers(ctx context.Context, x graph.Exec, in graph.Result) ([]Layer, error) {
	mo, ok := in.Get("manifest")
	if !ok {
		return nil, fmt.Errorf("input has no manifest output")
	}
	rc, err := x.Open(ctx, mo.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if len(raw) > maxManifestSize {
		return nil, fmt.Errorf("manifest %s is larger than %d bytes", mo.Digest, maxManifestSize)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", mo.Digest, err)
	}
	if m.MediaType.IsIndex() {
		return nil, fmt.Errorf("manifest %s is an index (%s), not an image manifest", mo.Digest, m.MediaType)
	}
	var layers []Layer
	for i, desc := range m.Layers {
		o, ok := in.Get(fmt.Sprintf("layer/%d", i))
		if !ok {
			return nil, fmt.Errorf("input has no output layer/%d (the manifest lists %d layers)", i, len(m.Layers))
		}
		name := fmt.Sprintf("layer %d (%s)", i, o.Digest)
		if string(o.Digest) != desc.Digest.String() {
			return nil, fmt.Errorf("%s: the manifest lists %s for this layer", name, desc.Digest)
		}
		if mt := string(desc.MediaType); mt != "" && !strings.Contains(mt, "tar") {
			return nil, fmt.Errorf("%s: media type %s is not a filesystem layer", name, mt)
		}
		d := o.Digest
		layers = append(layers, Layer{
			Name: name,
			Size: o.Size,
			Open: func(ctx context.Context) (io.ReadCloser, error) { return x.Open(ctx, d) },
		})
	}
	if _, ok := in.Get(fmt.Sprintf("layer/%d", len(m.Layers))); ok {
		return nil, fmt.Errorf("input has more layer outputs than the %d layers of its manifest", len(m.Layers))
	}
	return layers, nil
}

// Read-ahead of gzip layers (gunzip): blocks of decompressed data in
// flight.
const (
	gzipBlockSize = 1 << 20
	gzipBlocks    = 4
)

// maxZstdWindow bounds the memory a zstd layer may make the decoder use.
const maxZstdWindow = 128 << 20

// decompress returns the tar stream held in r, decompressing gzip or zstd.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(10)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := newGunzip(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdReader{zr.IOReadCloser()}, nil
	case len(magic) == 10 && bytes.HasPrefix(magic, []byte("BZh")) && string(magic[4:]) == "1AY&SY":
		return nil, fmt.Errorf("bzip2-compressed layers are not supported")
	case bytes.HasPrefix(magic, []byte("\xfd7zXZ\x00")):
		return nil, fmt.Errorf("xz-compressed layers are not supported")
	}
	return io.NopCloser(br), nil
}

// zstdReader is what decompress returns for a zstd layer: its decoder
// holds a window of up to maxZstdWindow bytes.
type zstdReader struct{ io.ReadCloser }

// progressReader counts the bytes read through it into the progress of a
// flattener.
type progressReader struct {
	r  io.Reader
	fl *flattener
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.fl.progressed(int64(n), err == io.EOF)
	return n, err
}
