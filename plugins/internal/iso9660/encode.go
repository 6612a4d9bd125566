package iso9660

import (
	"encoding/binary"
	"fmt"
	"time"
)

const sectorSize = 2048

// putBoth32 writes v little-endian then big-endian (8 bytes, ECMA-119 7.3.3).
func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

// putBoth16 writes v little-endian then big-endian (4 bytes, ECMA-119 7.2.3).
func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

// recordDate is the 7-byte date of a directory record (ECMA-119 9.1.5), in
// UTC.
func recordDate(t time.Time) [7]byte {
	t = t.UTC()
	y := t.Year() - 1900
	if y < 0 {
		y = 0
	}
	if y > 255 {
		y = 255
	}
	return [7]byte{byte(y), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
}

// volumeDate is the 17-byte date of a volume descriptor (ECMA-119 8.4.26.1);
// the zero time gives the "not specified" form.
func volumeDate(t time.Time) [17]byte {
	var b [17]byte
	if t.IsZero() {
		copy(b[:], "0000000000000000")
		return b
	}
	t = t.UTC()
	copy(b[:], fmt.Sprintf("%04d%02d%02d%02d%02d%02d00", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second()))
	return b
}

// padString copies s into b, filling the rest with spaces.
func padString(b []byte, s string) {
	n := copy(b, s)
	for i := n; i < len(b); i++ {
		b[i] = ' '
	}
}

func sectors(n int64) int64 { return (n + sectorSize - 1) / sectorSize }
