package vhd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Footer is the decoded 512-byte footer of a VHD (also the copy at the start of a dynamic
// one).
type Footer struct {
	DataOffset      uint64
	Timestamp       time.Time
	CreatorApp      string
	OriginalSize    int64
	CurrentSize     int64
	Cylinders       uint16
	Heads           uint8
	SectorsPerTrack uint8
	// Dynamic is true for a dynamic disk (type 3), false for a fixed one (type 2).
	Dynamic  bool
	UniqueID [16]byte
}

// ErrNotVHD is returned by ParseFooter for bytes that are not a valid VHD footer.
var ErrNotVHD = errors.New("not a VHD footer")

// ParseFooter decodes a VHD footer (the last 512 bytes of a VHD), checking its cookie,
// checksum and disk type; kit uses it to verify what it wrote.
func ParseFooter(b []byte) (Footer, error) {
	if len(b) != footerSize {
		return Footer{}, fmt.Errorf("%w: %d bytes, want %d", ErrNotVHD, len(b), footerSize)
	}
	if !bytes.Equal(b[:8], []byte("conectix")) {
		return Footer{}, fmt.Errorf("%w: cookie %q", ErrNotVHD, b[:8])
	}
	be := binary.BigEndian
	c := make([]byte, footerSize)
	copy(c, b)
	clear(c[64:68])
	if got, want := be.Uint32(b[64:]), checksum(c); got != want {
		return Footer{}, fmt.Errorf("%w: checksum %#x, computed %#x", ErrNotVHD, got, want)
	}
	f := Footer{
		DataOffset:      be.Uint64(b[16:]),
		Timestamp:       time.Unix(vhdEpoch+int64(be.Uint32(b[24:])), 0).UTC(),
		CreatorApp:      string(b[28:32]),
		OriginalSize:    int64(be.Uint64(b[40:])),
		CurrentSize:     int64(be.Uint64(b[48:])),
		Cylinders:       be.Uint16(b[56:]),
		Heads:           b[58],
		SectorsPerTrack: b[59],
	}
	copy(f.UniqueID[:], b[68:84])
	switch t := be.Uint32(b[60:]); t {
	case typeFixed:
	case typeDynamic:
		f.Dynamic = true
	default:
		return Footer{}, fmt.Errorf("%w: disk type %d is neither fixed (2) nor dynamic (3)", ErrNotVHD, t)
	}
	if f.CurrentSize < 0 || f.OriginalSize < 0 {
		return Footer{}, fmt.Errorf("%w: negative size", ErrNotVHD)
	}
	return f, nil
}
