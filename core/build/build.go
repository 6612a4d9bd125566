package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/cache"
	_ "github.com/kitbuild/kit/core/format/builtin" // the built-in formats
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/plugin"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/fetch"
)

// Options configure one build.
type Options struct {
	// Specs are the spec files, merged in order.
	Specs []string
	// Formats are the output formats (default kernel+initrd): built-in
	// formats, or format components of plugins.
	Formats []string
	// FormatConfig holds configurations (JSON objects) by format name, for
	// the selected formats and the ones they need. A plugin format's
	// configuration is validated against its schema; its "images" key
	// replaces the references of the images it declares.
	FormatConfig map[string]json.RawMessage
	// DiskSize, when positive, sets "diskSize" (bytes) in the configuration
	// of every format whose schema has that property (unless FormatConfig
	// sets it); it is an error when no format has it.
	DiskSize int64
	// PluginTimeout bounds each build call of a plugin format: 0 means
	// plugin.DefaultBuildTimeout, a negative value no bound.
	PluginTimeout time.Duration
	// Plugins finds and runs the plugins (default: a host over
	// plugin.SearchPath(), closed when Run returns).
	Plugins *plugin.Host
	// OutDir is where artifacts are written (default ".").
	OutDir string
	// Name is the base name of the artifacts (default: the first spec's
	// file name without extension).
	Name string
	// Arch is the target architecture, amd64 (default) or arm64.
	Arch string
	// Jobs bounds the steps running at once (default: the number of CPUs).
	Jobs int
	// Mirrors maps registries to mirror URLs.
	Mirrors map[string]string
	// CacheDir is the cache (default cache.DefaultDir()).
	CacheDir string
	// Pull resolves tags again and updates the lock file.
	Pull bool
	// Locked makes a tag missing from the lock file an error.
	Locked bool
	// NoCache ignores cached results (they are still recorded).
	NoCache bool
	// Explain attaches hit/miss reasons to events.
	Explain bool
	// DryRun plans and reports cache status without building.
	DryRun bool
	// SourceDateEpoch is the timestamp of every file in the artifacts.
	SourceDateEpoch int64
	// Events receives the solver's progress events.
	Events func(solver.Event)
	// Warnf receives warnings (obsolete keys, ...).
	Warnf func(format string, args ...any)
	// Transport overrides the HTTP transport used for registries (tests).
	Transport http.RoundTripper
}

// Result is what a build produced.
type Result struct {
	// Artifacts are the files written, in format order.
	Artifacts []Artifact
	// Plan is every node of the plan with its cache status (dry runs), in
	// topological order.
	Plan []PlanNode
}

// PlanNode is a node of a dry run's plan.
type PlanNode struct {
	Node string    `json:"node"`
	Kind string    `json:"kind"`
	Key  graph.Key `json:"key"`
	// Status is "hit" (taken from the cache), "run" (would be executed) or
	// "skip" (not needed: every node using it is a hit).
	Status  string   `json:"status"`
	Reasons []string `json:"reasons,omitempty"`
	// Plugin is the plugin key component ("sha256:…/protocol=N") of nodes
	// a plugin runs.
	Plugin string `json:"plugin,omitempty"`
}

type formatOutput struct {
	Format string
	Output graph.Output
}

