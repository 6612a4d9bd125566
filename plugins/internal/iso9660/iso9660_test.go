package iso9660

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const epoch = 1700000000

// needTool skips the test when name is not installed, unless CI=true.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// sample is a tree with every entry type, long names, a long symlink (in a
// continuation area), colliding ISO names and a hard link.
func sample() []Entry {
	long := strings.Repeat("n", 255)
	return []Entry{
		{Path: "boot/kernel", Type: TypeFile, Mode: 0o644, Data: BytesSource([]byte("kernel bytes"))},
		{Path: "etc", Type: TypeDir, Mode: 0o700, UID: 5, GID: 6, ModTime: time.Unix(1000, 0)},
		{Path: "etc/a-very-long-file-name-beyond-thirty-characters.conf", Type: TypeFile, Mode: 0o600, UID: 1000, GID: 100, Data: BytesSource(bytes.Repeat([]byte("x"), 5000))},
		{Path: "etc/a-very-long-file-name-beyond-thirty-characters.confx", Type: TypeFile, Mode: 0o640, Data: BytesSource(nil)},
		{Path: "etc/A-VERY-LONG-FILE-NAME-BEYOND-THIRTY-CHARACTERS.CONF", Type: TypeFile, Mode: 0o644, Data: BytesSource([]byte("upper"))},
		{Path: "etc/link", Type: TypeSymlink, Mode: 0o777, Target: "../boot/kernel"},
		{Path: "etc/hard", Type: TypeHardlink, Target: "boot/kernel"},
		{Path: "etc/setuid", Type: TypeFile, Mode: 0o4755, Data: BytesSource([]byte("#!/bin/sh\n"))},
		{Path: "dev/null", Type: TypeCharDev, Mode: 0o666, Major: 1, Minor: 3},
		{Path: "dev/sda", Type: TypeBlockDev, Mode: 0o660, GID: 6, Major: 8, Minor: 0},
		{Path: "dev/fifo", Type: TypeFifo, Mode: 0o644},
		{Path: "deep/a/b/c/d/e/f/g/h/i/j/file.txt", Type: TypeFile, Mode: 0o644, Data: BytesSource([]byte("deep"))},
		{Path: "names/" + long, Type: TypeFile, Mode: 0o644, Data: BytesSource([]byte("long name"))},
		{Path: "names/abs", Type: TypeSymlink, Mode: 0o777, Target: "/" + strings.Repeat("component/", 90) + "end"},
		{Path: "names/slashes", Type: TypeSymlink, Mode: 0o777, Target: "../a/b/./c/"},
		{Path: "names/root", Type: TypeSymlink, Mode: 0o777, Target: "/"},
		{Path: "names/dotted.name.tar.gz", Type: TypeFile, Mode: 0o644, Data: BytesSource(bytes.Repeat([]byte{1, 2, 3}, 100000))},
		{Path: "names/ünïcødé", Type: TypeFile, Mode: 0o644, Data: BytesSource([]byte("utf-8"))},
	}
}

