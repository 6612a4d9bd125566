package erofs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goerofs "github.com/erofs/go-erofs"
	"golang.org/x/sys/unix"
)

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

type item struct {
	h    tar.Header
	data []byte
}

func tree() []item {
	mt := time.Unix(epoch-86400, 0)
	file := func(name string, mode int64, data []byte) item {
		return item{h: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: mt}, data: data}
	}
	items := []item{
		{h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}},
		{h: tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}},
		file("bin/busybox", 0o4755, bytes.Repeat([]byte("busybox "), 100000)),
		{h: tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mt}},
		{h: tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8, ModTime: mt}},
		file("data/empty", 0o644, nil),
		file("data/4k", 0o644, bytes.Repeat([]byte("k"), 4096)),
		file("data/4k+1", 0o600, bytes.Repeat([]byte("l"), 4097)),
		{h: tar.Header{Name: "dev/console", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 5, Devminor: 1, ModTime: mt}},
		{h: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Gid: 6, Devmajor: 8, Devminor: 0, ModTime: mt}},
		{h: tar.Header{Name: "dev/initctl", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: mt}},
		{h: tar.Header{Name: "etc/future", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3, ModTime: time.Unix(epoch+999, 0)}, data: []byte("new")},
		{h: tar.Header{Name: "etc/owned", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 100, Size: 2, ModTime: mt,
			PAXRecords: map[string]string{"SCHILY.xattr.user.kit": "value", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, data: []byte("me")},
		{h: tar.Header{Name: "etc/zz-hardlink", Typeflag: tar.TypeLink, Linkname: "bin/busybox", ModTime: mt}},
		file("names/"+strings.Repeat("n", 255), 0o644, []byte("long name")),
	}
	for i := range 300 {
		items = append(items, file(fmt.Sprintf("many/f%04d", i), 0o644, []byte(fmt.Sprint(i))))
	}
	return items
}

func tarOf(t testing.TB, items []item) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, it := range items {
		if err := tw.WriteHeader(&it.h); err != nil {
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

func build(t testing.TB, tb []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.erofs")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := FromTar(context.Background(), f, bytes.NewReader(tb), epoch, WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFsckExtract(t *testing.T) {
	needTool(t, "fsck.erofs", "erofs-utils")
	if os.Geteuid() != 0 {
		t.Skip("extracting devices and owners needs root")
	}
	items := tree()
	img := build(t, tarOf(t, items))
	dir := filepath.Join(t.TempDir(), "x")
	if out, err := exec.Command("fsck.erofs", "--extract="+dir, "--preserve", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.erofs: %v\n%s", err, out)
	}
	compareTree(t, dir, items, false) // fsck.erofs 1.5 extracts without set-id bits and xattrs
}

// TestKernelMount mounts the image with the running kernel when this
// machine allows loop mounts.
func TestKernelMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	items := tree()
	img := build(t, tarOf(t, items))
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "erofs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount here: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	compareTree(t, mnt, items, true)
}

func compareTree(t *testing.T, dir string, items []item, kernel bool) {
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
		}
		h := want.h
		mask := uint32(0o7777)
		if !kernel {
			mask = 0o777
		}
		if st.Mode&mask != uint32(h.Mode)&mask && h.Typeflag != tar.TypeSymlink {
			t.Errorf("%s: mode %o, want %o", it.h.Name, st.Mode&0o7777, h.Mode&0o7777)
		}
		if st.Uid != uint32(h.Uid) || st.Gid != uint32(h.Gid) {
			t.Errorf("%s: owner %d/%d, want %d/%d", it.h.Name, st.Uid, st.Gid, h.Uid, h.Gid)
		}
		if mt := min(h.ModTime.Unix(), epoch); st.Mtim.Sec != mt && h.Typeflag == tar.TypeReg {
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
		case tar.TypeFifo:
			if st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
				t.Errorf("%s: not a fifo", it.h.Name)
			}
		}
		if !kernel {
			continue
		}
		for k, v := range h.PAXRecords {
			name, ok := strings.CutPrefix(k, xattrPAX)
			if !ok {
				continue
			}
			buf := make([]byte, 256)
			n, err := unix.Lgetxattr(p, name, buf)
			if errors.Is(err, unix.ENOTSUP) {
				continue
			}
			if err != nil || string(buf[:n]) != v {
				t.Errorf("%s: xattr %s = %q (%v), want %q", it.h.Name, name, buf[:max(n, 0)], err, v)
			}
		}
	}
}

