package initramfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
	"github.com/u-root/uio/uio"

	ft "github.com/kitbuild/kit/core/format/formattest"
)

const epoch = 1_700_000_000

// rootfs is a normalized tar with every kind of member the converter handles.
func rootfs(t testing.TB) []byte {
	secret := ft.File("etc/secret", "s", 0o600)
	secret.UID, secret.GID = 1000, 1001
	secret.Xattrs = map[string]string{"user.k": "v"}
	suid := ft.File("usr/bin/suid", "x", 0o4755)
	suid.ModTime = 2_000_000_000 // after epoch: clamped
	old := ft.File("usr/bin/old", "o", 0o644)
	old.ModTime = 1000
	return ft.Tar(t,
		ft.Dir("bin", 0o755),
		ft.File("bin/busybox", "BUSYBOX", 0o755),
		ft.Hardlink("bin/sh", "bin/busybox"),
		ft.Symlink("bin/sh2", "busybox"),
		ft.Dir("boot", 0o755),
		ft.File("boot/cmdline", "console=ttyS0", 0o644),
		ft.File("boot/kernel", "KERNEL", 0o644),
		ft.Dir("dev", 0o755),
		ft.Device("dev/console", tar.TypeChar, 0o600, 5, 1),
		ft.Device("dev/loop0", tar.TypeBlock, 0o660, 7, 0),
		ft.Fifo("dev/pipe", 0o644),
		ft.Dir("etc", 0o755),
		secret,
		ft.Dir("lib", 0o755),
		ft.Hardlink("lib/kernel-a", "boot/kernel"),
		ft.Hardlink("lib/kernel-b", "boot/kernel"),
		ft.Hardlink("lib/sh-link", "bin/sh2"),
		ft.Hardlink("lib/sh3", "bin/sh"),
		ft.Dir("usr", 0o755),
		ft.Dir("usr/bin", 0o755),
		old,
		suid,
	)
}

type rec struct {
	name         string
	ino          uint64
	mode         uint64
	nlink        uint64
	uid, gid     uint64
	mtime        uint64
	data         string
	rmaj, rminor uint64
}

// want is what rootfs becomes with boot/ skipped and mtimes clamped.
var want = []rec{
	{name: "bin", ino: 1, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "bin/busybox", ino: 2, mode: cpio.S_IFREG | 0o755, nlink: 3, data: "BUSYBOX"},
	{name: "bin/sh", ino: 2, mode: cpio.S_IFREG | 0o755, nlink: 3},
	{name: "bin/sh2", ino: 3, mode: cpio.S_IFLNK | 0o777, nlink: 1, data: "busybox"},
	{name: "boot", ino: 4, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "dev", ino: 5, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "dev/console", ino: 6, mode: cpio.S_IFCHR | 0o600, nlink: 1, rmaj: 5, rminor: 1},
	{name: "dev/loop0", ino: 7, mode: cpio.S_IFBLK | 0o660, nlink: 1, rmaj: 7},
	{name: "dev/pipe", ino: 8, mode: cpio.S_IFIFO | 0o644, nlink: 1},
	{name: "etc", ino: 9, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "etc/secret", ino: 10, mode: cpio.S_IFREG | 0o600, nlink: 1, uid: 1000, gid: 1001, data: "s"},
	{name: "lib", ino: 11, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "lib/kernel-a", ino: 12, mode: cpio.S_IFREG | 0o644, nlink: 2, data: "KERNEL"},
	{name: "lib/kernel-b", ino: 12, mode: cpio.S_IFREG | 0o644, nlink: 2},
	{name: "lib/sh-link", ino: 13, mode: cpio.S_IFLNK | 0o777, nlink: 1, data: "busybox"},
	{name: "lib/sh3", ino: 2, mode: cpio.S_IFREG | 0o755, nlink: 3},
	{name: "usr", ino: 14, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "usr/bin", ino: 15, mode: cpio.S_IFDIR | 0o755, nlink: 2},
	{name: "usr/bin/old", ino: 16, mode: cpio.S_IFREG | 0o644, nlink: 1, mtime: 1000, data: "o"},
	{name: "usr/bin/suid", ino: 17, mode: cpio.S_IFREG | 0o4755, nlink: 1, mtime: epoch, data: "x"},
}

func convert(t testing.TB, src []byte, opts ...Option) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Write(context.Background(), &buf, bytes.NewReader(src), int64(len(src)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func readRecords(t testing.TB, archive []byte) []rec {
	t.Helper()
	rs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(archive)))
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	var out []rec
	for _, r := range rs {
		data, err := uio.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec{r.Name, r.Ino, r.Mode, r.NLink, r.UID, r.GID, r.MTime, string(data), r.Rmajor, r.Rminor})
	}
	return out
}

