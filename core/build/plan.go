package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/format/initrd"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/plugin"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/assemble"
	"github.com/kitbuild/kit/core/steps/fetch"
	"github.com/kitbuild/kit/core/steps/files"
	"github.com/kitbuild/kit/core/steps/kernel"
	"github.com/kitbuild/kit/core/steps/runtime"
	"github.com/kitbuild/kit/core/steps/unpack"
	"github.com/kitbuild/kit/sdk"
)

// planner lays out the DAG of one system.
type planner struct {
	sys      *spec.System
	images   *imageSet
	resolver *fetch.Resolver
	epoch    int64
	// packs wires initrd-pack steps into the initramfs formats
	// (Options.SharePacks).
	packs bool
	// prefix starts the names of the system's own nodes (runtime, files,
	// assemble, format) in a session of several systems: "web: ".
	prefix string

	fetches  map[graph.Digest]*graph.Vertex
	unpacks  map[unpackID]*graph.Vertex
	formatVs map[string]*graph.Vertex
	packVs   map[packID]*graph.Vertex
	rootfsV  *graph.Vertex
	// where maps node names to the spec location that caused them.
	where map[string]spec.Pos
}

func (p *planner) vertex(name string, pos spec.Pos, op graph.Op, inputs ...*graph.Vertex) *graph.Vertex {
	if _, ok := p.where[name]; !ok {
		p.where[name] = pos
	}
	return graph.NewVertex(name, op, inputs...)
}

// unpackID identifies an unpack vertex: the vertex making the image, and
// the mode.
type unpackID struct {
	image *graph.Vertex
	mode  unpack.Mode
}

// fetch returns the (shared) fetch vertex of an image, or the vertex of the
// graph the reference is bound to (Target.Bind).
func (p *planner) fetch(ref string, pos spec.Pos) (*graph.Vertex, *fetch.Image, error) {
	img := p.images.byRef[ref]
	if v, ok := p.images.provided[ref]; ok {
		return v, img, nil
	}
	if v, ok := p.fetches[img.Digest]; ok {
		return v, img, nil
	}
	op, err := p.resolver.Op(img)
	if err != nil {
		return nil, nil, &spec.Error{Pos: pos, Msg: "image " + ref, Err: err}
	}
	v := p.vertex("fetch "+img.DigestRef(), pos, op)
	p.fetches[img.Digest] = v
	return v, img, nil
}

// unpack returns the (shared) unpack vertex of an image in a mode: an
// image used by several containers is unpacked once.
func (p *planner) unpack(ref string, mode unpack.Mode, pos spec.Pos) (*graph.Vertex, error) {
	fv, _, err := p.fetch(ref, pos)
	if err != nil {
		return nil, err
	}
	id := unpackID{fv, mode}
	if v, ok := p.unpacks[id]; ok {
		return v, nil
	}
	v := p.vertex(fmt.Sprintf("unpack %s (%s)", ref, mode), pos,
		unpack.Op{Mode: mode, Image: ref, SourceDateEpoch: p.epoch}, fv)
	p.unpacks[id] = v
	return v, nil
}

