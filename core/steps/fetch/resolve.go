package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/graph"
)

// MobyConfigLabel is the image label holding LinuxKit's per-image defaults
// for image entries (a JSON object).
const MobyConfigLabel = "org.mobyproject.config"

const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 32 << 20
)

// Blobs is what the resolver needs of the content-addressed store;
// core/cache.Store implements it.
type Blobs interface {
	// Has reports whether the blob is present (and verified).
	Has(d graph.Digest) bool
	// Open opens a present blob.
	Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error)
	// Create starts a new blob (see graph.BlobWriter).
	Create(ctx context.Context) (graph.BlobWriter, error)
}

// ImageRecorder is implemented by stores that keep a reference → manifest
// index (for export as an OCI layout); the resolver reports every image it
// resolves to it.
type ImageRecorder interface {
	AddImage(ref string, d graph.Digest, mediaType string) error
}

// Image is a resolved image: one manifest for one platform, with its parsed
// manifest and config. The manifest, the config and the index (if any) are
// in the blob store. An Image is shared and must not be modified.
type Image struct {
	// Ref is the canonical reference ("index.docker.io/library/redis:7").
	Ref string
	// Repository is the canonical repository ("index.docker.io/library/redis").
	Repository string
	// Digest is the digest of the manifest for Platform.
	Digest graph.Digest
	// MediaType is the manifest's media type.
	MediaType string
	// Index is the digest of the index the manifest was chosen from, or ""
	// when the reference named a manifest.
	Index graph.Digest
	// Platform is the platform of the manifest.
	Platform v1.Platform
	// Manifest is the parsed manifest.
	Manifest *v1.Manifest
	// Config is the parsed image config (Env, Cmd, Entrypoint, WorkingDir,
	// Labels, ...).
	Config *v1.ConfigFile
	// Layers are the manifest's layer descriptors, base layer first.
	Layers []v1.Descriptor
}

// DigestRef returns "repository@digest" for the platform manifest.
func (i *Image) DigestRef() string { return i.Repository + "@" + string(i.Digest) }

// ConfigDigest returns the digest of the image config blob.
func (i *Image) ConfigDigest() graph.Digest { return graph.Digest(i.Manifest.Config.Digest.String()) }

// Label returns an image config label.
func (i *Image) Label(key string) (string, bool) {
	if i.Config == nil {
		return "", false
	}
	v, ok := i.Config.Config.Labels[key]
	return v, ok
}

// MobyConfig returns the org.mobyproject.config label, or nil when the
// image has none.
func (i *Image) MobyConfig() []byte {
	v, ok := i.Label(MobyConfigLabel)
	if !ok {
		return nil
	}
	return []byte(v)
}

// Resolver resolves image references to manifests, consulting and updating
// a lock, and keeps manifests, indexes and configs in the blob store. A
// locked reference whose blobs are stored resolves without any registry
// request. It is safe for concurrent use; concurrent resolves of the same
// reference share one lookup.
type Resolver struct {
	blobs  Blobs
	lock   *Lock
	opts   Options
	client *client
	cerr   error

	mu      sync.Mutex
	done    map[string]*Image
	flights map[string]*flight
}

// NewResolver returns a resolver over blobs and lock (nil: an empty lock,
// see Lock()). Invalid options are reported by every Resolve (check them
// early with Options.Validate).
func NewResolver(blobs Blobs, lock *Lock, opts Options) *Resolver {
	if lock == nil {
		lock = NewLock()
	}
	c, err := newClient(opts)
	return &Resolver{blobs: blobs, lock: lock, opts: opts, client: c, cerr: err,
		done: map[string]*Image{}, flights: map[string]*flight{}}
}

// Derive returns a resolver over r's blobs and r's registry connections
// (credentials, tokens and pings are shared with r, and with every resolver
// derived from it) that consults and records into lock (nil: an empty lock)
// with opts' Pull and Frozen; r's other options stay. A session that
// resolves several systems derives their resolvers from one, so that a
// repository is authenticated once, not once per system and again by
// each fetch.
func (r *Resolver) Derive(lock *Lock, pull, frozen bool) *Resolver {
	if lock == nil {
		lock = NewLock()
	}
	opts := r.opts
	opts.Pull, opts.Frozen = pull, frozen
	return &Resolver{blobs: r.blobs, lock: lock, opts: opts, client: r.client, cerr: r.cerr,
		done: map[string]*Image{}, flights: map[string]*flight{}}
}

