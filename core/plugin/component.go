package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
)

// ImageNeedPrefix starts the need name under which the planner passes the
// unpacked image NAME of a component: "image:NAME" (see format.Op.Needs).
const ImageNeedPrefix = "image:"

// ImagesKey is the configuration key kit reserves in every plugin format's
// configuration: {"images": {"NAME": "REF"}} replaces the default reference
// of a declared image. It is taken out before the rest is validated
// against the component's schema and passed to the plugin.
const ImagesKey = "images"

// initrdOutput is the output of the built-in kernel+initrd format a need of
// "initrd.img" gets.
const initrdOutput = "-initrd.img"

// hostInputs are the needs served by the assemble step, which every
// plugin format gets anyway.
var hostInputs = map[string]bool{sdk.InputRootfs: true, sdk.InputKernel: true, sdk.InputCmdline: true, sdk.InputUcode: true}

// Format is a format component served by a plugin, as a core/format.Format:
// a format step runs it like a built-in one, with the plugin's checksum and
// protocol in its cache key.
type Format struct {
	host    *Host
	plugin  *Plugin
	comp    sdk.Component
	schema  *Schema
	outputs []string
	media   map[string]string
}

var (
	_ format.PluginFormat    = (*Format)(nil)
	_ format.ConfigValidator = (*Format)(nil)
)

// validName is a format or image name kit accepts from a plugin.
func validName(n string) error {
	if n == "" || strings.TrimSpace(n) != n || strings.ContainsAny(n, ":/\\ \t\n=,") {
		return fmt.Errorf("invalid name %q", n)
	}
	return nil
}

func newFormat(h *Host, p *Plugin, c sdk.Component) (*Format, error) {
	if err := validName(c.Name); err != nil {
		return nil, err
	}
	if c.Version == "" {
		return nil, errors.New("no version")
	}
	f := &Format{host: h, plugin: p, comp: c, media: map[string]string{}}
	if len(c.Outputs) == 0 {
		return nil, errors.New("declares no outputs")
	}
	for _, o := range c.Outputs {
		if o.Suffix == "" || strings.ContainsAny(o.Suffix, "/\\") || f.media[o.Suffix] != "" {
			return nil, fmt.Errorf("invalid or duplicate output suffix %q", o.Suffix)
		}
		mt := o.MediaType
		if mt == "" {
			mt = format.MediaTypeBinary
		}
		f.media[o.Suffix] = mt
		f.outputs = append(f.outputs, o.Suffix)
	}
	for _, n := range c.Needs {
		if hostInputs[n] || n == sdk.InputInitrd {
			continue
		}
		if err := validName(n); err != nil {
			return nil, fmt.Errorf("need: %w", err)
		}
		if n == c.Name {
			return nil, errors.New("needs itself")
		}
	}
	seen := map[string]bool{}
	for _, im := range c.Images {
		if err := validName(im.Name); err != nil || seen[im.Name] {
			return nil, fmt.Errorf("image: invalid or duplicate name %q", im.Name)
		}
		seen[im.Name] = true
		if im.Default == "" {
			return nil, fmt.Errorf("image %s: no default reference", im.Name)
		}
	}
	s, err := CompileSchema(c.ConfigSchema)
	if err != nil {
		return nil, err
	}
	if s.HasProperty(ImagesKey) {
		return nil, fmt.Errorf("config schema declares %q, which kit reserves for image references", ImagesKey)
	}
	f.schema = s
	return f, nil
}

// Name implements format.Format.
func (f *Format) Name() string { return f.comp.Name }

// Version implements format.Format: the component's version.
func (f *Format) Version() string { return f.comp.Version }

// Outputs implements format.Format.
func (f *Format) Outputs() []string { return append([]string(nil), f.outputs...) }

// Plugin implements format.PluginFormat: the binary's checksum and the
// protocol it speaks enter the cache key.
func (f *Format) Plugin() (graph.Digest, int) { return f.plugin.Digest, f.plugin.Protocol() }

