package assemble

import (
	"fmt"
	"path"
	"strings"
)

// Section is a list of containers in a system spec.
type Section string

// The container sections, in the order they are laid out.
const (
	Onboot     Section = "onboot"
	Onshutdown Section = "onshutdown"
	Services   Section = "services"
)

// Output names of other steps that Layout lays in.
const (
	// unpackRootfs is the unpacked image of the unpack step.
	unpackRootfs = "rootfs.tar"
	// kernelTar is the modules tar of the kernel step.
	kernelTar = "kernel.tar"
	// runtimeConfig and runtimeRuntime are the outputs of the runtime step.
	runtimeConfig  = "config.json"
	runtimeRuntime = "runtime.json"
	// filesTar and filesParents are the outputs of the files step.
	filesTar     = "files.tar"
	filesParents = "parents.tar"
)

// APKInstalled is the apk database that LinuxKit merges across init images
// instead of letting the last one win.
const APKInstalled = "lib/apk/db/installed"

// BundleDir returns the directory of a container bundle, relative to the
// root: containers/onboot/000-name, containers/onshutdown/001-name,
// containers/services/name.
func BundleDir(section Section, index int, name string) string {
	if section == Services {
		return "containers/services/" + name
	}
	return fmt.Sprintf("containers/%s/%03d-%s", section, index, name)
}

// VolumeDir returns the directory of a volume, relative to the root:
// containers/volumes/name. It holds lower/ (the image, or empty), and tmp/
// and merged/ for the overlay the init mounts at boot.
func VolumeDir(name string) string { return "containers/volumes/" + name }

// Container places one container bundle.
type Container struct {
	Section Section
	// Index is the position in the section (NNN of onboot and onshutdown).
	Index int
	Name  string
	// Readonly lays the image into rootfs/; otherwise it goes into lower/
	// and tmp/ and rootfs/ are made for the overlay the init sets up.
	Readonly bool
	// Rootfs is the input holding the unpacked image (rootfs.tar).
	Rootfs int
	// Runtime is the input holding config.json and runtime.json.
	Runtime int
	// SharedRoot, when set, is the directory of another bundle that
	// already holds the same image (its Root): this bundle then holds no
	// copy, and its runtime.json binds or overlays SharedRoot (as LinuxKit
	// does for an image used twice). Rootfs is then unused.
	SharedRoot string
}

// Dir is the bundle directory.
func (c Container) Dir() string { return BundleDir(c.Section, c.Index, c.Name) }

// Root is the directory that holds the container's image: Dir/rootfs
// (read-only), Dir/lower (writable), or SharedRoot.
func (c Container) Root() string {
	switch {
	case c.SharedRoot != "":
		return c.SharedRoot
	case c.Readonly:
		return c.Dir() + "/rootfs"
	}
	return c.Dir() + "/lower"
}

// label names the bundle in messages: "onboot/000-dhcpcd".
func (c Container) label() string { return strings.TrimPrefix(c.Dir(), "containers/") }

// Volume places one volume.
type Volume struct {
	Name string
	// Input holds the volume's contents as a tar (Output, default
	// rootfs.tar), laid into lower/. Unused when Blank.
	Input  int
	Output string
	// Blank makes an empty volume.
	Blank bool
}

// Layout builds the Op of a LinuxKit system. Whatever the order of the
// calls, the parts are laid out in LinuxKit's order (its build.go): the
// kernel (boot files, then kernel.tar at /), the init images in order,
// the volumes, the onboot, onshutdown and service bundles, and last the
// files. A later part wins a path that an earlier one holds, so the init
// images override kernel.tar (the system reference's table lists
// kernel.tar after the init images, but LinuxKit writes it first) and the
// files override everything. The parent directories that file entries need
// only fill gaps and never change an existing directory.
type Layout struct {
	epoch      int64
	kernel     *Kernel
	kernelTar  bool
	init       []int
	volumes    []Volume
	containers map[Section][]Container
	files      []int
}

// NewLayout starts a layout whose times are clamped to sourceDateEpoch.
func NewLayout(sourceDateEpoch int64) *Layout {
	return &Layout{epoch: sourceDateEpoch, containers: map[Section][]Container{}}
}

// Kernel places the kernel step's outputs: boot/kernel, boot/cmdline,
// boot/ucode.cpio (with ucode) and kernel.tar at / (with tar).
func (l *Layout) Kernel(input int, cmdline string, tar, ucode bool) *Layout {
	l.kernel = &Kernel{Input: input, Cmdline: cmdline, UCode: ucode}
	l.kernelTar = tar
	return l
}

// Init lays an unpacked init image at /, after the previous ones.
func (l *Layout) Init(input int) *Layout {
	l.init = append(l.init, input)
	return l
}

