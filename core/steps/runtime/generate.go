package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kitbuild/kit/core/spec"
)

// ImageConfig is the part of an image's config that a container entry
// inherits: the planner fills it from the image config blob.
type ImageConfig struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	// User is the image's USER. It is carried for completeness but not
	// used: as in LinuxKit, the process runs as the entry's uid/gid
	// (default root), never as the image's user.
	User string `json:"user,omitempty"`
}

// Runtime is the content of runtime.json: what the init does at boot around
// the container. Every key is always written (empty lists and strings
// included), as LinuxKit writes it.
type Runtime struct {
	Cgroups    []string         `json:"cgroups"`
	Mounts     []specs.Mount    `json:"mounts"`
	Mkdir      []string         `json:"mkdir"`
	Interfaces []spec.Interface `json:"interfaces"`
	BindNS     BindNS           `json:"bindNS"`
	Namespace  string           `json:"namespace"`
}

// BindNS holds the paths the container's namespaces are bound to at boot;
// an empty path binds nothing.
type BindNS struct {
	Cgroup string `json:"cgroup"`
	Ipc    string `json:"ipc"`
	Mnt    string `json:"mnt"`
	Net    string `json:"net"`
	Pid    string `json:"pid"`
	User   string `json:"user"`
	Uts    string `json:"uts"`
}

// Placement says where a bundle lies in the assembled root filesystem, so
// that runtime.json can tell the init how to mount the container's root
// (LinuxKit's init mounts nothing else for it).
type Placement struct {
	// Dir is the bundle directory, relative to /:
	// "containers/onboot/000-name", "containers/services/name".
	Dir string `json:"dir"`
	// Root is the directory, relative to /, that holds the unpacked image:
	// Dir+"/rootfs" (read-only) or Dir+"/lower" (writable) when the bundle
	// has its own copy, or another bundle's directory when the image is
	// shared.
	Root string `json:"root"`
}

// Option is an optional setting of Generate.
type Option func(*options)

type options struct {
	placement *Placement
}

// WithPlacement makes Generate put the mounts of the container's root
// filesystem at the head of runtime.json's mounts: a bind of Root onto
// Dir/rootfs for a read-only container; a tmpfs on Dir/tmp (made private)
// and an overlay of Root with Dir/tmp/upper and Dir/tmp/work onto Dir/rootfs
// for a writable one.
func WithPlacement(p Placement) Option {
	return func(o *options) { o.placement = &p }
}

// Defaults of the generated config.json (those of LinuxKit, which follow
// Docker's).
var (
	procOptions   = []string{"nosuid", "nodev", "noexec", "relatime"}
	devOptions    = []string{"nosuid", "strictatime", "mode=755", "size=65536k"}
	ptsOptions    = []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
	sysOptions    = []string{"nosuid", "noexec", "nodev"}
	cgroupOptions = []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
	bindOptions   = []string{"rw", "rbind", "rshared"}
)

// rlimitNames are the resource limits runc knows.
var rlimitNames = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true,
	"RLIMIT_FSIZE": true, "RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true,
	"RLIMIT_NICE": true, "RLIMIT_NOFILE": true, "RLIMIT_NPROC": true, "RLIMIT_RSS": true,
	"RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
}

var propagations = map[string]bool{
	"shared": true, "slave": true, "private": true, "unbindable": true,
	"rshared": true, "rslave": true, "rprivate": true, "runbindable": true,
}

