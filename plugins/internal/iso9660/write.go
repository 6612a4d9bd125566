package iso9660

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Size returns the number of bytes Write writes for the tree as it is.
func (im *Image) Size() (int64, error) {
	l, err := im.plan()
	if err != nil {
		return 0, err
	}
	return int64(l.total) * sectorSize, nil
}

// Write writes the image to w, reading each file's Source once (the BIOS
// boot image twice), and returns the number of bytes written.
func (im *Image) Write(ctx context.Context, w io.Writer) (int64, error) {
	l, err := im.plan()
	if err != nil {
		return 0, err
	}
	var infoTable []byte
	if l.bios != nil {
		if infoTable, err = l.bootInfoTable(ctx, len(im.o.hybridMBR) > 0); err != nil {
			return 0, err
		}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	if err := im.write(ctx, cw, l, infoTable); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("iso9660: write: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// padTo writes zeros up to sector lba.
func (c *countWriter) padTo(lba uint32) error {
	want := int64(lba) * sectorSize
	if c.n > want {
		return fmt.Errorf("iso9660: internal error: at byte %d, past sector %d", c.n, lba)
	}
	var zero [sectorSize]byte
	for c.n < want {
		if _, err := c.Write(zero[:min(int64(len(zero)), want-c.n)]); err != nil {
			return fmt.Errorf("iso9660: write: %w", err)
		}
	}
	return nil
}

func (im *Image) write(ctx context.Context, w *countWriter, l *layout, infoTable []byte) error {
	wr := func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("iso9660: write: %w", err)
		}
		return nil
	}
	if len(im.o.hybridMBR) > 0 {
		if err := wr(im.hybridMBR(l)); err != nil {
			return err
		}
	}
	if err := w.padTo(16); err != nil {
		return err
	}
	if err := wr(im.pvd(l)); err != nil {
		return err
	}
	if l.bootRecord {
		if err := wr(bootRecord(l.catalogLBA)); err != nil {
			return err
		}
	}
	term := make([]byte, sectorSize)
	term[0] = 255
	copy(term[1:], "CD001")
	term[6] = 1
	if err := wr(term); err != nil {
		return err
	}
	if l.catalog != nil {
		if err := wr(l.catalogSector()); err != nil {
			return err
		}
	}
	for _, le := range []bool{true, false} {
		pt := make([]byte, sectors(l.pathTable)*sectorSize)
		off := 0
		for _, d := range l.dirs {
			ident := []byte{0}
			if d.num != 1 {
				ident = []byte(d.ident.name)
			}
			pt[off] = byte(len(ident))
			lba := l.inodes[d.n].lba
			if le {
				binary.LittleEndian.PutUint32(pt[off+2:], lba)
				binary.LittleEndian.PutUint16(pt[off+6:], d.parent.num)
			} else {
				binary.BigEndian.PutUint32(pt[off+2:], lba)
				binary.BigEndian.PutUint16(pt[off+6:], d.parent.num)
			}
			copy(pt[off+8:], ident)
			off += 8 + len(ident)
			off += off % 2
		}
		if err := wr(pt); err != nil {
			return err
		}
	}
	for _, d := range l.dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.padTo(l.inodes[d.n].lba); err != nil {
			return err
		}
		ext := make([]byte, d.size)
		off := 0
		for _, r := range d.records {
			n := r.len()
			if off%sectorSize+n > sectorSize {
				off += sectorSize - off%sectorSize
			}
			l.putRecord(ext[off:off+n], r)
			off += n
		}
		if err := wr(ext); err != nil {
			return err
		}
	}
	if l.ceSectors > 0 {
		ce := make([]byte, int(l.ceSectors)*sectorSize)
		for _, p := range l.pieces {
			at := int(p.lba-l.ceLBA)*sectorSize + int(p.offset)
			copy(ce[at:], p.data)
			if p.next != nil {
				putCE(ce[at+len(p.data)-ceLen:], p.next)
			}
		}
		if err := wr(ce); err != nil {
			return err
		}
	}
	buf := make([]byte, 1<<20)
	for _, f := range l.files {
		if f.info.size == 0 {
			continue
		}
		if err := w.padTo(f.info.lba); err != nil {
			return err
		}
		var patch []byte
		if f.n == l.bios {
			patch = infoTable
		}
		if err := copyFile(ctx, w, f.n, buf, patch); err != nil {
			return err
		}
	}
	return w.padTo(l.total)
}