// Lock returns the lock the resolver reads and records into.
func (r *Resolver) Lock() *Lock { return r.lock }

// Resolve resolves ref for the target platform of the options.
func (r *Resolver) Resolve(ctx context.Context, ref string) (*Image, error) {
	return r.ResolvePlatform(ctx, ref, r.opts.Platform)
}

// ResolveAll resolves refs in parallel (Options.Jobs at a time) and returns
// the images in the same order; the first error cancels the rest.
func (r *Resolver) ResolveAll(ctx context.Context, refs []string) ([]*Image, error) {
	out := make([]*Image, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.jobs())
	for i, ref := range refs {
		g.Go(func() error {
			img, err := r.Resolve(gctx, ref)
			out[i] = img
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// ResolvePlatform resolves ref for platform p (zero fields default to
// linux/amd64).
func (r *Resolver) ResolvePlatform(ctx context.Context, ref string, p v1.Platform) (*Image, error) {
	if r.cerr != nil {
		return nil, fmt.Errorf("resolve %s: %w", ref, r.cerr)
	}
	nref, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	p = withDefaults(p)
	key := nref.Name() + " " + p.String()
	r.mu.Lock()
	img, ok := r.done[key]
	r.mu.Unlock()
	if ok {
		return img, nil
	}
	img, err = r.shared(ctx, key, func(ctx context.Context) (*Image, error) {
		return r.resolve(ctx, nref, p)
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.done[key] = img
	r.mu.Unlock()
	return img, nil
}

// flight is one resolve shared by every caller asking for the same
// reference and platform. It runs on its own context, cancelled only when
// every caller has gone, so one caller's cancellation does not fail the
// others.
type flight struct {
	done    chan struct{}
	img     *Image
	err     error
	waiters int
	cancel  context.CancelFunc
}

func (r *Resolver) shared(ctx context.Context, key string, fn func(context.Context) (*Image, error)) (*Image, error) {
	r.mu.Lock()
	f, ok := r.flights[key]
	if !ok {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		r.flights[key] = f
		go func() {
			defer close(f.done)
			f.img, f.err = fn(fctx)
			cancel()
			r.mu.Lock()
			if r.flights[key] == f {
				delete(r.flights, key)
			}
			r.mu.Unlock()
		}()
	}
	f.waiters++
	r.mu.Unlock()
	select {
	case <-f.done:
		return f.img, f.err
	case <-ctx.Done():
		r.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			if r.flights[key] == f {
				delete(r.flights, key)
			}
		}
		r.mu.Unlock()
		return nil, fmt.Errorf("resolve %s: %w", strings.SplitN(key, " ", 2)[0], context.Cause(ctx))
	}
}

func (r *Resolver) resolve(ctx context.Context, ref name.Reference, p v1.Platform) (*Image, error) {
	canon := ref.Name()
	repo := ref.Context()
	subject := "resolve " + canon

	var (
		top      graph.Digest
		topRaw   []byte
		topMT    string
		locked   LockEntry
		isLocked bool
		_, isTag = ref.(name.Tag)
	)
	if dr, ok := ref.(name.Digest); ok {
		d, err := graph.ParseDigest(dr.DigestStr())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", subject, err)
		}
		top = d
	} else if !r.opts.Pull {
		locked, isLocked = r.lock.Get(canon)
		if isLocked {
			top, topMT = locked.Digest, locked.MediaType
		} else if r.opts.Frozen {
			return nil, fmt.Errorf("%s: %w (run with --update-lock)", subject, ErrNotLocked)
		}
	}
	var err error
	if top == "" {
		// Ask the registry what the tag points at now.
		topRaw, top, topMT, err = r.client.manifest(ctx, ref, subject)
		if err != nil {
			return nil, err
		}
		if !r.blobs.Has(top) {
			if err := r.put(ctx, topRaw, "manifest", topMT, top); err != nil {
				return nil, fmt.Errorf("%s: %w", subject, err)
			}
		}
	} else if topRaw, topMT, err = r.manifestBlob(ctx, repo, top, topMT, subject); err != nil {
		return nil, err
	}

	img := &Image{Ref: canon, Repository: repo.Name()}
	kind, err := sniff(topRaw, topMT)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", subject, top, err)
	}
	topMT = kind
	mraw, mmt := topRaw, topMT
	if isIndex(kind) {
		img.Index = top
		md, ok := locked.Platforms[p.String()]
		var desc *v1.Descriptor
		if !ok {
			if desc, err = selectPlatform(topRaw, p); err != nil {
				return nil, fmt.Errorf("%s: %w", subject, err)
			}
			md = graph.Digest(desc.Digest.String())
			mmt = string(desc.MediaType)
		} else {
			mmt = "" // read from the manifest itself
		}
		if mraw, mmt, err = r.manifestBlob(ctx, repo, md, mmt, subject); err != nil {
			return nil, err
		}
		if mmt, err = sniff(mraw, mmt); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", subject, md, err)
		}
		if isIndex(mmt) {
			return nil, fmt.Errorf("%s: %s: %w: nested index", subject, md, ErrUnsupported)
		}
		img.Digest = md
		if desc != nil && desc.Platform != nil {
			img.Platform = *desc.Platform
		}
	} else {
		img.Digest = top
	}
	img.MediaType = mmt

	m, err := v1.ParseManifest(bytes.NewReader(mraw))
	if err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", subject, img.Digest, err)
	}
	if m.Config.Digest.Hex == "" {
		return nil, fmt.Errorf("%s: manifest %s has no config: %w", subject, img.Digest, ErrUnsupported)
	}
	img.Manifest, img.Layers = m, m.Layers
	cd, err := graph.ParseDigest(m.Config.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", subject, err)
	}
	craw, err := r.blob(ctx, repo, cd, m.Config.Size, string(m.Config.MediaType), "config", subject+" config "+string(cd))
	if err != nil {
		return nil, err
	}
	if img.Config, err = v1.ParseConfigFile(bytes.NewReader(craw)); err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", subject, cd, err)
	}
	cp := v1.Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}
	if img.Index == "" {
		if cp.OS != "" && cp.Architecture != "" && !platformMatches(p, &cp) {
			return nil, fmt.Errorf("%s: %w: the image is for %s, the target is %s", subject, ErrPlatform, cp, p)
		}
		img.Platform = cp
	}
	if img.Platform.OS == "" {
		img.Platform = p
		if cp.OS != "" && cp.Architecture != "" {
			img.Platform = cp
		}
	}

	if isTag {
		manifest := graph.Digest("")
		if img.Index != "" {
			manifest = img.Digest
		}
		r.lock.Record(canon, top, topMT, p.String(), manifest)
	}
	if rec, ok := r.blobs.(ImageRecorder); ok {
		if err := rec.AddImage(canon, img.Digest, img.MediaType); err != nil {
			return nil, fmt.Errorf("%s: %w", subject, err)
		}
	}
	return img, nil
}

