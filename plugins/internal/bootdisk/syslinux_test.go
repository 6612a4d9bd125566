package bootdisk

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/fat"
	"github.com/kitbuild/kit/plugins/internal/plugtest"
)

func syslinuxBinary(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join(plugtest.DebTree(t, "syslinux"), SyslinuxInstaller))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtractSyslinux(t *testing.T) {
	bs, img, err := extractSyslinux(syslinuxBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(bs[3:11]) != "SYSLINUX" || bs[510] != 0x55 || bs[511] != 0xAA {
		t.Errorf("boot sector %x", bs[:16])
	}
	if !bytes.HasPrefix(img, []byte("\r\nSYSLINUX ")) || len(img)%512 != 0 {
		t.Errorf("ldlinux.sys: %d bytes, starts %q", len(img), img[:16])
	}
	if _, _, err := extractSyslinux([]byte("not an ELF file")); err == nil {
		t.Error("extracted from junk")
	}
	// Another ELF binary is refused clearly.
	self, _ := os.ReadFile("/proc/self/exe")
	if _, _, err := extractSyslinux(self); err == nil {
		t.Error("extracted from the test binary")
	}
}

// TestPatchMatchesInstaller installs SYSLINUX on a volume this package's
// FAT writer made with Debian's own installer (/usr/bin/syslinux from the
// syslinux package, which uses mtools), and checks that patching the
// embedded images for the sectors the installer chose gives the same
// ldlinux.sys and boot sector, byte for byte.
func TestPatchMatchesInstaller(t *testing.T) {
	plugtest.Tool(t, "mcopy")
	installer := filepath.Join(plugtest.DebTree(t, "syslinux"), SyslinuxInstaller)
	sysBS, img, err := extractSyslinux(syslinuxBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{16 << 20, 48 << 20} {
		v, err := fat.Plan(size, []fat.File{fat.Bytes("kernel", bytes.Repeat([]byte("k"), 100000))}, fat.WithHiddenSectors(2048))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "fs.img")
		f, _ := os.Create(path)
		f.Truncate(v.Size())
		written, err := v.Write(context.Background(), f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		plugtest.Run(t, installer, "--install", path)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The installer's ldlinux.sys: find its first sector by the banner.
		start := -1
		for off := 0; off+512 <= len(raw); off += 512 {
			if bytes.HasPrefix(raw[off:], []byte("\r\nSYSLINUX ")) {
				start = off
				break
			}
		}
		if start < 0 {
			t.Fatal("no ldlinux.sys in the installed volume")
		}
		n := (len(img) + 2*advSize) / 512
		sectors := make([]int64, n)
		for i := range sectors {
			sectors[i] = int64(start/512 + i)
		}
		file := append(append([]byte(nil), img...), emptyADV()...)
		bs := sysBS
		if err := patchSyslinux(file, len(img), &bs, sectors); err != nil {
			t.Fatal(err)
		}
		want := written.BootSector
		mergeBootSector(&want, bs)
		if got := raw[start : start+len(file)]; !bytes.Equal(got, file) {
			for i := range got {
				if got[i] != file[i] {
					t.Fatalf("%v volume: ldlinux.sys differs from the installer's at byte %d", v.Type(), i)
				}
			}
		}
		if got := raw[:512]; !bytes.Equal(got, want[:]) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%v volume: boot sector differs from the installer's at byte %#x: %#x, want %#x", v.Type(), i, want[i], got[i])
				}
			}
		}
		plugtest.Run(t, "fsck.vfat", "-n", path)
	}
}

func TestEmptyADV(t *testing.T) {
	adv := emptyADV()
	for _, p := range [][]byte{adv[:advSize], adv[advSize:]} {
		var sum uint32
		for i := 4; i < advSize-4; i += 4 {
			sum += binary.LittleEndian.Uint32(p[i:])
		}
		if binary.LittleEndian.Uint32(p) != advMagic1 || binary.LittleEndian.Uint32(p[advSize-4:]) != advMagic3 || sum != advMagic2 {
			t.Fatal("inconsistent ADV")
		}
	}
}