// Run builds the specs.
func Run(ctx context.Context, o Options) (*Result, error) {
	if len(o.Specs) == 0 {
		return nil, errors.New("no spec given")
	}
	if o.Warnf == nil {
		o.Warnf = func(string, ...any) {}
	}
	if len(o.Formats) == 0 {
		o.Formats = []string{"kernel+initrd"}
	}
	platform, err := platformOf(o.Arch)
	if err != nil {
		return nil, err
	}
	if o.Jobs < 0 {
		return nil, fmt.Errorf("--jobs %d: want a positive number of steps", o.Jobs)
	}
	fopts := fetch.Options{
		Mirrors:   o.Mirrors,
		Platform:  platform,
		Pull:      o.Pull,
		Frozen:    o.Locked,
		Jobs:      o.Jobs,
		Transport: o.Transport,
	}
	if err := fopts.Validate(); err != nil {
		return nil, fmt.Errorf("--mirror: %w", err)
	}
	sys, err := spec.Load(o.Specs...)
	if err != nil {
		return nil, err
	}
	for _, w := range sys.Warnings() {
		o.Warnf("%s", w)
	}

	dir := o.CacheDir
	if dir == "" {
		dir = cache.DefaultDir()
	}
	store, err := cache.Open(dir)
	if err != nil {
		return nil, err
	}
	unlock, err := store.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// Formats, their configurations and the plugins serving them are
	// checked before any work starts.
	var host *plugin.Host // made here, closed here
	defer func() {
		if host != nil {
			host.Close()
		}
	}()
	formats, err := resolveFormats(ctx, &o, platform.Architecture, func() *plugin.Host {
		if o.Plugins != nil {
			return o.Plugins
		}
		hopts := []plugin.Option{plugin.WithCache(store), plugin.WithLog(func(name, level, msg string) {
			if level == "warn" || level == "error" {
				o.Warnf("plugin %s: %s", name, msg)
			}
		})}
		if o.PluginTimeout != 0 {
			hopts = append(hopts, plugin.WithBuildTimeout(o.PluginTimeout))
		}
		host = plugin.NewHost(hopts...)
		return host
	})
	if err != nil {
		return nil, err
	}

	lockPath := fetch.LockPath(o.Specs[0])
	lock, err := fetch.LoadLock(lockPath)
	if err != nil {
		return nil, err
	}
	if err := pinPlugins(lock, formats.plugins(), o.Pull); err != nil {
		return nil, err
	}
	resolver := fetch.NewResolver(store, lock, fopts)
	images, err := resolveImages(ctx, resolver, sys)
	if err != nil {
		return nil, err
	}
	if err := resolveFormatImages(ctx, resolver, formats, images); err != nil {
		return nil, err
	}
	lock.Retain(append(images.refs(), formats.imageRefs()...)...)
	if err := lock.Save(lockPath); err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}

	p := &planner{sys: sys, images: images, resolver: resolver, epoch: o.SourceDateEpoch}
	targets, err := p.plan(formats, o.Formats)
	if err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(graph.Env{Platform: platform.OS + "/" + platform.Architecture, SourceDateEpoch: o.SourceDateEpoch}, targets...)
	if err != nil {
		return nil, err
	}

	var sopts []solver.Option
	if o.Jobs > 0 {
		sopts = append(sopts, solver.WithJobs(o.Jobs))
	}
	if o.NoCache {
		sopts = append(sopts, solver.WithNoCache())
	}
	if o.Explain {
		sopts = append(sopts, solver.WithExplain())
	}
	if o.DryRun {
		ex, err := solver.Explain(ctx, store, plan, sopts...)
		if err != nil {
			return nil, err
		}
		return &Result{Plan: dryRun(plan, ex)}, nil
	}
	if o.Events != nil {
		sopts = append(sopts, solver.WithEvents(o.Events))
	}
	results, err := solver.New(store, sopts...).Solve(ctx, plan)
	if err != nil {
		return nil, p.locate(err)
	}

	var outs []formatOutput
	for i, t := range plan.Targets {
		r, ok := results[t.Key]
		if !ok {
			return nil, fmt.Errorf("format %s: no result", o.Formats[i])
		}
		for _, out := range r.Outputs {
			outs = append(outs, formatOutput{Format: o.Formats[i], Output: out})
		}
	}
	name := o.Name
	if name == "" {
		base := filepath.Base(o.Specs[0])
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	outDir := o.OutDir
	if outDir == "" {
		outDir = "."
	}
	arts, err := writeOutputs(ctx, store, outDir, name, outs)
	if err != nil {
		return nil, err
	}
	return &Result{Artifacts: arts}, nil
}

// pinPlugins checks each plugin against its pin in the lock file, refusing
// a changed binary unless update is set, and pins it (again).
func pinPlugins(lock *fetch.Lock, ps []*plugin.Plugin, update bool) error {
	for _, p := range ps {
		if pin, ok := lock.Plugin(p.Name); ok && !update {
			if err := plugin.CheckPin(p, pin.Digest); err != nil {
				return err
			}
		}
		lock.SetPlugin(fetch.PluginPin{Name: p.Name, Digest: p.Digest, Version: p.Version(), Protocol: p.Protocol()})
	}
	return nil
}