// plan returns one format vertex per selected format, in order; the
// formats they need are wired in as their inputs.
func (p *planner) plan(set *formatSet, formats []string) ([]*graph.Vertex, error) {
	p.fetches = map[graph.Digest]*graph.Vertex{}
	p.unpacks = map[unpackID]*graph.Vertex{}
	p.formatVs = map[string]*graph.Vertex{}
	p.packVs = map[packID]*graph.Vertex{}
	p.rootfsV = nil
	p.where = map[string]spec.Pos{}
	sys, src := p.sys, p.sys.Sources

	// Merge every container entry with its image's label, then allocate
	// uid/gid names over the merged system.
	merged := *sys
	var err error
	if merged.Onboot, err = p.mergeLabels("onboot", sys.Onboot); err != nil {
		return nil, err
	}
	if merged.Onshutdown, err = p.mergeLabels("onshutdown", sys.Onshutdown); err != nil {
		return nil, err
	}
	if merged.Services, err = p.mergeLabels("services", sys.Services); err != nil {
		return nil, err
	}
	ids, err := runtime.AllocateIDs(&merged)
	if err != nil {
		return nil, err
	}

	var inputs []*graph.Vertex
	add := func(v *graph.Vertex) int {
		inputs = append(inputs, v)
		return len(inputs) - 1
	}
	layout := assemble.NewLayout(p.epoch)

	if k := sys.Kernel; k != nil {
		pos := src.Nearest("kernel.image")
		fv, _, err := p.fetch(k.Image, pos)
		if err != nil {
			return nil, err
		}
		op := kernel.FromSpec(*k, p.epoch)
		kv := p.vertex("kernel "+k.Image, pos, op, fv)
		layout.Kernel(add(kv), k.Cmdline, op.Tar != "" && op.Tar != "none", op.UCode != "" && op.UCode != "none")
	}
	for i, ref := range sys.Init {
		v, err := p.unpack(ref, unpack.Init, src.Nearest(fmt.Sprintf("init[%d]", i)))
		if err != nil {
			return nil, err
		}
		layout.Init(add(v))
	}
	for i, vol := range sys.Volumes {
		pos := src.Nearest(fmt.Sprintf("volumes[%d]", i))
		if vol.Format == "oci" {
			return nil, &spec.Error{Pos: pos, Msg: "volume " + vol.Name, Err: fmt.Errorf("format: oci volumes are not supported yet; use format: filesystem")}
		}
		if vol.Image == "" {
			layout.Volume(assemble.Volume{Name: vol.Name, Blank: true})
			continue
		}
		v, err := p.unpack(vol.Image, unpack.Volume, pos)
		if err != nil {
			return nil, err
		}
		layout.Volume(assemble.Volume{Name: vol.Name, Input: add(v)})
	}
	for _, sec := range sections(&merged) {
		for i, e := range sec.entries {
			path := fmt.Sprintf("%s[%d]", sec.name, i)
			pos := src.Nearest(path)
			uv, err := p.unpack(e.Image, unpack.Container, pos)
			if err != nil {
				return nil, err
			}
			img := p.images.byRef[e.Image]
			cfg := img.Config.Config
			rop := runtime.Op{Entry: e, IDs: ids, Image: runtime.ImageConfig{
				Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User,
			}}
			if _, err := rop.Params(); err != nil {
				// Point at the field at fault when the spec sets it (else at
				// the entry: the value came from the image's label).
				at := pos
				var re *runtime.Error
				if errors.As(err, &re) && re.Field != "" {
					at = src.Nearest(path + "." + re.Field)
				}
				return nil, &spec.Error{Pos: at, Msg: path + " (" + e.Name + ")", Err: err}
			}
			rv := p.vertex(p.prefix+"runtime "+sec.name+"/"+e.Name, pos, rop)
			layout.Container(assemble.Container{
				Section:  assemble.Section(sec.name),
				Index:    i,
				Name:     e.Name,
				Readonly: e.Readonly != nil && *e.Readonly,
				Rootfs:   add(uv),
				Runtime:  add(rv),
			})
		}
	}
	if len(sys.Files) > 0 {
		entries, err := files.Resolve(sys.Files, files.ResolveOptions{
			Home:    homeDir(),
			BaseDir: ".",
			Metadata: func(f string) ([]byte, error) {
				return merged.Encode(f)
			},
			IDs:     func(name string) (uint32, error) { return ids.Resolve(spec.NamedID(name)) },
			Sources: src,
		})
		if err != nil {
			return nil, err
		}
		fv := p.vertex(p.prefix+"files", src.Nearest("files"), files.Op{Entries: entries, SourceDateEpoch: p.epoch})
		layout.Files(add(fv))
	}
	aop, err := layout.Op()
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	av := p.vertex(p.prefix+"assemble", spec.Pos{}, aop, inputs...)

	var targets []*graph.Vertex
	for _, f := range formats {
		v, err := p.formatVertex(set, f, av)
		if err != nil {
			return nil, err
		}
		targets = append(targets, v)
	}
	return targets, nil
}