// Volume adds a volume.
func (l *Layout) Volume(v Volume) *Layout {
	l.volumes = append(l.volumes, v)
	return l
}

// Container adds a container bundle to its section, after the previous
// ones.
func (l *Layout) Container(c Container) *Layout {
	l.containers[c.Section] = append(l.containers[c.Section], c)
	return l
}

// Files lays the files step's outputs, last.
func (l *Layout) Files(input int) *Layout {
	l.files = append(l.files, input)
	return l
}

// Op returns the assemble op, or an error naming the first bad container or
// volume.
func (l *Layout) Op() (Op, error) {
	op := Op{Kernel: l.kernel, SourceDateEpoch: l.epoch}
	if l.kernel != nil && l.kernelTar {
		op.Parts = append(op.Parts, Part{Name: "kernel", Input: l.kernel.Input, Output: kernelTar})
	}
	for i, in := range l.init {
		op.Parts = append(op.Parts, Part{Name: fmt.Sprintf("init[%d]", i), Input: in, Output: unpackRootfs, Concat: true})
	}
	if len(l.init) > 1 {
		op.Concat = []string{APKInstalled}
	}
	dirs := map[string]string{}
	claim := func(dir, what string) error {
		if other, ok := dirs[dir]; ok {
			return fmt.Errorf("%w: %s and %s both use %s", ErrInvalid, other, what, dir)
		}
		dirs[dir] = what
		return nil
	}
	for _, v := range l.volumes {
		name := "volumes/" + v.Name
		if !simpleName(v.Name) {
			return Op{}, fmt.Errorf("%w: volume name %q", ErrInvalid, v.Name)
		}
		dir := VolumeDir(v.Name)
		if err := claim(dir, name); err != nil {
			return Op{}, err
		}
		sub := []string{"merged", "tmp"}
		if v.Blank {
			sub = []string{"lower", "merged", "tmp"}
		} else {
			out := v.Output
			if out == "" {
				out = unpackRootfs
			}
			op.Parts = append(op.Parts, Part{Name: name, Input: v.Input, Output: out, Prefix: dir + "/lower"})
		}
		op.Parts = append(op.Parts, Part{Name: name, Prefix: dir, Dirs: sub})
	}
	for _, section := range []Section{Onboot, Onshutdown, Services} {
		for _, c := range l.containers[section] {
			parts, err := c.parts()
			if err != nil {
				return Op{}, err
			}
			if err := claim(c.Dir(), c.label()); err != nil {
				return Op{}, err
			}
			op.Parts = append(op.Parts, parts...)
		}
	}
	for s := range l.containers {
		if s != Onboot && s != Onshutdown && s != Services {
			return Op{}, fmt.Errorf("%w: unknown container section %q", ErrInvalid, s)
		}
	}
	for _, in := range l.files {
		op.Parts = append(op.Parts,
			Part{Name: "files", Input: in, Output: filesParents, Fill: true},
			Part{Name: "files", Input: in, Output: filesTar})
	}
	if _, err := op.canonical(); err != nil {
		return Op{}, err
	}
	return op, nil
}

// parts are the parts of one bundle.
func (c Container) parts() ([]Part, error) {
	name := c.label()
	if !simpleName(c.Name) {
		return nil, fmt.Errorf("%w: %s: container name %q", ErrInvalid, name, c.Name)
	}
	if c.Index < 0 || c.Index > 999 && c.Section != Services {
		return nil, fmt.Errorf("%w: %s: index %d", ErrInvalid, name, c.Index)
	}
	if c.SharedRoot != "" && !cleanName(c.SharedRoot) {
		return nil, fmt.Errorf("%w: %s: shared root %q is not a clean relative path", ErrInvalid, name, c.SharedRoot)
	}
	dir := c.Dir()
	var parts []Part
	var sub []string
	switch {
	case !c.Readonly:
		sub = []string{"rootfs", "tmp"}
	case c.SharedRoot != "":
		sub = []string{"rootfs"}
	}
	if c.SharedRoot == "" {
		parts = append(parts, Part{Name: name, Input: c.Rootfs, Output: unpackRootfs, Prefix: c.Root()})
	}
	if len(sub) > 0 {
		parts = append(parts, Part{Name: name, Prefix: dir, Dirs: sub})
	}
	parts = append(parts,
		Part{Name: name, Input: c.Runtime, Output: runtimeConfig, As: path.Join(dir, runtimeConfig), Mode: 0o644},
		Part{Name: name, Input: c.Runtime, Output: runtimeRuntime, As: path.Join(dir, runtimeRuntime), Mode: 0o644})
	return parts, nil
}

// simpleName reports whether a container or volume name can be a single
// path element.
func simpleName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}
