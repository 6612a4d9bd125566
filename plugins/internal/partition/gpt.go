package partition

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"unicode/utf16"
)

// GPT geometry: 128 entries of 128 bytes (32 sectors) after the header.
const (
	gptEntries     = 128
	gptEntrySize   = 128
	gptArraySecs   = gptEntries * gptEntrySize / SectorSize
	gptHeaderSize  = 92
	gptFirstUsable = 2 + gptArraySecs // 34
	gptNameUnits   = 36
)

// GPT attribute bits.
const (
	AttrRequired     uint64 = 1 << 0
	AttrNoBlockIO    uint64 = 1 << 1
	AttrLegacyBIOS   uint64 = 1 << 2 // legacy BIOS bootable
	AttrReadOnlyData uint64 = 1 << 60
)

// GPTPartition is an entry of a GPT, in sectors (LastLBA inclusive).
type GPTPartition struct {
	Type       GUID
	GUID       GUID // zero: derived from the table's seed
	Name       string
	FirstLBA   uint64
	LastLBA    uint64
	Attributes uint64
}

// GPT is a GUID partition table.
type GPT struct {
	// DiskGUID identifies the disk; zero derives it from Seed.
	DiskGUID GUID
	// Seed derives the GUIDs not given (disk and partitions), e.g. a digest
	// of the disk's content.
	Seed []byte
	// Partitions are the entries, in table order (at most 128).
	Partitions []GPTPartition
	// BootCode goes into the protective MBR (at most 440 bytes).
	BootCode []byte
}

// UsableLBAs is the first and last LBA partitions may use on a GPT disk of
// diskSize bytes.
func UsableLBAs(diskSize int64) (first, last uint64) {
	n := uint64(diskSize / SectorSize)
	return gptFirstUsable, n - 2 - gptArraySecs
}

// WriteGPT writes a protective MBR, the primary header and entry array at
// LBA 1 and 2, and their backups at the end of a disk of diskSize bytes.
func WriteGPT(ctx context.Context, w io.WriterAt, diskSize int64, t GPT) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sectors := uint64(diskSize / SectorSize)
	if sectors < 2*gptFirstUsable+1 {
		return fmt.Errorf("partition: a disk of %d bytes is too small for a GPT", diskSize)
	}
	first, last := UsableLBAs(diskSize)
	if len(t.Partitions) > gptEntries {
		return fmt.Errorf("partition: %d GPT partitions, at most %d", len(t.Partitions), gptEntries)
	}
	disk := t.DiskGUID
	if disk.IsZero() {
		disk = DeriveGUID(t.Seed, "disk")
	}
	array := make([]byte, gptEntries*gptEntrySize)
	type span struct{ lo, hi uint64 }
	var spans []span
	for i, p := range t.Partitions {
		if p.Type.IsZero() {
			return fmt.Errorf("partition: GPT partition %d: no type", i+1)
		}
		if p.FirstLBA < first || p.LastLBA > last || p.FirstLBA > p.LastLBA {
			return fmt.Errorf("partition: GPT partition %d (LBA %d-%d) is outside the usable LBAs %d-%d", i+1, p.FirstLBA, p.LastLBA, first, last)
		}
		name := utf16.Encode([]rune(p.Name))
		if len(name) > gptNameUnits {
			return fmt.Errorf("partition: GPT partition %d: name %q longer than %d UTF-16 units", i+1, p.Name, gptNameUnits)
		}
		spans = append(spans, span{p.FirstLBA, p.LastLBA})
		id := p.GUID
		if id.IsZero() {
			id = DeriveGUID(t.Seed, fmt.Sprintf("partition %d", i+1))
		}
		e := array[i*gptEntrySize:]
		tb, ib := p.Type.Bytes(), id.Bytes()
		copy(e[0:16], tb[:])
		copy(e[16:32], ib[:])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.LastLBA)
		binary.LittleEndian.PutUint64(e[48:], p.Attributes)
		for j, u := range name {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo <= spans[i-1].hi {
			return fmt.Errorf("partition: GPT partitions overlap (LBA %d and %d)", spans[i-1].lo, spans[i].lo)
		}
	}
	arrayCRC := crc32.ChecksumIEEE(array)
	header := func(my, alt, entries uint64) []byte {
		h := make([]byte, SectorSize)
		copy(h[0:8], "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], gptHeaderSize)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], first)
		binary.LittleEndian.PutUint64(h[48:], last)
		db := disk.Bytes()
		copy(h[56:72], db[:])
		binary.LittleEndian.PutUint64(h[72:], entries)
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], arrayCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:gptHeaderSize]))
		return h
	}
	lastLBA := sectors - 1
	protective := MBR{BootCode: t.BootCode, Partitions: []MBRPartition{{
		Type: MBRTypeProtective, Start: 1, Sectors: uint32(min(sectors-1, 0xFFFFFFFF)),
	}}}
	mbr, err := protective.Bytes(sectors)
	if err != nil {
		return err
	}
	for _, wr := range []struct {
		what string
		b    []byte
		lba  uint64
	}{
		{"protective MBR", mbr[:], 0},
		{"primary GPT entries", array, 2},
		{"primary GPT header", header(1, lastLBA, 2), 1},
		{"backup GPT entries", array, lastLBA - gptArraySecs},
		{"backup GPT header", header(lastLBA, 1, lastLBA-gptArraySecs), lastLBA},
	} {
		if _, err := w.WriteAt(wr.b, int64(wr.lba)*SectorSize); err != nil {
			return fmt.Errorf("partition: writing the %s: %w", wr.what, err)
		}
	}
	return nil
}