// mergeLabels returns the entries of a section merged with their images'
// org.mobyproject.config labels (spec over label over image config).
func (p *planner) mergeLabels(section string, entries []*spec.Image) ([]*spec.Image, error) {
	out := make([]*spec.Image, len(entries))
	for i, e := range entries {
		img := p.images.byRef[e.Image]
		label := img.MobyConfig()
		if label == nil {
			out[i] = e
			continue
		}
		m, err := spec.MergeLabel(e, label, e.Image)
		if err != nil {
			return nil, &spec.Error{Pos: p.sys.Sources.Nearest(fmt.Sprintf("%s[%d]", section, i)), Msg: fmt.Sprintf("%s[%d] (%s)", section, i, e.Name), Err: err}
		}
		out[i] = m
	}
	return out, nil
}

// formatNode is one format a build runs: selected with -f, or needed by
// one that is.
type formatNode struct {
	name string
	f    format.Format
	pf   *plugin.Format // nil: built in
	op   graph.Op
	// needs are the names of the op's inputs after the assemble step:
	// "initrd.img" (the kernel+initrd node), a format name (that format's
	// node), or "image:NAME" (the unpacked image NAME).
	needs []string
	// images maps each image the format declares to the reference used.
	images map[string]string
	order  []string // image names, in declared order
	// opts made op; formats that take packs get their op per system.
	opts format.Options
}

// formatSet is every format a build runs, by name, with the plugin host
// that serves the plugin ones.
type formatSet struct {
	nodes map[string]*formatNode
	order []string // needs before their users
	host  *plugin.Host
}

// plugins returns the distinct plugins serving the set's formats, by name.
func (s *formatSet) plugins() []*plugin.Plugin {
	seen := map[string]bool{}
	var out []*plugin.Plugin
	for _, name := range s.order {
		if pf := s.nodes[name].pf; pf != nil && !seen[pf.Served().Name] {
			seen[pf.Served().Name] = true
			out = append(out, pf.Served())
		}
	}
	return out
}

// imageRefs returns the image references the set's formats use.
func (s *formatSet) imageRefs() []string {
	var out []string
	for _, name := range s.order {
		n := s.nodes[name]
		for _, im := range n.order {
			out = append(out, n.images[im])
		}
	}
	return out
}

// diskSizeKey is the configuration property --disk-size sets.
const diskSizeKey = "diskSize"