func TestWriteRecords(t *testing.T) {
	archive, st := convert(t, rootfs(t), WithSkip(SkipBoot), WithSourceDateEpoch(epoch))
	got := readRecords(t, archive)
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	wantStats := Stats{Entries: len(want), HardLinks: 3, Skipped: 2, XattrsDropped: 1, Size: int64(len(archive))}
	if st != wantStats {
		t.Errorf("stats %+v, want %+v", st, wantStats)
	}
	if len(archive)%4 != 0 {
		t.Errorf("archive of %d bytes is not 4-byte aligned", len(archive))
	}
}

func TestWriteWithoutSkip(t *testing.T) {
	// Without a skip function boot/ stays, and a link to boot/kernel shares
	// its inode instead of carrying the data.
	archive, st := convert(t, rootfs(t))
	got := readRecords(t, archive)
	byName := map[string]rec{}
	for _, r := range got {
		byName[r.name] = r
	}
	k, a, b := byName["boot/kernel"], byName["lib/kernel-a"], byName["lib/kernel-b"]
	if k.data != "KERNEL" || k.nlink != 3 || a.ino != k.ino || b.ino != k.ino || a.data != "" || a.nlink != 3 {
		t.Errorf("boot/kernel group: %+v %+v %+v", k, a, b)
	}
	if st.Entries != len(want)+2 || st.HardLinks != 4 {
		t.Errorf("stats %+v", st)
	}
	// No clamping without WithSourceDateEpoch.
	if r := byName["usr/bin/suid"]; r.mtime != 2_000_000_000 {
		t.Errorf("mtime %d, want 2000000000", r.mtime)
	}
}

func requireCPIO(t *testing.T) string {
	p, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio is not installed (apt-get install cpio)")
	}
	return p
}

