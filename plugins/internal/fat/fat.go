package fat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// SectorSize is the only sector size the package writes.
const SectorSize = 512

// Type is a FAT variant.
type Type int

// The FAT variants. Auto picks FAT32 when the volume is large enough for
// 65525 clusters and FAT16 otherwise.
const (
	Auto Type = iota
	FAT16
	FAT32
)

func (t Type) String() string {
	switch t {
	case FAT16:
		return "FAT16"
	case FAT32:
		return "FAT32"
	case Auto:
		return "auto"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Attr holds the optional attribute bits of a file entry. Directories and
// the archive bit of files are set by the writer.
type Attr uint8

// Attribute bits a caller may set.
const (
	ReadOnly Attr = 0x01
	Hidden   Attr = 0x02
	System   Attr = 0x04
)

// File is one entry of the volume: a regular file or, with Dir, a directory.
// Parent directories of every path are created as needed.
type File struct {
	// Path is slash-separated and relative to the volume root
	// ("EFI/BOOT/BOOTX64.EFI"); a leading slash is ignored. Names are kept
	// as given: a name that is not an upper-case 8.3 name gets a VFAT long
	// name entry. Names are unique without regard to case.
	Path string
	// Dir makes the entry a directory; Size and Open are then unused.
	Dir bool
	// Size is the file's length in bytes; Open must yield exactly that many.
	Size int64
	// Open returns the content; it is called once, while the volume is
	// written.
	Open func() (io.ReadCloser, error)
	// Attr adds ReadOnly, Hidden or System to the entry.
	Attr Attr
}

// Bytes is a file whose content is b.
func Bytes(path string, b []byte) File {
	return File{Path: path, Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// Dir is a (possibly empty) directory.
func Dir(path string) File { return File{Path: path, Dir: true} }

// HostFile is a file whose content is the host file src, sized now; src must
// not change before the volume is written.
func HostFile(path, src string) (File, error) {
	st, err := os.Stat(src)
	if err != nil {
		return File{}, fmt.Errorf("fat: %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return File{}, fmt.Errorf("fat: %s: %s is not a regular file", path, src)
	}
	return File{Path: path, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(src) }}, nil
}

// ErrNoSpace is returned (wrapped) when the files do not fit the volume or
// the volume is too small for a FAT file system.
var ErrNoSpace = errors.New("not enough space")

// Option sets an optional property of the volume.
type Option func(*config)

type config struct {
	epoch  int64
	label  string
	typ    Type
	hidden uint32
	oem    string
}

// WithSourceDateEpoch sets every timestamp of the volume to this Unix time,
// clamped to what FAT can hold (1980-01-01 to 2107-12-31). Default 0, which
// FAT stores as 1980-01-01 00:00:00.
func WithSourceDateEpoch(sec int64) Option { return func(c *config) { c.epoch = sec } }

// WithLabel sets the volume label (at most 11 characters of the 8.3 set,
// stored upper-case) in the boot sector and as a root directory entry.
func WithLabel(label string) Option { return func(c *config) { c.label = label } }

// WithType forces FAT16 or FAT32.
func WithType(t Type) Option { return func(c *config) { c.typ = t } }

// WithHiddenSectors records the volume's first sector on its disk (the
// partition's start LBA) in the boot sector, as DOS boot code expects.
func WithHiddenSectors(n uint32) Option { return func(c *config) { c.hidden = n } }

func newConfig(opts []Option) (config, error) {
	c := config{oem: "MSWIN4.1"}
	for _, o := range opts {
		o(&c)
	}
	if c.typ != Auto && c.typ != FAT16 && c.typ != FAT32 {
		return c, fmt.Errorf("fat: unknown type %v", c.typ)
	}
	if c.label != "" {
		l, err := labelBytes(c.label)
		if err != nil {
			return c, err
		}
		c.label = string(l[:])
	}
	return c, nil
}