// Served returns the plugin serving the format.
func (f *Format) Served() *Plugin { return f.plugin }

// Component returns the component's description.
func (f *Format) Component() sdk.Component { return f.comp }

// Schema returns the component's configuration schema.
func (f *Format) Schema() *Schema { return f.schema }

// Needs returns what the format needs besides the assemble step's outputs:
// "initrd.img" and names of other formats, in the order declared.
func (f *Format) Needs() []string {
	var out []string
	for _, n := range f.comp.Needs {
		if !hostInputs[n] {
			out = append(out, n)
		}
	}
	return out
}

// Images returns the images the component declares.
func (f *Format) Images() []sdk.Image { return append([]sdk.Image(nil), f.comp.Images...) }

// ValidateConfig implements format.ConfigValidator: the configuration
// (without the "images" key, see SplitConfig) must satisfy the component's
// JSON Schema.
func (f *Format) ValidateConfig(config json.RawMessage) error {
	rest, _, err := f.SplitConfig(config)
	if err != nil {
		return err
	}
	return f.schema.Validate(rest)
}

// SplitConfig takes the "images" key out of a configuration: it returns
// the rest and the image references it sets, by image name. Each name must
// be an image the component declares, each reference a string.
func (f *Format) SplitConfig(config json.RawMessage) (json.RawMessage, map[string]string, error) {
	if format.EmptyConfig(config) {
		return nil, nil, nil
	}
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(config))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, nil, fmt.Errorf("want a JSON object: %s", bytes.TrimSpace(config))
	}
	raw, ok := m[ImagesKey]
	if !ok {
		return config, nil, nil
	}
	delete(m, ImagesKey)
	var images map[string]string
	if err := json.Unmarshal(raw, &images); err != nil {
		return nil, nil, fmt.Errorf("%s: want an object of image name to reference: %s", ImagesKey, raw)
	}
	declared := map[string]bool{}
	var names []string
	for _, im := range f.comp.Images {
		declared[im.Name] = true
		names = append(names, im.Name)
	}
	for n, ref := range images {
		if !declared[n] {
			if len(names) == 0 {
				return nil, nil, fmt.Errorf("%s.%s: format %s uses no images", ImagesKey, n, f.comp.Name)
			}
			return nil, nil, fmt.Errorf("%s.%s: format %s has no image %q (its images: %s)", ImagesKey, n, f.comp.Name, n, strings.Join(names, ", "))
		}
		if strings.TrimSpace(ref) == "" {
			return nil, nil, fmt.Errorf("%s.%s: empty reference", ImagesKey, n)
		}
	}
	if len(m) == 0 {
		return nil, images, nil
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	return rest, images, nil
}

