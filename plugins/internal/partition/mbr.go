package partition

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// SectorSize is the logical sector size of the disks written.
const SectorSize = 512

// MBR partition type bytes.
const (
	MBRTypeFAT16LBA   byte = 0x0E
	MBRTypeFAT32LBA   byte = 0x0C
	MBRTypeLinux      byte = 0x83
	MBRTypeEFISystem  byte = 0xEF
	MBRTypeProtective byte = 0xEE
)

// BootCodeSize is the room for boot code at the start of an MBR.
const BootCodeSize = 440

// MBRPartition is a primary partition of an MBR, in sectors.
type MBRPartition struct {
	Type     byte
	Start    uint32 // first LBA
	Sectors  uint32
	Bootable bool
}

// MBR is a master boot record.
type MBR struct {
	// BootCode is copied to the start of the sector (at most 440 bytes,
	// e.g. SYSLINUX's mbr.bin); empty leaves zeros.
	BootCode []byte
	// DiskSignature is the 32-bit disk identifier at offset 440; see
	// DiskSignature to derive one.
	DiskSignature uint32
	// Partitions are the primary partitions, at most four, in table order.
	Partitions []MBRPartition
}

// DiskSignature derives an MBR disk signature from a seed (never zero).
func DiskSignature(seed []byte) uint32 {
	h := sha256.Sum256(append([]byte("kit-mbr-signature\x00"), seed...))
	s := binary.LittleEndian.Uint32(h[:4])
	if s == 0 {
		s = 1
	}
	return s
}

// Bytes encodes the MBR sector for a disk of diskSectors sectors, checking
// that partitions lie on the disk and do not overlap.
func (m MBR) Bytes(diskSectors uint64) ([SectorSize]byte, error) {
	var b [SectorSize]byte
	if len(m.BootCode) > BootCodeSize {
		return b, fmt.Errorf("partition: MBR boot code of %d bytes, at most %d fit", len(m.BootCode), BootCodeSize)
	}
	if len(m.Partitions) > 4 {
		return b, fmt.Errorf("partition: %d MBR partitions, at most 4", len(m.Partitions))
	}
	copy(b[:], m.BootCode)
	binary.LittleEndian.PutUint32(b[440:], m.DiskSignature)
	type span struct{ lo, hi uint64 }
	var spans []span
	for i, p := range m.Partitions {
		if p.Type == 0 || p.Sectors == 0 {
			return b, fmt.Errorf("partition: MBR partition %d: zero type or size", i+1)
		}
		end := uint64(p.Start) + uint64(p.Sectors)
		if p.Start == 0 || (end > diskSectors && p.Type != MBRTypeProtective) {
			return b, fmt.Errorf("partition: MBR partition %d (sectors %d+%d) is not inside the disk of %d sectors", i+1, p.Start, p.Sectors, diskSectors)
		}
		spans = append(spans, span{uint64(p.Start), end})
		e := b[446+16*i:]
		if p.Bootable {
			e[0] = 0x80
		}
		copy(e[1:4], chs(uint64(p.Start)))
		e[4] = p.Type
		copy(e[5:8], chs(end-1))
		binary.LittleEndian.PutUint32(e[8:], p.Start)
		binary.LittleEndian.PutUint32(e[12:], p.Sectors)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo < spans[i-1].hi {
			return b, fmt.Errorf("partition: MBR partitions overlap (sectors %d and %d)", spans[i-1].lo, spans[i].lo)
		}
	}
	b[510], b[511] = 0x55, 0xAA
	return b, nil
}

// chs encodes an LBA as a cylinder/head/sector triple for a 255-head,
// 63-sector geometry; addresses past cylinder 1023 get the 1023/254/63
// marker that tells readers to use the LBA fields.
func chs(lba uint64) []byte {
	c := lba / (255 * 63)
	h := (lba / 63) % 255
	s := lba%63 + 1
	if c > 1023 {
		c, h, s = 1023, 254, 63
	}
	return []byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}

// WriteMBR writes m to sector 0 of a disk of diskSize bytes.
func WriteMBR(ctx context.Context, w io.WriterAt, diskSize int64, m MBR) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := m.Bytes(uint64(diskSize / SectorSize))
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("partition: writing the MBR: %w", err)
	}
	return nil
}