// Generate builds the OCI runtime config and the runtime.json content of one
// container entry. entry must already hold its image's
// org.mobyproject.config label merged in (the spec's fields winning); img is
// the image's own config, used for command, env and cwd when the entry does
// not set them; ids resolves uid/gid names. The rules are those of LinuxKit
// (moby.ConfigToOCI) as stated in kit's SPEC-REFERENCE:
//
//   - process: args = command, else Entrypoint+Cmd; env = env, else the
//     image's; cwd = cwd, else the image's WorkingDir, else "/"; no
//     terminal; uid, gid and additionalGids resolved through ids.
//   - capabilities replace (default none; a lone "all" or "none" is
//     special). When Capabilities is unset, CapabilitiesAdd is used (an
//     entry whose label merge left the additions unfolded). Bounding,
//     Permitted and Inheritable are the sorted union of the capabilities
//     and the ambient ones; Effective is the capabilities, Ambient the
//     ambient ones, both sorted.
//   - mounts, keyed by destination, later kinds replacing earlier ones:
//     the defaults (/proc, /dev tmpfs 64M, /dev/pts, /sys,
//     /sys/fs/cgroup read-only), then tmpfs "dst[:opts]", then binds
//     "src:dst[:opts]" (options rw,rbind,rshared by default; explicit
//     options get rbind appended; Binds if set, else BindsAdd), then full
//     mounts (type inferred from a source of proc, sysfs, devpts, cgroup or
//     mqueue, or tmpfs for /dev; source defaults to the type; destination
//     defaults to the type's usual place). The list is sorted by
//     destination.
//   - namespaces: net, ipc, uts and userns share the host's unless set to
//     "new" or "none" (a new one) or an absolute path (joined); pid is new
//     unless "host" (or a path); "root" means "host"; mount and cgroup
//     namespaces are always new. A hostname needs a new uts namespace and
//     a new user namespace needs uid and gid mappings (runc refuses both).
//   - readonly makes the root, /dev and /sys read-only.
//   - devices: a node with an octal mode plus a cgroup rule allowing it;
//     path "all" only allows every device of the type.
//   - resources, sysctl, rlimits ("name,soft,hard", "unlimited", RLIMIT_
//     prefix optional), uid/gid mappings, masked and read-only paths,
//     noNewPrivileges, hostname, oomScoreAdj, rootfsPropagation,
//     cgroupsPath and annotations pass through. Every field is carried
//     over: a field that the OCI types cannot hold is an error, never
//     silently dropped.
//
// Errors are *Error values naming the container and the field.
func Generate(entry *spec.Image, img ImageConfig, ids IDs, opts ...Option) (*specs.Spec, *Runtime, error) {
	if entry == nil {
		return nil, nil, fmt.Errorf("runtime: %w: no container entry", ErrInvalid)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	g := generator{entry: entry}
	oci, err := g.config(img, ids)
	if err != nil {
		return nil, nil, err
	}
	rt, err := g.runtime(o.placement)
	if err != nil {
		return nil, nil, err
	}
	return oci, rt, nil
}

type generator struct {
	entry *spec.Image
}

func (g generator) fail(field string, err error) error {
	return &Error{Container: g.entry.Name, Image: g.entry.Image, Field: field, Err: err}
}

func (g generator) config(img ImageConfig, ids IDs) (*specs.Spec, error) {
	e := g.entry
	readonly := e.Readonly != nil && *e.Readonly

	args := slices.Concat(img.Entrypoint, img.Cmd)
	if e.Command != nil {
		args = slices.Clone(*e.Command)
	}
	if len(args) == 0 {
		return nil, g.fail("command", errorf(ErrInvalid, "no command: the entry sets none and the image has no Entrypoint or Cmd"))
	}
	env := slices.Clone(img.Env)
	if e.Env != nil {
		env = slices.Clone(*e.Env)
	}
	cwd := "/"
	if img.WorkingDir != "" {
		cwd = img.WorkingDir
	}
	if e.Cwd != "" {
		cwd = e.Cwd
	}
	if !path.IsAbs(cwd) {
		return nil, g.fail("cwd", errorf(ErrInvalid, "%q is not an absolute path", cwd))
	}

	caps, err := g.capabilities()
	if err != nil {
		return nil, err
	}
	mounts, err := g.mounts(readonly)
	if err != nil {
		return nil, err
	}
	namespaces, err := g.namespaces()
	if err != nil {
		return nil, err
	}
	rlimits, err := g.rlimits()
	if err != nil {
		return nil, err
	}
	user, err := g.user(ids)
	if err != nil {
		return nil, err
	}
	resources, err := g.resources()
	if err != nil {
		return nil, err
	}
	devices, rules, err := g.devices()
	if err != nil {
		return nil, err
	}
	resources.Devices = append(resources.Devices, rules...)

	oci := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal:        false,
			User:            user,
			Args:            args,
			Env:             env,
			Cwd:             cwd,
			Capabilities:    caps,
			Rlimits:         rlimits,
			NoNewPrivileges: e.NoNewPrivileges != nil && *e.NoNewPrivileges,
			OOMScoreAdj:     e.OOMScoreAdj,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: readonly},
		Hostname: e.Hostname,
		Mounts:   mounts,
		Linux: &specs.Linux{
			UIDMappings: idMappings(e.UIDMappings),
			GIDMappings: idMappings(e.GIDMappings),
			Sysctl:      stringMap(e.Sysctl),
			Resources:   resources,
			Namespaces:  namespaces,
			Devices:     devices,
		},
		Annotations: stringMap(e.Annotations),
	}
	if e.CgroupsPath != nil {
		oci.Linux.CgroupsPath = *e.CgroupsPath
	}
	if e.RootfsPropagation != nil && *e.RootfsPropagation != "" {
		if !propagations[*e.RootfsPropagation] {
			return nil, g.fail("rootfsPropagation", errorf(ErrInvalid, "%q is not one of shared, slave, private, unbindable (optionally prefixed with r)", *e.RootfsPropagation))
		}
		oci.Linux.RootfsPropagation = *e.RootfsPropagation
	}
	if e.MaskedPaths != nil {
		oci.Linux.MaskedPaths = slices.Clone(*e.MaskedPaths)
	}
	if e.ReadonlyPaths != nil {
		oci.Linux.ReadonlyPaths = slices.Clone(*e.ReadonlyPaths)
	}
	if e.Hostname != "" && !hasNamespace(namespaces, specs.UTSNamespace) {
		return nil, g.fail("hostname", errorf(ErrInvalid, "setting the hostname needs a private UTS namespace (uts: new)"))
	}
	if ns, ok := namespace(namespaces, specs.UserNamespace); ok && ns.Path == "" && (len(oci.Linux.UIDMappings) == 0 || len(oci.Linux.GIDMappings) == 0) {
		return nil, g.fail("userns", errorf(ErrInvalid, "a new user namespace needs uidMappings and gidMappings"))
	}
	return oci, nil
}

