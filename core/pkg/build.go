package pkg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/pkg/deb"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/core/steps/fetch"
)

// Options configure planning and building a package.
type Options struct {
	// Arch is the target GOARCH: "amd64" (default: the host's) or "arm64".
	Arch string
	// CacheDir is the kit cache (default cache.DefaultDir()); ignored when
	// Store is set.
	CacheDir string
	Store    *cache.Store
	// UpdateLock resolves the Debian packages again and rewrites pkg.lock.
	UpdateLock bool
	// Locked refuses to resolve: every Debian request must be in pkg.lock.
	Locked bool
	// AptRoot is the root the apt configuration is read under (default "/").
	AptRoot string
	// HTTPClient reaches the apt mirrors (default http.DefaultClient).
	HTTPClient *http.Client
	// ModuleDir is the Go module Go binaries are built from (default: the
	// module holding the package directory, else the one holding the
	// working directory).
	ModuleDir string
	// SourceDateEpoch is the time of every file and of the image.
	SourceDateEpoch int64
	// Jobs bounds parallel steps (default: the solver's).
	Jobs int
	// NoCache runs every step again.
	NoCache bool
	// Events receives the solver's events.
	Events func(solver.Event)
	// Logf receives one line per fetched apt file and lock change.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() error {
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return fmt.Errorf("arch %q: want amd64 or arm64", o.Arch)
	}
	if o.AptRoot == "" {
		o.AptRoot = "/"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// Plan is a package build planned as a DAG.
type Plan struct {
	Def   *Definition
	Graph *graph.Plan
	// Image is the pkg-image node.
	Image *graph.Node
	// Vertex is the pkg-image vertex, for planning the package inside a
	// larger DAG (kit graph build): its outputs are those of a fetch step
	// ("manifest", "config", "layer/0"…), so unpack and kernel steps take
	// it as their input.
	Vertex *graph.Vertex
	// Tag is the content-derived tag: the first 20 hex digits of the image
	// node's key, so it changes with pkg.yml, the lock, local files, Go
	// sources, the architecture and SOURCE_DATE_EPOCH.
	Tag string
	// Ref is Def.Image:Tag, the name the image is recorded under in the cache.
	Ref string
}

// Result is a built package image.
type Result struct {
	Ref    string
	Tag    string
	Digest graph.Digest // of the manifest
	Size   int64
	// Pushed is the reference pushed to (with digest), when pushed.
	Pushed string
}

// debianArch maps a GOARCH to Debian's architecture name.
func debianArch(goarch string) string { return goarch } // amd64, arm64 coincide

func (o *Options) clientOptions(arch string) []deb.Option {
	opts := []deb.Option{deb.WithArch(arch), deb.WithLogf(o.Logf)}
	if o.HTTPClient != nil {
		opts = append(opts, deb.WithHTTPClient(o.HTTPClient))
	}
	return opts
}

// NewPlan plans the build of def with store as the cache: it resolves the
// Debian requests missing from pkg.lock (writing it), hashes local files
// and Go sources, and makes the vertices.
func NewPlan(ctx context.Context, def *Definition, store *cache.Store, opts Options) (*Plan, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	arch := debianArch(opts.Arch)
	copts := opts.clientOptions(arch)
	lockPath := filepath.Join(def.Dir, LockFile)
	lock, err := ReadLock(lockPath)
	if err != nil {
		return nil, err
	}
	al := lock.Arch[arch]
	if al == nil {
		al = &ArchLock{}
	}
	changed := false
	var index *deb.Index
	resolve := func(what string, requests []string) ([]*deb.Package, error) {
		if opts.Locked {
			return nil, fmt.Errorf("%s: the %s packages %v of %s are not in %s (--locked)", def.File, what, requests, arch, lockPath)
		}
		if index == nil {
			cfg, err := deb.LoadConfig(opts.AptRoot)
			if err != nil {
				return nil, fmt.Errorf("apt configuration: %w", err)
			}
			client := deb.NewClient(store, copts...)
			if index, err = client.LoadIndex(ctx, cfg); err != nil {
				return nil, fmt.Errorf("apt indexes: %w", err)
			}
		}
		reqs := make([]deb.Request, len(requests))
		for i, s := range requests {
			if reqs[i], err = deb.ParseRequest(s); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", def.File, what, err)
			}
		}
		pkgs, err := index.Resolve(reqs)
		if err != nil {
			return nil, fmt.Errorf("%s: resolving %s packages %v: %w", def.File, what, requests, err)
		}
		changed = true
		return pkgs, nil
	}
	if def.Debian != nil && (opts.UpdateLock || !al.Debian.matches(def.Debian.Packages)) {
		pkgs, err := resolve("debian", def.Debian.Packages)
		if err != nil {
			return nil, err
		}
		al.Debian = &LockSet{Requests: def.Debian.Packages, Packages: deb.NewLock(pkgs).Packages}
	}
	if def.Kernel != nil && (opts.UpdateLock || !al.Kernel.matches([]string{def.Kernel.Debian})) {
		pkgs, err := resolve("kernel", []string{def.Kernel.Debian})
		if err != nil {
			return nil, err
		}
		var keep []*deb.Package
		for _, p := range pkgs {
			if strings.HasPrefix(p.Name, "linux-image-") {
				keep = append(keep, p)
			}
		}
		al.Kernel = &LockSet{Requests: []string{def.Kernel.Debian}, Packages: deb.NewLock(keep).Packages}
	}
	if def.Debian == nil && al.Debian != nil {
		al.Debian, changed = nil, true
	}
	if def.Kernel == nil && al.Kernel != nil {
		al.Kernel, changed = nil, true
	}
	if changed {
		if al.Debian == nil && al.Kernel == nil {
			delete(lock.Arch, arch)
		} else {
			lock.Arch[arch] = al
		}
		if err := lock.write(lockPath); err != nil {
			return nil, err
		}
		opts.Logf("wrote %s", lockPath)
	}

	epoch := opts.SourceDateEpoch
	name := def.Image
	var layers []*graph.Vertex
	var history []string
	if def.Debian != nil {
		ex := def.Debian.ExcludePaths
		layers = append(layers, graph.NewVertex("pkg-debs "+name, DebsOp{Packages: al.Debian.Packages, Exclude: ex, Epoch: epoch, ClientOptions: copts}))
		history = append(history, "debian: "+strings.Join(def.Debian.Packages, " "))
	}
	if def.Kernel != nil {
		kd := graph.NewVertex("pkg-debs "+name+" kernel", DebsOp{Packages: al.Kernel.Packages, Epoch: epoch, ClientOptions: copts})
		layers = append(layers, graph.NewVertex("pkg-kernel "+name, KernelOp{Modules: def.Kernel.Modules, Epoch: epoch}, kd))
		history = append(history, "kernel: "+def.Kernel.Debian)
	}
	if len(def.Go) > 0 {
		mod := opts.ModuleDir
		if mod == "" {
			if mod, err = ModuleRoot(def.Dir); err != nil {
				var werr error
				if mod, werr = ModuleRoot("."); werr != nil {
					return nil, fmt.Errorf("%s: go: %w", def.File, err)
				}
			}
		}
		gv, err := GoVersion(ctx, mod)
		if err != nil {
			return nil, err
		}
		op := GoOp{GOARCH: opts.Arch, GoVersion: gv, Epoch: epoch, ModuleDir: mod}
		var mains []string
		for _, g := range def.Go {
			h, err := GoSourceHash(ctx, mod, g.Main, opts.Arch)
			if err != nil {
				return nil, fmt.Errorf("%s: go binary %s: %w", g.Pos, g.Main, err)
			}
			op.Binaries = append(op.Binaries, GoBuild{Main: g.Main, Dest: strings.TrimPrefix(g.Dest, "/"), SourceHash: h})
			mains = append(mains, g.Main)
		}
		layers = append(layers, graph.NewVertex("pkg-go "+name, op))
		history = append(history, "go: "+strings.Join(mains, " "))
	}
	if len(def.Files) > 0 {
		entries, err := resolveFiles(def.Dir, def.Files)
		if err != nil {
			return nil, err
		}
		layers = append(layers, graph.NewVertex("pkg-files "+name, FilesOp{Entries: entries, Epoch: epoch, Dir: def.Dir}))
		history = append(history, fmt.Sprintf("files: %d entries", len(entries)))
	}
	img := graph.NewVertex("pkg-image "+name, ImageOp{Config: def.Config, History: history, Arch: opts.Arch, Epoch: epoch}, layers...)
	gp, err := graph.NewPlan(graph.Env{Platform: "linux/" + opts.Arch, SourceDateEpoch: epoch}, img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", def.File, err)
	}
	target := gp.Targets[0]
	tag := strings.TrimPrefix(string(target.Key), "sha256:")[:20]
	return &Plan{Def: def, Graph: gp, Image: target, Vertex: img, Tag: tag, Ref: name + ":" + tag}, nil
}