// Error is the error of a plugin format step: it names the plugin, its
// binary and the component.
type Error struct {
	Plugin    string
	Path      string
	Component string
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("plugin %s (%s), format %s: %v", e.Plugin, e.Path, e.Component, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// TimeoutError is the cause of an Error when a build call took longer than
// the host's build timeout.
type TimeoutError struct{ After string }

func (e *TimeoutError) Error() string {
	return "no answer within " + e.After + " (--plugin-timeout); the plugin was stopped"
}

func (f *Format) fail(err error) error {
	return &Error{Plugin: f.plugin.Name, Path: f.plugin.Path, Component: f.comp.Name, Err: err}
}

// Write implements format.Format: it passes the inputs to the plugin as
// read-only paths into the store, lets it write into a scratch directory,
// and moves each file it reports into the store, verifying its digest on
// the way in.
func (f *Format) Write(ctx context.Context, x graph.Exec, in format.Input, opts format.Options) ([]graph.Output, error) {
	scratch, err := x.TempDir()
	if err != nil {
		return nil, f.fail(err)
	}
	req := client.BuildRequest{
		Inputs:          map[string]sdk.Input{},
		Images:          map[string]sdk.Input{},
		Config:          opts.Config,
		SourceDateEpoch: opts.SourceDateEpoch,
		ScratchDir:      scratch,
		Arch:            opts.Arch,
	}
	if req.Arch == "" {
		req.Arch = "amd64"
	}
	if format.EmptyConfig(req.Config) {
		req.Config = nil
	}
	add := func(m map[string]sdk.Input, name string, o graph.Output) error {
		p, err := x.Path(o.Digest)
		if err != nil {
			return fmt.Errorf("input %s: %w", name, err)
		}
		m[name] = sdk.Input{Path: p, Digest: string(o.Digest)}
		return nil
	}
	for name, o := range map[string]graph.Output{
		sdk.InputRootfs: in.Rootfs, sdk.InputKernel: in.Kernel, sdk.InputCmdline: in.Cmdline, sdk.InputUcode: in.UCode,
	} {
		if format.Has(o) {
			if err := add(req.Inputs, name, o); err != nil {
				return nil, f.fail(err)
			}
		}
	}
	for need, r := range in.Needs {
		switch {
		case need == sdk.InputInitrd:
			o, ok := r.Get(initrdOutput)
			if !ok {
				return nil, f.fail(fmt.Errorf("input %s: the kernel+initrd step has no %s output", need, initrdOutput))
			}
			err = add(req.Inputs, need, o)
		case strings.HasPrefix(need, ImageNeedPrefix):
			o, ok := r.Get(format.RootfsOutput)
			if !ok {
				return nil, f.fail(fmt.Errorf("image %s: no %s", strings.TrimPrefix(need, ImageNeedPrefix), format.RootfsOutput))
			}
			err = add(req.Images, strings.TrimPrefix(need, ImageNeedPrefix), o)
		default:
			for _, o := range r.Outputs {
				if err = add(req.Inputs, need+"/"+o.Name, o); err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, f.fail(err)
		}
	}

	r, err := f.host.client(ctx, f.plugin)
	if err != nil {
		var ce *ChangedError
		if errors.As(err, &ce) {
			return nil, err // it names the plugin already
		}
		return nil, f.fail(err)
	}
	s := &sink{component: f.comp.Name, scratch: req.ScratchDir, done: make(chan struct{}), logf: x.Logf}
	r.addSink(s)
	// The timeout cancels the call rather than giving it a deadline: a
	// deadline travels to the plugin, whose server may then end the call
	// before the host sees its own deadline pass, and the host could not
	// tell a timeout from a failure.
	bctx, cancel := context.WithCancel(ctx)
	var timedOut atomic.Bool
	if t := f.host.buildTimeout; t > 0 {
		timer := time.AfterFunc(t, func() {
			timedOut.Store(true)
			cancel()
		})
		defer timer.Stop()
	}
	arts, err := r.c.BuildFormat(bctx, f.comp.Name, req)
	cancel()
	if err == nil || answered(err) {
		// The plugin answered: its last log lines may still be on their
		// way (logs travel apart from the answer).
		s.wait(2 * time.Second)
	}
	r.removeSink(s)
	if err != nil {
		// Unless the plugin simply answered with an error, stop it before
		// returning: nothing may write into the scratch directory once the
		// step is over, and a plugin that failed this way is not trusted
		// with the next step. (The SDK client has already stopped a plugin
		// that died or whose call was cancelled; drop forgets it.)
		if !answered(err) || timedOut.Load() || ctx.Err() != nil {
			f.host.drop(f.plugin, r)
		}
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case timedOut.Load():
			return nil, f.fail(&TimeoutError{After: f.host.buildTimeout.String()})
		}
		return nil, f.fail(explain(err))
	}
	outs, err := f.ingest(ctx, x, scratch, arts)
	if err != nil {
		f.host.drop(f.plugin, r)
		return nil, f.fail(err)
	}
	return outs, nil
}

// answered reports whether a failed build call is the plugin's own answer
// (its Build returned an error), after which the plugin is still sound.
func answered(err error) bool {
	for _, e := range []error{client.ErrPluginExited, client.ErrBadArtifact, client.ErrClosed, client.ErrChecksumMismatch, client.ErrIncompatibleProtocol, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// explain turns a failed build call into a message for users: the SDK's
// *client.Error names the plugin and component, which Error does already.
func explain(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		err = ce.Err
	}
	switch {
	case errors.Is(err, client.ErrPluginExited):
		return fmt.Errorf("the plugin process died during the build: %w", err)
	}
	return err
}

// ingest checks the artifacts against the declared outputs and moves each
// into the store, in the declared order.
func (f *Format) ingest(ctx context.Context, x graph.Exec, scratch string, arts []client.Artifact) ([]graph.Output, error) {
	bySuffix := map[string]client.Artifact{}
	for _, a := range arts {
		if _, ok := f.media[a.Suffix]; !ok {
			return nil, fmt.Errorf("returned an output with suffix %q, which it does not declare (%s)", a.Suffix, strings.Join(f.outputs, ", "))
		}
		if _, dup := bySuffix[a.Suffix]; dup {
			return nil, fmt.Errorf("returned output %q twice", a.Suffix)
		}
		bySuffix[a.Suffix] = a
	}
	var missing []string
	for _, s := range f.outputs {
		if _, ok := bySuffix[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("returned no output %s", strings.Join(missing, ", "))
	}
	outs := make([]graph.Output, 0, len(f.outputs))
	for _, s := range f.outputs {
		a := bySuffix[s]
		o, err := moveIn(ctx, x, scratch, a)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", s, err)
		}
		o.Name, o.MediaType = s, f.media[s]
		if a.MediaType != "" {
			o.MediaType = a.MediaType
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// mover is implemented by graph.Exec implementations that can move a file
// into the store without copying it.
type mover interface {
	MoveFile(ctx context.Context, path string, want graph.Digest) (graph.Output, error)
}

// moveIn puts one artifact into the store, verifying that it is a regular
// file inside the scratch directory with the digest and size the plugin
// reported.
func moveIn(ctx context.Context, x graph.Exec, scratch string, a client.Artifact) (graph.Output, error) {
	want, err := graph.ParseDigest(a.Digest)
	if err != nil {
		return graph.Output{}, err
	}
	rel, err := filepath.Rel(scratch, a.Path)
	if err != nil || !filepath.IsAbs(a.Path) || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return graph.Output{}, fmt.Errorf("path %s is outside the scratch directory", a.Path)
	}
	file, err := os.OpenFile(a.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return graph.Output{}, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return graph.Output{}, err
	}
	if !fi.Mode().IsRegular() {
		return graph.Output{}, fmt.Errorf("%s is not a regular file", a.Path)
	}
	if fi.Size() != a.Size {
		return graph.Output{}, fmt.Errorf("%s has %d bytes, the plugin reported %d", a.Path, fi.Size(), a.Size)
	}
	var out graph.Output
	if m, ok := x.(mover); ok {
		out, err = m.MoveFile(ctx, a.Path, want)
	} else {
		out, err = copyIn(ctx, x, file, want)
	}
	if err != nil {
		return graph.Output{}, fmt.Errorf("the plugin reported %s: %w", want, err)
	}
	if out.Size != a.Size {
		return graph.Output{}, fmt.Errorf("stored %d bytes, the plugin reported %d", out.Size, a.Size)
	}
	return out, nil
}

func copyIn(ctx context.Context, x graph.Exec, r io.Reader, want graph.Digest) (graph.Output, error) {
	bw, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer bw.Close()
	if _, err := io.Copy(bw, format.ContextReader(ctx, r)); err != nil {
		return graph.Output{}, err
	}
	return bw.Commit("", "", want)
}