func build(t testing.TB, entries []Entry, opts ...Option) []byte {
	t.Helper()
	im := New(epoch, opts...)
	for _, e := range entries {
		if err := im.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	n, err := im.Write(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	size, err := im.Size()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n != size || n%sectorSize != 0 {
		t.Fatalf("wrote %d bytes, buffer %d, Size %d", n, buf.Len(), size)
	}
	return buf.Bytes()
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.iso")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lsdl runs xorriso's listing and returns its lines keyed by path.
func lsdl(t *testing.T, iso string) map[string]string {
	t.Helper()
	out, err := exec.Command("xorriso", "-abort_on", "WARNING", "-indev", iso, "-find", "/", "-exec", "lsdl", "--").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso refused the image: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+\w+\s+\d+\s+\d+\s+'(.*?)'(?: -> '(.*)')?$`)
	got := map[string]string{}
	for line := range strings.SplitSeq(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		got[m[6]] = fmt.Sprintf("%s %s %s %s %s", m[1], m[3], m[4], m[5], m[7])
	}
	return got
}

func TestXorrisoReadsTree(t *testing.T) {
	needTool(t, "xorriso", "xorriso")
	iso := writeTemp(t, build(t, sample()))
	got := lsdl(t, iso)
	long := strings.Repeat("n", 255)
	want := map[string]string{
		"/":            "drwxr-xr-x 0 0 0 ",
		"/boot/kernel": "-rw-r--r-- 0 0 12 ",
		"/etc":         "drwx------ 5 6 0 ",
		"/etc/a-very-long-file-name-beyond-thirty-characters.conf":  "-rw------- 1000 100 5000 ",
		"/etc/a-very-long-file-name-beyond-thirty-characters.confx": "-rw-r----- 0 0 0 ",
		"/etc/A-VERY-LONG-FILE-NAME-BEYOND-THIRTY-CHARACTERS.CONF":  "-rw-r--r-- 0 0 5 ",
		"/etc/link":                          "lrwxrwxrwx 0 0 0 ../boot/kernel",
		"/etc/hard":                          "-rw-r--r-- 0 0 12 ",
		"/etc/setuid":                        "-rwsr-xr-x 0 0 10 ",
		"/dev/null":                          "crw-rw-rw- 0 0 1,3 ",
		"/dev/sda":                           "brw-rw---- 0 6 8,0 ",
		"/dev/fifo":                          "prw-r--r-- 0 0 0 ",
		"/deep/a/b/c/d/e/f/g/h/i/j/file.txt": "-rw-r--r-- 0 0 4 ",
		"/names/" + long:                     "-rw-r--r-- 0 0 9 ",
		"/names/abs":                         "lrwxrwxrwx 0 0 0 /" + strings.Repeat("component/", 90) + "end",
		"/names/dotted.name.tar.gz":          "-rw-r--r-- 0 0 300000 ",
		"/names/ünïcødé":                     "-rw-r--r-- 0 0 5 ",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: xorriso shows %q, want %q", p, got[p], w)
		}
	}
	if _, ok := got["/boot.catalog"]; ok {
		t.Errorf("a boot catalog in an image without boot images")
	}
}

// TestXorrisoExtracts extracts the image with xorriso and compares every
// file's content and mode with what was added.
func TestXorrisoExtracts(t *testing.T) {
	needTool(t, "xorriso", "xorriso")
	entries := sample()
	iso := writeTemp(t, build(t, entries))
	dir := filepath.Join(t.TempDir(), "x")
	out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -extract: %v\n%s", err, out)
	}
	for _, e := range entries {
		if e.Type != TypeFile && e.Type != TypeSymlink {
			continue // devices and fifos: checked by TestXorrisoReadsTree
		}
		p := filepath.Join(dir, e.Path)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", e.Path, err)
			continue
		}
		switch e.Type {
		case TypeFile:
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rc, _ := e.Data.Open(context.Background())
			want, _ := io.ReadAll(rc)
			if !bytes.Equal(got, want) {
				t.Errorf("%s: extracted %d bytes differ from the %d added", e.Path, len(got), len(want))
			}
			if perm := uint32(fi.Mode().Perm()); perm != e.Mode&0o777 {
				t.Errorf("%s: mode %o, want %o", e.Path, perm, e.Mode&0o777)
			}
		case TypeSymlink:
			if got, _ := os.Readlink(p); got != e.Target {
				t.Errorf("%s: link to %q, want %q", e.Path, got, e.Target)
			}
		}
	}
}

func TestReproducible(t *testing.T) {
	a := build(t, sample(), WithVolumeID("kit"))
	// The same entries added in another order give the same bytes.
	rev := sample()
	sort.SliceStable(rev, func(i, j int) bool {
		return rev[i].Type != TypeHardlink && rev[j].Type != TypeHardlink && rev[i].Path > rev[j].Path
	})
	b := build(t, rev, WithVolumeID("kit"))
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("two builds of the same tree differ")
	}
	golden(t, "sample.sha256", a)
}

// golden compares the digest of b with testdata/name (rewritten by
// -update): a change of the output format shows in review.
func golden(t *testing.T, name string, b []byte) {
	t.Helper()
	sum := sha256.Sum256(b)
	got := hex.EncodeToString(sum[:]) + "\n"
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("digest %s, golden %s (run with -update if the change is intended)", strings.TrimSpace(got), strings.TrimSpace(string(want)))
	}
}

// fakeIsolinux is a boot image with the isohybrid signature at 0x40.
func fakeIsolinux(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	copy(b[0x40:], hybridSignature)
	return b
}

func bootTree(bin, efi []byte) []Entry {
	return []Entry{
		{Path: "isolinux/isolinux.bin", Type: TypeFile, Mode: 0o444, Data: BytesSource(bin)},
		{Path: "isolinux/isolinux.cfg", Type: TypeFile, Mode: 0o444, Data: BytesSource([]byte("DEFAULT x\n"))},
		{Path: "boot/efi.img", Type: TypeFile, Mode: 0o444, Data: BytesSource(efi)},
	}
}

func TestElTorito(t *testing.T) {
	bin := fakeIsolinux(3001) // not a multiple of 4: the checksum pads
	efi := bytes.Repeat([]byte{0xEF}, 70000)
	img := build(t, bootTree(bin, efi), WithBIOSBoot("isolinux/isolinux.bin"), WithEFIBoot("boot/efi.img"),
		WithBootCatalog("isolinux/boot.cat"), WithHybridMBR(make([]byte, 432)))

	// Boot record → catalog → entries.
	br := img[17*sectorSize:]
	if string(br[1:6]) != "CD001" || !strings.HasPrefix(string(br[7:]), "EL TORITO SPECIFICATION") {
		t.Fatalf("sector 17 is no boot record")
	}
	cat := img[int(binary.LittleEndian.Uint32(br[0x47:]))*sectorSize:]
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(cat[i:])
	}
	if cat[0] != 1 || cat[1] != platformX86 || sum != 0 || cat[30] != 0x55 || cat[31] != 0xAA {
		t.Fatalf("bad validation entry % x (sum %d)", cat[:32], sum)
	}
	def := cat[32:64]
	biosLBA := binary.LittleEndian.Uint32(def[8:])
	if def[0] != 0x88 || def[1] != 0 || binary.LittleEndian.Uint16(def[6:]) != 4 {
		t.Fatalf("bad default entry % x", def)
	}
	if cat[64] != 0x91 || cat[65] != platformEFI || binary.LittleEndian.Uint16(cat[66:]) != 1 {
		t.Fatalf("bad section header % x", cat[64:96])
	}
	sec := cat[96:128]
	efiLBA := binary.LittleEndian.Uint32(sec[8:])
	if sec[0] != 0x88 || binary.LittleEndian.Uint16(sec[6:]) != (70000+511)/512 {
		t.Fatalf("bad EFI entry % x", sec)
	}
	if got := img[int(efiLBA)*sectorSize:][:len(efi)]; !bytes.Equal(got, efi) {
		t.Fatalf("EFI entry does not point at the EFI image")
	}

	// Boot info table.
	got := img[int(biosLBA)*sectorSize:][:len(bin)]
	if !bytes.Equal(got[:8], bin[:8]) || !bytes.Equal(got[64:], bin[64:]) {
		t.Fatalf("boot image changed outside the boot info table")
	}
	padded := append(append([]byte(nil), bin[64:]...), 0, 0, 0)
	var csum uint32
	for i := 0; i+4 <= len(padded); i += 4 {
		csum += binary.LittleEndian.Uint32(padded[i:])
	}
	want := []uint32{16, biosLBA, uint32(len(bin)), csum}
	for i, w := range want {
		if v := binary.LittleEndian.Uint32(got[8+4*i:]); v != w {
			t.Errorf("boot info table word %d = %d, want %d", i, v, w)
		}
	}
	if !bytes.Equal(got[24:64], make([]byte, 40)) {
		t.Errorf("boot info table reserved bytes not zero")
	}

	// Hybrid MBR: the boot image in 512-byte sectors, one partition over
	// the whole image, padded to a MiB.
	mbr := img[:512]
	if len(img)%(1<<20) != 0 {
		t.Errorf("hybrid image is %d bytes, not a whole number of MiB", len(img))
	}
	if v := binary.LittleEndian.Uint32(mbr[432:]); v != biosLBA*4 {
		t.Errorf("MBR boot LBA %d, want %d", v, biosLBA*4)
	}
	p := mbr[446:462]
	if p[0] != 0x80 || p[4] != 0x17 || binary.LittleEndian.Uint32(p[8:]) != 0 || int(binary.LittleEndian.Uint32(p[12:]))*512 != len(img) {
		t.Errorf("bad partition entry % x for %d bytes", p, len(img))
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		t.Errorf("no MBR signature")
	}
	if vol := binary.LittleEndian.Uint32(img[16*sectorSize+80:]); int(vol)*sectorSize != len(img) {
		t.Errorf("volume space %d sectors, image %d bytes", vol, len(img))
	}
}

func TestElToritoXorriso(t *testing.T) {
	needTool(t, "xorriso", "xorriso")
	bin := fakeIsolinux(4096)
	efi := bytes.Repeat([]byte{0xEF}, 40000)
	for _, tc := range []struct {
		name string
		opts []Option
		want []string
	}{
		{"bios+efi+hybrid", []Option{WithBIOSBoot("isolinux/isolinux.bin"), WithEFIBoot("boot/efi.img"), WithBootCatalog("isolinux/boot.cat"), WithHybridMBR(make([]byte, 432))},
			[]string{"El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4", "El Torito boot img :   2  UEFI  y   none  0x0000  0x00     79", "/isolinux/isolinux.bin", "/boot/efi.img", "El Torito cat path : /isolinux/boot.cat", "MBR partition : 1 0x80 0x17 0 2048"}},
		{"efi", []Option{WithEFIBoot("boot/efi.img")},
			[]string{"El Torito boot img :   1  UEFI  y   none  0x0000  0x00     79", "El Torito cat path : /boot.catalog"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iso := writeTemp(t, build(t, bootTree(bin, efi), tc.opts...))
			out, err := exec.Command("xorriso", "-abort_on", "WARNING", "-indev", iso, "-report_el_torito", "plain", "-report_system_area", "plain").CombinedOutput()
			if err != nil {
				t.Fatalf("xorriso: %v\n%s", err, out)
			}
			norm := regexp.MustCompile(` +`).ReplaceAllString(string(out), " ")
			for _, w := range tc.want {
				if !strings.Contains(norm, regexp.MustCompile(` +`).ReplaceAllString(w, " ")) {
					t.Errorf("xorriso report lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	im := New(epoch)
	if err := im.Add(Entry{Path: "a/../b", Type: TypeDir}); err == nil {
		t.Errorf("added a path with ..")
	}
	if err := im.Add(Entry{Path: "f", Type: TypeFile, Data: BytesSource([]byte("x"))}); err != nil {
		t.Fatal(err)
	}
	if err := im.Add(Entry{Path: "f", Type: TypeFile, Data: BytesSource([]byte("y"))}); !errors.Is(err, ErrExists) {
		t.Errorf("second f: %v, want ErrExists", err)
	}
	if err := im.Add(Entry{Path: "f/g", Type: TypeFile, Data: BytesSource(nil)}); err == nil {
		t.Errorf("added a file below a file")
	}
	if err := im.Add(Entry{Path: "h", Type: TypeHardlink, Target: "missing"}); err == nil {
		t.Errorf("added a hard link to nothing")
	}
	bad := New(epoch, WithBIOSBoot("nope"))
	if _, err := bad.Write(ctx, io.Discard); err == nil {
		t.Errorf("wrote a BIOS entry for a missing file")
	}
	noSig := New(epoch, WithBIOSBoot("b"), WithHybridMBR(make([]byte, 432)))
	if err := noSig.Add(Entry{Path: "b", Type: TypeFile, Data: BytesSource(make([]byte, 100))}); err != nil {
		t.Fatal(err)
	}
	if _, err := noSig.Write(ctx, io.Discard); err == nil || !strings.Contains(err.Error(), "isohybrid signature") {
		t.Errorf("hybrid MBR for a boot image without signature: %v", err)
	}
	short := New(epoch)
	if err := short.Add(Entry{Path: "s", Type: TypeFile, Data: ReaderAtSource(bytes.NewReader([]byte("ab")), 10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := short.Write(ctx, io.Discard); err == nil {
		t.Errorf("wrote a file whose source is shorter than its size")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	im2 := New(epoch)
	_ = im2.Add(Entry{Path: "f", Type: TypeFile, Data: BytesSource([]byte("x"))})
	if _, err := im2.Write(cctx, io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
}

// tarOf writes a tar with the given headers (file bodies are the names).
func tarOf(t testing.TB, hs []tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(h.Name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAddTar(t *testing.T) {
	needTool(t, "xorriso", "xorriso")
	mt := time.Unix(epoch-100, 0)
	tb := tarOf(t, []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, Uid: 3, Gid: 4, ModTime: mt},
		{Name: "bin/ash", Typeflag: tar.TypeLink, Linkname: "bin/sh", ModTime: mt},
		{Name: "bin/busybox", Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: "sh", ModTime: mt},
		{Name: "dev/console", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 5, Devminor: 1, ModTime: mt},
		{Name: "dev/loop0", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 7, Devminor: 0, ModTime: mt},
		{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: time.Unix(epoch+5000, 0)},
		{Name: "usr/share/doc/README", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.user.x": "y"}},
	})
	im := New(epoch)
	if err := im.AddTar(context.Background(), bytes.NewReader(tb), int64(len(tb))); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := im.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	iso := writeTemp(t, buf.Bytes())
	got := lsdl(t, iso)
	want := map[string]string{
		"/bin/sh":               "-rwxr-xr-x 3 4 6 ",
		"/bin/ash":              "-rwxr-xr-x 3 4 6 ",
		"/bin/busybox":          "lrwxrwxrwx 0 0 0 sh",
		"/dev/console":          "crw------- 0 0 5,1 ",
		"/dev/loop0":            "brw-rw---- 0 0 7,0 ",
		"/run/fifo":             "prw------- 0 0 0 ",
		"/usr/share/doc/README": "-rw-r--r-- 0 0 20 ",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: xorriso shows %q, want %q", p, got[p], w)
		}
	}
	dir := filepath.Join(t.TempDir(), "x")
	if out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/bin", dir).CombinedOutput(); err != nil {
		t.Fatalf("extract: %v\n%s", err, out)
	}
	for _, f := range []string{"sh", "ash"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != "bin/sh" {
			t.Errorf("%s holds %q", f, b)
		}
	}
}

func FuzzAddTar(f *testing.F) {
	f.Add(tarOf(f, []tar.Header{
		{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "a/c", Typeflag: tar.TypeLink, Linkname: "a/b"},
		{Name: "a/d", Typeflag: tar.TypeSymlink, Linkname: "../x"},
	}))
	f.Add([]byte("not a tar"))
	for _, tb := range sparseTars() {
		f.Add(tb)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		im := New(epoch)
		if err := im.AddTar(context.Background(), bytes.NewReader(b), int64(len(b))); err != nil {
			return
		}
		if _, err := im.Write(context.Background(), io.Discard); err != nil {
			t.Fatalf("AddTar accepted an archive that Write refuses: %v", err)
		}
	})
}

func BenchmarkWrite(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var entries []Entry
	for i := range 64 {
		entries = append(entries, Entry{Path: fmt.Sprintf("d%d/f%d", i%8, i), Type: TypeFile, Mode: 0o644, Data: BytesSource(data)})
	}
	b.SetBytes(int64(64 * len(data)))
	for b.Loop() {
		im := New(epoch)
		for _, e := range entries {
			_ = im.Add(e)
		}
		if _, err := im.Write(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// zeros is an io.ReaderAt of zero bytes.
type zeros struct{}

func (zeros) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}

// An EFI image past 0xFFFF sectors of 512 bytes gets a sector count of 0
// (the whole medium from its start, UEFI 2.11 13.3.2), not a truncated one.
func TestElToritoLargeEFI(t *testing.T) {
	const size = 40 << 20
	img := build(t, []Entry{{Path: "efi.img", Type: TypeFile, Mode: 0o444, Data: ReaderAtSource(zeros{}, size)}}, WithEFIBoot("efi.img"))
	cat := img[int(binary.LittleEndian.Uint32(img[17*sectorSize+0x47:]))*sectorSize:]
	if cat[1] != platformEFI || cat[32] != 0x88 {
		t.Fatalf("bad catalog % x", cat[:64])
	}
	if n := binary.LittleEndian.Uint16(cat[32+6:]); n != 0 {
		t.Errorf("sector count %d, want 0", n)
	}
}

// rawHeader is a tar header block; magic is "ustar\x0000" (USTAR, PAX) or
// "ustar  \x00" (GNU). set fills in more fields before the checksum.
func rawHeader(name string, typ byte, size int64, magic string, set func(b []byte)) []byte {
	b := make([]byte, 512)
	copy(b[0:], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], fmt.Sprintf("%011o\x00", epoch))
	b[156] = typ
	copy(b[257:], magic)
	if set != nil {
		set(b)
	}
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// padded pads b to whole 512-byte blocks.
func padded(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

// paxEntry is a PAX extended header entry holding records (in order).
func paxEntry(records ...string) []byte {
	var data []byte
	for i := 0; i < len(records); i += 2 {
		rec := " " + records[i] + "=" + records[i+1] + "\n"
		n := len(rec)
		for len(fmt.Sprint(n+len(fmt.Sprint(n)))) != len(fmt.Sprint(n)) {
			n++
		}
		data = append(data, fmt.Sprintf("%d%s", len(rec)+len(fmt.Sprint(n)), rec)...)
	}
	return append(rawHeader("PaxHeaders/sparse", tar.TypeXHeader, int64(len(data)), "ustar\x0000", nil), padded(data)...)
}

// sparseTars are archives of one sparse file data/sparse (8 KiB: 4 KiB of
// zeros, "hello", zeros) in each of GNU tar's sparse formats, as GNU tar
// writes them (archive/tar writes none).
func sparseTars() map[string][]byte {
	const realSize = 8192
	end := make([]byte, 1024)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return map[string][]byte{
		"pax 1.0": cat(
			paxEntry("GNU.sparse.major", "1", "GNU.sparse.minor", "0", "GNU.sparse.name", "data/sparse", "GNU.sparse.realsize", fmt.Sprint(realSize)),
			rawHeader("GNUSparseFile.0/sparse", tar.TypeReg, 512+5, "ustar\x0000", nil), // the map block and the data
			padded([]byte("1\n4096\n5\n")), padded([]byte("hello")), end),
		"pax 0.1": cat(
			paxEntry("GNU.sparse.size", fmt.Sprint(realSize), "GNU.sparse.numblocks", "1", "GNU.sparse.offset", "4096", "GNU.sparse.numbytes", "5", "GNU.sparse.name", "data/sparse"),
			rawHeader("GNUSparseFile.0/sparse", tar.TypeReg, 5, "ustar\x0000", nil),
			padded([]byte("hello")), end),
		"gnu S": cat(
			rawHeader("data/sparse", tar.TypeGNUSparse, 5, "ustar  \x00", func(b []byte) {
				copy(b[386:], fmt.Sprintf("%011o\x00%011o\x00", 4096, 5)) // the first sparse entry
				copy(b[483:], fmt.Sprintf("%011o\x00", realSize))         // the real size
			}),
			padded([]byte("hello")), end),
	}
}

// TestAddTarSparse: a sparse file is refused, naming the entry, instead of
// its archived bytes becoming its content.
func TestAddTarSparse(t *testing.T) {
	want := make([]byte, 8192)
	copy(want[4096:], "hello")
	for name, tb := range sparseTars() {
		t.Run(name, func(t *testing.T) {
			// archive/tar reads the fixture as a sparse file.
			tr := tar.NewReader(bytes.NewReader(tb))
			h, err := tr.Next()
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(tr); err != nil || h.Name != "data/sparse" || !bytes.Equal(got, want) {
				t.Fatalf("archive/tar reads %q: %d bytes, %v; the fixture is wrong", h.Name, len(got), err)
			}
			err = New(epoch).AddTar(context.Background(), bytes.NewReader(tb), int64(len(tb)))
			if err == nil || !strings.Contains(err.Error(), `tar entry "data/sparse": a sparse file`) {
				t.Errorf("AddTar: %v, want a sparse file refused", err)
			}
		})
	}
}

// TestAddTarExclude: excluded entries are left out of the image (the image
// equals one built without them), and a hard link to one is an error.
func TestAddTarExclude(t *testing.T) {
	mt := time.Unix(epoch-100, 0)
	keep := []tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: mt},
	}
	boot := []tar.Header{
		{Name: "boot/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt},
	}
	inBoot := func(n string) bool { return n == "boot/" || strings.HasPrefix(n, "boot/") }
	image := func(hs []tar.Header, opts ...TarOption) []byte {
		t.Helper()
		tb := tarOf(t, hs)
		im := New(epoch)
		if err := im.AddTar(context.Background(), bytes.NewReader(tb), int64(len(tb)), opts...); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := im.Write(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if !bytes.Equal(image(append(append([]tar.Header{}, boot...), keep...), TarExclude(inBoot)), image(keep)) {
		t.Error("excluding boot/ does not give the image of the tar without it")
	}
	tb := tarOf(t, append(append([]tar.Header{}, boot...), tar.Header{Name: "kernel", Typeflag: tar.TypeLink, Linkname: "boot/kernel", ModTime: mt}))
	err := New(epoch).AddTar(context.Background(), bytes.NewReader(tb), int64(len(tb)), TarExclude(inBoot))
	if err == nil || !strings.Contains(err.Error(), `"kernel": a hard link to boot/kernel, which is left out`) {
		t.Errorf("hard link to an excluded entry: %v", err)
	}
}