// manifestBlob returns a manifest or index from the store, fetching it by
// digest (and storing it) when missing.
func (r *Resolver) manifestBlob(ctx context.Context, repo name.Repository, d graph.Digest, mediaType, subject string) ([]byte, string, error) {
	if b, ok, err := r.stored(ctx, d, maxManifestSize); err != nil {
		return nil, "", fmt.Errorf("%s: %w", subject, err)
	} else if ok {
		return b, mediaType, nil
	}
	raw, _, mt, err := r.client.manifest(ctx, repo.Digest(string(d)), subject)
	if err != nil {
		return nil, "", err
	}
	if err := r.put(ctx, raw, "manifest", mt, d); err != nil {
		return nil, "", fmt.Errorf("%s: %w", subject, err)
	}
	return raw, mt, nil
}

// blob returns a small blob from the store, fetching it (and storing it)
// when missing.
func (r *Resolver) blob(ctx context.Context, repo name.Repository, d graph.Digest, size int64, mediaType, outName, subject string) ([]byte, error) {
	if b, ok, err := r.stored(ctx, d, maxConfigSize); err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	} else if ok {
		return b, nil
	}
	b, err := r.client.readBlob(ctx, repo, d, size, maxConfigSize, subject)
	if err != nil {
		return nil, err
	}
	if err := r.put(ctx, b, outName, mediaType, d); err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	return b, nil
}