// resolveFormatImages resolves the images the formats declare (like the
// spec's images: through the lock file, mirrors and --pull) into set.
func resolveFormatImages(ctx context.Context, r *fetch.Resolver, formats *formatSet, set *imageSet) error {
	type use struct{ format, image, ref string }
	var uses []use
	for _, name := range formats.order {
		n := formats.nodes[name]
		for _, im := range n.order {
			if _, ok := set.byRef[n.images[im]]; !ok {
				uses = append(uses, use{name, im, n.images[im]})
			}
		}
	}
	imgs := make([]*fetch.Image, len(uses))
	errs := make([]error, len(uses))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, u := range uses {
		g.Go(func() error {
			img, err := r.Resolve(gctx, u.ref)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs[i] = fmt.Errorf("format %s: image %s (%s): %w", u.format, u.image, u.ref, err)
				return nil
			}
			imgs[i] = img
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, u := range uses {
		if _, ok := set.byRef[u.ref]; !ok {
			set.byRef[u.ref] = imgs[i]
			set.order = append(set.order, u.ref)
		}
	}
	return nil
}

func platformOf(arch string) (v1.Platform, error) {
	switch arch {
	case "", "amd64", "x86_64":
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	case "arm64", "aarch64":
		return v1.Platform{OS: "linux", Architecture: "arm64"}, nil
	}
	return v1.Platform{}, fmt.Errorf("--arch %q: want amd64 or arm64", arch)
}

// imageSet holds the resolved image of every reference in a spec.
type imageSet struct {
	byRef map[string]*fetch.Image
	order []string
}

func (s *imageSet) refs() []string { return s.order }

// use is one place a spec names an image.
type use struct {
	ref  string
	path string // spec path of the image field, e.g. "services[1].image"
}

func imageUses(sys *spec.System) []use {
	var uses []use
	if sys.Kernel != nil {
		uses = append(uses, use{sys.Kernel.Image, "kernel.image"})
	}
	for i, r := range sys.Init {
		uses = append(uses, use{r, fmt.Sprintf("init[%d]", i)})
	}
	for _, sec := range sections(sys) {
		for i, e := range sec.entries {
			uses = append(uses, use{e.Image, fmt.Sprintf("%s[%d].image", sec.name, i)})
		}
	}
	for i, v := range sys.Volumes {
		if v.Image != "" {
			uses = append(uses, use{v.Image, fmt.Sprintf("volumes[%d].image", i)})
		}
	}
	return uses
}

// resolveImages resolves every image of the spec in parallel. A failure
// names the spec location of the reference.
func resolveImages(ctx context.Context, r *fetch.Resolver, sys *spec.System) (*imageSet, error) {
	uses := imageUses(sys)
	set := &imageSet{byRef: map[string]*fetch.Image{}}
	seen := map[string]bool{}
	var distinct []use
	for _, u := range uses {
		if !seen[u.ref] {
			seen[u.ref] = true
			distinct = append(distinct, u)
			set.order = append(set.order, u.ref)
		}
	}
	imgs := make([]*fetch.Image, len(distinct))
	errs := make([]error, len(distinct))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, u := range distinct {
		g.Go(func() error {
			img, err := r.Resolve(gctx, u.ref)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs[i] = &spec.Error{Pos: sys.Sources.Nearest(u.path), Msg: "image " + u.ref, Err: err}
				return nil
			}
			imgs[i] = img
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, u := range distinct {
		set.byRef[u.ref] = imgs[i]
	}
	return set, nil
}

type section struct {
	name    string
	entries []*spec.Image
}

func sections(sys *spec.System) []section {
	return []section{{"onboot", sys.Onboot}, {"onshutdown", sys.Onshutdown}, {"services", sys.Services}}
}

// locate adds the spec location of the node that failed, when it is known.
func (p *planner) locate(err error) error {
	var ve *solver.VertexError
	if !errors.As(err, &ve) {
		return err
	}
	if pos, ok := p.where[ve.Node]; ok && pos.File != "" {
		return &spec.Error{Pos: pos, Err: err}
	}
	return err
}

func homeDir() string {
	h, _ := os.UserHomeDir()
	return h
}

// dryRun lists every node of the plan with what a build would do with it.
func dryRun(plan *graph.Plan, ex []solver.Explanation) []PlanNode {
	byKey := map[graph.Key]solver.Explanation{}
	for _, e := range ex {
		byKey[e.Key] = e
	}
	out := make([]PlanNode, 0, len(plan.Nodes))
	for _, n := range plan.Nodes {
		pn := PlanNode{Node: n.Name, Kind: n.Components.Kind, Key: n.Key, Status: "skip", Plugin: n.Components.Plugin}
		if e, ok := byKey[n.Key]; ok {
			pn.Status, pn.Reasons = "run", e.Reasons
			if e.Hit {
				pn.Status = "hit"
			}
		}
		out = append(out, pn)
	}
	return out
}
