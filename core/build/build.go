package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
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
	// System, when set, is the decoded system (a system of an HCL file);
	// Specs then only name it (Specs[0] gives the default Name and lock).
	System *spec.System
	// LockPath is the lock file (default fetch.LockPath(Specs[0])).
	LockPath string
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
	// SharePacks compresses the large files of every image part of a
	// system once, in an initrd-pack step of its own that the initramfs
	// formats of every system holding the part then copy from: worth it
	// when several systems share images (kit graph build sets it). A
	// single build leaves it off and compresses in the format step, which
	// writes less; the initramfs bytes are the same either way.
	SharePacks bool
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
	// Mirror, when set, is a file in the output directory that holds the
	// output's content (a mirror the format wrote): it is renamed into
	// place instead of copying the blob.
	Mirror string
}

// Run builds the specs: one system, planned and solved in a Session of its
// own.
func Run(ctx context.Context, o Options) (*Result, error) {
	if len(o.Specs) == 0 {
		return nil, errors.New("no spec given")
	}
	s, err := NewSession(o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sys, err := s.Add(ctx, Target{
		Specs:        o.Specs,
		System:       o.System,
		LockPath:     o.LockPath,
		Formats:      o.Formats,
		FormatConfig: o.FormatConfig,
		DiskSize:     o.DiskSize,
	})
	if err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(s.Env(), sys.Targets...)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		nodes, err := s.Explain(ctx, plan)
		if err != nil {
			return nil, err
		}
		return &Result{Plan: nodes}, nil
	}
	outDir := o.OutDir
	if outDir == "" {
		outDir = "."
	}
	// The formats write their artifacts into the output directory as they
	// make them; a directory made for that goes again if the build fails.
	made, err := mkdirAll(outDir)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	solver.SweepMirrors(outDir) // a killed build's
	if err := s.MirrorInto(outDir, plan); err != nil {
		return nil, err
	}
	results, err := s.Solve(ctx, plan)
	if err != nil {
		if s.solver != nil {
			s.solver.DropMirrors()
		}
		removeMade(made)
		return nil, sys.Locate(err)
	}
	name := o.Name
	if name == "" {
		base := filepath.Base(o.Specs[0])
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	arts, err := s.Write(ctx, sys, results, outDir, name)
	if err != nil {
		return nil, err
	}
	return &Result{Artifacts: arts}, nil
}

// mkdirAll makes dir and its missing parents, and returns those it made,
// deepest first.
func mkdirAll(dir string) ([]string, error) {
	var made []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		made = append(made, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return made, nil
}

// removeMade removes the directories mkdirAll made, if they are empty.
func removeMade(made []string) {
	for _, d := range made {
		if os.Remove(d) != nil {
			return
		}
	}
}

// Session plans systems into one DAG over one cache and solves them with one
// solver, so that a node several systems share (an image fetched or
// unpacked, a package built in the same graph) runs once: kit graph build
// adds every system of a workspace to a Session; kit build adds one. Add the
// systems one after the other; Solve and Write may then run concurrently.
type Session struct {
	o        Options
	platform v1.Platform
	fopts    fetch.Options

	store  *cache.Store
	unlock func()
	host   *plugin.Host // made by the session, closed by Close
	// floating resolves the tags that a system's lock does not pin (or all
	// of them with --pull) once for every system of the session; each
	// system's own resolver then finds them in its lock.
	floating *fetch.Resolver

	solverOnce sync.Once
	solver     *solver.Solver
	// mirrorDir, when set, is the output directory into which the blobs of
	// the nodes in mirrorKeys are mirrored as they are made (see
	// MirrorInto).
	mirrorDir  string
	mirrorKeys map[graph.Key]bool
}

// Target is one system of a Session.
type Target struct {
	// Name, when set, prefixes the names of the system's own nodes
	// ("web: assemble", "web: format tar"); nodes shared with other systems
	// (fetch, unpack, kernel) keep their names.
	Name string
	// Specs are the spec files, merged in order. Specs[0] names the lock
	// file (unless LockPath is set) and the spec in messages.
	Specs []string
	// System is the decoded system, when the caller already has it (a
	// system of an HCL file); Specs are then not read.
	System *spec.System
	// LockPath is the lock file (default fetch.LockPath(Specs[0])).
	LockPath string
	// Formats are the output formats (default kernel+initrd).
	Formats []string
	// FormatConfig and DiskSize are as in Options.
	FormatConfig map[string]json.RawMessage
	DiskSize     int64
	// Bind, when set, is asked for every image reference of the system
	// before it is resolved: a non-nil Provided takes the image from a
	// vertex of the same graph instead of a registry.
	Bind func(ref string) (*Provided, error)
}

// Provided is an image made by a vertex of the graph (a package built in
// the same kit graph build) instead of fetched from a registry.
type Provided struct {
	// Vertex makes the image, with the outputs of a fetch step: "manifest",
	// "config", "layer/0"…
	Vertex *graph.Vertex
	// Config is the image's config, known before the image is built: its
	// entrypoint, command, environment and labels (org.mobyproject.config)
	// enter the plan.
	Config v1.Config
}

// System is a system added to a Session: its targets (one format vertex
// per format) and what planning it learnt.
type System struct {
	Target Target
	// Spec is the loaded (merged, validated) spec.
	Spec *spec.System
	// Formats are the formats built, in the order of Targets.
	Formats []string
	// Targets holds one vertex per format.
	Targets []*graph.Vertex
	// Bound lists the image references taken from the graph (Bind).
	Bound []string

	planner *planner
}

// Locate adds the spec location of the node an error names, when known.
func (s *System) Locate(err error) error { return s.planner.locate(err) }

// NewSession checks the options shared by every system (architecture,
// jobs, mirrors). The cache is opened by the first Add.
func NewSession(o Options) (*Session, error) {
	if o.Warnf == nil {
		o.Warnf = func(string, ...any) {}
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
	return &Session{o: o, platform: platform, fopts: fopts}, nil
}

// Close releases the cache and stops the plugins the session started.
func (s *Session) Close() {
	if s.solver != nil {
		s.solver.DropMirrors()
	}
	if s.host != nil {
		s.host.Close()
		s.host = nil
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// Env is the environment of every key of the session's plans.
func (s *Session) Env() graph.Env {
	return graph.Env{Platform: s.platform.OS + "/" + s.platform.Architecture, SourceDateEpoch: s.o.SourceDateEpoch}
}

// Store opens the cache (once) and takes its shared lock until Close.
func (s *Session) Store(ctx context.Context) (*cache.Store, error) {
	if s.store != nil {
		return s.store, nil
	}
	dir := s.o.CacheDir
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
	s.store, s.unlock = store, unlock
	return store, nil
}

// Add loads a system, checks its formats, resolves its images (through its
// lock file, which it updates) and plans its vertices. Errors carry the
// spec location at fault.
func (s *Session) Add(ctx context.Context, t Target) (*System, error) {
	o := s.o
	if len(t.Formats) == 0 {
		t.Formats = []string{"kernel+initrd"}
	}
	o.Formats, o.FormatConfig, o.DiskSize = t.Formats, t.FormatConfig, t.DiskSize
	sys := t.System
	if sys == nil {
		if len(t.Specs) == 0 {
			return nil, errors.New("no spec given")
		}
		var err error
		if sys, err = spec.Load(t.Specs...); err != nil {
			return nil, err
		}
		for _, w := range sys.Warnings() {
			o.Warnf("%s", w)
		}
	}
	lockPath := t.LockPath
	if lockPath == "" {
		if len(t.Specs) == 0 {
			return nil, errors.New("no spec file or lock file given")
		}
		lockPath = fetch.LockPath(t.Specs[0])
	}
	store, err := s.Store(ctx)
	if err != nil {
		return nil, err
	}

	// Formats, their configurations and the plugins serving them are
	// checked before any work starts.
	formats, err := resolveFormats(ctx, &o, s.platform.Architecture, func() *plugin.Host {
		if o.Plugins != nil {
			return o.Plugins
		}
		if s.host != nil {
			return s.host
		}
		hopts := []plugin.Option{plugin.WithCache(store), plugin.WithLog(func(name, level, msg string) {
			if level == "warn" || level == "error" {
				o.Warnf("plugin %s: %s", name, msg)
			}
		})}
		if o.PluginTimeout != 0 {
			hopts = append(hopts, plugin.WithBuildTimeout(o.PluginTimeout))
		}
		s.host = plugin.NewHost(hopts...)
		return s.host
	})
	if err != nil {
		return nil, err
	}

	lock, err := fetch.LoadLock(lockPath)
	if err != nil {
		return nil, err
	}
	if err := pinPlugins(lock, formats.plugins(), o.Pull); err != nil {
		return nil, err
	}
	if s.floating == nil {
		fo := s.fopts
		fo.Pull, fo.Frozen = true, false
		s.floating = fetch.NewResolver(store, nil, fo)
	}
	r := &resolution{
		// The floating resolver asked the registries; both share its
		// connections.
		resolver: s.floating.Derive(lock, false, s.fopts.Frozen),
		floating: s.floating,
		lock:     lock,
		pull:     o.Pull,
		frozen:   o.Locked,
		platform: s.platform.String(),
	}
	images, err := resolveImages(ctx, r, sys, t.Bind)
	if err != nil {
		return nil, err
	}
	if err := resolveFormatImages(ctx, r, formats, images, t.Bind); err != nil {
		return nil, err
	}
	lock.Retain(images.refs()...)
	if err := lock.Save(lockPath); err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}

	p := &planner{sys: sys, images: images, resolver: r.resolver, epoch: o.SourceDateEpoch, packs: o.SharePacks}
	if t.Name != "" {
		p.prefix = t.Name + ": "
	}
	targets, err := p.plan(formats, o.Formats)
	if err != nil {
		return nil, err
	}
	var bound []string
	for _, ref := range images.order {
		if _, ok := images.provided[ref]; ok {
			bound = append(bound, ref)
		}
	}
	return &System{Target: t, Spec: sys, Formats: o.Formats, Targets: targets, Bound: bound, planner: p}, nil
}

// options returns the solver's options.
func (s *Session) options() []solver.Option {
	var sopts []solver.Option
	if s.o.Jobs > 0 {
		sopts = append(sopts, solver.WithJobs(s.o.Jobs))
	}
	if s.o.NoCache {
		sopts = append(sopts, solver.WithNoCache())
	}
	if s.o.Explain {
		sopts = append(sopts, solver.WithExplain())
	}
	if s.mirrorDir != "" {
		dir, keys := s.mirrorDir, s.mirrorKeys
		sopts = append(sopts, solver.WithMirror(func(n *graph.Node) string {
			if keys[n.Key] {
				return dir
			}
			return ""
		}))
	}
	return sopts
}

// MirrorInto makes the formats of plan, when they run, write their
// artifacts into dir as they make them (solver.WithMirror): Write then
// renames them into place there instead of copying them out of the cache
// once the build is done, which for a large initrd or disk image is a pass
// over every byte at the end of the build. It must be called before the
// session's first Solve; dir must exist. Write into another directory
// copies, as without.
func (s *Session) MirrorInto(dir string, plan *graph.Plan) error {
	if s.solver != nil {
		return errors.New("mirror: the session has solved already")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	s.mirrorDir, s.mirrorKeys = abs, map[graph.Key]bool{}
	for _, t := range plan.Targets {
		s.mirrorKeys[t.Key] = true
	}
	return nil
}

// Explain says, without building, what solving plan would do with each of
// its nodes: "hit", "run" or "skip" (see PlanNode).
func (s *Session) Explain(ctx context.Context, plan *graph.Plan) ([]PlanNode, error) {
	store, err := s.Store(ctx)
	if err != nil {
		return nil, err
	}
	ex, err := solver.Explain(ctx, store, plan, s.options()...)
	if err != nil {
		return nil, err
	}
	return dryRun(plan, ex), nil
}

// Solve runs plan with the session's solver. Concurrent calls share the
// nodes they have in common, and a node solved once is not looked up again
// (see solver.Solver).
func (s *Session) Solve(ctx context.Context, plan *graph.Plan) (map[graph.Key]graph.Result, error) {
	store, err := s.Store(ctx)
	if err != nil {
		return nil, err
	}
	s.solverOnce.Do(func() {
		opts := s.options()
		if s.o.Events != nil {
			opts = append(opts, solver.WithEvents(s.o.Events))
		}
		s.solver = solver.New(store, opts...)
	})
	return s.solver.Solve(ctx, plan)
}

// Write copies the artifacts of a solved system into dir as name+suffix,
// atomically (see writeOutputs).
func (s *Session) Write(ctx context.Context, sys *System, results map[graph.Key]graph.Result, dir, name string) ([]Artifact, error) {
	store, err := s.Store(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := graph.NewPlan(s.Env(), sys.Targets...)
	if err != nil {
		return nil, err
	}
	mirrored := false
	if s.mirrorDir != "" && s.solver != nil {
		abs, err := filepath.Abs(dir)
		mirrored = err == nil && abs == s.mirrorDir
	}
	// The mirrors taken are renamed into place by writeOutputs; those it
	// did not use (a duplicate output, an artifact already in place, a
	// failure) go.
	var taken []string
	defer func() {
		for _, p := range taken {
			os.Remove(p)
		}
	}()
	var outs []formatOutput
	for i, t := range plan.Targets {
		r, ok := results[t.Key]
		if !ok {
			return nil, fmt.Errorf("format %s: no result", sys.Formats[i])
		}
		for _, out := range r.Outputs {
			fo := formatOutput{Format: sys.Formats[i], Output: out}
			if mirrored {
				if p, ok := s.solver.TakeMirror(t.Key, out.Digest); ok {
					fo.Mirror = p
					taken = append(taken, p)
				}
			}
			outs = append(outs, fo)
		}
	}
	outs, err = dedupOutputs(outs, name)
	if err != nil {
		return nil, err
	}
	return writeOutputs(ctx, store, outputRecords{dir: filepath.Join(store.Dir(), "outputs")}, dir, name, outs)
}

// resolution resolves the images of one system: tags its lock does not pin
// (all tags with --pull) through the session's floating resolver, once per
// session, and then everything through the system's own resolver and lock.
type resolution struct {
	resolver *fetch.Resolver
	floating *fetch.Resolver
	lock     *fetch.Lock
	pull     bool
	frozen   bool
	platform string
}

// resolve resolves ref.
func (r *resolution) resolve(ctx context.Context, ref string) (*fetch.Image, error) {
	if r.isFloating(ref) {
		if _, err := r.floating.Resolve(ctx, ref); err != nil {
			return nil, err
		}
		if e, ok := r.floating.Lock().Get(ref); ok {
			r.lock.Record(ref, e.Digest, e.MediaType, r.platform, e.Platforms[r.platform])
		}
	}
	return r.resolver.Resolve(ctx, ref)
}

// isFloating reports whether ref is a tag the registry must be asked about.
func (r *resolution) isFloating(ref string) bool {
	if r.frozen {
		return false // the system's resolver refuses it (ErrNotLocked)
	}
	nref, err := fetch.ParseRef(ref)
	if err != nil {
		return false // the system's resolver reports it
	}
	if _, ok := nref.(name.Digest); ok {
		return false
	}
	if r.pull {
		return true
	}
	_, locked := r.lock.Get(ref)
	return !locked
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
func resolveFormatImages(ctx context.Context, r *resolution, formats *formatSet, set *imageSet, bind func(string) (*Provided, error)) error {
	type use struct{ format, image, ref string }
	var uses []use
	for _, name := range formats.order {
		n := formats.nodes[name]
		for _, im := range n.order {
			ref := n.images[im]
			if _, ok := set.byRef[ref]; ok {
				continue
			}
			bound, err := set.bind(ref, bind)
			if err != nil {
				return fmt.Errorf("format %s: image %s (%s): %w", name, im, ref, err)
			}
			if bound {
				set.order = append(set.order, ref)
				continue
			}
			uses = append(uses, use{name, im, ref})
		}
	}
	imgs := make([]*fetch.Image, len(uses))
	errs := make([]error, len(uses))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, u := range uses {
		g.Go(func() error {
			img, err := r.resolve(gctx, u.ref)
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
	// provided holds the references bound to vertices of the graph
	// (Target.Bind); their byRef image has the config only.
	provided map[string]*graph.Vertex
	order    []string
}

// refs returns the references resolved through the lock (the bound ones
// are not locked).
func (s *imageSet) refs() []string {
	out := make([]string, 0, len(s.order))
	for _, r := range s.order {
		if _, ok := s.provided[r]; !ok {
			out = append(out, r)
		}
	}
	return out
}

// bind asks bind about ref and records a bound image; it reports whether
// ref is bound.
func (s *imageSet) bind(ref string, bind func(string) (*Provided, error)) (bool, error) {
	if bind == nil {
		return false, nil
	}
	p, err := bind(ref)
	if err != nil || p == nil {
		return false, err
	}
	s.byRef[ref] = &fetch.Image{Ref: ref, Repository: ref, Config: &v1.ConfigFile{Config: p.Config}}
	s.provided[ref] = p.Vertex
	return true, nil
}

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

// resolveImages binds (bind) or resolves every image of the spec, in
// parallel. A failure names the spec location of the reference.
func resolveImages(ctx context.Context, r *resolution, sys *spec.System, bind func(string) (*Provided, error)) (*imageSet, error) {
	uses := imageUses(sys)
	set := &imageSet{byRef: map[string]*fetch.Image{}, provided: map[string]*graph.Vertex{}}
	seen := map[string]bool{}
	var distinct []use
	var errs []error
	for _, u := range uses {
		if seen[u.ref] {
			continue
		}
		seen[u.ref] = true
		set.order = append(set.order, u.ref)
		bound, err := set.bind(u.ref, bind)
		if err != nil {
			errs = append(errs, &spec.Error{Pos: sys.Sources.Nearest(u.path), Msg: "image " + u.ref, Err: err})
			continue
		}
		if !bound {
			distinct = append(distinct, u)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	imgs := make([]*fetch.Image, len(distinct))
	errs = make([]error, len(distinct))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, u := range distinct {
		g.Go(func() error {
			img, err := r.resolve(gctx, u.ref)
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

// dedupOutputs keeps one of the outputs that several formats write under the
// same name with the same contents (kernel+initrd and kernel+squashfs both
// write NAME-kernel and NAME-cmdline), and refuses outputs of the same name
// with different contents (iso-bios and kernel+iso both write NAME.iso): one
// would silently replace the other. Nothing is written then.
func dedupOutputs(outs []formatOutput, name string) ([]formatOutput, error) {
	seen := map[string]formatOutput{}
	kept := outs[:0:0]
	for _, o := range outs {
		prev, dup := seen[o.Output.Name]
		if !dup {
			seen[o.Output.Name] = o
			kept = append(kept, o)
			continue
		}
		if prev.Output.Digest != o.Output.Digest {
			return nil, fmt.Errorf("formats %s and %s both write %s%s, with different contents: build them in separate runs (or with different --name or -o)",
				prev.Format, o.Format, name, o.Output.Name)
		}
	}
	return kept, nil
}
