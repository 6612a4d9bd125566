package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// LabelKey is the image config label that holds an image's default entry
// settings, as a JSON object of Image's fields (without name and image).
const LabelKey = "org.mobyproject.config"

// MergeLabel returns entry completed with the settings of its image's
// org.mobyproject.config label (label is the label's JSON; empty means the
// image has none). source names the image in errors (entry.Image when
// empty). Neither input is modified; the result shares no memory with them.
//
// The label is decoded as strictly as a spec (unknown keys and wrong types
// are errors, located in the label) and must not set name or image.
//
// Precedence is the spec's over the label's, for every field the spec sets
// (a non-nil pointer, or a non-empty string). The result is resolved:
// CapabilitiesAdd and BindsAdd are folded in and left nil.
//
//   - capabilities: the spec's list if it sets one, else the label's
//     (capabilities plus capabilities.add), then the spec's
//     capabilities.add are appended; a lone "all" absorbs additions, a
//     lone "none" is replaced by them. Duplicates are dropped.
//   - binds: the spec's list if it sets one, else the label's (binds plus
//     binds.add), then the spec's binds.add are appended. Duplicates are
//     dropped.
//   - runtime: field by field (cgroups, mounts, mkdir, interfaces,
//     namespace, and each bindNS entry).
//   - everything else, including sysctl, annotations and resources, is
//     taken whole from the spec if set, else from the label.
//
// Deliberate differences from LinuxKit: LinuxKit ignores capabilities.add
// and binds.add when the spec also sets capabilities or binds, and ignores
// a label's own capabilities.add and binds.add; kit applies them. LinuxKit
// also matches label keys case-insensitively (encoding/json) and accepts
// unknown ones; kit rejects both.
func MergeLabel(entry *Image, label []byte, source string) (*Image, error) {
	if entry == nil {
		return nil, fmt.Errorf("spec: MergeLabel: nil entry")
	}
	if source == "" {
		source = entry.Image
	}
	lbl, err := DecodeLabel(label, source)
	if err != nil {
		return nil, err
	}
	spec := deepCopy(entry)
	out := &Image{Name: spec.Name, Image: spec.Image}

	labelCaps := addCapabilities(lbl.Capabilities, lbl.CapabilitiesAdd)
	out.Capabilities = addCapabilities(pick(spec.Capabilities, labelCaps), spec.CapabilitiesAdd)
	out.Binds = union(pick(spec.Binds, union(lbl.Binds, lbl.BindsAdd)), spec.BindsAdd)

	out.Ambient = pick(spec.Ambient, lbl.Ambient)
	out.Mounts = pick(spec.Mounts, lbl.Mounts)
	out.Tmpfs = pick(spec.Tmpfs, lbl.Tmpfs)
	out.Command = pick(spec.Command, lbl.Command)
	out.Env = pick(spec.Env, lbl.Env)
	out.Cwd = pickString(spec.Cwd, lbl.Cwd)
	out.Net = pickString(spec.Net, lbl.Net)
	out.Pid = pickString(spec.Pid, lbl.Pid)
	out.Ipc = pickString(spec.Ipc, lbl.Ipc)
	out.Uts = pickString(spec.Uts, lbl.Uts)
	out.Userns = pickString(spec.Userns, lbl.Userns)
	out.Hostname = pickString(spec.Hostname, lbl.Hostname)
	out.Readonly = pick(spec.Readonly, lbl.Readonly)
	out.MaskedPaths = pick(spec.MaskedPaths, lbl.MaskedPaths)
	out.ReadonlyPaths = pick(spec.ReadonlyPaths, lbl.ReadonlyPaths)
	out.UID = pick(spec.UID, lbl.UID)
	out.GID = pick(spec.GID, lbl.GID)
	out.AdditionalGids = pick(spec.AdditionalGids, lbl.AdditionalGids)
	out.NoNewPrivileges = pick(spec.NoNewPrivileges, lbl.NoNewPrivileges)
	out.OOMScoreAdj = pick(spec.OOMScoreAdj, lbl.OOMScoreAdj)
	out.RootfsPropagation = pick(spec.RootfsPropagation, lbl.RootfsPropagation)
	out.CgroupsPath = pick(spec.CgroupsPath, lbl.CgroupsPath)
	out.Resources = pick(spec.Resources, lbl.Resources)
	out.Sysctl = pick(spec.Sysctl, lbl.Sysctl)
	out.Rlimits = pick(spec.Rlimits, lbl.Rlimits)
	out.UIDMappings = pick(spec.UIDMappings, lbl.UIDMappings)
	out.GIDMappings = pick(spec.GIDMappings, lbl.GIDMappings)
	out.Annotations = pick(spec.Annotations, lbl.Annotations)
	out.Devices = pick(spec.Devices, lbl.Devices)
	out.Runtime = mergeRuntime(spec.Runtime, lbl.Runtime)
	return out, nil
}