// TestGNUCpio has GNU cpio list and extract the archive.
func TestGNUCpio(t *testing.T) {
	bin := requireCPIO(t)
	archive, _ := convert(t, rootfs(t), WithSkip(SkipBoot), WithSourceDateEpoch(epoch))

	cmd := exec.Command(bin, "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(archive)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	var names []string
	for _, r := range want {
		names = append(names, r.name)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, names) {
		t.Errorf("cpio -t lists\n%q\nwant\n%q", got, names)
	}

	dir := t.TempDir()
	cmd = exec.Command(bin, "-i", "-d", "-m", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	at := func(n string) string { return filepath.Join(dir, n) }
	for _, c := range []struct{ name, data string }{{"bin/busybox", "BUSYBOX"}, {"bin/sh", "BUSYBOX"}, {"lib/sh3", "BUSYBOX"}, {"lib/kernel-a", "KERNEL"}, {"lib/kernel-b", "KERNEL"}, {"etc/secret", "s"}} {
		b, err := os.ReadFile(at(c.name))
		if err != nil || string(b) != c.data {
			t.Errorf("%s: %q, %v; want %q", c.name, b, err, c.data)
		}
	}
	same := func(a, b string) {
		fa, err1 := os.Stat(at(a))
		fb, err2 := os.Stat(at(b))
		if err1 != nil || err2 != nil || !os.SameFile(fa, fb) {
			t.Errorf("%s and %s are not the same file (%v, %v)", a, b, err1, err2)
		}
	}
	same("bin/busybox", "bin/sh")
	same("bin/busybox", "lib/sh3")
	same("lib/kernel-a", "lib/kernel-b")
	for _, l := range []string{"bin/sh2", "lib/sh-link"} {
		if target, err := os.Readlink(at(l)); err != nil || target != "busybox" {
			t.Errorf("%s -> %q, %v", l, target, err)
		}
	}
	if fi, err := os.Stat(at("usr/bin/suid")); err != nil || fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/suid: %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(at("usr/bin/old")); err != nil || fi.ModTime().Unix() != 1000 {
		t.Errorf("usr/bin/old mtime: %v, %v", fi.ModTime(), err)
	}
	if fi, err := os.Lstat(at("dev/pipe")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("dev/pipe: %v, %v", fi, err)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Lstat(at("dev/console"))
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("dev/console: %v, %v", fi, err)
		}
		if rdev := fi.Sys().(*syscall.Stat_t).Rdev; rdev != 5<<8|1 {
			t.Errorf("dev/console rdev %#x, want 5:1", rdev)
		}
		if fi, err := os.Stat(at("etc/secret")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 || fi.Sys().(*syscall.Stat_t).Gid != 1001 {
			t.Errorf("etc/secret owner: %v", err)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	long := strings.Repeat("d/", MaxPath/2) + "f"
	tests := []struct {
		name    string
		entries []ft.Entry
		want    string
	}{
		{"unsorted", []ft.Entry{ft.File("b", "", 0o644), ft.File("a", "", 0o644)}, `"a": after "b"`},
		{"duplicate", []ft.Entry{ft.File("a", "", 0o644), ft.File("a", "", 0o644)}, `"a": after "a"`},
		{"absolute", []ft.Entry{ft.File("/a", "", 0o644)}, `"/a": not a clean relative path`},
		{"dotdot", []ft.Entry{ft.File("../a", "", 0o644)}, `"../a": not a clean relative path`},
		{"trailing slash", []ft.Entry{ft.Dir("a/", 0o755)}, `"a/": not a clean relative path`},
		{"link target missing", []ft.Entry{ft.Hardlink("b", "a")}, `"b": hard link target "a" is not in the archive before it`},
		{"link target after", []ft.Entry{ft.Hardlink("a", "b"), ft.File("b", "", 0o644)}, `"a": hard link target "b" does not precede`},
		{"link to dir", []ft.Entry{ft.Dir("a", 0o755), ft.Hardlink("b", "a")}, `"b": hard link to directory "a"`},
		{"name too long", []ft.Entry{ft.File(long, "", 0o644)}, "longer than the kernel's PATH_MAX"},
		{"symlink too long", []ft.Entry{ft.Symlink("a", long)}, `"a": symlink target of`},
		{"negative uid", []ft.Entry{{Name: "a", Type: tar.TypeReg, UID: -1}}, `"a": uid -1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := ft.Tar(t, tc.entries...)
			var w countWriter
			w.w = io.Discard
			_, err := Write(context.Background(), &w, bytes.NewReader(src), int64(len(src)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}

// zeroTar is a tar whose member data are holes: it reads as zeros without
// being stored, so a test can claim gigabytes cheaply.
type zeroTar struct {
	blocks map[int64][]byte // header bytes by offset
	size   int64
}

func newZeroTar(t testing.TB, sizes ...int64) *zeroTar {
	z := &zeroTar{blocks: map[int64][]byte{}}
	var off int64
	for i, n := range sizes {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: n}); err != nil {
			t.Fatal(err)
		}
		z.blocks[off] = bytes.Clone(buf.Bytes())
		off += int64(buf.Len()) + (n+511)&^511
	}
	z.size = off + 1024
	return z
}

func (z *zeroTar) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if rem := z.size - off; int64(n) > rem {
		n, err = int(rem), io.EOF
	}
	clear(p[:n])
	for at, b := range z.blocks {
		lo, hi := max(at, off), min(at+int64(len(b)), off+int64(n))
		if lo < hi {
			copy(p[lo-off:hi-off], b[lo-at:hi-at])
		}
	}
	return n, err
}

func TestWriteSizeLimits(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int64
		want  string
	}{
		{"file of 4 GiB", []int64{1 << 32}, `"f0": 4294967296 bytes: newc cpio cannot hold files of 4 GiB or more`},
		{"file of 5 GiB", []int64{10, 5 << 30}, `"f1": 5368709120 bytes`},
		{"archive over 4 GiB", []int64{3 << 30, 10, 1 << 30}, `"f2": the initramfs would exceed 4294967296 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := newZeroTar(t, tc.sizes...)
			w := &countWriter{w: io.Discard}
			_, err := Write(context.Background(), w, z, z.size)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %s", err, tc.want)
			}
			if w.n != 0 {
				t.Errorf("%d bytes written before failing", w.n)
			}
		})
	}
	// The largest file newc holds is accepted by the first pass (writing it
	// is not tested: 4 GiB).
	z := newZeroTar(t, MaxFileSize-1000)
	p, err := scan(context.Background(), z, z.size, &config{skip: func(string) bool { return false }})
	if err != nil {
		t.Fatalf("scan of a %d-byte file: %v", int64(MaxFileSize-1000), err)
	}
	if want := round4(MaxFileSize-1000) + 116 + trailerSize; p.size != want {
		t.Errorf("planned size %d, want %d", p.size, want)
	}
}

func TestWriteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := rootfs(t)
	_, err := Write(ctx, io.Discard, bytes.NewReader(src), int64(len(src)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestWriteEmpty(t *testing.T) {
	src := ft.Tar(t)
	archive, st := convert(t, src)
	if got := readRecords(t, archive); len(got) != 0 || st.Entries != 0 {
		t.Errorf("records %v, stats %+v", got, st)
	}
	if !bytes.Contains(archive, []byte(cpio.Trailer)) {
		t.Error("no trailer")
	}
}
