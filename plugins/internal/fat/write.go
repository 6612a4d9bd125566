package fat

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"time"
)

// copyBuf is the chunk size of file copies and FAT writes.
const copyBuf = 1 << 20

// Written describes a volume after Write.
type Written struct {
	// VolumeID is the serial number in the boot sector: the first four
	// bytes of a SHA-256 over the volume's layout and content.
	VolumeID uint32
	// Digest is that SHA-256: a content address of the volume, e.g. to
	// derive the disk's GUIDs from.
	Digest [sha256.Size]byte
	// BootSector is sector 0 of the volume as written.
	BootSector [SectorSize]byte
}

// Write puts the volume on w, whose offset 0 is the volume's first byte. It
// writes every metadata sector and every cluster a file or directory uses
// (the tail of a file's last cluster is zeroed); free clusters are not
// written, so w should read as zeros there (a new or truncated file) for the
// result to be reproducible. The boot sector is written last.
func (v *Volume) Write(ctx context.Context, w io.WriterAt) (*Written, error) {
	h := sha256.New()
	v.hashLayout(h)
	buf := make([]byte, copyBuf)
	for _, f := range v.files {
		if err := v.writeFile(ctx, w, f, h, buf); err != nil {
			return nil, err
		}
	}
	ts := dosTime(v.cfg.epoch)
	for _, d := range v.dirs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := v.dirData(d, ts)
		off := int64(0)
		if d == v.root && v.geo.typ == FAT16 {
			off = int64(v.geo.reserved+2*v.geo.fatSectors) * SectorSize
			b = pad(b, int64(v.geo.rootSectors)*SectorSize)
		} else {
			off = v.clusterOffset(d.first)
			b = pad(b, int64(d.clusters)*v.geo.clusterBytes())
		}
		if _, err := w.WriteAt(b, off); err != nil {
			return nil, fmt.Errorf("fat: writing directory /%s: %w", d.path, err)
		}
	}
	if err := v.writeFATs(ctx, w, buf); err != nil {
		return nil, err
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	out := &Written{VolumeID: binary.LittleEndian.Uint32(sum[:4]), Digest: sum}
	out.BootSector = v.bootSector(out.VolumeID)
	if v.geo.typ == FAT32 {
		fsinfo := v.fsInfo()
		for _, s := range []struct {
			sector int64
			b      []byte
		}{{1, fsinfo[:]}, {6, out.BootSector[:]}, {7, fsinfo[:]}} {
			if _, err := w.WriteAt(s.b, s.sector*SectorSize); err != nil {
				return nil, fmt.Errorf("fat: writing reserved sector %d: %w", s.sector, err)
			}
		}
		// The rest of the reserved area is zero.
		zero := make([]byte, SectorSize)
		for s := int64(2); s < int64(v.geo.reserved); s++ {
			if s == 6 || s == 7 {
				continue
			}
			if _, err := w.WriteAt(zero, s*SectorSize); err != nil {
				return nil, fmt.Errorf("fat: writing reserved sector %d: %w", s, err)
			}
		}
	}
	if _, err := w.WriteAt(out.BootSector[:], 0); err != nil {
		return nil, fmt.Errorf("fat: writing the boot sector: %w", err)
	}
	return out, nil
}

// WriteBootSector replaces the volume's boot sector (and its FAT32 backup
// copy) with bs, e.g. after a boot loader merged its code into
// Written.BootSector.
func (v *Volume) WriteBootSector(ctx context.Context, w io.WriterAt, bs [SectorSize]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := w.WriteAt(bs[:], 0); err != nil {
		return fmt.Errorf("fat: writing the boot sector: %w", err)
	}
	if v.geo.typ == FAT32 {
		if _, err := w.WriteAt(bs[:], 6*SectorSize); err != nil {
			return fmt.Errorf("fat: writing the backup boot sector: %w", err)
		}
	}
	return nil
}

// hashLayout feeds everything but file contents that determines the bytes.
func (v *Volume) hashLayout(h hash.Hash) {
	fmt.Fprintf(h, "kit-fat-1\x00%d\x00%d\x00%d\x00%q\x00%d\x00%q\x00", v.geo.totalSectors, v.geo.typ, v.geo.spc, v.cfg.label, v.cfg.hidden, v.cfg.oem)
	fmt.Fprintf(h, "%d\x00", v.cfg.epoch)
	for _, d := range v.dirs {
		fmt.Fprintf(h, "d\x00%s\x00", d.path)
	}
	for _, f := range v.files {
		fmt.Fprintf(h, "f\x00%s\x00%d\x00%d\x00", f.path, f.file.Size, f.file.Attr)
	}
}