// stored reads a blob from the store when present, checking its digest.
func (r *Resolver) stored(ctx context.Context, d graph.Digest, max int64) ([]byte, bool, error) {
	if !r.blobs.Has(d) {
		return nil, false, nil
	}
	rc, err := r.blobs.Open(ctx, d)
	if err != nil {
		return nil, false, fmt.Errorf("blob store: %s: %w", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, false, fmt.Errorf("blob store: %s: %w", d, err)
	}
	if int64(len(b)) > max {
		return nil, false, fmt.Errorf("blob store: %s is larger than %d bytes", d, max)
	}
	if got := graph.FromBytes(b); got != d {
		return nil, false, fmt.Errorf("blob store: %s holds %s: %w", d, got, ErrDigestMismatch)
	}
	return b, true, nil
}

// put stores b in the blob store, verified against want.
func (r *Resolver) put(ctx context.Context, b []byte, outName, mediaType string, want graph.Digest) error {
	w, err := r.blobs.Create(ctx)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	if _, err := w.Commit(outName, mediaType, want); err != nil {
		return fmt.Errorf("blob store: %s: %w", want, err)
	}
	return nil
}

// sniff returns the media type of a manifest or index: the declared one,
// else the one its content implies.
func sniff(raw []byte, declared string) (string, error) {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", fmt.Errorf("%w: not JSON: %w", ErrUnsupported, err)
	}
	mt := probe.MediaType
	if mt == "" {
		mt = declared
	}
	if mt == "" || mt == "application/json" || mt == "text/plain" {
		switch {
		case probe.Manifests != nil:
			mt = string(types.OCIImageIndex)
		case probe.Config != nil:
			mt = string(types.OCIManifestSchema1)
		}
	}
	switch types.MediaType(mt) {
	case types.OCIImageIndex, types.DockerManifestList, types.OCIManifestSchema1, types.DockerManifestSchema2:
		return mt, nil
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return "", fmt.Errorf("%w: Docker schema 1 manifests are not supported; rebuild or re-push the image", ErrUnsupported)
	}
	if probe.SchemaVersion == 1 {
		return "", fmt.Errorf("%w: Docker schema 1 manifests are not supported", ErrUnsupported)
	}
	return "", fmt.Errorf("%w: media type %q", ErrUnsupported, mt)
}

func isIndex(mt string) bool {
	return mt == string(types.OCIImageIndex) || mt == string(types.DockerManifestList)
}

// platformMatches reports whether have satisfies want (an empty wanted
// variant matches any; arm64's variant defaults to v8).
func platformMatches(want v1.Platform, have *v1.Platform) bool {
	if have == nil || have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	if want.Variant == "" {
		return true
	}
	return normVariant(have.Architecture, have.Variant) == normVariant(want.Architecture, want.Variant)
}

func normVariant(arch, v string) string {
	if arch == "arm64" && v == "" {
		return "v8"
	}
	return v
}

// selectPlatform picks the manifest for p from an index.
func selectPlatform(raw []byte, p v1.Platform) (*v1.Descriptor, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	var avail []string
	seen := map[string]bool{}
	for i := range idx.Manifests {
		d := &idx.Manifests[i]
		if platformMatches(p, d.Platform) {
			return d, nil
		}
		if d.Platform != nil && d.Platform.OS != "unknown" {
			if s := d.Platform.String(); s != "" && !seen[s] {
				seen[s] = true
				avail = append(avail, s)
			}
		}
	}
	sort.Strings(avail)
	list := strings.Join(avail, ", ")
	if list == "" {
		list = "none"
	}
	return nil, fmt.Errorf("%w: no manifest for %s (available: %s)", ErrPlatform, p, list)
}
