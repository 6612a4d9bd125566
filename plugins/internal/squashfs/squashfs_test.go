package squashfs

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
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const epoch = 1700000000

func needTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
}

// memWriterAt is an in-memory io.WriterAt.
type memWriterAt struct{ b []byte }

// zeroWriterAt is a memWriterAt that cannot be truncated.
type zeroWriterAt struct{ m memWriterAt }

func (z *zeroWriterAt) WriteAt(p []byte, off int64) (int, error) { return z.m.WriteAt(p, off) }

func (m *memWriterAt) Truncate(n int64) error {
	m.b = m.b[:n]
	return nil
}

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// item is one tar entry of a test tree and its data.
type item struct {
	h    tar.Header
	data []byte
}

// tree is a rootfs with every entry type and the edge cases of the
// format: file sizes around the block size, sparse and incompressible
// blocks, a directory of more than 256 entries, 255-byte names, a long
// symlink target, hard links across directories, xattrs, times after the
// epoch, setuid bits.
func tree(bs int) []item {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte { return bytes.Repeat([]byte("kit squashfs "), n/13+1)[:n] }
	mt := time.Unix(epoch-86400, 0)
	dir := func(name string, mode int64) item {
		return item{h: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode, ModTime: mt}}
	}
	file := func(name string, mode int64, data []byte) item {
		return item{h: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: mt}, data: data}
	}
	sparse := append(append(text(100), make([]byte, 3*bs)...), text(bs+7)...)
	items := []item{
		dir("", 0o755),
		dir("bin", 0o755),
		file("bin/busybox", 0o4755, random(2*bs+123)),
		{h: tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mt}},
		dir("data", 0o750),
		file("data/empty", 0o644, nil),
		file("data/one", 0o644, []byte("1")),
		file("data/block-1", 0o644, text(bs-1)),
		file("data/block", 0o644, text(bs)),
		file("data/block+1", 0o644, text(bs+1)),
		file("data/many", 0o600, text(5*bs+bs/2)),
		file("data/sparse", 0o644, sparse),
		file("data/zeros", 0o644, make([]byte, 2*bs)),
		dir("dev", 0o755),
		{h: tar.Header{Name: "dev/console", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 5, Devminor: 1, ModTime: mt}},
		{h: tar.Header{Name: "dev/big-minor", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 300, Devminor: 70000, ModTime: mt}},
		{h: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Gid: 6, Devmajor: 8, Devminor: 0, ModTime: mt}},
		{h: tar.Header{Name: "dev/initctl", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: mt}},
		dir("etc", 0o755),
		{h: tar.Header{Name: "etc/future", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3, ModTime: time.Unix(epoch+99999, 0)}, data: []byte("new")},
		{h: tar.Header{Name: "etc/owned", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 100, Size: 2, ModTime: mt}, data: []byte("me")},
		{h: tar.Header{Name: "etc/xattrs", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4, ModTime: mt,
			PAXRecords: map[string]string{"SCHILY.xattr.user.kit": "value", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, data: []byte("ping")},
		{h: tar.Header{Name: "etc/xattrs2", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4, ModTime: mt,
			PAXRecords: map[string]string{"SCHILY.xattr.user.kit": "value", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, data: []byte("pong")},
		{h: tar.Header{Name: "etc/xdir", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.user.dir": "d"}}},
		{h: tar.Header{Name: "etc/xlink", Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: "owned", ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.trusted.t": "t"}}},
		{h: tar.Header{Name: "etc/zz-hardlink", Typeflag: tar.TypeLink, Linkname: "bin/busybox", ModTime: mt}},
		{h: tar.Header{Name: "link/" + strings.Repeat("l", 255), Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: strings.Repeat("target/", 580), ModTime: mt}},
	}
	for i := range 300 {
		items = append(items, file(fmt.Sprintf("many/f%04d", i), 0o644, []byte(fmt.Sprint(i))))
	}
	// Copies (not hard links) of earlier files: written once, shared.
	for _, it := range items {
		switch it.h.Name {
		case "bin/busybox", "data/many", "data/one", "data/sparse", "data/empty":
			c := it
			c.h.Name = "copies/" + path.Base(it.h.Name)
			c.h.Mode = 0o600
			items = append(items, c)
		}
	}
	items = append(items, item{h: tar.Header{Name: "many/hardlink-to-many", Typeflag: tar.TypeLink, Linkname: "data/many", ModTime: mt}})
	items = append(items, file("names/"+strings.Repeat("n", 255), 0o644, []byte("long name")))
	items = append(items, file("names/ünïcødé ☃", 0o644, []byte("utf-8")))
	// "deep/" has no entry of its own: its parents are made.
	items = append(items, file("deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/file", 0o644, []byte("deep")))
	return items
}

func tarOf(t testing.TB, items []item) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, it := range items {
		h := it.h
		if h.Name == "" {
			h.Name = "./"
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(it.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func build(t testing.TB, tb []byte, opts ...Option) []byte {
	t.Helper()
	var m memWriterAt
	n, err := FromTar(context.Background(), &m, bytes.NewReader(tb), epoch, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(m.b)) || n%4096 != 0 {
		t.Fatalf("FromTar says %d bytes, wrote %d", n, len(m.b))
	}
	return m.b
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.sqfs")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var compressions = []struct {
	c    Compression
	name string
}{{Zstd, "zstd"}, {Gzip, "gzip"}}

func TestUnsquashfsSuperblock(t *testing.T) {
	needTool(t, "unsquashfs", "squashfs-tools")
	for _, c := range compressions {
		t.Run(c.name, func(t *testing.T) {
			img := writeTemp(t, build(t, tarOf(t, tree(64<<10)), WithCompression(c.c), WithBlockSize(64<<10)))
			out, err := exec.Command("unsquashfs", "-s", img).CombinedOutput()
			if err != nil {
				t.Fatalf("unsquashfs -s: %v\n%s", err, out)
			}
			for _, want := range []string{"Found a valid SQUASHFS 4:0 superblock", "Compression " + c.name, "Block size 65536",
				"Number of xattr ids 3", "Number of ids 4"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("unsquashfs -s lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// listing is what unsquashfs -lln shows of an entry.
func listing(it item, epochTime time.Time) string {
	h := it.h
	mt := h.ModTime
	if mt.After(epochTime) {
		mt = epochTime
	}
	var typ byte
	size := fmt.Sprint(h.Size)
	switch h.Typeflag {
	case tar.TypeDir:
		typ = 'd'
		size = "*"
	case tar.TypeSymlink:
		typ = 'l'
		size = fmt.Sprint(len(h.Linkname))
	case tar.TypeChar:
		typ = 'c'
		size = fmt.Sprintf("%d,%d", h.Devmajor, h.Devminor)
	case tar.TypeBlock:
		typ = 'b'
		size = fmt.Sprintf("%d,%d", h.Devmajor, h.Devminor)
	case tar.TypeFifo:
		typ = 'p'
		size = "0"
	default:
		typ = '-'
	}
	perm := []byte(string(typ) + "rwxrwxrwx")
	for i := range 9 {
		if h.Mode&(1<<(8-i)) == 0 {
			perm[1+i] = '-'
		}
	}
	if h.Mode&0o4000 != 0 {
		perm[3] = map[byte]byte{'x': 's', '-': 'S'}[perm[3]]
	}
	return fmt.Sprintf("%s %d/%d %s %s", perm, h.Uid, h.Gid, size, mt.UTC().Format("2006-01-02 15:04"))
}

func TestUnsquashfsList(t *testing.T) {
	needTool(t, "unsquashfs", "squashfs-tools")
	items := tree(128 << 10)
	img := writeTemp(t, build(t, tarOf(t, items)))
	cmd := exec.Command("unsquashfs", "-lln", img)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lln: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^(\S+) (\d+)/(\d+)\s+(\d+|\d+,\s*\d+) (\S+ \S+) squashfs-root(/.*?)?(?: -> (.*))?$`)
	got := map[string]string{}
	for line := range strings.SplitSeq(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		size := strings.ReplaceAll(m[4], " ", "")
		if m[1][0] == 'd' {
			size = "*"
		}
		got[strings.TrimPrefix(m[6], "/")] = fmt.Sprintf("%s %s/%s %s %s", m[1], m[2], m[3], size, m[5])
	}
	byName := map[string]item{}
	for _, it := range items {
		byName[it.h.Name] = it
	}
	for _, it := range items {
		if it.h.Name == bigMinor {
			continue
		}
		want := it
		if it.h.Typeflag == tar.TypeLink {
			want = byName[it.h.Linkname]
		}
		w := listing(want, time.Unix(epoch, 0))
		if got[it.h.Name] != w {
			t.Errorf("%q: unsquashfs lists %q, want %q", it.h.Name, got[it.h.Name], w)
		}
	}
	for _, made := range []string{"deep", "deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"} {
		if w := "drwxr-xr-x 0/0 * " + time.Unix(epoch, 0).UTC().Format("2006-01-02 15:04"); got[made] != w {
			t.Errorf("made parent %q: %q, want %q", made, got[made], w)
		}
	}
	if len(got) != len(items)+21 { // the 21 parents made: copies, deep/a/.../p, link, many, names
		t.Errorf("unsquashfs lists %d entries, want %d", len(got), len(items)+21)
	}
}

// TestUnsquashfsExtract extracts the image as root and compares every
// entry with the tar: content, mode, owner, time, link target, device
// numbers, hard links and extended attributes.
func TestUnsquashfsExtract(t *testing.T) {
	needTool(t, "unsquashfs", "squashfs-tools")
	if os.Geteuid() != 0 {
		t.Skip("extracting devices and owners needs root")
	}
	for _, c := range compressions {
		t.Run(c.name, func(t *testing.T) {
			items := tree(128 << 10)
			img := writeTemp(t, build(t, tarOf(t, items), WithCompression(c.c)))
			dir := filepath.Join(t.TempDir(), "root")
			if out, err := exec.Command("unsquashfs", "-q", "-n", "-d", dir, img).CombinedOutput(); err != nil {
				t.Fatalf("unsquashfs -d: %v\n%s", err, out)
			}
			compareTree(t, dir, withoutBigMinor(items))
		})
	}
}

// bigMinor is a device whose minor number is above 255: the kernel reads
// it right (TestKernelMount), unsquashfs 4.5 decodes such numbers wrongly
// (it takes everything above the low byte as the major).
const bigMinor = "dev/big-minor"

func withoutBigMinor(items []item) []item {
	var out []item
	for _, it := range items {
		if it.h.Name != bigMinor {
			out = append(out, it)
		}
	}
	return out
}

func compareTree(t *testing.T, dir string, items []item) {
	t.Helper()
	byName := map[string]item{}
	for _, it := range items {
		byName[it.h.Name] = it
	}
	for _, it := range items {
		p := filepath.Join(dir, it.h.Name)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Errorf("%s: %v", it.h.Name, err)
			continue
		}
		want := it
		if it.h.Typeflag == tar.TypeLink {
			want = byName[it.h.Linkname]
			var tst unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, it.h.Linkname), &tst); err != nil || tst.Ino != st.Ino {
				t.Errorf("%s: not a hard link of %s", it.h.Name, it.h.Linkname)
			}
		}
		h := want.h
		if st.Mode&0o7777 != uint32(h.Mode&0o7777) && h.Typeflag != tar.TypeSymlink {
			t.Errorf("%s: mode %o, want %o", it.h.Name, st.Mode&0o7777, h.Mode&0o7777)
		}
		if st.Uid != uint32(h.Uid) || st.Gid != uint32(h.Gid) {
			t.Errorf("%s: owner %d/%d, want %d/%d", it.h.Name, st.Uid, st.Gid, h.Uid, h.Gid)
		}
		mt := min(h.ModTime.Unix(), epoch)
		if st.Mtim.Sec != mt && h.Typeflag != tar.TypeSymlink && h.Typeflag != tar.TypeDir {
			t.Errorf("%s: mtime %d, want %d", it.h.Name, st.Mtim.Sec, mt)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(b, want.data) {
				t.Errorf("%s: content differs (%d bytes, want %d; %v)", it.h.Name, len(b), len(want.data), err)
			}
		case tar.TypeSymlink:
			if l, _ := os.Readlink(p); l != h.Linkname {
				t.Errorf("%s: links to %q, want %q", it.h.Name, l, h.Linkname)
			}
		case tar.TypeChar, tar.TypeBlock:
			if unix.Major(st.Rdev) != uint32(h.Devmajor) || unix.Minor(st.Rdev) != uint32(h.Devminor) {
				t.Errorf("%s: device %d,%d, want %d,%d", it.h.Name, unix.Major(st.Rdev), unix.Minor(st.Rdev), h.Devmajor, h.Devminor)
			}
			if typ := map[byte]uint32{tar.TypeChar: syscall.S_IFCHR, tar.TypeBlock: syscall.S_IFBLK}[h.Typeflag]; st.Mode&syscall.S_IFMT != typ {
				t.Errorf("%s: type %o", it.h.Name, st.Mode&syscall.S_IFMT)
			}
		case tar.TypeFifo:
			if st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
				t.Errorf("%s: not a fifo", it.h.Name)
			}
		}
		for k, v := range h.PAXRecords {
			name, ok := strings.CutPrefix(k, xattrPAX)
			if !ok {
				continue
			}
			buf := make([]byte, 256)
			n, err := unix.Lgetxattr(p, name, buf)
			if errors.Is(err, unix.ENOTSUP) || (errors.Is(err, unix.EPERM) && strings.HasPrefix(name, "user.")) {
				continue // a file system or file type that does not hold it
			}
			if err != nil || string(buf[:n]) != v {
				t.Errorf("%s: xattr %s = %q (%v), want %q", it.h.Name, name, buf[:max(n, 0)], err, v)
			}
		}
	}
}

// TestKernelMount mounts the image with the running kernel (loop device),
// when this machine allows it, and compares the tree the kernel shows.
func TestKernelMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	items := tree(128 << 10)
	img := writeTemp(t, build(t, tarOf(t, items)))
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "squashfs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount here: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	compareTree(t, mnt, items)
}

func TestReproducible(t *testing.T) {
	tb := tarOf(t, tree(128<<10))
	a := build(t, tb, WithConcurrency(1))
	b := build(t, tb, WithConcurrency(4))
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("two builds differ")
	}
	sum := sha256.Sum256(a)
	got := hex.EncodeToString(sum[:]) + "\n"
	p := filepath.Join("testdata", "tree.sha256")
	if *update {
		os.MkdirAll("testdata", 0o755)
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

func TestErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := NewWriter(&memWriterAt{}, epoch, WithBlockSize(3000)); err == nil {
		t.Error("accepted a block size of 3000")
	}
	if _, err := NewWriter(&memWriterAt{}, epoch, WithCompression(99)); err == nil {
		t.Error("accepted compression 99")
	}
	w, err := NewWriter(&memWriterAt{}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, Entry{Path: "a", Type: TypeFile, Size: 10}, strings.NewReader("short")); err == nil {
		t.Error("accepted a short file")
	}
	if err := w.Add(ctx, Entry{Path: "d", Type: TypeDir}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, Entry{Path: "l", Type: TypeHardlink, Target: "d"}, nil); err == nil {
		t.Error("accepted a hard link to a directory")
	}
	if err := w.Add(ctx, Entry{Path: "x", Type: TypeFile, Xattrs: map[string]string{"system.posix_acl_access": "x"}}, strings.NewReader("")); err == nil {
		t.Error("accepted a system. xattr")
	}
	if err := w.Add(ctx, Entry{Path: "d/../e", Type: TypeDir}, nil); err == nil {
		t.Error("accepted ..")
	}
	if err := w.Add(ctx, Entry{Path: "f", Type: TypeFifo}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, Entry{Path: "f", Type: TypeFifo}, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second f: %v", err)
	}
	if err := w.Add(ctx, Entry{Path: "f/g", Type: TypeFifo}, nil); err == nil {
		t.Error("accepted an entry below a fifo")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := FromTar(cctx, &memWriterAt{}, bytes.NewReader(tarOf(t, tree(4096))), epoch); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled FromTar: %v", err)
	}
}

func FuzzFromTar(f *testing.F) {
	f.Add(tarOf(f, tree(4096)[:20]))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m memWriterAt
		_, _ = FromTar(context.Background(), &m, bytes.NewReader(b), epoch, WithBlockSize(4096), WithConcurrency(1))
	})
}

// BenchmarkFromTar writes a 64 MiB tree of half text, half random data.
func BenchmarkFromTar(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	var items []item
	var total int64
	for i := 0; total < 64<<20; i++ {
		n := 1 << (10 + i%12) // 1 KiB to 2 MiB
		data := make([]byte, n)
		if i%2 == 0 {
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		} else {
			copy(data, bytes.Repeat([]byte(fmt.Sprintf("line %d of a text file\n", i)), n/20+1))
		}
		items = append(items, item{h: tar.Header{Name: fmt.Sprintf("d%02d/f%05d", i%50, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n)}, data: data})
		total += int64(n)
	}
	tb := tarOf(b, items)
	for _, c := range compressions {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(total)
			var size int64
			for b.Loop() {
				var m memWriterAt
				m.b = make([]byte, 0, len(tb))
				n, err := FromTar(context.Background(), &m, bytes.NewReader(tb), epoch, WithCompression(c.c))
				if err != nil {
					b.Fatal(err)
				}
				size = n
			}
			b.ReportMetric(float64(size)/float64(total), "ratio")
		})
	}
}

// TestDuplicates: a copy of a file larger than the output buffer, last in
// the tar, is rewound and shares the first file's blocks; nothing of it is
// left past the end of the image.
func TestDuplicates(t *testing.T) {
	needTool(t, "unsquashfs", "squashfs-tools")
	rng := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 3<<20+1234)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	mt := time.Unix(epoch, 0)
	items := []item{
		{h: tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(big)), ModTime: mt}, data: big},
		{h: tar.Header{Name: "b", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(big)), ModTime: mt}, data: big},
	}
	img := build(t, tarOf(t, items))
	if len(img) > len(big)+len(big)/10 {
		t.Errorf("image of two copies of %d incompressible bytes is %d bytes: not shared", len(big), len(img))
	}
	// A writer that cannot be truncated gets zeros where the copy was.
	var z zeroWriterAt
	if _, err := FromTar(context.Background(), &z, bytes.NewReader(tarOf(t, items)), epoch); err != nil {
		t.Fatal(err)
	}
	used := binary.LittleEndian.Uint64(z.m.b[40:])
	if len(z.m.b) < 2*len(big) || !bytes.Equal(z.m.b[used:], make([]byte, len(z.m.b)-int(used))) || !bytes.Equal(z.m.b[:used], img[:used]) {
		t.Errorf("untruncated image: %d bytes, %d used, bytes past the end not zero or image differs", len(z.m.b), used)
	}
	p := writeTemp(t, img)
	dir := filepath.Join(t.TempDir(), "x")
	if out, err := exec.Command("unsquashfs", "-q", "-n", "-d", dir, p).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	for _, n := range []string{"a", "b"} {
		if b, _ := os.ReadFile(filepath.Join(dir, n)); !bytes.Equal(b, big) {
			t.Errorf("%s differs", n)
		}
	}
}
