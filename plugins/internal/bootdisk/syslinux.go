package bootdisk

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// SYSLINUX's boot sector (ldlinux.bss) and core (ldlinux.sys) are not
// shipped as files by Debian: the installer /usr/bin/syslinux (package
// syslinux) carries them as the C arrays syslinux_bootsect and
// syslinux_ldlinux that the build's bin2c.pl generated, in .data, and
// their lengths and mtimes as constants (bootsect_len, bootsect_mtime,
// ldlinux_len, ldlinux_mtime) in .rodata. The binary is stripped, so
// extractSyslinux finds them by their contents: the boot sector is the 512
// bytes that start with a short jump and the OEM name "SYSLINUX" and end
// with 55 AA; ldlinux.sys is the image that starts with the "\r\nSYSLINUX "
// banner after it and holds the patch area (LDLINUX_MAGIC) in its first
// sector; its length is the constant that follows the pair (512, mtime) in
// .rodata with the same mtime.

// Constants of SYSLINUX's installer interface (libinstaller/syslxint.h).
const (
	ldlinuxMagic = 0x3eb202fe
	advSize      = 512
	advMagic1    = 0x5a2d2fa5 // head signature
	advMagic2    = 0xa3041767 // total checksum
	advMagic3    = 0xdd28bf64 // tail signature
	// ldlinux.sys is loaded at 0x8000 and an extent may not cross a 64 KiB
	// boundary nor reach 64 KiB.
	ldlinuxLoadAddr = 0x8000
)

var errNotSyslinux = errors.New("not a SYSLINUX installer with the boot sector and ldlinux.sys built in")

// extractSyslinux returns the boot sector and ldlinux.sys image embedded in
// the SYSLINUX installer binary bin (an ELF file).
func extractSyslinux(bin []byte) (bootSector [512]byte, ldlinux []byte, err error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return bootSector, nil, fmt.Errorf("%w: %v", errNotSyslinux, err)
	}
	defer f.Close()
	data, err := sectionData(f, ".data", len(bin))
	if err != nil {
		return bootSector, nil, err
	}
	ro, err := sectionData(f, ".rodata", len(bin))
	if err != nil {
		return bootSector, nil, err
	}
	bs := -1
	for i := 0; i+512 <= len(data); i++ {
		if data[i] == 0xEB && data[i+2] == 0x90 && string(data[i+3:i+11]) == "SYSLINUX" && data[i+510] == 0x55 && data[i+511] == 0xAA {
			bs = i
			break
		}
	}
	if bs < 0 {
		return bootSector, nil, fmt.Errorf("%w: no SYSLINUX boot sector in .data", errNotSyslinux)
	}
	copy(bootSector[:], data[bs:bs+512])
	rel := bytes.Index(data[bs+512:], []byte("\r\nSYSLINUX "))
	if rel < 0 {
		return bootSector, nil, fmt.Errorf("%w: no ldlinux.sys banner after the boot sector", errNotSyslinux)
	}
	start := bs + 512 + rel
	// The lengths: (512, mtime, length, mtime) as little-endian uint32s.
	var length int
	for i := 0; i+16 <= len(ro); i += 4 {
		u := func(k int) uint32 { return binary.LittleEndian.Uint32(ro[i+4*k:]) }
		if u(0) == 512 && u(1) == u(3) && u(2)%512 == 0 && u(2) > 512 && int64(u(2)) <= int64(len(data)-start) {
			length = int(u(2))
			break
		}
	}
	if length == 0 {
		return bootSector, nil, fmt.Errorf("%w: no ldlinux.sys length in .rodata", errNotSyslinux)
	}
	ldlinux = append([]byte(nil), data[start:start+length]...)
	if _, err := findPatchArea(ldlinux); err != nil {
		return bootSector, nil, err
	}
	return bootSector, ldlinux, nil
}

func sectionData(f *elf.File, name string, limit int) ([]byte, error) {
	s := f.Section(name)
	if s == nil || s.Type != elf.SHT_PROGBITS {
		return nil, fmt.Errorf("%w: no %s section", errNotSyslinux, name)
	}
	if s.Size > uint64(limit) {
		return nil, fmt.Errorf("%w: section %s larger than the file", errNotSyslinux, name)
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("%w: section %s: %v", errNotSyslinux, name, err)
	}
	return b, nil
}

