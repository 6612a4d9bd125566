package spec

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

var volumeNameRE = regexp.MustCompile(`^[a-z0-9_-]*$`)

// Validate checks the values of a (merged) spec: required fields, names,
// references, file entries, modes, capabilities, mounts, rlimits,
// namespaces and devices. It reports every problem it finds as an Errors,
// each located through s.Sources. Non-fatal remarks come from Warnings.
func (s *System) Validate() error {
	v := &validator{src: s.Sources}
	v.system(s)
	return v.errs.err()
}

// Warnings returns remarks about s that do not stop a build, such as the
// use of the obsolete trust section.
func (s *System) Warnings() []*Error {
	var ws []*Error
	if s.Trust != nil {
		ws = append(ws, &Error{Pos: s.Sources.Nearest("trust"), Msg: "trust: obsolete; the section is ignored (pin images by digest instead)"})
	}
	return ws
}

type validator struct {
	src  *SourceMap
	errs Errors
}

func (v *validator) errf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	v.errs = append(v.errs, &Error{Pos: v.src.Nearest(path), Msg: msg})
}

func (v *validator) system(s *System) {
	if k := s.Kernel; k != nil {
		if k.Image == "" {
			v.errf("kernel.image", "required: the kernel image reference")
		} else {
			v.ref("kernel.image", k.Image)
		}
		if k.Binary != nil {
			v.imageFile("kernel.binary", *k.Binary, false)
		}
		if k.Tar != nil && *k.Tar != "none" {
			v.imageFile("kernel.tar", *k.Tar, true)
		}
		if k.UCode != nil {
			v.imageFile("kernel.ucode", *k.UCode, true)
		}
	}
	for i, ref := range s.Init {
		v.ref(fmt.Sprintf("init[%d]", i), ref)
	}
	for _, list := range []struct {
		key     string
		entries []*Image
	}{{"onboot", s.Onboot}, {"onshutdown", s.Onshutdown}, {"services", s.Services}} {
		for i, img := range list.entries {
			v.entry(fmt.Sprintf("%s[%d]", list.key, i), img)
		}
	}
	for i, f := range s.Files {
		v.file(fmt.Sprintf("files[%d]", i), f)
	}
	for i, vol := range s.Volumes {
		v.volume(fmt.Sprintf("volumes[%d]", i), vol)
	}
	v.unique(s)
}

// unique checks that service and volume names are unique.
func (v *validator) unique(s *System) {
	seen := map[string]int{}
	for i, img := range s.Services {
		if img == nil || img.Name == "" {
			continue
		}
		if j, dup := seen[img.Name]; dup {
			v.errf(fmt.Sprintf("services[%d].name", i), "duplicate service name %q (also services[%d]%s)", img.Name, j, v.at(fmt.Sprintf("services[%d]", j)))
			continue
		}
		seen[img.Name] = i
	}
	seen = map[string]int{}
	for i, vol := range s.Volumes {
		if vol == nil || vol.Name == "" {
			continue
		}
		if j, dup := seen[vol.Name]; dup {
			v.errf(fmt.Sprintf("volumes[%d].name", i), "duplicate volume name %q (also volumes[%d]%s)", vol.Name, j, v.at(fmt.Sprintf("volumes[%d]", j)))
			continue
		}
		seen[vol.Name] = i
	}
}

// at describes where path is, as " at file:line:col", if known.
func (v *validator) at(path string) string {
	if p := v.src.Nearest(path).String(); p != "" {
		return " at " + p
	}
	return ""
}

func (v *validator) ref(path, ref string) {
	if ref == "" {
		v.errf(path, "empty image reference")
		return
	}
	if _, err := name.ParseReference(ref); err != nil {
		v.errf(path, "invalid image reference %q: %v", ref, err)
	}
}

// imageFile checks the name of a file inside the kernel image.
func (v *validator) imageFile(path, name string, emptyOK bool) {
	if name == "" {
		if !emptyOK {
			v.errf(path, "must not be empty")
		}
		return
	}
	if !isLocalPath(strings.TrimPrefix(name, "/")) {
		v.errf(path, "%q must be a path inside the image, without \"..\"", name)
	}
}

// isLocalPath reports whether p is a non-empty relative path with no ".."
// element.
func isLocalPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return false
		}
	}
	return path.Clean(p) != "."
}