// fakeImage is a minimal ldlinux.sys image with a patch area for the fuzz
// and error tests: patch area at 0x18, extended area at 0x40, 8 extents.
func fakeImage() []byte {
	img := make([]byte, 4096)
	copy(img, "\r\nSYSLINUX test\x00\r\n\x1a")
	binary.LittleEndian.PutUint32(img[0x18:], ldlinuxMagic)
	binary.LittleEndian.PutUint16(img[0x18+22:], 0x40) // epaoffset
	for i, v := range []uint16{0x100, 0x120, 0x40, 0x160, 0x20, 0x200, 8, 0x1F8 - 0x40, 0x1FC - 0x40, 0} {
		binary.LittleEndian.PutUint16(img[0x40+2*i:], v)
	}
	return img
}

func TestPatchErrors(t *testing.T) {
	img := fakeImage()
	file := append(append([]byte(nil), img...), emptyADV()...)
	var bs [512]byte
	// Too few sectors.
	if err := patchSyslinux(file, len(img), &bs, []int64{1, 2}); err == nil {
		t.Error("patched with too few sectors")
	}
	// Scattered sectors need more extents than the image holds (8).
	big := append(fakeImage(), make([]byte, 4096)...)
	bigFile := append(append([]byte(nil), big...), emptyADV()...)
	var scattered []int64
	for i := 0; i < len(bigFile)/512; i++ {
		scattered = append(scattered, int64(100+2*i))
	}
	if err := patchSyslinux(bigFile, len(big), &bs, scattered); err == nil {
		t.Error("patched with more extents than room")
	}
	// Contiguous sectors: one extent, checksum makes the image sum to the magic.
	var contiguous []int64
	for i := 0; i < len(file)/512; i++ {
		contiguous = append(contiguous, int64(100+i))
	}
	if err := patchSyslinux(file, len(img), &bs, contiguous); err != nil {
		t.Fatal(err)
	}
	var sum uint32
	for i := 0; i < len(img); i += 4 {
		sum += binary.LittleEndian.Uint32(file[i:])
	}
	if sum != ldlinuxMagic {
		t.Errorf("image sums to %#x", sum)
	}
	if binary.LittleEndian.Uint32(bs[0x1F8-0x40:]) != 100 {
		t.Error("first sector not in the boot sector")
	}
	if lba, n := binary.LittleEndian.Uint64(file[0x200:]), binary.LittleEndian.Uint16(file[0x208:]); lba != 101 || n != 7 {
		t.Errorf("extent %d+%d, want 101+7", lba, n)
	}
}

// FuzzPatchSyslinux patches arbitrary images: no panic, whatever the patch
// area's offsets say.
func FuzzPatchSyslinux(f *testing.F) {
	f.Add(fakeImage(), uint8(0))
	f.Add(fakeImage()[:600], uint8(3))
	f.Fuzz(func(t *testing.T, img []byte, gap uint8) {
		if len(img) > 1<<16 {
			return
		}
		img = img[:len(img)/4*4]
		file := append(append([]byte(nil), img...), emptyADV()...)
		n := (len(img)+511)/512 + 2
		sectors := make([]int64, n)
		for i := range sectors {
			sectors[i] = int64(10 + i*(1+int(gap%4)))
		}
		var bs [512]byte
		_ = patchSyslinux(file, len(img), &bs, sectors)
	})
}

// FuzzExtractSyslinux feeds arbitrary bytes to the ELF scan.
func FuzzExtractSyslinux(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	if b, err := os.ReadFile(filepath.Join(debCacheDir(), "syslinux", SyslinuxInstaller)); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, img, err := extractSyslinux(b)
		if err == nil && (len(img) == 0 || bs[510] != 0x55) {
			t.Fatal("accepted an invalid image")
		}
	})
}

// debCacheDir is debCache without a testing.TB (for fuzz seeds).
func debCacheDir() string {
	if d := os.Getenv("KIT_BOOTDISK_DEBS"); d != "" {
		return d
	}
	c, _ := os.UserCacheDir()
	return filepath.Join(c, "kit", "bootdisk-debs")
}
