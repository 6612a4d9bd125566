package unpack

import (
	"errors"
	"fmt"
)

// Errors wrapped by EntryError.Err, for errors.Is. Names that escape the
// tree wrap tarutil.ErrUnsafeName and unsupported entry types
// tarutil.ErrType.
var (
	// ErrThroughSymlink: the entry's parent path goes through a symlink of
	// the flattened tree, so writing it would write outside its directory.
	ErrThroughSymlink = errors.New("parent path goes through a symlink")
	// ErrNotDir: the entry's parent path goes through a file that is not a
	// directory.
	ErrNotDir = errors.New("parent path goes through a non-directory")
	// ErrHardLink: the hard link's target is missing, a directory, or the
	// link itself.
	ErrHardLink = errors.New("bad hard link")
	// ErrDevice: a device node that is not one of the well-known harmless
	// character devices.
	ErrDevice = errors.New("device node refused")
	// ErrLimit: the image has more entries than the limit.
	ErrLimit = errors.New("limit exceeded")
	// ErrWhiteout: a malformed whiteout entry.
	ErrWhiteout = errors.New("malformed whiteout")
)

// EntryError reports an entry of an image that kit refuses to unpack.
type EntryError struct {
	// Image is the image reference (for humans; it may be empty).
	Image string
	// Layer says which archive holds the entry: "layer 2 (sha256:…)", or a
	// file of the image such as "kernel.tar".
	Layer string
	// Entry is the entry's name as found in the archive.
	Entry string
	// Err is what is wrong with it; it wraps one of the Err… values of this
	// package or tarutil.
	Err error
}

func (e *EntryError) Error() string {
	img := e.Image
	if img == "" {
		img = "image"
	}
	return fmt.Sprintf("%s: %s: entry %q: %v", img, e.Layer, e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }
