package iso9660

import (
	"strings"
	"time"
)

// System Use Sharing Protocol (IEEE P1281) and Rock Ridge (IEEE P1282)
// entries. Each is "XX", length, version 1, then its fields.

const ceLen = 28

// POSIX file type bits as Rock Ridge's PX records them.
const (
	sIFIFO = 0o010000
	sIFCHR = 0o020000
	sIFDIR = 0o040000
	sIFBLK = 0o060000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

func suHeader(sig string, n int) []byte {
	b := make([]byte, n)
	copy(b, sig)
	b[2] = byte(n)
	b[3] = 1
	return b
}

// suSP marks the use of SUSP (first entry of the root's "." record).
func suSP() []byte {
	b := suHeader("SP", 7)
	b[4], b[5], b[6] = 0xBE, 0xEF, 0
	return b
}

// Texts of the ER entry that identifies Rock Ridge (RRIP 1.10 identifier,
// which Linux and libisofs read with the 1.12 PX form written here too).
const (
	erID     = "RRIP_1991A"
	erDesc   = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	erSource = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
)

func suER() []byte {
	b := suHeader("ER", 8+len(erID)+len(erDesc)+len(erSource))
	b[4], b[5], b[6], b[7] = byte(len(erID)), byte(len(erDesc)), byte(len(erSource)), 1
	copy(b[8:], erID+erDesc+erSource)
	return b
}

// suPX records mode, links, owner and the file serial number.
func suPX(mode, nlink, uid, gid, ino uint32) []byte {
	b := suHeader("PX", 44)
	putBoth32(b[4:], mode)
	putBoth32(b[12:], nlink)
	putBoth32(b[20:], uid)
	putBoth32(b[28:], gid)
	putBoth32(b[36:], ino)
	return b
}

// suTF records the modification, access and attribute-change times.
func suTF(t time.Time) []byte {
	b := suHeader("TF", 5+3*7)
	b[4] = 0x0E
	d := recordDate(t)
	for i := range 3 {
		copy(b[5+7*i:], d[:])
	}
	return b
}

// suPN records a device's numbers as the two halves of a 64-bit glibc
// dev_t, as libisofs writes and reads them. Linux reads the same numbers
// back while the minor is below 256.
func suPN(major, minor uint32) []byte {
	dev := uint64(major&0xFFFFF000)<<32 | uint64(major&0xFFF)<<8 | uint64(minor&0xFFFFFF00)<<12 | uint64(minor&0xFF)
	b := suHeader("PN", 20)
	putBoth32(b[4:], uint32(dev>>32))
	putBoth32(b[12:], uint32(dev))
	return b
}

// suNM records the name, in as many entries as it needs.
func suNM(name string) [][]byte {
	var out [][]byte
	for {
		part := name
		if len(part) > 250 {
			part = part[:250]
		}
		name = name[len(part):]
		b := suHeader("NM", 5+len(part))
		if name != "" {
			b[4] = 1 // continues
		}
		copy(b[5:], part)
		out = append(out, b)
		if name == "" {
			return out
		}
	}
}

// suSL records a symlink's target as component records packed into as
// many SL entries as they need.
func suSL(target string) [][]byte {
	var comps [][]byte
	add := func(flags byte, content string) {
		c := make([]byte, 2+len(content))
		c[0], c[1] = flags, byte(len(content))
		copy(c[2:], content)
		comps = append(comps, c)
	}
	rest := target
	if strings.HasPrefix(target, "/") {
		add(0x08, "")
		rest = target[1:]
	}
	if rest != "" {
		// Every component is kept, empty ones too: Linux joins them
		// with slashes, so "a//b" and "dir/" come back as they were.
		for c := range strings.SplitSeq(rest, "/") {
			switch c {
			case ".":
				add(0x02, "")
			case "..":
				add(0x04, "")
			default:
				for len(c) > 248 {
					add(0x01, c[:248])
					c = c[248:]
				}
				add(0, c)
			}
		}
	}
	var out [][]byte
	var cur []byte
	flush := func(more bool) {
		b := suHeader("SL", 5+len(cur))
		if more {
			b[4] = 1
		}
		copy(b[5:], cur)
		out = append(out, b)
		cur = nil
	}
	for _, c := range comps {
		if len(cur)+len(c) > 250 {
			flush(true)
		}
		cur = append(cur, c...)
	}
	flush(false)
	return out
}

// cePiece is one continuation area: SUSP entries that did not fit in a
// directory record, ending with a CE entry to the next piece when they do
// not fit in one either.
type cePiece struct {
	data   []byte
	next   *cePiece
	lba    uint32
	offset uint32
}

// putCE writes a CE entry at b pointing to p.
func putCE(b []byte, p *cePiece) {
	copy(b, suHeader("CE", ceLen))
	putBoth32(b[4:], p.lba)
	putBoth32(b[12:], p.offset)
	putBoth32(b[20:], uint32(len(p.data)))
}

// splitSU lays entries out in avail bytes of a directory record and, when
// they do not fit, in continuation pieces. The CE entries are zero until
// the pieces are placed (patchCE fills them).
func splitSU(entries [][]byte, avail int) (inline []byte, first *cePiece, ceAt int) {
	defer func() {
		if len(inline)%2 == 1 {
			inline = append(inline, 0)
		}
	}()
	total := 0
	for _, e := range entries {
		total += len(e)
	}
	if total <= avail {
		for _, e := range entries {
			inline = append(inline, e...)
		}
		return inline, nil, -1
	}
	i := 0
	for ; i < len(entries) && len(inline)+len(entries[i]) <= avail-ceLen; i++ {
		inline = append(inline, entries[i]...)
	}
	ceAt = len(inline)
	inline = append(inline, make([]byte, ceLen)...)
	rest := entries[i:]
	var prev *cePiece
	for len(rest) > 0 {
		remaining := 0
		for _, e := range rest {
			remaining += len(e)
		}
		p := &cePiece{}
		if remaining <= sectorSize {
			for _, e := range rest {
				p.data = append(p.data, e...)
			}
			rest = nil
		} else {
			j := 0
			for ; j < len(rest) && len(p.data)+len(rest[j]) <= sectorSize-ceLen; j++ {
				p.data = append(p.data, rest[j]...)
			}
			p.data = append(p.data, make([]byte, ceLen)...)
			rest = rest[j:]
		}
		if prev == nil {
			first = p
		} else {
			prev.next = p
		}
		prev = p
	}
	return inline, first, ceAt
}

// modeBits is the PX mode of an inode.
func modeBits(e Entry) uint32 {
	m := e.Mode & 0o7777
	switch e.Type {
	case TypeDir:
		return m | sIFDIR
	case TypeSymlink:
		return m | sIFLNK
	case TypeCharDev:
		return m | sIFCHR
	case TypeBlockDev:
		return m | sIFBLK
	case TypeFifo:
		return m | sIFIFO
	}
	return m | sIFREG
}