func isAbs(p string) bool { return strings.HasPrefix(p, "/") }

func (v *validator) entry(path string, img *Image) {
	if img == nil {
		v.errf(path, "empty entry")
		return
	}
	switch {
	case img.Name == "":
		v.errf(path, "name is required")
	case img.Name == "." || img.Name == ".." || strings.ContainsAny(img.Name, "/\x00"):
		v.errf(path+".name", "%q cannot name a directory (no \"/\", \".\" or \"..\")", img.Name)
	}
	if img.Image == "" {
		v.errf(path, "image is required")
	} else {
		v.ref(path+".image", img.Image)
	}
	v.imageConfig(path, img)
}

// imageConfig checks the fields of an image entry or label other than name
// and image. prefix is the entry's path ("" for a label).
func (v *validator) imageConfig(prefix string, img *Image) {
	p := func(field string) string { return joinPath(prefix, field) }
	if img.Capabilities != nil {
		v.capabilities(p("capabilities"), *img.Capabilities, true)
	}
	if img.CapabilitiesAdd != nil {
		v.capabilities(p("capabilities.add"), *img.CapabilitiesAdd, false)
	}
	if img.Ambient != nil {
		v.capabilities(p("ambient"), *img.Ambient, true)
	}
	if img.Mounts != nil {
		for i, m := range *img.Mounts {
			v.mount(fmt.Sprintf("%s[%d]", p("mounts"), i), m)
		}
	}
	for _, field := range []struct {
		key   string
		binds *[]string
	}{{"binds", img.Binds}, {"binds.add", img.BindsAdd}} {
		if field.binds == nil {
			continue
		}
		for i, b := range *field.binds {
			if _, err := ParseBind(b); err != nil {
				v.errf(fmt.Sprintf("%s[%d]", p(field.key), i), "%v", err)
			}
		}
	}
	if img.Tmpfs != nil {
		for i, t := range *img.Tmpfs {
			if _, err := ParseTmpfs(t); err != nil {
				v.errf(fmt.Sprintf("%s[%d]", p("tmpfs"), i), "%v", err)
			}
		}
	}
	if img.Env != nil {
		for i, e := range *img.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				v.errf(fmt.Sprintf("%s[%d]", p("env"), i), "want KEY=value, got %q", e)
			}
		}
	}
	if img.Cwd != "" && !isAbs(img.Cwd) {
		v.errf(p("cwd"), "%q must be an absolute path", img.Cwd)
	}
	v.namespace(p("net"), img.Net, true)
	v.namespace(p("ipc"), img.Ipc, true)
	v.namespace(p("uts"), img.Uts, true)
	v.namespace(p("userns"), img.Userns, true)
	v.namespace(p("pid"), img.Pid, false)
	for _, field := range []struct {
		key   string
		paths *[]string
	}{{"maskedPaths", img.MaskedPaths}, {"readonlyPaths", img.ReadonlyPaths}} {
		if field.paths == nil {
			continue
		}
		for i, path := range *field.paths {
			if !isAbs(path) {
				v.errf(fmt.Sprintf("%s[%d]", p(field.key), i), "%q must be an absolute path", path)
			}
		}
	}
	if img.OOMScoreAdj != nil && (*img.OOMScoreAdj < -1000 || *img.OOMScoreAdj > 1000) {
		v.errf(p("oomScoreAdj"), "%d is outside -1000..1000", *img.OOMScoreAdj)
	}
	if rp := img.RootfsPropagation; rp != nil {
		switch *rp {
		case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
		default:
			v.errf(p("rootfsPropagation"), "want one of shared, slave, private, unbindable (or their r- forms), got %q", *rp)
		}
	}
	if img.Sysctl != nil {
		for k := range *img.Sysctl {
			if k == "" {
				v.errf(p("sysctl"), "empty key")
			}
		}
	}
	if img.Rlimits != nil {
		for i, r := range *img.Rlimits {
			if _, err := ParseRlimit(r); err != nil {
				v.errf(fmt.Sprintf("%s[%d]", p("rlimits"), i), "%v", err)
			}
		}
	}
	for _, field := range []struct {
		key      string
		mappings *[]IDMapping
	}{{"uidMappings", img.UIDMappings}, {"gidMappings", img.GIDMappings}} {
		if field.mappings == nil {
			continue
		}
		for i, m := range *field.mappings {
			if m.Size == 0 {
				v.errf(fmt.Sprintf("%s[%d].size", p(field.key), i), "must be at least 1")
			}
		}
	}
	if img.Devices != nil {
		for i, d := range *img.Devices {
			v.device(fmt.Sprintf("%s[%d]", p("devices"), i), d)
		}
	}
	if img.Resources != nil {
		for i, d := range img.Resources.Devices {
			dp := fmt.Sprintf("%s.devices[%d]", p("resources"), i)
			if !strings.Contains("abc", d.Type) || len(d.Type) > 1 {
				v.errf(dp+".type", "want a, b or c, got %q", d.Type)
			}
			if strings.Trim(d.Access, "rwm") != "" {
				v.errf(dp+".access", "want a combination of r, w and m, got %q", d.Access)
			}
		}
	}
	if img.Runtime != nil {
		v.runtime(p("runtime"), img.Runtime)
	}
}

