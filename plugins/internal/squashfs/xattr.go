package squashfs

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// xattrSet is one distinct set of extended attributes.
type xattrSet struct {
	keys   []string // sorted full names
	values []string
}

// Namespaces SquashFS records, by prefix.
var xattrPrefixes = []struct {
	prefix string
	typ    uint16
}{{"user.", 0}, {"trusted.", 1}, {"security.", 2}}

// xattrID returns the id of the set m, adding it if new.
func (w *Writer) xattrID(m map[string]string) (uint32, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		ok := false
		for _, p := range xattrPrefixes {
			if strings.HasPrefix(k, p.prefix) && len(k) > len(p.prefix) {
				ok = true
			}
		}
		if !ok {
			return 0, fmt.Errorf("extended attribute %q: SquashFS holds only user., trusted. and security. attributes", k)
		}
		if len(k) > 255 || len(m[k]) > 65536 {
			return 0, fmt.Errorf("extended attribute %q too long", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sig strings.Builder
	set := xattrSet{keys: keys}
	for _, k := range keys {
		fmt.Fprintf(&sig, "%d:%s%d:%s", len(k), k, len(m[k]), m[k])
		set.values = append(set.values, m[k])
	}
	if id, ok := w.xidx[sig.String()]; ok {
		return id, nil
	}
	id := uint32(len(w.xattrs))
	w.xattrs = append(w.xattrs, set)
	w.xidx[sig.String()] = id
	return id, nil
}

// writeXattrs writes the key/value table, the id table and its header, and
// returns where the header starts.
func (w *Writer) writeXattrs() (uint64, error) {
	kv := &metaWriter{c: w.comp}
	ids := make([]byte, 16*len(w.xattrs))
	for i, s := range w.xattrs {
		ref := kv.ref()
		var size uint32
		for j, k := range s.keys {
			var typ uint16
			name := k
			for _, p := range xattrPrefixes {
				if strings.HasPrefix(k, p.prefix) {
					typ, name = p.typ, k[len(p.prefix):]
					break
				}
			}
			b := make([]byte, 4+len(name)+4+len(s.values[j]))
			binary.LittleEndian.PutUint16(b, typ)
			binary.LittleEndian.PutUint16(b[2:], uint16(len(name)))
			copy(b[4:], name)
			binary.LittleEndian.PutUint32(b[4+len(name):], uint32(len(s.values[j])))
			copy(b[8+len(name):], s.values[j])
			if err := kv.write(b); err != nil {
				return 0, err
			}
			size += uint32(len(b))
		}
		binary.LittleEndian.PutUint64(ids[16*i:], ref)
		binary.LittleEndian.PutUint32(ids[16*i+8:], uint32(len(s.keys)))
		binary.LittleEndian.PutUint32(ids[16*i+12:], size)
	}
	if err := kv.flush(); err != nil {
		return 0, err
	}
	kvStart := uint64(w.out.off)
	if _, err := w.out.Write(kv.out); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	m := &metaWriter{c: w.comp}
	if err := m.write(ids); err != nil {
		return 0, err
	}
	if err := m.flush(); err != nil {
		return 0, err
	}
	idBase := uint64(w.out.off)
	if _, err := w.out.Write(m.out); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	start := uint64(w.out.off)
	h := make([]byte, 16+8*len(m.starts))
	binary.LittleEndian.PutUint64(h, kvStart)
	binary.LittleEndian.PutUint32(h[8:], uint32(len(w.xattrs)))
	for i, s := range m.starts {
		binary.LittleEndian.PutUint64(h[16+8*i:], idBase+uint64(s))
	}
	if _, err := w.out.Write(h); err != nil {
		return 0, fmt.Errorf("squashfs: write: %w", err)
	}
	return start, nil
}