func (g generator) capabilities() (*specs.LinuxCapabilities, error) {
	e := g.entry
	var list []string
	field := "capabilities"
	switch {
	case e.Capabilities != nil:
		list = *e.Capabilities
	case e.CapabilitiesAdd != nil:
		list, field = *e.CapabilitiesAdd, "capabilities.add"
	}
	caps, err := expandCapabilities(list)
	if err != nil {
		return nil, g.fail(field, err)
	}
	var ambient []string
	if e.Ambient != nil {
		if ambient, err = expandCapabilities(*e.Ambient); err != nil {
			return nil, g.fail("ambient", err)
		}
	}
	bounding := sortedSet(slices.Concat(caps, ambient))
	return &specs.LinuxCapabilities{
		Bounding:    bounding,
		Effective:   caps,
		Inheritable: slices.Clone(bounding),
		Permitted:   slices.Clone(bounding),
		Ambient:     ambient,
	}, nil
}

func (g generator) mounts(readonly bool) ([]specs.Mount, error) {
	e := g.entry
	dev, sys := slices.Clone(devOptions), slices.Clone(sysOptions)
	if readonly {
		dev, sys = append(dev, "ro"), append(sys, "ro")
	}
	byDest := map[string]specs.Mount{
		"/proc":          {Destination: "/proc", Type: "proc", Source: "proc", Options: slices.Clone(procOptions)},
		"/dev":           {Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: dev},
		"/dev/pts":       {Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: slices.Clone(ptsOptions)},
		"/sys":           {Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sys},
		"/sys/fs/cgroup": {Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: slices.Clone(cgroupOptions)},
	}
	add := func(field string, m specs.Mount) error {
		if !path.IsAbs(m.Destination) {
			return g.fail(field, errorf(ErrInvalid, "destination %q is not an absolute path", m.Destination))
		}
		m.Destination = path.Clean(m.Destination)
		byDest[m.Destination] = m
		return nil
	}

	if e.Tmpfs != nil {
		for i, t := range *e.Tmpfs {
			field := fmt.Sprintf("tmpfs[%d]", i)
			dst, opts, err := parseTmpfs(t)
			if err != nil {
				return nil, g.fail(field, err)
			}
			if err := add(field, specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: opts}); err != nil {
				return nil, err
			}
		}
	}

	binds, field := []string(nil), "binds"
	switch {
	case e.Binds != nil:
		binds = *e.Binds
	case e.BindsAdd != nil:
		binds, field = *e.BindsAdd, "binds.add"
	}
	for i, b := range binds {
		f := fmt.Sprintf("%s[%d]", field, i)
		m, err := parseBind(b)
		if err != nil {
			return nil, g.fail(f, err)
		}
		if err := add(f, m); err != nil {
			return nil, err
		}
	}

	if e.Mounts != nil {
		for i, sm := range *e.Mounts {
			field := fmt.Sprintf("mounts[%d]", i)
			m, err := completeMount(sm)
			if err != nil {
				return nil, g.fail(field, err)
			}
			if err := add(field, m); err != nil {
				return nil, err
			}
		}
	}

	list := make([]specs.Mount, 0, len(byDest))
	for _, m := range byDest {
		list = append(list, m)
	}
	// Sorted by destination: deterministic, and a parent (/dev) is mounted
	// before its children (/dev/pts).
	slices.SortFunc(list, func(a, b specs.Mount) int { return strings.Compare(a.Destination, b.Destination) })
	return list, nil
}