// DecodeLabel decodes and validates an org.mobyproject.config label; source
// names the image in errors. An empty label gives an empty Image.
func DecodeLabel(label []byte, source string) (*Image, error) {
	if len(bytes.TrimSpace(label)) == 0 {
		return &Image{}, nil
	}
	file := source + " label " + LabelKey
	if !json.Valid(label) {
		var v any
		err := json.Unmarshal(label, &v)
		return nil, &Error{Pos: Pos{File: file}, Msg: "invalid JSON", Err: err}
	}
	src := &SourceMap{}
	d := newDecoder(file, src)
	root, err := parseDocument(file, label)
	if err != nil {
		return nil, err
	}
	img := &Image{}
	if root.Kind != yaml.MappingNode {
		d.errf(root, "want a JSON object, got %s", describe(root))
	} else {
		d.decode(root, reflect.ValueOf(img).Elem(), "")
	}
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	v := &validator{src: src}
	if img.Name != "" {
		v.errf("name", "a label must not set name")
	}
	if img.Image != "" {
		v.errf("image", "a label must not set image")
	}
	v.imageConfig("", img)
	if err := v.errs.err(); err != nil {
		return nil, err
	}
	return img, nil
}

// pick returns the spec's value if set, else the label's.
func pick[T any](spec, label *T) *T {
	if spec != nil {
		return spec
	}
	return label
}

func pickString(spec, label string) string {
	if spec != "" {
		return spec
	}
	return label
}

// union appends the elements of b missing from a (and drops duplicates
// within a); nil when both are nil.
func union(a, b *[]string) *[]string {
	if a == nil && b == nil {
		return nil
	}
	out := []string{}
	seen := map[string]bool{}
	for _, l := range []*[]string{a, b} {
		if l == nil {
			continue
		}
		for _, s := range *l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return &out
}

// addCapabilities adds caps to base, honouring a lone "all" or "none".
func addCapabilities(base, add *[]string) *[]string {
	if base != nil && add != nil {
		switch special, _ := IsSpecialCapabilities(*base); special {
		case "all":
			return base
		case "none":
			base = nil
		}
	}
	return union(base, add)
}

func mergeRuntime(spec, label *Runtime) *Runtime {
	if spec == nil || label == nil {
		return pick(spec, label)
	}
	r := &Runtime{
		Cgroups:    pick(spec.Cgroups, label.Cgroups),
		Mounts:     pick(spec.Mounts, label.Mounts),
		Mkdir:      pick(spec.Mkdir, label.Mkdir),
		Interfaces: pick(spec.Interfaces, label.Interfaces),
		Namespace:  pick(spec.Namespace, label.Namespace),
	}
	if spec.BindNS == nil || label.BindNS == nil {
		r.BindNS = pick(spec.BindNS, label.BindNS)
	} else {
		s, l := spec.BindNS, label.BindNS
		r.BindNS = &Namespaces{
			Cgroup: pick(s.Cgroup, l.Cgroup),
			Ipc:    pick(s.Ipc, l.Ipc),
			Mnt:    pick(s.Mnt, l.Mnt),
			Net:    pick(s.Net, l.Net),
			Pid:    pick(s.Pid, l.Pid),
			User:   pick(s.User, l.User),
			Uts:    pick(s.Uts, l.Uts),
		}
	}
	return r
}

// deepCopy copies a value of the spec types (pointers, slices, maps,
// structs and scalars; no cycles).
func deepCopy[T any](v T) T {
	return copyValue(reflect.ValueOf(v)).Interface().(T)
}

func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(copyValue(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(copyValue(v.Index(i)))
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			m.SetMapIndex(it.Key(), copyValue(it.Value()))
		}
		return m
	case reflect.Struct:
		s := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if s.Field(i).CanSet() {
				s.Field(i).Set(copyValue(v.Field(i)))
			}
		}
		return s
	}
	return v
}