func (v *Volume) writeFile(ctx context.Context, w io.WriterAt, f *node, h hash.Hash, buf []byte) error {
	if f.file.Size == 0 {
		return nil
	}
	rc, err := f.file.Open()
	if err != nil {
		return fmt.Errorf("fat: %s: %w", f.path, err)
	}
	defer rc.Close()
	off := v.clusterOffset(f.first)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, rerr := io.ReadFull(rc, buf)
		if m > 0 {
			if n+int64(m) > f.file.Size {
				return fmt.Errorf("fat: %s: content is longer than the declared %d bytes", f.path, f.file.Size)
			}
			h.Write(buf[:m])
			if _, err := w.WriteAt(buf[:m], off+n); err != nil {
				return fmt.Errorf("fat: writing %s: %w", f.path, err)
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("fat: reading %s: %w", f.path, rerr)
		}
	}
	if n != f.file.Size {
		return fmt.Errorf("fat: %s: read %d bytes, declared %d", f.path, n, f.file.Size)
	}
	if err := rc.Close(); err != nil {
		return fmt.Errorf("fat: %s: %w", f.path, err)
	}
	if tail := int64(f.clusters)*v.geo.clusterBytes() - n; tail > 0 {
		if _, err := w.WriteAt(make([]byte, tail), off+n); err != nil {
			return fmt.Errorf("fat: writing %s: %w", f.path, err)
		}
	}
	return nil
}

func pad(b []byte, n int64) []byte {
	if int64(len(b)) >= n {
		return b
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

// stamp is a DOS date and time.
type stamp struct{ date, time uint16 }

// dosTime converts a Unix time to DOS form (local time is UTC), clamped to
// the range FAT can hold.
func dosTime(epoch int64) stamp {
	t := time.Unix(epoch, 0).UTC()
	lo := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	if t.Before(lo) {
		t = lo
	}
	if t.After(hi) {
		t = hi
	}
	return stamp{
		date: uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day()),
		time: uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2),
	}
}

