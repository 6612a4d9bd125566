package graphbuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kitbuild/kit/core/build"
	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/pkg"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/core/spec"
)

// Options configure a graph build or show.
type Options struct {
	// Build holds the settings every system shares (architecture, jobs,
	// mirrors, cache, --pull, --locked, --no-cache, SOURCE_DATE_EPOCH,
	// events, warnings). Its Specs, Formats, OutDir and Name are ignored.
	Build build.Options
	// FormatConfig holds format configurations by format name; each
	// applies to the systems building that format.
	FormatConfig map[string]json.RawMessage
	// OutDir, when set, receives each system's artifacts as
	// OutDir/SYSTEM/SYSTEM<suffix>.
	OutDir string
	// KeepGoing builds every system it can when one fails; without it the
	// first failure cancels the rest.
	KeepGoing bool
	// Env is the environment HCL specs read KIT_VAR_name from.
	Env []string
}

// Unit kinds of a report row.
const (
	KindSystem  = "system"
	KindPackage = "package"
)

// Statuses of a report row.
const (
	StatusOK       = "ok"
	StatusFailed   = "failed"
	StatusCanceled = "canceled"
)

// Row is the outcome of one system or package of a graph build.
type Row struct {
	Name string `json:"name"`
	// Kind is KindSystem or KindPackage.
	Kind string `json:"kind"`
	// Formats are a system's formats.
	Formats []string `json:"formats,omitempty"`
	// Ref is a package's IMAGE:TAG.
	Ref string `json:"ref,omitempty"`
	// Nodes counts the nodes of the unit's own plan (shared ones
	// included); Hits those taken from the cache, Built those executed
	// (by this unit or by another one sharing them). The others were not
	// needed: every node using them was a hit.
	Nodes int `json:"nodes"`
	Hits  int `json:"hits"`
	Built int `json:"built"`
	// Took is the time from the start of the graph's build to the unit's
	// end (units run concurrently).
	Took   time.Duration `json:"took"`
	Status string        `json:"status"`
	Err    error         `json:"-"`
	// Artifacts are the files written for a system (with OutDir).
	Artifacts []build.Artifact `json:"artifacts,omitempty"`
}

// Report is the outcome of a graph build: one row per package, then one
// per system, by name.
type Report struct {
	Rows []Row
	// Nodes is the number of distinct nodes of the whole graph.
	Nodes int
}

// Err returns an error when a unit failed.
func (r *Report) Err() error {
	var failed []error
	for _, row := range r.Rows {
		if row.Status == StatusFailed {
			failed = append(failed, fmt.Errorf("%s %s: %w", row.Kind, row.Name, row.Err))
		}
	}
	return errors.Join(failed...)
}

// unit is a system or a package planned into the graph.
type unit struct {
	row     Row
	targets []*graph.Vertex
	sys     *build.System // systems
	pkg     *pkg.Plan     // packages
	err     error         // planning failed
}

// planned is a selection planned into one session.
type planned struct {
	session *build.Session
	store   *cache.Store
	units   []*unit // packages, then systems, by name
	plan    *graph.Plan
	// aborted is set when a unit could not be planned and KeepGoing is
	// off: the units after it were not planned.
	aborted bool
}

