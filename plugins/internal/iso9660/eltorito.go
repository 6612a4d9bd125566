package iso9660

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// El Torito platform identifiers.
const (
	platformX86 = 0x00
	platformEFI = 0xEF
)

// biosLoadSectors is how many 512-byte sectors of the BIOS boot image the
// firmware loads (isolinux and GRUB load the rest themselves).
const biosLoadSectors = 4

// hybridSignature is what isolinux.bin carries at offset 0x40 when it can
// be started from the isohybrid MBR.
var hybridSignature = []byte{0xFB, 0xC0, 0x78, 0x70}

// bootRecord is the El Torito boot record volume descriptor.
func bootRecord(catalogLBA uint32) []byte {
	b := make([]byte, sectorSize)
	b[0] = 0
	copy(b[1:], "CD001")
	b[6] = 1
	copy(b[7:], "EL TORITO SPECIFICATION")
	binary.LittleEndian.PutUint32(b[0x47:], catalogLBA)
	return b
}

// catalog is the boot catalog sector.
func (l *layout) catalogSector() []byte {
	b := make([]byte, sectorSize)
	first, firstPlatform := l.bios, byte(platformX86)
	if first == nil {
		first, firstPlatform = l.efi, platformEFI
	}
	// Validation entry: its 16-bit words sum to zero.
	b[0] = 1
	b[1] = firstPlatform
	b[30], b[31] = 0x55, 0xAA
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(b[i:])
	}
	binary.LittleEndian.PutUint16(b[28:], -sum)

	l.bootEntry(b[32:64], first)
	if l.bios != nil && l.efi != nil {
		h := b[64:96]
		h[0] = 0x91 // final section header
		h[1] = platformEFI
		binary.LittleEndian.PutUint16(h[2:], 1)
		l.bootEntry(b[96:128], l.efi)
	}
	return b
}

// bootEntry fills a no-emulation, bootable initial or section entry.
func (l *layout) bootEntry(b []byte, n *node) {
	info := l.inodes[n]
	b[0] = 0x88
	b[1] = 0 // no emulation
	var count uint16
	if n == l.bios {
		count = biosLoadSectors
	} else if s := (int64(info.size) + 511) / 512; s <= 0xFFFF {
		count = uint16(s)
	}
	// An EFI image past 0xFFFF sectors gets 0, which UEFI reads as "up to
	// the end of the medium" (UEFI 2.11, 13.3.2).
	binary.LittleEndian.PutUint16(b[6:], count)
	binary.LittleEndian.PutUint32(b[8:], info.lba)
}

// bootInfoTable reads the BIOS boot image and returns bytes 8 to 63 of its
// copy in the image: the LBA of the primary volume descriptor, its own LBA
// and length, and the 32-bit sum of its little-endian words from byte 64
// on. It also checks for the hybrid signature when hybrid is set.
func (l *layout) bootInfoTable(ctx context.Context, hybrid bool) ([]byte, error) {
	src := l.bios.e.Data
	size := src.Size()
	if size < 64 {
		return nil, fmt.Errorf("iso9660: BIOS boot image %s is %d bytes, too small for a boot info table", l.bios.path, size)
	}
	rc, err := src.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("iso9660: BIOS boot image %s: %w", l.bios.path, err)
	}
	defer rc.Close()
	head := make([]byte, 64)
	if _, err := io.ReadFull(rc, head); err != nil {
		return nil, fmt.Errorf("iso9660: BIOS boot image %s: %w", l.bios.path, err)
	}
	var sum uint32
	var word [4]byte
	wn := 0
	add := func(p []byte) {
		for _, c := range p {
			word[wn] = c
			wn++
			if wn == 4 {
				sum += binary.LittleEndian.Uint32(word[:])
				wn = 0
			}
		}
	}
	br := bufio.NewReaderSize(io.LimitReader(rc, size-64), 64<<10)
	if hybrid {
		sig, err := br.Peek(len(hybridSignature))
		if err != nil || !bytes.Equal(sig, hybridSignature) {
			return nil, fmt.Errorf("iso9660: BIOS boot image %s has no isohybrid signature at 0x40 (not an isolinux.bin?)", l.bios.path)
		}
	}
	buf := make([]byte, 64<<10)
	read := int64(64)
	for {
		n, err := br.Read(buf)
		add(buf[:n])
		read += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("iso9660: BIOS boot image %s: %w", l.bios.path, err)
		}
	}
	if read != size {
		return nil, fmt.Errorf("iso9660: BIOS boot image %s: read %d of %d bytes: %w", l.bios.path, read, size, io.ErrUnexpectedEOF)
	}
	if wn > 0 {
		for i := wn; i < 4; i++ {
			word[i] = 0
		}
		sum += binary.LittleEndian.Uint32(word[:])
	}
	t := make([]byte, 56)
	binary.LittleEndian.PutUint32(t[0:], 16)
	binary.LittleEndian.PutUint32(t[4:], l.inodes[l.bios].lba)
	binary.LittleEndian.PutUint32(t[8:], uint32(size))
	binary.LittleEndian.PutUint32(t[12:], sum)
	return t, nil
}

// hybridMBR is the first 512 bytes of an isohybrid image.
func (im *Image) hybridMBR(l *layout) []byte {
	const heads, secs = 64, 32
	b := make([]byte, 512)
	copy(b, im.o.hybridMBR[:432])
	binary.LittleEndian.PutUint32(b[432:], l.inodes[l.bios].lba*4)
	id := im.o.mbrID
	if !im.o.mbrIDSet {
		h := sha256.Sum256(fmt.Appendf(nil, "kit iso9660 mbr id %d %s", im.epoch.Unix(), im.volumeID()))
		id = binary.LittleEndian.Uint32(h[:4])
	}
	binary.LittleEndian.PutUint32(b[440:], id)
	size := int64(l.total) * sectorSize
	c := size / (heads * secs * 512)
	cc := min(c, 1024)
	p := b[446:462]
	p[0] = 0x80                // bootable
	p[1], p[2], p[3] = 0, 1, 0 // CHS of sector 0
	p[4] = 0x17
	p[5] = heads - 1
	p[6] = byte(secs + ((cc-1)&0x300)>>2)
	p[7] = byte((cc - 1) & 0xFF)
	binary.LittleEndian.PutUint32(p[8:], 0)
	binary.LittleEndian.PutUint32(p[12:], uint32(c*heads*secs))
	b[510], b[511] = 0x55, 0xAA
	return b
}