// parseTmpfs parses "dst[:opts]".
func parseTmpfs(s string) (string, []string, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return "", nil, errorf(ErrInvalid, "tmpfs %q: want dst[:options], too many ':'", s)
	}
	if parts[0] == "" {
		return "", nil, errorf(ErrInvalid, "tmpfs %q: empty destination", s)
	}
	var opts []string
	if len(parts) == 2 {
		opts = strings.Split(parts[1], ",")
	}
	return parts[0], opts, nil
}

// parseBind parses "src:dst[:opts]".
func parseBind(s string) (specs.Mount, error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) < 2:
		return specs.Mount{}, errorf(ErrInvalid, "bind %q: want src:dst[:options], missing ':'", s)
	case len(parts) > 3:
		return specs.Mount{}, errorf(ErrInvalid, "bind %q: want src:dst[:options], too many ':'", s)
	case parts[0] == "" || parts[1] == "":
		return specs.Mount{}, errorf(ErrInvalid, "bind %q: empty source or destination", s)
	}
	opts := slices.Clone(bindOptions)
	if len(parts) == 3 {
		opts = append(strings.Split(parts[2], ","), "rbind")
	}
	return specs.Mount{Destination: parts[1], Type: "bind", Source: parts[0], Options: opts}, nil
}

// completeMount fills in what a spec mount may leave out.
func completeMount(m spec.Mount) (specs.Mount, error) {
	typ, src, dst := m.Type, m.Source, m.Destination
	if typ == "" {
		switch src {
		case "proc", "sysfs", "devpts", "cgroup", "mqueue":
			typ = src
		}
	}
	if typ == "" && path.Clean(dst) == "/dev" {
		typ = "tmpfs"
	}
	if typ == "" {
		return specs.Mount{}, errorf(ErrInvalid, "mount on %q has no type and none can be inferred from its source", dst)
	}
	if src == "" {
		src = typ
	}
	if dst == "" {
		dst = map[string]string{
			"proc": "/proc", "sysfs": "/sys", "devpts": "/dev/pts", "cgroup": "/sys/fs/cgroup", "mqueue": "/dev/mqueue",
		}[typ]
	}
	if dst == "" {
		return specs.Mount{}, errorf(ErrInvalid, "mount of type %q has no destination", typ)
	}
	return specs.Mount{Destination: dst, Type: typ, Source: src, Options: slices.Clone(m.Options)}, nil
}