// dirEntry encodes a short directory entry.
func dirEntry(name [11]byte, attr byte, first uint32, size uint32, ts stamp) []byte {
	e := make([]byte, 32)
	copy(e[0:11], name[:])
	e[11] = attr
	binary.LittleEndian.PutUint16(e[14:], ts.time) // creation time
	binary.LittleEndian.PutUint16(e[16:], ts.date) // creation date
	binary.LittleEndian.PutUint16(e[18:], ts.date) // last access date
	binary.LittleEndian.PutUint16(e[20:], uint16(first>>16))
	binary.LittleEndian.PutUint16(e[22:], ts.time) // write time
	binary.LittleEndian.PutUint16(e[24:], ts.date) // write date
	binary.LittleEndian.PutUint16(e[26:], uint16(first))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

// dirData encodes the entries of directory d.
func (v *Volume) dirData(d *node, ts stamp) []byte {
	b := make([]byte, 0, d.dirBytes)
	if d == v.root {
		if v.cfg.label != "" {
			var l [11]byte
			copy(l[:], v.cfg.label)
			b = append(b, dirEntry(l, attrVolumeID, 0, 0, ts)...)
		}
	} else {
		parent := uint32(0)
		if d.parent != v.root {
			parent = d.parent.first
		}
		b = append(b, dirEntry([11]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}, attrDirectory, d.first, 0, ts)...)
		b = append(b, dirEntry([11]byte{'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}, attrDirectory, parent, 0, ts)...)
	}
	for _, c := range d.children {
		if c.long {
			b = append(b, lfnEntries(c.name, c.short)...)
		}
		if c.dir {
			b = append(b, dirEntry(c.short, attrDirectory, c.first, 0, ts)...)
		} else {
			b = append(b, dirEntry(c.short, attrArchive|byte(c.file.Attr&(ReadOnly|Hidden|System)), c.first, uint32(c.file.Size), ts)...)
		}
	}
	return b
}

// writeFATs writes both copies of the allocation table, generated chunk by
// chunk from the contiguous chains.
func (v *Volume) writeFATs(ctx context.Context, w io.WriterAt, buf []byte) error {
	type chain struct{ first, n uint32 }
	var chains []chain
	for _, d := range v.dirs {
		if d.clusters > 0 {
			chains = append(chains, chain{d.first, d.clusters})
		}
	}
	for _, f := range v.files {
		if f.clusters > 0 {
			chains = append(chains, chain{f.first, f.clusters})
		}
	}
	width := uint32(2)
	eoc, media1 := uint32(0xFFFF), uint32(0xFFFF)
	media0 := uint32(0xFFF8)
	if v.geo.typ == FAT32 {
		width, eoc, media0, media1 = 4, 0x0FFFFFFF, 0x0FFFFFF8, 0x0FFFFFFF
	}
	entries := v.geo.fatSectors * SectorSize / width
	fatBytes := int64(v.geo.fatSectors) * SectorSize
	ci := 0
	value := func(c uint32) uint32 {
		switch c {
		case 0:
			return media0
		case 1:
			return media1
		}
		for ci < len(chains) && c >= chains[ci].first+chains[ci].n {
			ci++
		}
		if ci < len(chains) && c >= chains[ci].first {
			if c == chains[ci].first+chains[ci].n-1 {
				return eoc
			}
			return c + 1
		}
		return 0
	}
	per := uint32(len(buf)) / width
	for start := uint32(0); start < entries; start += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+per, entries)
		chunk := buf[:(end-start)*width]
		for c := start; c < end; c++ {
			p := chunk[(c-start)*width:]
			if width == 2 {
				binary.LittleEndian.PutUint16(p, uint16(value(c)))
			} else {
				binary.LittleEndian.PutUint32(p, value(c))
			}
		}
		for copyN := int64(0); copyN < 2; copyN++ {
			off := int64(v.geo.reserved)*SectorSize + copyN*fatBytes + int64(start)*int64(width)
			if _, err := w.WriteAt(chunk, off); err != nil {
				return fmt.Errorf("fat: writing FAT %d: %w", copyN+1, err)
			}
		}
	}
	return nil
}

// bootSector encodes sector 0.
func (v *Volume) bootSector(volID uint32) [SectorSize]byte {
	var b [SectorSize]byte
	g := v.geo
	copy(b[3:11], fmt.Sprintf("%-8.8s", v.cfg.oem))
	binary.LittleEndian.PutUint16(b[11:], SectorSize)
	b[13] = byte(g.spc)
	binary.LittleEndian.PutUint16(b[14:], uint16(g.reserved))
	b[16] = 2 // FATs
	b[21] = 0xF8
	binary.LittleEndian.PutUint16(b[24:], 63)  // sectors per track
	binary.LittleEndian.PutUint16(b[26:], 255) // heads
	binary.LittleEndian.PutUint32(b[28:], v.cfg.hidden)
	label := "NO NAME    "
	if v.cfg.label != "" {
		label = v.cfg.label
	}
	var ext int // offset of the extended BPB (drive number)
	if g.typ == FAT32 {
		copy(b[0:3], []byte{0xEB, 0x58, 0x90})
		binary.LittleEndian.PutUint32(b[32:], g.totalSectors)
		binary.LittleEndian.PutUint32(b[36:], g.fatSectors)
		binary.LittleEndian.PutUint32(b[44:], 2) // root cluster
		binary.LittleEndian.PutUint16(b[48:], 1) // FSInfo sector
		binary.LittleEndian.PutUint16(b[50:], 6) // backup boot sector
		ext = 64
		copy(b[ext+18:ext+26], "FAT32   ")
	} else {
		copy(b[0:3], []byte{0xEB, 0x3C, 0x90})
		binary.LittleEndian.PutUint16(b[17:], uint16(g.rootEntries))
		if g.totalSectors < 0x10000 {
			binary.LittleEndian.PutUint16(b[19:], uint16(g.totalSectors))
		} else {
			binary.LittleEndian.PutUint32(b[32:], g.totalSectors)
		}
		binary.LittleEndian.PutUint16(b[22:], uint16(g.fatSectors))
		ext = 36
		copy(b[ext+18:ext+26], "FAT16   ")
	}
	b[ext] = 0x80   // drive number
	b[ext+2] = 0x29 // extended boot signature
	binary.LittleEndian.PutUint32(b[ext+3:], volID)
	copy(b[ext+7:ext+18], label)
	// Boot code: where the jump lands, ask the BIOS for the next boot device
	// (int 18h) and halt.
	code := ext + 26
	copy(b[code:], []byte{0xCD, 0x18, 0xF4, 0xEB, 0xFD})
	b[510], b[511] = 0x55, 0xAA
	return b
}

// fsInfo encodes the FAT32 FSInfo sector.
func (v *Volume) fsInfo() [SectorSize]byte {
	var b [SectorSize]byte
	binary.LittleEndian.PutUint32(b[0:], 0x41615252)
	binary.LittleEndian.PutUint32(b[484:], 0x61417272)
	binary.LittleEndian.PutUint32(b[488:], v.geo.clusters-v.used)
	next := uint32(0xFFFFFFFF)
	if v.used < v.geo.clusters {
		next = 2 + v.used
	}
	binary.LittleEndian.PutUint32(b[492:], next)
	binary.LittleEndian.PutUint32(b[508:], 0xAA550000)
	return b
}