func (v *validator) capabilities(path string, caps []string, specialOK bool) {
	if _, ok := IsSpecialCapabilities(caps); ok && specialOK {
		return
	}
	for i, c := range caps {
		ip := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case knownCapability[c]:
		case strings.EqualFold(c, "all") || strings.EqualFold(c, "none"):
			if specialOK {
				v.errf(ip, "%q must stand alone in the list", c)
			} else {
				v.errf(ip, "%q is not allowed here; set capabilities: [%s] instead", c, c)
			}
		default:
			guess := strings.ToUpper(c)
			if !strings.HasPrefix(guess, "CAP_") {
				guess = "CAP_" + guess
			}
			if knownCapability[guess] {
				v.errf(ip, "unknown capability %q (did you mean %q?)", c, guess)
			} else {
				v.errf(ip, "unknown capability %q", c)
			}
		}
	}
}

// namespace checks a namespace setting: the host's, a new one, or a path.
func (v *validator) namespace(path, ns string, noneOK bool) {
	switch ns {
	case "", "host", "root", "new":
		return
	case "none":
		if noneOK {
			return
		}
	}
	if isAbs(ns) {
		return
	}
	if noneOK {
		v.errf(path, "want \"host\", \"new\", \"none\" or the absolute path of a namespace to join, got %q", ns)
	} else {
		v.errf(path, "want \"host\", \"new\" or the absolute path of a namespace to join, got %q", ns)
	}
}

func defaultMountpoint(typ string) string {
	switch typ {
	case "proc":
		return "/proc"
	case "devpts":
		return "/dev/pts"
	case "sysfs":
		return "/sys"
	case "cgroup":
		return "/sys/fs/cgroup"
	case "mqueue":
		return "/dev/mqueue"
	}
	return ""
}

func (v *validator) mount(path string, m Mount) {
	typ := m.Type
	if typ == "" {
		switch {
		case m.Source == "proc", m.Source == "sysfs", m.Source == "devpts", m.Source == "cgroup", m.Source == "mqueue":
			typ = m.Source
		case m.Destination == "/dev":
			typ = "tmpfs"
		default:
			v.errf(path, "type is required (it is inferred only for proc, sysfs, devpts, cgroup, mqueue and /dev)")
		}
	}
	switch {
	case m.Destination == "" && typ != "" && defaultMountpoint(typ) == "":
		v.errf(path, "destination is required for a %s mount", typ)
	case m.Destination != "" && !isAbs(m.Destination):
		v.errf(path+".destination", "%q must be an absolute path", m.Destination)
	}
	for i, o := range m.Options {
		if o == "" {
			v.errf(fmt.Sprintf("%s.options[%d]", path, i), "empty option")
		}
	}
}

func (v *validator) device(path string, d Device) {
	if d.Path == "all" {
		switch d.Type {
		case "a", "b", "c":
		default:
			v.errf(path+".type", "want a, b or c for path all, got %q", d.Type)
		}
		return
	}
	if !isAbs(d.Path) {
		v.errf(path+".path", "want \"all\" or an absolute device path, got %q", d.Path)
	}
	switch d.Type {
	case "b", "c", "u", "p":
	default:
		v.errf(path+".type", "want b, c, u or p, got %q", d.Type)
	}
	if d.Major < 0 || d.Minor < 0 {
		v.errf(path, "major and minor must not be negative")
	}
	if d.Mode == "" {
		v.errf(path, "mode is required (an octal string such as \"0666\")")
	} else if _, err := ParseMode(d.Mode); err != nil {
		v.errf(path+".mode", "%v", err)
	}
}