func (g generator) namespaces() ([]specs.LinuxNamespace, error) {
	e := g.entry
	var list []specs.LinuxNamespace
	// net, ipc, uts, user: the host's unless asked otherwise; pid: new
	// unless asked otherwise. "root" is a synonym of "host" (LinuxKit).
	for _, ns := range []struct {
		field, value string
		typ          specs.LinuxNamespaceType
	}{
		{"net", e.Net, specs.NetworkNamespace},
		{"ipc", e.Ipc, specs.IPCNamespace},
		{"uts", e.Uts, specs.UTSNamespace},
		{"pid", e.Pid, specs.PIDNamespace},
		{"userns", e.Userns, specs.UserNamespace},
	} {
		v := ns.value
		if v == "" {
			v = "host"
			if ns.typ == specs.PIDNamespace {
				v = "new" // a new pid namespace unless asked otherwise
			}
		}
		switch {
		case v == "host" || v == "root":
			continue
		case v == "new" || v == "none":
			list = append(list, specs.LinuxNamespace{Type: ns.typ})
		case path.IsAbs(v):
			list = append(list, specs.LinuxNamespace{Type: ns.typ, Path: v})
		default:
			return nil, g.fail(ns.field, errorf(ErrInvalid, "%q is not host, new, none or an absolute namespace path", v))
		}
	}
	// Always a new mount namespace, and (as LinuxKit) a new cgroup namespace.
	list = append(list, specs.LinuxNamespace{Type: specs.MountNamespace}, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	return list, nil
}

func namespace(list []specs.LinuxNamespace, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, ns := range list {
		if ns.Type == t {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

func hasNamespace(list []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	_, ok := namespace(list, t)
	return ok
}

func (g generator) rlimits() ([]specs.POSIXRlimit, error) {
	if g.entry.Rlimits == nil {
		return nil, nil
	}
	var list []specs.POSIXRlimit
	seen := map[string]bool{}
	for i, s := range *g.entry.Rlimits {
		r, err := parseRlimit(s)
		if err != nil {
			return nil, g.fail(fmt.Sprintf("rlimits[%d]", i), err)
		}
		if seen[r.Type] {
			return nil, g.fail(fmt.Sprintf("rlimits[%d]", i), errorf(ErrInvalid, "%s is set twice", r.Type))
		}
		seen[r.Type] = true
		list = append(list, r)
	}
	return list, nil
}

// parseRlimit parses "name,soft,hard"; name may omit the RLIMIT_ prefix and
// is case-insensitive; soft and hard are numbers or "unlimited".
func parseRlimit(s string) (specs.POSIXRlimit, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return specs.POSIXRlimit{}, errorf(ErrInvalid, "rlimit %q: want name,soft,hard", s)
	}
	name := strings.ToUpper(strings.TrimSpace(parts[0]))
	if !strings.HasPrefix(name, "RLIMIT_") {
		name = "RLIMIT_" + name
	}
	if !rlimitNames[name] {
		return specs.POSIXRlimit{}, errorf(ErrInvalid, "rlimit %q: unknown limit %q", s, strings.TrimSpace(parts[0]))
	}
	var vals [2]uint64
	for i, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if strings.EqualFold(p, "unlimited") {
			vals[i] = math.MaxUint64
			continue
		}
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return specs.POSIXRlimit{}, errorf(ErrInvalid, "rlimit %q: %q is neither a number nor unlimited", s, p)
		}
		vals[i] = v
	}
	if vals[0] > vals[1] {
		return specs.POSIXRlimit{}, errorf(ErrInvalid, "rlimit %q: soft limit above hard limit", s)
	}
	return specs.POSIXRlimit{Type: name, Soft: vals[0], Hard: vals[1]}, nil
}

func (g generator) user(ids IDs) (specs.User, error) {
	e := g.entry
	uid, err := ids.Resolve(e.UID)
	if err != nil {
		return specs.User{}, g.fail("uid", err)
	}
	gid, err := ids.Resolve(e.GID)
	if err != nil {
		return specs.User{}, g.fail("gid", err)
	}
	u := specs.User{UID: uid, GID: gid}
	if e.AdditionalGids != nil {
		for i, v := range *e.AdditionalGids {
			id, err := ids.Resolve(&v)
			if err != nil {
				return specs.User{}, g.fail(fmt.Sprintf("additionalGids[%d]", i), err)
			}
			u.AdditionalGids = append(u.AdditionalGids, id)
		}
	}
	return u, nil
}

// resources converts the spec's resources into the OCI type through their
// common JSON form. Unknown fields are refused, so a field the spec has and
// the OCI type lacks is an error rather than a silent loss (LinuxKit lost
// camelCase keys such as disableOOMKiller this way).
func (g generator) resources() (*specs.LinuxResources, error) {
	var r specs.LinuxResources
	if g.entry.Resources == nil {
		return &r, nil
	}
	b, err := json.Marshal(g.entry.Resources)
	if err != nil {
		return nil, g.fail("resources", fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, g.fail("resources", fmt.Errorf("%w: not representable in the OCI runtime spec: %w", ErrInvalid, err))
	}
	return &r, nil
}

func (g generator) devices() ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	if g.entry.Devices == nil {
		return nil, nil, nil
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	for i, d := range *g.entry.Devices {
		field := fmt.Sprintf("devices[%d]", i)
		if d.Path == "all" {
			switch d.Type {
			case "a", "b", "c":
			default:
				return nil, nil, g.fail(field, errorf(ErrInvalid, "type %q: a rule for all devices needs type a, b or c", d.Type))
			}
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Access: "rwm"})
			continue
		}
		if !path.IsAbs(d.Path) {
			return nil, nil, g.fail(field, errorf(ErrInvalid, "path %q is neither all nor an absolute path", d.Path))
		}
		switch d.Type {
		case "b", "c", "u", "p":
		default:
			return nil, nil, g.fail(field, errorf(ErrInvalid, "type %q: want b, c, u or p", d.Type))
		}
		mode, err := strconv.ParseUint(d.Mode, 8, 32)
		if err != nil || mode > 0o7777 {
			return nil, nil, g.fail(field, errorf(ErrInvalid, "mode %q is not an octal permission such as \"0666\"", d.Mode))
		}
		fm := os.FileMode(mode)
		major, minor := d.Major, d.Minor
		devs = append(devs, specs.LinuxDevice{Path: d.Path, Type: d.Type, Major: major, Minor: minor, FileMode: &fm})
		// The device cgroup must allow a device for the container to use it.
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: "rwm"})
	}
	return devs, rules, nil
}

