package plugin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
)

// Default timeouts of a Host.
const (
	// DefaultStartTimeout bounds starting a plugin (exec and handshake)
	// and, separately, its describe call.
	DefaultStartTimeout = 30 * time.Second
	// DefaultBuildTimeout bounds one build call of a format component.
	DefaultBuildTimeout = 30 * time.Minute
)

// LogFunc receives a log line a plugin wrote while no build step of it was
// running (while it started or described itself).
type LogFunc func(plugin, level, msg string)

// Option sets an optional setting of a Host.
type Option func(*Host)

// WithSearchPath replaces the directories searched for plugins (default:
// SearchPath()).
func WithSearchPath(dirs ...Dir) Option {
	return func(h *Host) { h.dirs = append([]Dir(nil), dirs...); h.dirsSet = true }
}

// WithCache keeps plugin descriptions in a kit cache, keyed by the
// binary's checksum, so that later runs start only the plugins they use.
func WithCache(s *cache.Store) Option { return func(h *Host) { h.store = s } }

// WithBuildTimeout bounds each build call of a format component (default
// DefaultBuildTimeout); zero or less means no bound.
func WithBuildTimeout(d time.Duration) Option { return func(h *Host) { h.buildTimeout = d } }

// WithStartTimeout bounds starting a plugin and its describe call (default
// DefaultStartTimeout).
func WithStartTimeout(d time.Duration) Option { return func(h *Host) { h.startTimeout = d } }

// WithLog receives the log lines plugins write outside build steps.
func WithLog(f LogFunc) Option { return func(h *Host) { h.log = f } }

// Host finds the plugins of one kit process, describes them and runs them.
// It is safe for concurrent use; Close stops every plugin it started.
type Host struct {
	dirs         []Dir
	dirsSet      bool
	store        *cache.Store
	buildTimeout time.Duration
	startTimeout time.Duration
	log          LogFunc

	loadOnce sync.Once
	plugins  []*Plugin
	loadErr  error

	mu      sync.Mutex
	clients map[string]*running // by binary path
	closed  bool
}

// NewHost returns a host; it looks for plugins on first use.
func NewHost(opts ...Option) *Host {
	h := &Host{
		buildTimeout: DefaultBuildTimeout,
		startTimeout: DefaultStartTimeout,
		clients:      map[string]*running{},
	}
	for _, o := range opts {
		o(h)
	}
	if !h.dirsSet {
		h.dirs = SearchPath()
	}
	if h.startTimeout <= 0 {
		h.startTimeout = DefaultStartTimeout
	}
	return h
}

// BuildTimeout returns the bound of a build call (0: none).
func (h *Host) BuildTimeout() time.Duration { return h.buildTimeout }

// Plugin is a discovered plugin binary with what it said about itself.
type Plugin struct {
	Binary
	// Digest is the binary's sha256, computed when the plugin was found.
	Digest graph.Digest
	// Description is the plugin's answer to describe; nil when Err is set.
	Description *sdk.Description
	// Cached reports whether Description came from the cache.
	Cached bool
	// Err is why the plugin could not be described (it is then unusable).
	Err error
	// Formats are its format components, by name; a component the host
	// cannot use (a bad name or schema) is in Invalid instead.
	Formats map[string]*Format
	Invalid map[string]error
}

// Protocol returns the protocol version the plugin speaks (0 if unknown).
func (p *Plugin) Protocol() int {
	if p.Description == nil {
		return 0
	}
	return p.Description.Protocol
}

// Version returns the plugin's version ("" if unknown).
func (p *Plugin) Version() string {
	if p.Description == nil {
		return ""
	}
	return p.Description.Version
}

func (p *Plugin) String() string { return fmt.Sprintf("plugin %s (%s)", p.Name, p.Path) }

// Plugins returns every plugin found, sorted by name, each described (from
// the cache, or by starting it). A plugin that cannot be described is
// returned with Err set; the error is about the search itself.
func (h *Host) Plugins(ctx context.Context) ([]*Plugin, error) {
	h.loadOnce.Do(func() { h.plugins, h.loadErr = h.load(ctx) })
	return h.plugins, h.loadErr
}

