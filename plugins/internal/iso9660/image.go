package iso9660

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// EntryType is the kind of an Entry.
type EntryType uint8

// Entry types.
const (
	TypeFile EntryType = iota
	TypeDir
	TypeSymlink
	// TypeHardlink is another name for the entry at Target (a file,
	// symlink, device or fifo added before it).
	TypeHardlink
	TypeCharDev
	TypeBlockDev
	TypeFifo
)

func (t EntryType) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeHardlink:
		return "hard link"
	case TypeCharDev:
		return "character device"
	case TypeBlockDev:
		return "block device"
	case TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Entry is one name in the image.
type Entry struct {
	// Path is slash-separated and relative to the root ("boot/kernel");
	// leading slashes and "." components are dropped, ".." is refused.
	Path string
	Type EntryType
	// Mode holds the Unix permission bits (07777, with setuid, setgid and
	// sticky).
	Mode     uint32
	UID, GID uint32
	// ModTime is clamped to the image's SOURCE_DATE_EPOCH; the zero time
	// means the epoch.
	ModTime time.Time
	// Data is a regular file's content.
	Data Source
	// Target is a symlink's target, or the Path of a hard link's entry.
	Target string
	// Major and Minor are a device's numbers.
	Major, Minor uint32
}

// MaxFileSize is the largest regular file an image holds (one extent; ISO
// 9660 multi-extent files are not written).
const MaxFileSize = 1<<32 - 1

// ErrExists is wrapped by Add when a path is added twice.
var ErrExists = errors.New("path already in the image")

// Image is the tree of an ISO 9660 image being built. Add entries, then
// Write it (as many times as wanted: the same tree gives the same bytes).
// An Image is not safe for concurrent use.
type Image struct {
	epoch time.Time
	o     options
	root  *node
	nodes map[string]*node
}

// node is one name in the tree.
type node struct {
	name     string // last path component ("" for the root)
	path     string
	e        Entry // Path and Type as added; metadata of the inode
	parent   *node
	children map[string]*node
	// link is the node a hard link names (never itself a hard link).
	link *node
}

// inode is the node whose metadata and data a name shows.
func (n *node) inode() *node {
	if n.link != nil {
		return n.link
	}
	return n
}

// New starts an image whose times are clamped to epoch (seconds since 1970,
// SOURCE_DATE_EPOCH), which is also the volume's creation time.
func New(epoch int64, opts ...Option) *Image {
	o := options{volumeID: "CDROM"}
	for _, opt := range opts {
		opt(&o)
	}
	im := &Image{epoch: time.Unix(epoch, 0).UTC(), o: o, nodes: map[string]*node{}}
	im.root = &node{e: Entry{Type: TypeDir, Mode: 0o755, ModTime: im.epoch}, children: map[string]*node{}}
	im.nodes[""] = im.root
	return im
}

// cleanPath normalizes an entry's path ("" is the root).
func cleanPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %q has a NUL byte", p)
	}
	var parts []string
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("path %q has a \"..\" component", p)
		}
		if len(c) > 255 {
			return "", fmt.Errorf("path %q has a component longer than 255 bytes", p)
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, "/"), nil
}

func (im *Image) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(im.epoch) {
		return im.epoch
	}
	return t.Truncate(time.Second).UTC()
}

// Add puts e into the tree. Missing parent directories are created (mode
// 0755, owned by root, dated at the epoch); adding a directory that exists
// (created so, or the root) sets its metadata. Any other repeated path is an
// error wrapping ErrExists.
func (im *Image) Add(e Entry) error {
	p, err := cleanPath(e.Path)
	if err != nil {
		return fmt.Errorf("iso9660: add: %w", err)
	}
	e.Path = p
	e.ModTime = im.clamp(e.ModTime)
	e.Mode &= 0o7777
	switch e.Type {
	case TypeFile:
		if e.Data == nil {
			return fmt.Errorf("iso9660: add %s: a file needs Data", p)
		}
		if e.Data.Size() < 0 || e.Data.Size() > MaxFileSize {
			return fmt.Errorf("iso9660: add %s: size %d out of range (at most %d)", p, e.Data.Size(), int64(MaxFileSize))
		}
	case TypeDir, TypeCharDev, TypeBlockDev, TypeFifo:
	case TypeSymlink:
		if e.Target == "" {
			return fmt.Errorf("iso9660: add %s: empty symlink target", p)
		}
	case TypeHardlink:
	default:
		return fmt.Errorf("iso9660: add %s: unknown %v", p, e.Type)
	}
	if old, ok := im.nodes[p]; ok {
		if e.Type == TypeDir && old.e.Type == TypeDir {
			old.e = e
			return nil
		}
		return fmt.Errorf("iso9660: add %s: %w", p, ErrExists)
	}
	if p == "" {
		return fmt.Errorf("iso9660: add: the root must be a directory")
	}
	parent, err := im.dir(path.Dir(p))
	if err != nil {
		return fmt.Errorf("iso9660: add %s: %w", p, err)
	}
	n := &node{name: path.Base(p), path: p, e: e, parent: parent}
	if e.Type == TypeHardlink {
		t, err := cleanPath(e.Target)
		if err != nil {
			return fmt.Errorf("iso9660: add %s: hard link target: %w", p, err)
		}
		target, ok := im.nodes[t]
		if !ok {
			return fmt.Errorf("iso9660: add %s: hard link target %q is not in the image", p, t)
		}
		if target.e.Type == TypeDir {
			return fmt.Errorf("iso9660: add %s: hard link to directory %q", p, t)
		}
		n.link = target.inode()
	}
	if e.Type == TypeDir {
		n.children = map[string]*node{}
	}
	parent.children[n.name] = n
	im.nodes[p] = n
	return nil
}

// dir returns the directory at p, creating it and its parents if missing.
func (im *Image) dir(p string) (*node, error) {
	if p == "." {
		p = ""
	}
	if n, ok := im.nodes[p]; ok {
		if n.e.Type != TypeDir {
			return nil, fmt.Errorf("%q is a %v, not a directory", p, n.e.Type)
		}
		return n, nil
	}
	parent, err := im.dir(path.Dir(p))
	if err != nil {
		return nil, err
	}
	n := &node{name: path.Base(p), path: p, parent: parent, children: map[string]*node{},
		e: Entry{Path: p, Type: TypeDir, Mode: 0o755, ModTime: im.epoch}}
	parent.children[n.name] = n
	im.nodes[p] = n
	return n, nil
}