func idMappings(m *[]spec.IDMapping) []specs.LinuxIDMapping {
	if m == nil {
		return nil
	}
	var out []specs.LinuxIDMapping
	for _, x := range *m {
		out = append(out, specs.LinuxIDMapping{ContainerID: x.ContainerID, HostID: x.HostID, Size: x.Size})
	}
	return out
}

func stringMap(m *map[string]string) map[string]string {
	if m == nil || len(*m) == 0 {
		return nil
	}
	out := make(map[string]string, len(*m))
	for k, v := range *m {
		out[k] = v
	}
	return out
}

// sortedSet returns the distinct strings of list, sorted; nil when empty.
func sortedSet(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

func (g generator) runtime(p *Placement) (*Runtime, error) {
	rt := &Runtime{Cgroups: []string{}, Mounts: []specs.Mount{}, Mkdir: []string{}, Interfaces: []spec.Interface{}}
	if p != nil {
		m, err := rootMounts(*p, g.entry.Readonly != nil && *g.entry.Readonly)
		if err != nil {
			return nil, g.fail("placement", err)
		}
		rt.Mounts = append(rt.Mounts, m...)
	}
	r := g.entry.Runtime
	if r == nil {
		return rt, nil
	}
	if r.Cgroups != nil {
		rt.Cgroups = append(rt.Cgroups, *r.Cgroups...)
	}
	if r.Mounts != nil {
		for _, m := range *r.Mounts {
			rt.Mounts = append(rt.Mounts, specs.Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: slices.Clone(m.Options)})
		}
	}
	if r.Mkdir != nil {
		rt.Mkdir = append(rt.Mkdir, *r.Mkdir...)
	}
	if r.Interfaces != nil {
		for i, iface := range *r.Interfaces {
			if iface.Name == "" {
				return nil, g.fail(fmt.Sprintf("runtime.interfaces[%d]", i), errorf(ErrInvalid, "an interface needs a name"))
			}
			rt.Interfaces = append(rt.Interfaces, iface)
		}
	}
	if b := r.BindNS; b != nil {
		rt.BindNS = BindNS{Cgroup: str(b.Cgroup), Ipc: str(b.Ipc), Mnt: str(b.Mnt), Net: str(b.Net), Pid: str(b.Pid), User: str(b.User), Uts: str(b.Uts)}
	}
	rt.Namespace = str(r.Namespace)
	return rt, nil
}

// rootMounts are the mounts that give the container its root filesystem at
// boot, as LinuxKit's build writes them.
func rootMounts(p Placement, readonly bool) ([]specs.Mount, error) {
	for _, d := range []string{p.Dir, p.Root} {
		if d == "" || path.IsAbs(d) || path.Clean(d) != d || d == "." || strings.HasPrefix(d, "../") || d == ".." {
			return nil, errorf(ErrInvalid, "%q is not a clean relative path", d)
		}
	}
	rootfs := "/" + path.Join(p.Dir, "rootfs")
	if readonly {
		// A bind, even of the bundle's own rootfs onto itself: runc wants the
		// root to be a mount point.
		return []specs.Mount{{Destination: rootfs, Source: "/" + p.Root, Options: []string{"bind"}}}, nil
	}
	tmp := "/" + path.Join(p.Dir, "tmp")
	return []specs.Mount{
		{Destination: tmp, Type: "tmpfs", Source: "tmpfs"},
		// private: nothing else should see the temporary layers
		{Destination: tmp, Options: []string{"remount", "private"}},
		{Destination: rootfs, Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=/" + p.Root, "upperdir=" + tmp + "/upper", "workdir=" + tmp + "/work",
		}},
	}, nil
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