func TestReproducible(t *testing.T) {
	tb := tarOf(t, tree())
	read := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	a, b := read(build(t, tb)), read(build(t, tb))
	if a != b {
		t.Fatal("two builds differ")
	}
}

// seeker is an in-memory io.WriteSeeker.
type seeker struct {
	b   []byte
	off int64
}

func (s *seeker) Write(p []byte) (int, error) {
	if end := int(s.off) + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	n := copy(s.b[s.off:], p)
	s.off += int64(n)
	return n, nil
}

func (s *seeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.off = off
	case io.SeekCurrent:
		s.off += off
	case io.SeekEnd:
		s.off = int64(len(s.b)) + off
	}
	return s.off, nil
}

func FuzzFromTar(f *testing.F) {
	f.Add(tarOf(f, tree()[:12]))
	f.Add([]byte("not a tar"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = FromTar(context.Background(), &seeker{}, bytes.NewReader(b), epoch, WithTempDir(dir))
	})
}

// TestExclude leaves boot/ out, as the kernel+erofs format does, and reads
// the image back with go-erofs' reader.
func TestExclude(t *testing.T) {
	inBoot := func(name string) bool { return name == "/boot" || strings.HasPrefix(name, "/boot/") }
	mt := time.Unix(epoch-86400, 0)
	tb := tarOf(t, []item{
		{h: tar.Header{Name: "boot/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}},
		{h: tar.Header{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6, ModTime: mt}, data: []byte("KERNEL")},
		{h: tar.Header{Name: "bootstrap", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2, ModTime: mt}, data: []byte("ok")},
	})
	var out seeker
	if err := FromTar(context.Background(), &out, bytes.NewReader(tb), epoch, WithTempDir(t.TempDir()), WithExclude(inBoot)); err != nil {
		t.Fatal(err)
	}
	fsys, err := goerofs.Open(bytes.NewReader(out.b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(fsys, "boot"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("boot: %v, want it left out", err)
	}
	if b, err := fs.ReadFile(fsys, "bootstrap"); err != nil || string(b) != "ok" {
		t.Errorf("bootstrap: %q, %v", b, err)
	}
}

func TestErrors(t *testing.T) {
	inBoot := func(name string) bool { return name == "/boot" || strings.HasPrefix(name, "/boot/") }
	file := func(name string) item {
		return item{h: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, data: []byte("x")}
	}
	for _, tc := range []struct {
		name  string
		items []item
		want  string
	}{
		{"dotdot", []item{file("a/../../b")}, `tar entry "a/../../b": name has a ".." component`},
		{"link to a later file", []item{{h: tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "f"}}, file("f")}, `hard link target "f" is not an earlier file`},
		{"link into an excluded tree", []item{file("boot/kernel"), {h: tar.Header{Name: "k", Typeflag: tar.TypeLink, Linkname: "boot/kernel"}}}, `tar entry "k": a hard link to boot/kernel, which is left out of the image`},
		{"uid", []item{{h: tar.Header{Name: "f", Typeflag: tar.TypeReg, Uid: 1 << 33, Format: tar.FormatPAX}}}, `tar entry "f": uid/gid 8589934592/0 out of range`},
		{"type", []item{{h: tar.Header{Name: "g", Typeflag: tar.TypeCont}}}, `tar entry "g": unsupported type '7'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := FromTar(context.Background(), &seeker{}, bytes.NewReader(tarOf(t, tc.items)), epoch, WithTempDir(t.TempDir()), WithExclude(inBoot))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := FromTar(ctx, &seeker{}, bytes.NewReader(tarOf(t, tree())), epoch); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
