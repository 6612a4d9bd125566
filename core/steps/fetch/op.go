package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/graph"
)

// Kind is the step kind of Op.
const Kind = "fetch"

// opVersion changes whenever Exec's outputs change for the same params.
const opVersion = "1"

// Op is the fetch step: it makes the manifest, config and layers of one
// image manifest present in the store and returns them as the outputs
// "manifest", "config", "layer/0", "layer/1", … (blobs as served, with the
// manifest's media types). Blobs already in the store are not downloaded
// again; every downloaded blob is verified while it streams into the store.
type Op struct {
	ref       string // canonical reference, for messages
	repo      name.Repository
	manifest  graph.Digest
	mediaType string
	client    *client
	jobs      int
	size      int64 // the layers' and the config's, for Weight
}

var (
	_ graph.Op         = (*Op)(nil)
	_ graph.WeightedOp = (*Op)(nil)
)

// Op returns the fetch step for a resolved image.
func (r *Resolver) Op(img *Image) (*Op, error) {
	if r.cerr != nil {
		return nil, fmt.Errorf("fetch %s: %w", img.Ref, r.cerr)
	}
	repo, err := name.NewRepository(img.Repository)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", img.Ref, err)
	}
	op := &Op{ref: img.Ref, repo: repo, manifest: img.Digest, mediaType: img.MediaType, client: r.client, jobs: r.opts.jobs()}
	for _, l := range img.Layers {
		op.size += max(0, l.Size)
	}
	if img.Manifest != nil {
		op.size += max(0, img.Manifest.Config.Size)
	}
	return op, nil
}

// Weight is the size of the blobs the image is made of (graph.WeightedOp):
// the engine starts the largest downloads, and what unpacks them, first.
func (o *Op) Weight() int64 { return o.size }

// Kind returns "fetch".
func (o *Op) Kind() string { return Kind }

// Version returns the implementation version.
func (o *Op) Version() string { return opVersion }

// Params returns {"repository": …, "manifest": …}: what is fetched. The
// tag, mirrors and credentials do not change the result and stay out.
func (o *Op) Params() ([]byte, error) {
	return json.Marshal(struct {
		Repository string       `json:"repository"`
		Manifest   graph.Digest `json:"manifest"`
	}{o.repo.Name(), o.manifest})
}

// UsesNetwork reports that the step mostly waits for registries
// (graph.NetworkOp).
func (o *Op) UsesNetwork() bool { return true }

// Name returns a vertex name for the step: "fetch repository@digest".
func (o *Op) Name() string { return "fetch " + o.repo.Name() + "@" + string(o.manifest) }