// copyFile copies a file's Source, exactly its size, with bytes 8 to 63
// replaced by patch when it is set.
func copyFile(ctx context.Context, w io.Writer, n *node, buf, patch []byte) error {
	size := n.e.Data.Size()
	rc, err := n.e.Data.Open(ctx)
	if err != nil {
		return fmt.Errorf("iso9660: file %s: %w", n.path, err)
	}
	defer rc.Close()
	var done int64
	for done < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, err := io.ReadFull(rc, buf[:min(int64(len(buf)), size-done)])
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("iso9660: file %s: source ended at %d of %d bytes", n.path, done+int64(k), size)
		}
		if err != nil {
			return fmt.Errorf("iso9660: file %s: %w", n.path, err)
		}
		if patch != nil && done == 0 {
			copy(buf[8:64], patch)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return fmt.Errorf("iso9660: write %s: %w", n.path, err)
		}
		done += int64(k)
	}
	return nil
}

// putRecord serializes a directory record into b (exactly r.len() bytes).
func (l *layout) putRecord(b []byte, r *record) {
	b[0] = byte(r.len())
	info := l.inodes[r.inode]
	var lba, size uint32
	if info != nil {
		lba, size = info.lba, info.size
	}
	putBoth32(b[2:], lba)
	putBoth32(b[10:], size)
	d := recordDate(r.date)
	copy(b[18:25], d[:])
	if r.dir {
		b[25] = 0x02
	}
	putBoth16(b[28:], 1)
	b[32] = byte(len(r.ident))
	copy(b[33:], r.ident)
	off := 33 + len(r.ident)
	if len(r.ident)%2 == 0 {
		off++
	}
	copy(b[off:], r.su)
	if r.ce != nil {
		putCE(b[off+r.ceAt:], r.ce)
	}
}

func (im *Image) volumeID() string {
	id := dChars(im.o.volumeID)
	if len(id) > 32 {
		id = id[:32]
	}
	return id
}

// pvd is the primary volume descriptor.
func (im *Image) pvd(l *layout) []byte {
	b := make([]byte, sectorSize)
	b[0] = 1
	copy(b[1:], "CD001")
	b[6] = 1
	padString(b[8:40], "")
	padString(b[40:72], im.volumeID())
	putBoth32(b[80:], l.total)
	putBoth16(b[120:], 1)
	putBoth16(b[124:], 1)
	putBoth16(b[128:], sectorSize)
	putBoth32(b[132:], uint32(l.pathTable))
	binary.LittleEndian.PutUint32(b[140:], l.lPathLBA)
	binary.BigEndian.PutUint32(b[148:], l.mPathLBA)
	root := &record{inode: l.dirs[0].n, ident: []byte{0}, date: l.dirs[0].n.e.ModTime, dir: true}
	l.putRecord(b[156:190], root)
	padString(b[190:318], "")
	pub := im.o.publisher
	if len(pub) > 128 {
		pub = pub[:128]
	}
	padString(b[318:446], pub)
	padString(b[446:574], "")
	padString(b[574:702], "KIT")
	padString(b[702:739], "")
	padString(b[739:776], "")
	padString(b[776:813], "")
	for i, t := range []time.Time{im.epoch, im.epoch, {}, {}} {
		d := volumeDate(t)
		copy(b[813+17*i:], d[:])
	}
	b[881] = 1
	return b
}
