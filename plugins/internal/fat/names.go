package fat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxLongName is the longest VFAT name in UTF-16 code units.
const maxLongName = 255

// shortChar reports whether c may appear in an 8.3 name (upper case).
func shortChar(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("$%'-_@~`!(){}^#&", c) >= 0
}

// checkName validates one path component as a VFAT long name.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid name %q", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("name %q is not UTF-8", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("name %q: character %q is not allowed in FAT names", name, r)
		}
	}
	if strings.TrimRight(name, " .") != name {
		return fmt.Errorf("name %q: trailing spaces or dots are not allowed in FAT names", name)
	}
	if n := len(utf16.Encode([]rune(name))); n > maxLongName {
		return fmt.Errorf("name %q: %d UTF-16 units, more than %d", name, n, maxLongName)
	}
	return nil
}

// splitPath cleans p into its components.
func splitPath(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	parts := strings.Split(p, "/")
	for _, s := range parts {
		if err := checkName(s); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// exactShort returns the 11-byte directory form of name when name is already
// an upper-case 8.3 name, which needs no long-name entry.
func exactShort(name string) ([11]byte, bool) {
	var out [11]byte
	base, ext, dot := strings.Cut(name, ".")
	if len(base) < 1 || len(base) > 8 || len(ext) > 3 || (dot && ext == "") {
		return out, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' && !shortChar(name[i]) {
			return out, false
		}
	}
	fill(&out, base, ext)
	return out, true
}

func fill(out *[11]byte, base, ext string) {
	for i := range out {
		out[i] = ' '
	}
	copy(out[:8], base)
	copy(out[8:], ext)
}

// shortBasis maps a long name to the characters usable in a short name, as
// Windows does: upper case, spaces and leading dots dropped, other
// characters outside the 8.3 set replaced by '_'. lossy reports a
// replacement.
func shortBasis(name string) (base, ext string, lossy bool) {
	conv := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r == ' ' || r == '.':
				lossy = true
			case r < utf8.RuneSelf && shortChar(byte(unicodeUpper(r))):
				b.WriteByte(byte(unicodeUpper(r)))
			default:
				lossy = true
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	trimmed := strings.TrimLeft(name, ".")
	if trimmed != name {
		lossy = true
	}
	if i := strings.LastIndexByte(trimmed, '.'); i >= 0 {
		base, ext = conv(trimmed[:i]), conv(trimmed[i+1:])
	} else {
		base = conv(trimmed)
	}
	if len(ext) > 3 {
		ext, lossy = ext[:3], true
	}
	if base == "" {
		base, lossy = "_", true
	}
	return base, ext, lossy
}

func unicodeUpper(r rune) rune {
	if r >= 'a' && r <= 'z' {
		return r - 'a' + 'A'
	}
	return r
}

// aliases tracks the short names used in one directory.
type aliases struct {
	used map[[11]byte]bool
	// next is, per basis, the first numeric tail not yet tried, so that
	// many long names with one basis take linear time.
	next map[string]int
}

func newAliases() *aliases {
	return &aliases{used: map[[11]byte]bool{}, next: map[string]int{}}
}

// shortName picks the 8.3 alias of a long name, unique in the directory:
// the upper-cased name when it fits and is free, else BASE~N.EXT.
func (a *aliases) shortName(name string) ([11]byte, error) {
	var out [11]byte
	base, ext, lossy := shortBasis(name)
	if !lossy && len(base) <= 8 {
		fill(&out, base, ext)
		if !a.used[out] {
			a.used[out] = true
			return out, nil
		}
	}
	// Aliases share a counter per 6-character prefix (what ~1 to ~9 keep);
	// the used set keeps them unique whatever the counter says.
	key := base[:min(len(base), 6)] + "." + ext
	for n := max(a.next[key], 1); n <= 999999; n++ {
		tail := "~" + strconv.Itoa(n)
		b := base
		if len(b) > 8-len(tail) {
			b = b[:8-len(tail)]
		}
		fill(&out, b+tail, ext)
		if !a.used[out] {
			a.used[out] = true
			a.next[key] = n + 1
			return out, nil
		}
	}
	return out, fmt.Errorf("name %q: no free short name", name)
}

// lfnChecksum is the checksum of a short name stored in its long-name
// entries.
func lfnChecksum(short [11]byte) byte {
	var sum byte
	for _, c := range short {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// lfnSlots is the number of long-name entries name needs.
func lfnSlots(name string) int {
	n := len(utf16.Encode([]rune(name)))
	return (n + 12) / 13
}

// lfnEntries encodes the long-name entries of name, in on-disk order (the
// last part first).
func lfnEntries(name string, short [11]byte) []byte {
	u := utf16.Encode([]rune(name))
	slots := (len(u) + 12) / 13
	// NUL-terminate unless the name fills its last slot, then pad with 0xFFFF.
	padded := make([]uint16, slots*13)
	for i := range padded {
		switch {
		case i < len(u):
			padded[i] = u[i]
		case i == len(u):
			padded[i] = 0
		default:
			padded[i] = 0xFFFF
		}
	}
	sum := lfnChecksum(short)
	out := make([]byte, 0, slots*32)
	// Character offsets inside a long-name entry.
	offs := [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	for s := slots; s >= 1; s-- {
		var e [32]byte
		e[0] = byte(s)
		if s == slots {
			e[0] |= 0x40
		}
		e[11] = attrLongName
		e[13] = sum
		for i, off := range offs {
			c := padded[(s-1)*13+i]
			e[off], e[off+1] = byte(c), byte(c>>8)
		}
		out = append(out, e[:]...)
	}
	return out
}

// labelBytes validates a volume label.
func labelBytes(label string) ([11]byte, error) {
	var out [11]byte
	up := strings.ToUpper(label)
	if len(up) > 11 {
		return out, fmt.Errorf("fat: label %q longer than 11 characters", label)
	}
	for i := 0; i < len(up); i++ {
		if up[i] != ' ' && !shortChar(up[i]) {
			return out, fmt.Errorf("fat: label %q: character %q is not allowed", label, up[i])
		}
	}
	for i := range out {
		out[i] = ' '
	}
	copy(out[:], up)
	return out, nil
}
