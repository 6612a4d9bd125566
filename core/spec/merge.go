package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// Merge combines specs in order into a new System, as `kit build a.yml
// b.yml` does: lists (init, onboot, onshutdown, services, files, volumes,
// trust) append; kernel fields are last-wins field by field (a later file
// that sets only cmdline keeps the earlier image). Sources are merged with
// list indices shifted to the merged positions. Nil parts are skipped.
//
// The inputs are not modified; the result's lists are new, but their
// entries are shared with the inputs and must be treated as immutable.
// Merge reports duplicate service and volume names; Validate checks the
// rest.
func Merge(parts ...*System) (*System, error) {
	out := &System{Sources: &SourceMap{}}
	for _, p := range parts {
		if p == nil {
			continue
		}
		offsets := map[string]int{
			"init":       len(out.Init),
			"onboot":     len(out.Onboot),
			"onshutdown": len(out.Onshutdown),
			"services":   len(out.Services),
			"files":      len(out.Files),
			"volumes":    len(out.Volumes),
		}
		if out.Trust != nil {
			offsets["trust.org"] = len(out.Trust.Org)
			offsets["trust.image"] = len(out.Trust.Image)
		}
		won := map[string]bool{}
		if k := p.Kernel; k != nil {
			nk := &Kernel{}
			if out.Kernel != nil {
				*nk = *out.Kernel
			}
			if k.Image != "" {
				nk.Image, won["image"] = k.Image, true
			}
			if k.Cmdline != "" {
				nk.Cmdline, won["cmdline"] = k.Cmdline, true
			}
			if k.Binary != nil {
				nk.Binary, won["binary"] = k.Binary, true
			}
			if k.Tar != nil {
				nk.Tar, won["tar"] = k.Tar, true
			}
			if k.UCode != nil {
				nk.UCode, won["ucode"] = k.UCode, true
			}
			out.Kernel = nk
		}
		out.Init = append(out.Init, p.Init...)
		out.Onboot = append(out.Onboot, p.Onboot...)
		out.Onshutdown = append(out.Onshutdown, p.Onshutdown...)
		out.Services = append(out.Services, p.Services...)
		out.Files = append(out.Files, p.Files...)
		out.Volumes = append(out.Volumes, p.Volumes...)
		if t := p.Trust; t != nil {
			nt := &Trust{}
			if out.Trust != nil {
				nt.Org = append(nt.Org, out.Trust.Org...)
				nt.Image = append(nt.Image, out.Trust.Image...)
			}
			nt.Org = append(nt.Org, t.Org...)
			nt.Image = append(nt.Image, t.Image...)
			out.Trust = nt
		}
		for path, pos := range p.Sources.All() {
			switch {
			case path == "kernel":
				out.Sources.Set(path, pos)
			case strings.HasPrefix(path, "kernel."):
				if won[strings.TrimPrefix(path, "kernel.")] {
					out.Sources.Set(path, pos)
				}
			case !strings.Contains(path, "["):
				// A section itself ("services"): keep its first appearance.
				if _, ok := out.Sources.pos[path]; !ok {
					out.Sources.Set(path, pos)
				}
			default:
				out.Sources.Set(shiftPath(path, offsets), pos)
			}
		}
	}
	v := &validator{src: out.Sources}
	v.unique(out)
	if err := v.errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// shiftPath adds the offset of its list to the first index in path:
// "services[1].name" with 3 earlier services becomes "services[4].name".
func shiftPath(path string, offsets map[string]int) string {
	i := strings.IndexByte(path, '[')
	j := strings.IndexByte(path, ']')
	if i < 0 || j < i {
		return path
	}
	off := offsets[path[:i]]
	if off == 0 {
		return path
	}
	n, err := strconv.Atoi(path[i+1 : j])
	if err != nil {
		return path
	}
	return fmt.Sprintf("%s[%d]%s", path[:i], n+off, path[j+1:])
}