// ImageConfig returns the OCI config of the image the plan builds
// (entrypoint, command, environment, working directory, user, labels with
// org.mobyproject.config), known before the image is built.
func (p *Plan) ImageConfig() (ocispec.ImageConfig, error) {
	op, ok := p.Vertex.Op.(ImageOp)
	if !ok {
		return ocispec.ImageConfig{}, fmt.Errorf("package %s: the image vertex is not a %s step", p.Def.Image, KindImage)
	}
	return op.imageConfig()
}

func openStore(opts Options) (*cache.Store, error) {
	if opts.Store != nil {
		return opts.Store, nil
	}
	dir := opts.CacheDir
	if dir == "" {
		dir = cache.DefaultDir()
	}
	return cache.Open(dir)
}

// ShowTag loads the package in dir, plans it (resolving Debian packages
// missing from the lock) and returns its content-derived tag.
func ShowTag(ctx context.Context, dir string, opts Options) (string, error) {
	def, err := Load(dir)
	if err != nil {
		return "", err
	}
	store, err := openStore(opts)
	if err != nil {
		return "", err
	}
	p, err := NewPlan(ctx, def, store, opts)
	if err != nil {
		return "", err
	}
	return p.Tag, nil
}

// Build builds the package in dir into the cache and records the image
// there under its Ref. A second build of unchanged inputs is a cache
// lookup.
func Build(ctx context.Context, dir string, opts Options) (*Result, error) {
	def, err := Load(dir)
	if err != nil {
		return nil, err
	}
	store, err := openStore(opts)
	if err != nil {
		return nil, err
	}
	unlock, err := store.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := NewPlan(ctx, def, store, opts)
	if err != nil {
		return nil, err
	}
	var sopts []solver.Option
	if opts.Jobs > 0 {
		sopts = append(sopts, solver.WithJobs(opts.Jobs))
	}
	if opts.Events != nil {
		sopts = append(sopts, solver.WithEvents(opts.Events))
	}
	if opts.NoCache {
		sopts = append(sopts, solver.WithNoCache())
	}
	results, err := solver.New(store, sopts...).Solve(ctx, p.Graph)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", def.Image, err)
	}
	m, ok := results[p.Image.Key].Get(ManifestName)
	if !ok {
		return nil, fmt.Errorf("package %s: the image step made no manifest", def.Image)
	}
	if err := store.AddImage(p.Ref, m.Digest, m.MediaType); err != nil {
		return nil, fmt.Errorf("package %s: %w", def.Image, err)
	}
	return &Result{Ref: p.Ref, Tag: p.Tag, Digest: m.Digest, Size: m.Size}, nil
}