// Plugin returns the plugin called name.
func (h *Host) Plugin(ctx context.Context, name string) (*Plugin, error) {
	ps, err := h.Plugins(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no plugin %q (looked for %s%s in %s)", name, BinaryPrefix, name, h.searched())
}

func (h *Host) searched() string {
	if len(h.dirs) == 0 {
		return "no directory"
	}
	var s []string
	for _, d := range h.dirs {
		s = append(s, d.Path)
	}
	return strings.Join(s, ", ")
}

// ErrUnknownFormat is wrapped by Format's error for a name no plugin serves.
var ErrUnknownFormat = errors.New("no plugin serves the format")

// Format returns the format component called name. It fails when no plugin
// serves it, and when two plugins do (naming both binaries).
func (h *Host) Format(ctx context.Context, name string) (*Format, error) {
	ps, err := h.Plugins(ctx)
	if err != nil {
		return nil, err
	}
	var found []*Format
	var broken []string
	for _, p := range ps {
		if f, ok := p.Formats[name]; ok {
			found = append(found, f)
		}
		if err, ok := p.Invalid[name]; ok {
			return nil, fmt.Errorf("format %s of %s: %w", name, p, err)
		}
		if p.Err != nil {
			broken = append(broken, fmt.Sprintf("%s: %v", p, p.Err))
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		msg := fmt.Sprintf("%q (searched %s", name, h.searched())
		if len(broken) > 0 {
			msg += "; could not describe " + strings.Join(broken, "; ")
		}
		return nil, fmt.Errorf("%w %s)", ErrUnknownFormat, msg)
	}
	var who []string
	for _, f := range found {
		who = append(who, f.plugin.Path)
	}
	return nil, fmt.Errorf("format %s is served by %d plugins: %s; remove or rename one of them", name, len(found), strings.Join(who, " and "))
}

// FormatNames returns the names of every format the plugins serve, sorted
// (a name served twice is listed once).
func (h *Host) FormatNames(ctx context.Context) []string {
	ps, _ := h.Plugins(ctx)
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		for n := range p.Formats {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// load discovers, checksums and describes every plugin.
func (h *Host) load(ctx context.Context) ([]*Plugin, error) {
	bins, err := Discover(h.dirs)
	ps := make([]*Plugin, len(bins))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, b := range bins {
		p := &Plugin{Binary: *b}
		ps[i] = p
		g.Go(func() error {
			h.describe(gctx, p)
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return ps, err
}

// describe fills in p's digest and description.
func (h *Host) describe(ctx context.Context, p *Plugin) {
	d, err := FileDigest(ctx, p.Path)
	if err != nil {
		p.Err = fmt.Errorf("checksum: %w", err)
		return
	}
	p.Digest = d
	if desc, ok := h.cachedDescription(ctx, d); ok {
		p.Description, p.Cached = desc, true
	} else {
		desc, err := h.describeLive(ctx, p)
		if err != nil {
			p.Err = err
			return
		}
		p.Description = desc
		h.storeDescription(ctx, p, desc)
	}
	p.Formats, p.Invalid = map[string]*Format{}, map[string]error{}
	for _, c := range p.Description.Components {
		if c.Kind != sdk.KindFormat {
			continue
		}
		f, err := newFormat(h, p, c)
		if err != nil {
			p.Invalid[c.Name] = err
			continue
		}
		if _, dup := p.Formats[c.Name]; dup {
			p.Invalid[c.Name] = fmt.Errorf("served twice")
			delete(p.Formats, c.Name)
			continue
		}
		p.Formats[c.Name] = f
	}
}

// describeLive starts the plugin and asks it to describe itself. The
// client is kept for the build that follows.
func (h *Host) describeLive(ctx context.Context, p *Plugin) (*sdk.Description, error) {
	r, err := h.client(ctx, p)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, h.startTimeout)
	defer cancel()
	desc, err := r.c.Describe(dctx)
	if err != nil {
		h.drop(p, r)
		if dctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("describe: no answer within %v", h.startTimeout)
		}
		return nil, fmt.Errorf("describe: %w", err)
	}
	if desc.Protocol == 0 {
		desc.Protocol = r.c.Protocol()
	}
	return desc, nil
}

// running is a started plugin process.
type running struct {
	c    *client.Client
	name string
	host *Host

	mu    sync.Mutex
	sinks map[*sink]bool
}

// sink receives the log lines of one build call of a component.
type sink struct {
	component string
	scratch   string        // the call's scratch directory
	done      chan struct{} // closed by the plugin's last log line of the call
	doneOnce  sync.Once
	logf      func(format string, args ...any)
}

// wait waits until the plugin's last log line of the call arrived (every
// earlier one has then been delivered), for at most d.
func (s *sink) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	}
}

func (r *running) addSink(s *sink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sinks[s] = true
}

func (r *running) removeSink(s *sink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sinks, s)
}

// logLine routes a plugin's log line to the build steps it is running, or
// to the host's log when it runs none.
//
// The SDK tags the lines a component logs while it builds with the field
// "component"; they go to that component's step only (to every step of the
// plugin when none of them matches).
func (r *running) logLine(level, msg string, fields map[string]any) {
	component, _ := fields["component"].(string)
	if scratch, ok := fields[sdk.BuildDoneField].(string); ok && msg == sdk.BuildDoneMessage {
		r.mu.Lock()
		for s := range r.sinks {
			if s.scratch == scratch {
				s.doneOnce.Do(func() { close(s.done) })
			}
		}
		r.mu.Unlock()
		return
	}
	line := msg
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "component" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		line += fmt.Sprintf(" %s=%v", k, fields[k])
	}
	r.mu.Lock()
	var sinks, all []*sink
	for s := range r.sinks {
		all = append(all, s)
		if s.component == component {
			sinks = append(sinks, s)
		}
	}
	r.mu.Unlock()
	if len(sinks) == 0 {
		sinks = all
	}
	if len(sinks) == 0 {
		if r.host.log != nil {
			r.host.log(r.name, level, line)
		}
		return
	}
	for _, s := range sinks {
		s.logf("plugin %s: %s: %s", r.name, level, line)
	}
}

// client returns the running client of p, starting the plugin if needed.
// The binary must still have the digest it had when it was found (the one
// the lock file was checked against).
func (h *Host) client(ctx context.Context, p *Plugin) (*running, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errors.New("plugin host closed")
	}
	if r, ok := h.clients[p.Path]; ok {
		h.mu.Unlock()
		return r, nil
	}
	h.mu.Unlock()

	sum, err := hex.DecodeString(p.Digest.Hex())
	if err != nil {
		return nil, err
	}
	r := &running{name: p.Name, host: h, sinks: map[*sink]bool{}}
	// The client checks the binary against sum before it starts it, and
	// go-plugin once more right before exec.
	c, err := client.Start(ctx, p.Path,
		client.WithChecksum(sum),
		client.WithStartTimeout(h.startTimeout),
		client.WithLogger(r.logLine),
	)
	if errors.Is(err, client.ErrChecksumMismatch) {
		have, derr := FileDigest(ctx, p.Path)
		if derr != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
		return nil, &ChangedError{Plugin: p.Name, Path: p.Path, Want: p.Digest, Have: have, During: true}
	}
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) {
			err = ce.Err
		}
		return nil, fmt.Errorf("start: %w", err)
	}
	r.c = c
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		_ = c.Close()
		return nil, errors.New("plugin host closed")
	}
	if other, ok := h.clients[p.Path]; ok {
		// Another caller started it meanwhile: use theirs.
		go c.Close()
		return other, nil
	}
	h.clients[p.Path] = r
	return r, nil
}

