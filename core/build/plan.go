package build

import (
	"errors"
	"fmt"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/assemble"
	"github.com/kitbuild/kit/core/steps/fetch"
	"github.com/kitbuild/kit/core/steps/files"
	"github.com/kitbuild/kit/core/steps/kernel"
	"github.com/kitbuild/kit/core/steps/runtime"
	"github.com/kitbuild/kit/core/steps/unpack"
)

// planner lays out the DAG of one system.
type planner struct {
	sys      *spec.System
	images   *imageSet
	resolver *fetch.Resolver
	epoch    int64

	fetches map[graph.Digest]*graph.Vertex
	unpacks map[string]*graph.Vertex
	// where maps node names to the spec location that caused them.
	where map[string]spec.Pos
}

func (p *planner) vertex(name string, pos spec.Pos, op graph.Op, inputs ...*graph.Vertex) *graph.Vertex {
	if _, ok := p.where[name]; !ok {
		p.where[name] = pos
	}
	return graph.NewVertex(name, op, inputs...)
}

// fetch returns the (shared) fetch vertex of an image.
func (p *planner) fetch(ref string, pos spec.Pos) (*graph.Vertex, *fetch.Image, error) {
	img := p.images.byRef[ref]
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
	fv, img, err := p.fetch(ref, pos)
	if err != nil {
		return nil, err
	}
	id := string(img.Digest) + "/" + mode.String()
	if v, ok := p.unpacks[id]; ok {
		return v, nil
	}
	v := p.vertex(fmt.Sprintf("unpack %s (%s)", ref, mode), pos,
		unpack.Op{Mode: mode, Image: ref, SourceDateEpoch: p.epoch}, fv)
	p.unpacks[id] = v
	return v, nil
}

// plan returns one format vertex per format, in order.
func (p *planner) plan(formats []string) ([]*graph.Vertex, error) {
	p.fetches = map[graph.Digest]*graph.Vertex{}
	p.unpacks = map[string]*graph.Vertex{}
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
			rv := p.vertex("runtime "+sec.name+"/"+e.Name, pos, rop)
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
		fv := p.vertex("files", src.Nearest("files"), files.Op{Entries: entries, SourceDateEpoch: p.epoch})
		layout.Files(add(fv))
	}
	aop, err := layout.Op()
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	av := p.vertex("assemble", spec.Pos{}, aop, inputs...)

	var targets []*graph.Vertex
	for _, f := range formats {
		op, err := format.NewOp(f, format.Options{SourceDateEpoch: p.epoch})
		if err != nil {
			return nil, err
		}
		targets = append(targets, p.vertex("format "+f, spec.Pos{}, op, av))
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
