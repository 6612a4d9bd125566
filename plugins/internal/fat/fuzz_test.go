package fat

import (
	"context"
	"strings"
	"testing"
	"unicode/utf16"
)

// memWriter is an io.WriterAt over a byte slice of fixed size.
type memWriter []byte

func (m memWriter) WriteAt(p []byte, off int64) (int, error) {
	copy(m[off:], p)
	return len(p), nil
}

// FuzzPlan feeds arbitrary paths (one per line) to Plan: it must not panic,
// and a planned volume must write without error, with unique 8.3 names per
// directory and long-name entries that decode to the given names.
func FuzzPlan(f *testing.F) {
	f.Add("kernel\ninitrd.img\nEFI/BOOT/BOOTX64.EFI\nloader/entries/kit.conf")
	f.Add("a b c.d.e.f\nA B C.D.E.F\n...x\nx~1\nX~1\nünï\n" + strings.Repeat("n", 300))
	f.Add("d/\nd/e\n/d/f\nd//g")
	f.Fuzz(func(t *testing.T, list string) {
		var files []File
		for i, p := range strings.Split(list, "\n") {
			if strings.HasSuffix(p, "/") {
				files = append(files, Dir(p))
				continue
			}
			files = append(files, Bytes(p, []byte(strings.Repeat("x", i%700))))
		}
		v, err := Plan(4<<20, files)
		if err != nil {
			return
		}
		img := make(memWriter, v.Size())
		if _, err := v.Write(context.Background(), img); err != nil {
			t.Fatalf("Write after a successful Plan: %v", err)
		}
		for _, d := range v.dirs {
			seen := map[[11]byte]bool{}
			for _, c := range d.children {
				if seen[c.short] {
					t.Fatalf("directory /%s: short name %q twice", d.path, c.short)
				}
				seen[c.short] = true
				if c.long {
					e := lfnEntries(c.name, c.short)
					if got := decodeLFN(e); got != c.name {
						t.Fatalf("long name %q decodes as %q", c.name, got)
					}
				}
			}
		}
	})
}

// decodeLFN reads back the name held by long-name entries (on-disk order).
func decodeLFN(e []byte) string {
	offs := [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	var u []uint16
	for i := len(e)/32 - 1; i >= 0; i-- {
		ent := e[i*32:]
		for _, o := range offs {
			c := uint16(ent[o]) | uint16(ent[o+1])<<8
			if c == 0 {
				return string(utf16.Decode(u))
			}
			if c == 0xFFFF {
				continue
			}
			u = append(u, c)
		}
	}
	return string(utf16.Decode(u))
}