// resolveFormats looks up the selected formats and the ones they need
// (built-in formats first, then the plugins' formats), applies the
// configurations of --format-config and --disk-size, and builds each
// format's op, which validates its configuration: all before any work.
// newHost returns the plugin host, made on first use.
func resolveFormats(ctx context.Context, o *Options, arch string, newHost func() *plugin.Host) (*formatSet, error) {
	set := &formatSet{nodes: map[string]*formatNode{}}
	builtins := builtinFormats()
	lookup := func(name string) (format.Format, *plugin.Format, error) {
		if builtins {
			if f, ok := format.Lookup(name); ok {
				return f, nil, nil
			}
		}
		if set.host == nil {
			set.host = newHost()
		}
		pf, err := set.host.Format(ctx, name)
		if errors.Is(err, plugin.ErrUnknownFormat) {
			known := "none found"
			if names := set.host.FormatNames(ctx); len(names) > 0 {
				known = strings.Join(names, ", ")
			}
			builtin := strings.Join(format.Names(), ", ")
			if !builtins {
				builtin = "none, " + BuiltinFormatsEnv + "=off"
			}
			return nil, nil, fmt.Errorf("%w %q (built in: %s; from plugins: %s)", format.ErrUnknown, name, builtin, known)
		}
		if err != nil {
			return nil, nil, err
		}
		return pf, pf, nil
	}
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		if _, ok := set.nodes[name]; ok {
			return nil
		}
		if slices.Contains(stack, name) {
			return fmt.Errorf("formats need each other: %s", strings.Join(append(stack, name), " → "))
		}
		f, pf, err := lookup(name)
		if err != nil {
			if len(stack) > 0 {
				return fmt.Errorf("format %s needs %s: %w", stack[len(stack)-1], name, err)
			}
			return err
		}
		n := &formatNode{name: name, f: f, pf: pf}
		if pf != nil {
			for _, need := range pf.Needs() {
				dep := need
				if need == sdk.InputInitrd {
					dep = initrdFormat
				}
				if err := visit(dep, append(stack, name)); err != nil {
					return err
				}
				n.needs = append(n.needs, need)
			}
		}
		set.nodes[name] = n
		set.order = append(set.order, name)
		return nil
	}
	for _, name := range o.Formats {
		if err := visit(name, nil); err != nil {
			return nil, fmt.Errorf("-f %s: %w", name, err)
		}
	}

	configs := map[string]json.RawMessage{}
	for name, c := range o.FormatConfig {
		if _, ok := set.nodes[name]; !ok {
			return nil, fmt.Errorf("--format-config %s: the format is neither selected (-f) nor needed by one that is (%s)", name, strings.Join(set.order, ", "))
		}
		configs[name] = c
	}
	if o.DiskSize > 0 {
		applied := false
		for _, name := range set.order {
			pf := set.nodes[name].pf
			if pf == nil || !pf.Schema().HasProperty(diskSizeKey) {
				continue
			}
			c, err := setDefault(configs[name], diskSizeKey, o.DiskSize)
			if err != nil {
				return nil, fmt.Errorf("--format-config %s: %w", name, err)
			}
			configs[name] = c
			applied = true
		}
		if !applied {
			return nil, fmt.Errorf("--disk-size: none of the formats (%s) takes a disk size", strings.Join(set.order, ", "))
		}
	}

	for _, name := range set.order {
		n := set.nodes[name]
		cfg := configs[name]
		where := "-f " + name
		if _, ok := o.FormatConfig[name]; ok {
			where = "--format-config " + name
		}
		needs := n.needs
		if n.pf != nil {
			rest, refs, err := n.pf.SplitConfig(cfg)
			if err != nil {
				return nil, fmt.Errorf("%s: format %s: config: %w", where, name, err)
			}
			cfg = rest
			n.images = map[string]string{}
			for _, im := range n.pf.Images() {
				ref := im.Default
				if r, ok := refs[im.Name]; ok {
					ref = r
				}
				n.images[im.Name] = ref
				n.order = append(n.order, im.Name)
				needs = append(needs, plugin.ImageNeedPrefix+im.Name)
			}
		}
		n.opts = format.Options{SourceDateEpoch: o.SourceDateEpoch, Config: cfg, Arch: arch}
		op, err := format.NewOpOf(n.f, n.opts, needs...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		n.op, n.needs = op, needs
	}
	return set, nil
}

// initrdFormat is the format whose "-initrd.img" output a need of
// "initrd.img" gets: the built-in one, or with KIT_BUILTIN_FORMATS=off the
// plugin format of that name.
const initrdFormat = "kernel+initrd"

// BuiltinFormatsEnv is the environment variable that, set to "off", makes
// builds skip the built-in formats and take every format, "tar" and
// "kernel+initrd" included, from plugins (kit-plugin-format-core serves
// the built-in ones).
const BuiltinFormatsEnv = "KIT_BUILTIN_FORMATS"

// builtinFormats reports whether builds use the built-in formats (unless
// KIT_BUILTIN_FORMATS=off).
func builtinFormats() bool { return os.Getenv(BuiltinFormatsEnv) != "off" }