// prepare plans the packages and systems of sel into one session. A unit
// that cannot be planned is kept with its error; without KeepGoing the
// first such error stops planning (planned.aborted). The error is for
// failures outside any unit.
func prepare(ctx context.Context, ws *Workspace, sel *Selection, o Options) (*planned, error) {
	bo := o.Build
	// Systems that share images share the compression of their files.
	bo.SharePacks = len(sel.Systems) > 1
	s, err := build.NewSession(bo)
	if err != nil {
		return nil, err
	}
	store, err := s.Store(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	pl := &planned{session: s, store: store}
	fail := func(u *unit, err error) bool {
		u.err, u.row.Status, u.row.Err = err, StatusFailed, err
		pl.aborted = !o.KeepGoing
		return pl.aborted
	}
	arch := bo.Arch
	if arch == "" {
		arch = "amd64"
	}
	popts := pkg.Options{Arch: arch, Store: store, SourceDateEpoch: bo.SourceDateEpoch, Locked: bo.Locked, UpdateLock: bo.Pull}
	plans := map[string]*pkg.Plan{}
	pkgErr := map[string]error{}
	planPkg := func(p *Package) (*pkg.Plan, error) {
		if pp, ok := plans[p.Name]; ok {
			return pp, nil
		}
		if err, ok := pkgErr[p.Name]; ok {
			return nil, err
		}
		pp, err := pkg.NewPlan(ctx, p.Def, store, popts)
		if err != nil {
			err = fmt.Errorf("package %s: %w", p.Name, err)
			pkgErr[p.Name] = err
			return nil, err
		}
		plans[p.Name] = pp
		return pp, nil
	}
	for _, p := range sel.Packages {
		u := &unit{row: Row{Name: p.Name, Kind: KindPackage, Status: StatusOK}}
		pl.units = append(pl.units, u)
		pp, err := planPkg(p)
		if err != nil {
			if fail(u, err) {
				return pl, nil
			}
			continue
		}
		u.pkg, u.row.Ref, u.targets = pp, pp.Ref, []*graph.Vertex{pp.Vertex}
	}
	for _, sys := range sel.Systems {
		u := &unit{row: Row{Name: sys.Name, Kind: KindSystem, Formats: sys.Formats, Status: StatusOK}}
		pl.units = append(pl.units, u)
		t := build.Target{Name: sys.Name, Specs: sys.Specs, LockPath: sys.LockPath, Formats: sys.Formats}
		t.FormatConfig = map[string]json.RawMessage{}
		for f, c := range o.FormatConfig {
			if contains(sys.Formats, f) {
				t.FormatConfig[f] = c
			}
		}
		for f, c := range sys.FormatConfig {
			if _, ok := t.FormatConfig[f]; !ok {
				t.FormatConfig[f] = c
			}
		}
		if sys.HCL {
			hs, err := loadHCLSystem(sys, o.Env, ws, planPkg)
			if err != nil {
				if fail(u, fmt.Errorf("system %s: %w", sys.Name, err)) {
					return pl, nil
				}
				continue
			}
			t.System = hs
		}
		t.Bind = func(ref string) (*build.Provided, error) {
			p := ws.packageOf(ref)
			if p == nil {
				return nil, nil
			}
			pp, err := planPkg(p)
			if err != nil {
				return nil, err
			}
			if _, tag, _ := splitPackageRef(ref); tag != "" && tag != pp.Tag {
				return nil, fmt.Errorf("names package %s (%s), whose content tag is now %s: write %s to follow the package, or %s",
					p.Name, rel(ws.Root, p.Dir), pp.Tag, p.Def.Image, pp.Ref)
			}
			c, err := pp.ImageConfig()
			if err != nil {
				return nil, err
			}
			return &build.Provided{Vertex: pp.Vertex, Config: v1.Config{
				Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User, Labels: c.Labels,
			}}, nil
		}
		bs, err := s.Add(ctx, t)
		if err != nil {
			if ctx.Err() != nil {
				return pl, ctx.Err()
			}
			if fail(u, fmt.Errorf("system %s: %w", sys.Name, err)) {
				return pl, nil
			}
			continue
		}
		u.sys, u.targets = bs, bs.Targets
	}
	var all []*graph.Vertex
	for _, u := range pl.units {
		all = append(all, u.targets...)
	}
	if pl.plan, err = graph.NewPlan(s.Env(), all...); err != nil {
		s.Close()
		return nil, err
	}
	return pl, nil
}

// loadHCLSystem loads an HCL system again, with its package references
// resolved to the packages' IMAGE:TAG.
func loadHCLSystem(sys *System, env []string, ws *Workspace, planPkg func(*Package) (*pkg.Plan, error)) (*spec.System, error) {
	f, err := spec.LoadHCL(sys.Specs[0], spec.HCLOptions{Env: env, Packages: func(b spec.PackageBlock) (string, error) {
		for _, p := range ws.Packages {
			if p.Dir == filepath.Clean(b.Dir) {
				pp, err := planPkg(p)
				if err != nil {
					return "", err
				}
				return pp.Ref, nil
			}
		}
		return "", fmt.Errorf("package %s: %s is not a package of the workspace", b.Name, b.Dir)
	}})
	if err != nil {
		return nil, err
	}
	ns, err := f.System(sys.Name)
	if err != nil {
		return nil, err
	}
	return ns.System, nil
}

// close releases the session.
func (pl *planned) close() { pl.session.Close() }

// Build plans the selection into one DAG and builds it: every package and
// system concurrently, through one solver, so that a node they share runs
// once. The report has a row per unit; Report.Err says whether any failed.
// The error is for failures outside any unit (the cache, the options).
func Build(ctx context.Context, ws *Workspace, sel *Selection, o Options) (*Report, error) {
	var mu sync.Mutex
	status := map[graph.Key]solver.EventType{}
	events := o.Build.Events
	o.Build.Events = func(e solver.Event) {
		switch e.Type {
		case solver.EventCached, solver.EventDone, solver.EventError:
			mu.Lock()
			status[e.Key] = e.Type
			mu.Unlock()
		}
		if events != nil {
			events(e)
		}
	}
	pl, err := prepare(ctx, ws, sel, o)
	if err != nil {
		return nil, err
	}
	defer pl.close()
	rep := &Report{}
	if pl.aborted {
		// A unit could not be planned and --keep-going is off: nothing
		// runs.
		planned := map[string]bool{}
		for _, u := range pl.units {
			if u.row.Status == StatusOK {
				u.row.Status = StatusCanceled
			}
			rep.Rows = append(rep.Rows, u.row)
			planned[u.row.Kind+" "+u.row.Name] = true
		}
		for _, p := range sel.Packages {
			if !planned[KindPackage+" "+p.Name] {
				rep.Rows = append(rep.Rows, Row{Name: p.Name, Kind: KindPackage, Status: StatusCanceled})
			}
		}
		for _, s := range sel.Systems {
			if !planned[KindSystem+" "+s.Name] {
				rep.Rows = append(rep.Rows, Row{Name: s.Name, Kind: KindSystem, Formats: s.Formats, Status: StatusCanceled})
			}
		}
		return rep, nil
	}
	rep.Nodes = len(pl.plan.Nodes)

	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, u := range pl.units {
		if u.err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pl.run(bctx, u, o)
			u.row.Took = time.Since(start)
			if err != nil {
				u.row.Err = err
				if bctx.Err() != nil && errors.Is(err, context.Canceled) {
					u.row.Status = StatusCanceled
				} else {
					u.row.Status = StatusFailed
					if !o.KeepGoing {
						cancel()
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, u := range pl.units {
		up, err := graph.NewPlan(pl.session.Env(), u.targets...)
		if err == nil {
			u.row.Nodes = len(up.Nodes)
			for _, n := range up.Nodes {
				switch status[n.Key] {
				case solver.EventCached:
					u.row.Hits++
				case solver.EventDone:
					u.row.Built++
				}
			}
		}
		rep.Rows = append(rep.Rows, u.row)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

// run solves one unit and publishes its results: a package's image is
// recorded in the cache's index under IMAGE:TAG, a system's artifacts are
// written to OutDir/NAME.
func (pl *planned) run(ctx context.Context, u *unit, o Options) error {
	up, err := graph.NewPlan(pl.session.Env(), u.targets...)
	if err != nil {
		return err
	}
	res, err := pl.session.Solve(ctx, up)
	if err != nil {
		if u.sys != nil {
			return u.sys.Locate(err)
		}
		return err
	}
	if u.pkg != nil {
		m, ok := res[up.Targets[0].Key].Get(pkg.ManifestName)
		if !ok {
			return fmt.Errorf("package %s: the image step made no manifest", u.row.Name)
		}
		return pl.store.AddImage(u.pkg.Ref, m.Digest, m.MediaType)
	}
	if o.OutDir == "" {
		return nil
	}
	dir := filepath.Join(o.OutDir, u.row.Name)
	arts, err := pl.session.Write(ctx, u.sys, res, dir, u.row.Name)
	if err != nil {
		return err
	}
	u.row.Artifacts = arts
	return nil
}