// drop stops a client that failed, so that the next use starts the plugin
// afresh. It returns when the process has exited.
func (h *Host) drop(p *Plugin, r *running) {
	h.mu.Lock()
	if h.clients[p.Path] == r {
		delete(h.clients, p.Path)
	}
	h.mu.Unlock()
	_ = r.c.Close()
}

// Close stops every plugin the host started and waits for them to exit.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	rs := make([]*running, 0, len(h.clients))
	for _, r := range h.clients {
		rs = append(rs, r)
	}
	h.clients = map[string]*running{}
	h.mu.Unlock()
	var errs []error
	for _, r := range rs {
		if err := r.c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}

// ChangedError is the error for a plugin binary whose checksum is not the
// one the lock file pins (or, with During set, not the one it had when the
// build started).
type ChangedError struct {
	Plugin string
	Path   string
	Want   graph.Digest // locked (or first seen)
	Have   graph.Digest // the binary now
	During bool
}

func (e *ChangedError) Error() string {
	if e.During {
		return fmt.Sprintf("plugin %s (%s) changed while kit was running: it was sha256:%s, is now sha256:%s; run the build again",
			e.Plugin, e.Path, e.Want.Hex(), e.Have.Hex())
	}
	return fmt.Sprintf("plugin %s (%s) changed since it was locked: lock sha256:%s, binary sha256:%s; rerun with --update-lock to accept it",
		e.Plugin, e.Path, e.Want.Hex(), e.Have.Hex())
}

// CheckPin compares a plugin with its pin in a lock file: it returns a
// *ChangedError when the binary's checksum differs from the pinned one.
func CheckPin(p *Plugin, pinned graph.Digest) error {
	if pinned != "" && pinned != p.Digest {
		return &ChangedError{Plugin: p.Name, Path: p.Path, Want: pinned, Have: p.Digest}
	}
	return nil
}