// Push pushes the image whose manifest is the blob manifest of store to
// ref ("127.0.0.1:5000/kit/redis"; a missing tag is replaced by tag).
// Loopback registries are reached over plain HTTP (fetch.ParseRef).
// It returns the reference pushed, with its digest.
func Push(ctx context.Context, store *cache.Store, manifest graph.Digest, ref, tag string) (string, error) {
	if !hasTag(ref) && tag != "" {
		ref += ":" + tag
	}
	r, err := fetch.ParseRef(ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	raw, err := readBlob(ctx, store, manifest)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	img, err := partial.CompressedToImage(&storeImage{ctx: ctx, s: store, manifest: raw})
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return r.Context().Name() + "@" + string(manifest), nil
}

// hasTag reports whether ref ends in a tag or digest.
func hasTag(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	return strings.Contains(last, ":")
}

func readBlob(ctx context.Context, s *cache.Store, d graph.Digest) ([]byte, error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// storeImage is a partial.CompressedImageCore over the cache's blobs.
type storeImage struct {
	ctx      context.Context
	s        *cache.Store
	manifest []byte
}

func (i *storeImage) RawManifest() ([]byte, error) { return i.manifest, nil }
func (i *storeImage) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
func (i *storeImage) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.manifest))
	if err != nil {
		return nil, err
	}
	return readBlob(i.ctx, i.s, graph.Digest(m.Config.Digest.String()))
}
func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.manifest))
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &storeLayer{i: i, desc: l}, nil
		}
	}
	return nil, errors.New("layer " + h.String() + " is not in the manifest")
}

type storeLayer struct {
	i    *storeImage
	desc v1.Descriptor
}

func (l *storeLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }
func (l *storeLayer) Compressed() (io.ReadCloser, error) {
	return l.i.s.Open(l.i.ctx, graph.Digest(l.desc.Digest.String()))
}
func (l *storeLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