// findPatchArea returns the offset of the patch area: the first 4-byte
// aligned LDLINUX_MAGIC, which must lie in the first sector.
func findPatchArea(img []byte) (int, error) {
	for i := 0; i+4 <= len(img) && i < 512; i += 4 {
		if binary.LittleEndian.Uint32(img[i:]) == ldlinuxMagic {
			if i+24 > len(img) {
				break
			}
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: no patch area (LDLINUX_MAGIC) in the first sector of ldlinux.sys", errNotSyslinux)
}

// emptyADV is the two copies of an empty Auxiliary Data Vector that follow
// ldlinux.sys in its file (libinstaller's syslinux_reset_adv).
func emptyADV() []byte {
	b := make([]byte, 2*advSize)
	binary.LittleEndian.PutUint32(b[0:], advMagic1)
	csum := uint32(advMagic2)
	for i := 8; i < advSize-4; i += 4 {
		csum -= binary.LittleEndian.Uint32(b[i:])
	}
	binary.LittleEndian.PutUint32(b[4:], csum)
	binary.LittleEndian.PutUint32(b[advSize-4:], advMagic3)
	copy(b[advSize:], b[:advSize])
	return b
}

// patchSyslinux does what libinstaller's syslinux_patch does for a FAT
// install without a subdirectory: file is ldlinux.sys followed by the two
// ADV sectors (modified in place), sectors are its sectors relative to the
// start of the file system (the boot code adds bsHidden), and the first of
// them is poked into bs, SYSLINUX's boot sector (merged into the file
// system's afterwards, see mergeBootSector). The ldlinux image is the first
// imageLen bytes of file.
func patchSyslinux(file []byte, imageLen int, bs *[512]byte, sectors []int64) error {
	img := file[:imageLen]
	nsect := (imageLen+511)/512 + 2
	if len(sectors) < nsect {
		return fmt.Errorf("syslinux: ldlinux.sys has %d sectors, the image needs %d", len(sectors), nsect)
	}
	pa, err := findPatchArea(img)
	if err != nil {
		return err
	}
	u16 := func(off int) (int, error) {
		if off < 0 || off+2 > len(img) {
			return 0, fmt.Errorf("syslinux: patch area field at %d outside ldlinux.sys", off)
		}
		return int(binary.LittleEndian.Uint16(img[off:])), nil
	}
	epa, err := u16(pa + 22)
	if err != nil {
		return err
	}
	var f [10]int // advptroffset diroffset dirlen subvoloffset subvollen secptroffset secptrcnt sect1ptr0 sect1ptr1 raidpatch
	for i := range f {
		if f[i], err = u16(epa + 2*i); err != nil {
			return err
		}
	}
	advPtr, secPtr, secCnt, s1p0, s1p1 := f[0], f[5], f[6], f[7], f[8]
	if s1p0+4 > 512 || s1p1+4 > 512 {
		return fmt.Errorf("syslinux: sector pointer offsets %d, %d outside the boot sector", s1p0, s1p1)
	}
	binary.LittleEndian.PutUint32(bs[s1p0:], uint32(sectors[0]))
	binary.LittleEndian.PutUint32(bs[s1p1:], uint32(uint64(sectors[0])>>32))
	rest := sectors[1:]

	dw := imageLen / 4
	binary.LittleEndian.PutUint16(img[pa+8:], uint16(nsect-2)) // data sectors
	binary.LittleEndian.PutUint16(img[pa+10:], 2)              // ADV sectors
	binary.LittleEndian.PutUint32(img[pa+12:], uint32(dw))

	// Sector extents of the image after its first sector.
	type extent struct {
		lba int64
		n   int
	}
	var exts []extent
	addr, base := uint32(ldlinuxLoadAddr), uint32(ldlinuxLoadAddr)
	for _, s := range rest[:nsect-1-2] {
		if k := len(exts) - 1; k >= 0 {
			e := &exts[k]
			xbytes := uint32(e.n+1) * 512
			if s == e.lba+int64(e.n) && xbytes < 65536 && (addr^(base+xbytes-1))&0xffff0000 == 0 {
				e.n++
				addr += 512
				continue
			}
		}
		exts = append(exts, extent{s, 1})
		base = addr
		addr += 512
	}
	if len(exts) > secCnt {
		return fmt.Errorf("syslinux: ldlinux.sys needs %d extents, the image has room for %d", len(exts), secCnt)
	}
	if secPtr < 0 || secPtr+10*secCnt > len(img) || advPtr+16 > len(img) {
		return fmt.Errorf("syslinux: extent or ADV pointers outside ldlinux.sys")
	}
	clear(img[secPtr : secPtr+10*secCnt])
	for i, e := range exts {
		binary.LittleEndian.PutUint64(img[secPtr+10*i:], uint64(e.lba))
		binary.LittleEndian.PutUint16(img[secPtr+10*i+8:], uint16(e.n))
	}
	binary.LittleEndian.PutUint64(img[advPtr:], uint64(rest[nsect-1-2]))
	binary.LittleEndian.PutUint64(img[advPtr+8:], uint64(rest[nsect-1-1]))

	// The checksum makes the dwords of the image sum to LDLINUX_MAGIC.
	binary.LittleEndian.PutUint32(img[pa+16:], 0)
	csum := uint32(ldlinuxMagic)
	for i := 0; i < dw; i++ {
		csum -= binary.LittleEndian.Uint32(img[4*i:])
	}
	binary.LittleEndian.PutUint32(img[pa+16:], csum)
	return nil
}

// mergeBootSector copies SYSLINUX's jump, OEM name and boot code into the
// file system's boot sector, keeping its BIOS parameter block
// (libinstaller's syslinux_make_bootsect for FAT).
func mergeBootSector(fs *[512]byte, sys [512]byte) {
	copy(fs[0:11], sys[0:11])
	copy(fs[0x5A:0x1FE], sys[0x5A:0x1FE])
}
