package imagegen

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// HostileKind names a kind of malicious layer.
type HostileKind string

// The hostile layers. Each image also holds a harmless file "ok" (contents
// "ok") before the hostile entries.
const (
	// DotDot: entries "../escape" and "a/../../escape2".
	DotDot HostileKind = "dotdot"
	// Absolute: an entry "/abs-escape".
	Absolute HostileKind = "absolute"
	// SymlinkEscape: symlink "escape" → "../../../../../../tmp", then a file
	// "escape/kit-pwned" written through it.
	SymlinkEscape HostileKind = "symlink-escape"
	// SymlinkAbsolute: symlink "escape" → "/tmp", then "escape/kit-pwned".
	SymlinkAbsolute HostileKind = "symlink-absolute"
	// HardlinkOutside: hard links "passwd" → "../../../../etc/passwd" and
	// "shadow" → "/etc/shadow".
	HardlinkOutside HostileKind = "hardlink-outside"
	// Device: a character device "dev/mem" (1,1) and a block device "sda"
	// (8,0).
	Device HostileKind = "device"
)

// HostileKinds lists every hostile kind.
var HostileKinds = []HostileKind{DotDot, Absolute, SymlinkEscape, SymlinkAbsolute, HardlinkOutside, Device}

// HostileFiles returns the tar entries of a hostile layer.
func HostileFiles(kind HostileKind) ([]File, error) {
	ok := Reg("ok", "ok")
	switch kind {
	case DotDot:
		return []File{ok, Reg("../escape", "escaped"), Reg("a/../../escape2", "escaped")}, nil
	case Absolute:
		return []File{ok, Reg("/abs-escape", "escaped")}, nil
	case SymlinkEscape:
		return []File{ok, Symlink("escape", "../../../../../../tmp"), Reg("escape/kit-pwned", "pwned")}, nil
	case SymlinkAbsolute:
		return []File{ok, Symlink("escape", "/tmp"), Reg("escape/kit-pwned", "pwned")}, nil
	case HardlinkOutside:
		return []File{ok, Hardlink("passwd", "../../../../etc/passwd"), Hardlink("shadow", "/etc/shadow")}, nil
	case Device:
		return []File{ok, Dir("dev"), CharDev("dev/mem", 1, 1), BlockDev("sda", 8, 0)}, nil
	}
	return nil, fmt.Errorf("imagegen: unknown hostile kind %q", kind)
}

// Hostile returns a one-layer image whose layer is HostileFiles(kind).
func Hostile(kind HostileKind) (v1.Image, error) {
	files, err := HostileFiles(kind)
	if err != nil {
		return nil, err
	}
	return Image(Config{}, files)
}