// Exec makes every blob of the image present and returns the outputs.
func (o *Op) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	subject := "fetch " + o.ref
	mraw, mout, err := o.manifestBlob(ctx, x, subject)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(mraw))
	if err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", subject, o.manifest, err)
	}
	descs := append([]v1.Descriptor{m.Config}, m.Layers...)
	outs := make([]graph.Output, len(descs))
	var total int64
	for _, d := range descs {
		total += d.Size
	}
	var done atomic.Int64
	var pmu sync.Mutex
	progress := func(n int64) {
		pmu.Lock()
		defer pmu.Unlock()
		x.Progress(done.Add(n), total)
	}

	var fetch []int // the blobs to download
	for i, desc := range descs {
		outName := "config"
		if i > 0 {
			outName = fmt.Sprintf("layer/%d", i-1)
		}
		d, err := graph.ParseDigest(desc.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", subject, outName, err)
		}
		outs[i] = graph.Output{Name: outName, Digest: d, Size: desc.Size, MediaType: string(desc.MediaType)}
		if present(x, d) {
			progress(desc.Size)
			continue
		}
		fetch = append(fetch, i)
	}
	// The steps after this one may start on the blobs while they download
	// (see graph.Announcer).
	if a, ok := x.(graph.Announcer); ok && len(fetch) > 0 {
		if err := a.Announce(append([]graph.Output{mout}, outs...)); err != nil {
			return nil, fmt.Errorf("%s: %w", subject, err)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for _, i := range fetch {
		out := outs[i]
		g.Go(func() error {
			what := subject + " " + out.Name + " " + string(out.Digest)
			got, err := o.download(gctx, x, out, what, progress)
			outs[i] = got
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return append([]graph.Output{mout}, outs...), nil
}

// manifestBlob returns the manifest from the store, or fetches and stores
// it by digest.
func (o *Op) manifestBlob(ctx context.Context, x graph.Exec, subject string) ([]byte, graph.Output, error) {
	out := graph.Output{Name: "manifest", Digest: o.manifest, MediaType: o.mediaType}
	if rc, err := x.Open(ctx, o.manifest); err == nil {
		b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
		rc.Close()
		if err == nil && len(b) <= maxManifestSize && graph.FromBytes(b) == o.manifest {
			out.Size = int64(len(b))
			if out.MediaType == "" {
				out.MediaType, _ = sniff(b, "")
			}
			return b, out, nil
		}
	}
	raw, _, mt, err := o.client.manifest(ctx, o.repo.Digest(string(o.manifest)), subject)
	if err != nil {
		return nil, out, err
	}
	if out.MediaType == "" {
		out.MediaType = mt
	}
	w, err := x.Create(ctx)
	if err != nil {
		return nil, out, fmt.Errorf("%s: %w", subject, err)
	}
	defer w.Close()
	if _, err := w.Write(raw); err != nil {
		return nil, out, fmt.Errorf("%s: %w", subject, err)
	}
	if out, err = w.Commit("manifest", out.MediaType, o.manifest); err != nil {
		return nil, out, fmt.Errorf("%s: %w", subject, err)
	}
	return raw, out, nil
}

// download streams one blob into the store. On any failure, including a
// digest mismatch, nothing is committed.
func (o *Op) download(ctx context.Context, x graph.Exec, out graph.Output, subject string, progress func(int64)) (graph.Output, error) {
	var w graph.BlobWriter
	var written int64
	discard := func() {
		if w != nil {
			w.Close()
			w = nil
		}
		progress(-written)
		written = 0
	}
	err := o.client.blob(ctx, o.repo, out.Digest, out.Size, subject,
		func() (io.Writer, error) {
			bw, err := x.Create(ctx)
			if err != nil {
				return nil, err
			}
			// client.blob reads through go-containerregistry's verifying
			// reader to its end and fails on a mismatch: a second hash in
			// the store would only repeat it.
			if tw, ok := bw.(graph.TrustingWriter); ok {
				tw.TrustDigest()
			}
			// Steps that stream their inputs read it as it comes.
			if sw, ok := bw.(graph.StreamingWriter); ok {
				sw.StreamAs(out.Digest)
			}
			w = bw
			return &progressWriter{w: bw, add: func(n int64) {
				written += n
				progress(n)
			}}, nil
		}, discard)
	if err != nil {
		discard()
		return out, err
	}
	defer w.Close()
	got, err := w.Commit(out.Name, out.MediaType, out.Digest)
	if err != nil {
		return out, fmt.Errorf("%s: %w", subject, err)
	}
	return got, nil
}

// present reports whether the store holds d.
func present(x graph.Exec, d graph.Digest) bool {
	_, err := x.Path(d)
	return err == nil
}

// progressWriter counts what goes to w, and passes io.Copy's ReadFrom on
// to it (the store reads a download straight into its buffers).
type progressWriter struct {
	w   io.Writer
	add func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.add(int64(n))
	return n, err
}

func (p *progressWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := p.w.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{p}, r)
	}
	return rf.ReadFrom(&progressReader{r: r, add: p.add})
}

type progressReader struct {
	r   io.Reader
	add func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.add(int64(n))
	return n, err
}
