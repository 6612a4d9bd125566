package unpack

import (
	"archive/tar"
	"fmt"
	"slices"
	"strings"
)

// Mode says what an unpacked image is used for; it decides the rewriting of
// a few files (SPEC-REFERENCE, "Unpacking an image for a container").
type Mode int

const (
	// Container: the root filesystem of an onboot, onshutdown or service
	// container.
	Container Mode = iota
	// Init: an init image, laid into the system's root; /dev/console is
	// kept (the initramfs needs it).
	Init
	// Volume: the contents of a volume.
	Volume
)

var modeNames = []string{Container: "container", Init: "init", Volume: "volume"}

func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode parses "container", "init" or "volume".
func ParseMode(s string) (Mode, error) {
	if i := slices.Index(modeNames, s); i >= 0 {
		return Mode(i), nil
	}
	return 0, fmt.Errorf("unknown unpack mode %q (want container, init or volume)", s)
}

// MarshalText encodes the mode by name.
func (m Mode) MarshalText() ([]byte, error) {
	if m < 0 || int(m) >= len(modeNames) {
		return nil, fmt.Errorf("unknown unpack mode %d", int(m))
	}
	return []byte(modeNames[m]), nil
}

// UnmarshalText decodes a mode name.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// hostsContent replaces every image's /etc/hosts (as linuxkit does).
const hostsContent = `127.0.0.1       localhost
::1     localhost ip6-localhost ip6-loopback
fe00::0 ip6-localnet
ff00::0 ip6-mcastprefix
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
`

// resolvContent is a container's /etc/resolv.conf (as linuxkit's).
const resolvContent = `
# no resolv.conf configured
`

// resolvSymlink is the target of /etc/resolv.conf in init images and
// volumes: a writable place the system's DHCP client fills.
const resolvSymlink = "/run/resolvconf/resolv.conf"

// synthetic is an entry a mode adds.
type synthetic struct {
	h    tar.Header
	data string
	// touch: added only when the image has no entry of that name; otherwise
	// (replace) the image's entry was dropped and this one takes its place.
	touch bool
}

// rules are the rewrites of one mode.
type rules struct {
	// drop lists names left out of the tree, each with everything below it.
	drop map[string]bool
	// add lists the entries added, sorted by name.
	add []synthetic
	// dirs must be directories when the image has them, since entries are
	// added below them.
	dirs map[string]bool
}

func (r *rules) dropName(name string) bool {
	for p := name; p != ""; {
		if r.drop[p] {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

// modeRules returns the rewrites of m. Entries it adds get mtime epoch.
func modeRules(m Mode) *rules {
	r := &rules{
		drop: map[string]bool{
			".dockerenv":      true,
			"Dockerfile":      true,
			"dev/console":     m != Init,
			"dev/pts":         true,
			"dev/shm":         true,
			"etc/hostname":    true,
			"etc/hosts":       true,
			"etc/resolv.conf": true,
		},
		dirs: map[string]bool{"dev": true, "etc": true},
	}
	dir := func(name string) synthetic {
		return synthetic{h: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}, touch: true}
	}
	resolv := synthetic{h: tar.Header{Name: "etc/resolv.conf", Typeflag: tar.TypeReg, Mode: 0o644}, data: resolvContent}
	if m != Container {
		resolv = synthetic{h: tar.Header{Name: "etc/resolv.conf", Typeflag: tar.TypeSymlink, Linkname: resolvSymlink, Mode: 0o777}}
	}
	r.add = []synthetic{
		dir("dev"),
		dir("dev/pts"),
		dir("dev/shm"),
		dir("etc"),
		{h: tar.Header{Name: "etc/hosts", Typeflag: tar.TypeReg, Mode: 0o644}, data: hostsContent},
		{h: tar.Header{Name: "etc/mtab", Typeflag: tar.TypeSymlink, Linkname: "/proc/mounts", Mode: 0o777}, touch: true},
		resolv,
		dir("proc"),
		dir("sys"),
	}
	return r
}