func (v *validator) runtime(path string, r *Runtime) {
	if r.Mounts != nil {
		for i, m := range *r.Mounts {
			if !isAbs(m.Destination) {
				v.errf(fmt.Sprintf("%s.mounts[%d].destination", path, i), "want an absolute path, got %q", m.Destination)
			}
		}
	}
	if r.Mkdir != nil {
		for i, d := range *r.Mkdir {
			if !isAbs(d) {
				v.errf(fmt.Sprintf("%s.mkdir[%d]", path, i), "%q must be an absolute path", d)
			}
		}
	}
	if r.Interfaces != nil {
		for i, iface := range *r.Interfaces {
			if iface.Name == "" {
				v.errf(fmt.Sprintf("%s.interfaces[%d]", path, i), "name is required")
			}
		}
	}
	if ns := r.BindNS; ns != nil {
		for _, f := range []struct {
			key string
			p   *string
		}{{"cgroup", ns.Cgroup}, {"ipc", ns.Ipc}, {"mnt", ns.Mnt}, {"net", ns.Net}, {"pid", ns.Pid}, {"user", ns.User}, {"uts", ns.Uts}} {
			if f.p != nil && !isAbs(*f.p) {
				v.errf(path+".bindNS."+f.key, "%q must be an absolute path", *f.p)
			}
		}
	}
}

func (v *validator) file(path string, f *File) {
	if f == nil {
		v.errf(path, "empty entry")
		return
	}
	if f.Path == "" {
		v.errf(path, "path is required")
	} else if !isLocalPath(strings.TrimLeft(f.Path, "/")) {
		v.errf(path+".path", "%q must name something below the root, without \"..\"", f.Path)
	}
	var kinds []string
	if f.Directory {
		kinds = append(kinds, "directory")
	}
	if f.Symlink != nil {
		kinds = append(kinds, "symlink")
	}
	if f.Contents != nil {
		kinds = append(kinds, "contents")
	}
	if f.Source != nil {
		kinds = append(kinds, "source")
	}
	if f.Metadata != nil {
		kinds = append(kinds, "metadata")
	}
	switch len(kinds) {
	case 0:
		v.errf(path, "needs one of directory, symlink, contents, source or metadata")
	case 1:
	default:
		v.errf(path, "%s are set; a file entry takes exactly one of directory, symlink, contents, source and metadata", andList(kinds))
	}
	if f.Symlink != nil && *f.Symlink == "" {
		v.errf(path+".symlink", "empty link target")
	}
	if f.Source != nil && *f.Source == "" {
		v.errf(path+".source", "empty source path")
	}
	if f.Optional && f.Source == nil {
		v.errf(path+".optional", "applies only to a source")
	}
	if f.Metadata != nil && *f.Metadata != "yaml" && *f.Metadata != "json" {
		v.errf(path+".metadata", "want yaml or json, got %q", *f.Metadata)
	}
	if f.Mode != nil {
		if _, err := ParseMode(*f.Mode); err != nil {
			v.errf(path+".mode", "%v", err)
		}
	}
}

func andList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (v *validator) volume(path string, vol *Volume) {
	if vol == nil {
		v.errf(path, "empty entry")
		return
	}
	switch {
	case vol.Name == "":
		v.errf(path, "name is required")
	case !volumeNameRE.MatchString(vol.Name):
		v.errf(path+".name", "%q may hold only a-z, 0-9, _ and -", vol.Name)
	}
	if vol.Image != "" {
		v.ref(path+".image", vol.Image)
	}
	switch vol.Format {
	case "", "filesystem", "oci":
	default:
		v.errf(path+".format", "want filesystem or oci, got %q", vol.Format)
	}
	for i, pl := range vol.Platforms {
		parts := strings.Split(pl, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
			v.errf(fmt.Sprintf("%s.platforms[%d]", path, i), "want os/arch[/variant], got %q", pl)
		}
	}
}
