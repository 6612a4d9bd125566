package steptest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kitbuild/kit/core/graph"
)

// Entry is one tar entry: a header and, for a regular file, its content
// (Header.Size is set from Data when writing).
type Entry struct {
	Header tar.Header
	Data   []byte
}

// MTime is the modification time the entry constructors use (2021-01-01).
var MTime = time.Unix(1609459200, 0)

// File returns a regular file entry.
func File(name, data string, mode int64) Entry {
	return Entry{Header: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, ModTime: MTime}, Data: []byte(data)}
}

// Dir returns a directory entry.
func Dir(name string, mode int64) Entry {
	return Entry{Header: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode, ModTime: MTime}}
}

// Symlink returns a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: MTime}}
}

// Hardlink returns a hard link entry.
func Hardlink(name, target string) Entry {
	return Entry{Header: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644, ModTime: MTime}}
}

// Whiteout returns the OCI whiteout entry that deletes name ("a/b" →
// "a/.wh.b").
func Whiteout(name string) Entry {
	dir, base := path.Split(name)
	return Entry{Header: tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg, ModTime: MTime}}
}

// Opaque returns the OCI entry that makes dir opaque.
func Opaque(dir string) Entry {
	return Entry{Header: tar.Header{Name: path.Join(dir, ".wh..wh..opq"), Typeflag: tar.TypeReg, ModTime: MTime}}
}

// Tar writes entries, in the order given and otherwise as given, into an
// uncompressed tar.
func Tar(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			tb.Fatalf("tar entry %q: %v", h.Name, err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Layer returns a gzip-compressed layer holding entries.
func Layer(tb testing.TB, entries ...Entry) v1.Layer {
	tb.Helper()
	b := Tar(tb, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithCompressedCaching, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// RawLayer returns a layer whose blob is exactly data, with media type mt
// (use it for uncompressed, zstd or malformed layers).
func RawLayer(data []byte, mt types.MediaType) v1.Layer {
	return static.NewLayer(data, mt)
}

// Image returns an OCI image made of layers, bottom first.
func Image(tb testing.TB, layers ...v1.Layer) v1.Image {
	tb.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// Fetch stores img in x as the fetch step does and returns its result:
// outputs "manifest", "config" and "layer/0", "layer/1", … (compressed, as
// served). The result's key is the manifest digest.
func Fetch(tb testing.TB, x *Exec, img v1.Image) graph.Result {
	tb.Helper()
	res, err := FetchImage(context.Background(), x, img)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// FetchImage is Fetch for callers without a testing.TB (benchmarks that
// build their inputs once, fuzz setup).
func FetchImage(ctx context.Context, x graph.Exec, img v1.Image) (graph.Result, error) {
	put := func(name, mt string, r io.Reader, want graph.Digest) (graph.Output, error) {
		w, err := x.Create(ctx)
		if err != nil {
			return graph.Output{}, err
		}
		defer w.Close()
		if _, err := io.Copy(w, r); err != nil {
			return graph.Output{}, fmt.Errorf("%s: %w", name, err)
		}
		return w.Commit(name, mt, want)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return graph.Result{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return graph.Result{}, err
	}
	m, err := put("manifest", string(mt), bytes.NewReader(raw), "")
	if err != nil {
		return graph.Result{}, err
	}
	res := graph.Result{Key: m.Digest, Outputs: []graph.Output{m}}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return graph.Result{}, err
	}
	mf, err := img.Manifest()
	if err != nil {
		return graph.Result{}, err
	}
	c, err := put("config", string(mf.Config.MediaType), bytes.NewReader(cfg), "")
	if err != nil {
		return graph.Result{}, err
	}
	res.Outputs = append(res.Outputs, c)
	layers, err := img.Layers()
	if err != nil {
		return graph.Result{}, err
	}
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return graph.Result{}, err
		}
		lmt, err := l.MediaType()
		if err != nil {
			return graph.Result{}, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return graph.Result{}, err
		}
		o, err := put(fmt.Sprintf("layer/%d", i), string(lmt), rc, graph.Digest(d.String()))
		rc.Close()
		if err != nil {
			return graph.Result{}, err
		}
		res.Outputs = append(res.Outputs, o)
	}
	return res, nil
}

// Entries reads a tar output back into entries (headers as read, content of
// regular files in Data).
func Entries(tb testing.TB, x *Exec, o graph.Output) []Entry {
	tb.Helper()
	tr := tar.NewReader(bytes.NewReader(x.Read(o)))
	var out []Entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("%s: %v", o.Name, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, Entry{Header: *h, Data: data})
	}
}
