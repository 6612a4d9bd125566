package partition

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is a GUID in its textual byte order: the first three fields are
// stored little-endian on disk (see Bytes).
type GUID [16]byte

// Well-known GPT partition types.
var (
	TypeEFISystem       = MustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeBIOSBoot        = MustParseGUID("21686148-6449-6E6F-744E-656564454649")
	TypeLinuxFilesystem = MustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	TypeBasicData       = MustParseGUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
)

// ParseGUID parses "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" (any case).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("partition: GUID %q: want XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return g, fmt.Errorf("partition: GUID %q: not hexadecimal", s)
	}
	copy(g[:], b)
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed GUID.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func (g GUID) String() string {
	h := strings.ToUpper(hex.EncodeToString(g[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// IsZero reports whether g is all zeros (not given).
func (g GUID) IsZero() bool { return g == GUID{} }

// Bytes is g in GPT's on-disk (mixed-endian) order.
func (g GUID) Bytes() [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint32(b[0:], binary.BigEndian.Uint32(g[0:]))
	binary.LittleEndian.PutUint16(b[4:], binary.BigEndian.Uint16(g[4:]))
	binary.LittleEndian.PutUint16(b[6:], binary.BigEndian.Uint16(g[6:]))
	copy(b[8:], g[8:])
	return b
}

// DeriveGUID makes a GUID from a seed and a purpose ("disk", "partition
// 1"): the first 16 bytes of SHA-256(seed, purpose), marked as an RFC 9562
// version 8 (custom) UUID of the RFC 4122 variant.
func DeriveGUID(seed []byte, purpose string) GUID {
	h := sha256.New()
	h.Write([]byte("kit-partition-guid\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(seed)))
	h.Write(n[:])
	h.Write(seed)
	h.Write([]byte(purpose))
	var g GUID
	copy(g[:], h.Sum(nil))
	g[6] = g[6]&0x0f | 0x80 // version 8
	g[8] = g[8]&0x3f | 0x80 // variant 10
	return g
}