// setDefault sets key to v in a JSON object configuration unless it is set.
func setDefault(c json.RawMessage, key string, v any) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if !format.EmptyConfig(c) {
		d := json.NewDecoder(bytes.NewReader(c))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || m == nil {
			return nil, fmt.Errorf("want a JSON object: %s", bytes.TrimSpace(c))
		}
	}
	if _, ok := m[key]; ok {
		return c, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m[key] = b
	return json.Marshal(m)
}

// formatVertex returns the (shared) vertex of a format of set: each format
// runs once per build, however many formats need it.
func (p *planner) formatVertex(set *formatSet, name string, av *graph.Vertex) (*graph.Vertex, error) {
	if v, ok := p.formatVs[name]; ok {
		return v, nil
	}
	n, ok := set.nodes[name]
	if !ok {
		return nil, fmt.Errorf("format %s: not resolved", name)
	}
	// Formats that cannot read the assemble step's recipe get the tar
	// written out, once per system.
	base := av
	if _, ok := n.f.(format.RecipeReader); !ok || n.pf != nil {
		if p.rootfsV == nil {
			p.rootfsV = p.vertex(p.prefix+"rootfs", spec.Pos{}, assemble.MaterializeOp{}, av)
		}
		base = p.rootfsV
	}
	inputs := []*graph.Vertex{base}
	for _, need := range n.needs {
		var v *graph.Vertex
		var err error
		switch {
		case need == sdk.InputInitrd:
			v, err = p.formatVertex(set, initrdFormat, av)
		case strings.HasPrefix(need, plugin.ImageNeedPrefix):
			im := strings.TrimPrefix(need, plugin.ImageNeedPrefix)
			v, err = p.unpack(n.images[im], imageMode, spec.Pos{})
			if err != nil {
				err = fmt.Errorf("format %s: image %s: %w", name, im, err)
			}
		default:
			v, err = p.formatVertex(set, need, av)
		}
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, v)
	}
	op := n.op
	if p.packs && n.pf == nil && initrd.UsesPacks(n.f) {
		// The initramfs formats take the packs of the root filesystem's
		// tar parts, made as soon as each part is.
		packs := p.packVertices(av)
		needs := slices.Clone(n.needs)
		for i, pv := range packs {
			needs = append(needs, fmt.Sprintf("%s%d", initrd.PackNeedPrefix, i))
			inputs = append(inputs, pv)
		}
		var err error
		if op, err = format.NewOpOf(n.f, n.opts, needs...); err != nil {
			return nil, fmt.Errorf("format %s: %w", name, err)
		}
	}
	v := p.vertex(p.prefix+"format "+name, spec.Pos{}, op, inputs...)
	p.formatVs[name] = v
	return v, nil
}

// packVertices returns the (shared) pack vertices of the tar parts of the
// assemble vertex av, in part order.
func (p *planner) packVertices(av *graph.Vertex) []*graph.Vertex {
	aop, ok := av.Op.(assemble.Op)
	if !ok {
		return nil
	}
	var out []*graph.Vertex
	seen := map[packID]bool{}
	for _, part := range aop.Parts {
		if part.Output == "" || part.As != "" || part.Input < 0 || part.Input >= len(av.Inputs) {
			continue // not a tar part
		}
		id := packID{av.Inputs[part.Input], part.Output}
		if k := id.v.Op.Kind(); seen[id] || (k != unpack.Kind && k != kernel.Kind) {
			// Packs pay off for images, which systems share, not for a
			// system's own files.
			continue
		}
		seen[id] = true
		v, ok := p.packVs[id]
		if !ok {
			v = p.vertex("pack "+strings.TrimPrefix(id.v.Name, "unpack "), p.where[id.v.Name], initrd.PackOp{Output: part.Output}, id.v)
			p.packVs[id] = v
		}
		out = append(out, v)
	}
	return out
}

// packID identifies a pack vertex: the vertex making the tar, and the
// output.
type packID struct {
	v      *graph.Vertex
	output string
}

// imageMode is how the images a format declares (bootloaders, firmware)
// are unpacked: like a volume's contents, a normalized tar of the flattened
// image without a container's rewrites of /dev.
const imageMode = unpack.Volume
