//go:build linux

package initsys

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Section is a directory of bundles under containers/.
type Section string

// The sections of an assembled root filesystem.
const (
	Onboot     Section = "onboot"
	Services   Section = "services"
	Onshutdown Section = "onshutdown"
)

// Bundle is one container bundle of the root filesystem.
type Bundle struct {
	Section Section
	// Name is the directory name: "000-dhcpcd" or "redis".
	Name string
	// ID is the runc container id: the name without its NNN- prefix.
	ID string
	// Dir is the bundle directory on the host (under the init's root).
	Dir string
	// Rel is Dir relative to the root, with a leading slash:
	// "/containers/onboot/000-dhcpcd".
	Rel string
	// Index is the NNN prefix of onboot and onshutdown bundles (-1 for
	// services).
	Index int
}

// Label names the bundle in console messages: "onboot 000-dhcpcd".
func (b Bundle) Label() string {
	if b.Section == Services {
		return "service " + b.Name
	}
	return string(b.Section) + " " + b.Name
}

// ListBundles returns the bundles of a section under root (the directory
// holding containers/), in run order: onboot and onshutdown by their
// numeric prefix (then name), services by name. A missing section has no
// bundles; entries that are not directories are skipped. An onboot or
// onshutdown directory not named NNN-name is left out and named in the
// error, which comes with the other bundles.
func ListBundles(root string, section Section) ([]Bundle, error) {
	dir := filepath.Join(root, "containers", string(section))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s bundles: %w", section, err)
	}
	var out []Bundle
	var bad []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b := Bundle{Section: section, Name: e.Name(), ID: e.Name(), Index: -1,
			Dir: filepath.Join(dir, e.Name()), Rel: path.Join("/containers", string(section), e.Name())}
		if section != Services {
			num, name, ok := strings.Cut(e.Name(), "-")
			n, err := strconv.Atoi(num)
			if !ok || err != nil || n < 0 || name == "" {
				bad = append(bad, fmt.Errorf("%s bundle %q skipped: want NNN-name", section, e.Name()))
				continue
			}
			b.Index, b.ID = n, name
		}
		out = append(out, b)
	}
	slices.SortStableFunc(out, func(a, b Bundle) int {
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, errors.Join(bad...)
}

// Mount is a mount of runtime.json (an OCI mount).
type Mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Interface is a network interface to create or move for a container.
type Interface struct {
	Name         string `json:"name,omitempty"`
	Add          string `json:"add,omitempty"`
	Peer         string `json:"peer,omitempty"`
	CreateInRoot bool   `json:"createInRoot"`
}

// BindNS holds the paths a container's namespaces are bound to.
type BindNS struct {
	Cgroup string `json:"cgroup"`
	Ipc    string `json:"ipc"`
	Mnt    string `json:"mnt"`
	Net    string `json:"net"`
	Pid    string `json:"pid"`
	User   string `json:"user"`
	Uts    string `json:"uts"`
}

// binds lists the namespace kinds (as in /proc/PID/ns) with their paths,
// in a fixed order, skipping empty ones.
func (b BindNS) binds() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"cgroup", b.Cgroup}, {"ipc", b.Ipc}, {"mnt", b.Mnt}, {"net", b.Net}, {"pid", b.Pid}, {"user", b.User}, {"uts", b.Uts}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

// RuntimeConfig is runtime.json: what the init does around a container
// (kit's steps/runtime writes it, with LinuxKit's keys).
type RuntimeConfig struct {
	Cgroups    []string    `json:"cgroups"`
	Mounts     []Mount     `json:"mounts"`
	Mkdir      []string    `json:"mkdir"`
	Interfaces []Interface `json:"interfaces"`
	BindNS     BindNS      `json:"bindNS"`
	Namespace  string      `json:"namespace"`
}

// ErrBadRuntime marks a runtime.json that cannot be applied.
var ErrBadRuntime = errors.New("bad runtime.json")

// ParseRuntimeConfig decodes and checks runtime.json: paths must be
// absolute and cgroup names relative, none may climb with "..".
func ParseRuntimeConfig(b []byte) (*RuntimeConfig, error) {
	var rc RuntimeConfig
	if err := json.Unmarshal(b, &rc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRuntime, err)
	}
	abs := func(what, p string) error {
		if !path.IsAbs(p) || strings.Contains(p, "\x00") || slices.Contains(strings.Split(p, "/"), "..") {
			return fmt.Errorf("%w: %s %q must be absolute, without \"..\" elements", ErrBadRuntime, what, p)
		}
		return nil
	}
	for i, m := range rc.Mounts {
		if err := abs(fmt.Sprintf("mounts[%d].destination", i), m.Destination); err != nil {
			return nil, err
		}
	}
	for i, d := range rc.Mkdir {
		if err := abs(fmt.Sprintf("mkdir[%d]", i), d); err != nil {
			return nil, err
		}
	}
	for _, kv := range rc.BindNS.binds() {
		if err := abs("bindNS."+kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	for i, c := range rc.Cgroups {
		if c == "" || path.IsAbs(c) || strings.Contains(c, "\x00") || slices.Contains(strings.Split(c, "/"), "..") {
			return nil, fmt.Errorf("%w: cgroups[%d] %q is not a relative cgroup path", ErrBadRuntime, i, c)
		}
	}
	return &rc, nil
}

// readRuntimeConfig reads a bundle's runtime.json; a missing file is an
// empty config.
func readRuntimeConfig(b Bundle) (*RuntimeConfig, error) {
	data, err := os.ReadFile(filepath.Join(b.Dir, "runtime.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &RuntimeConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	rc, err := ParseRuntimeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s/runtime.json: %w", b.Rel, err)
	}
	return rc, nil
}
