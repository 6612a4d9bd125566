//go:build linux

package initsys

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCopyTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	root := os.Geteuid() == 0
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "etc/kit-init"), 0o755))
	must(os.MkdirAll(filepath.Join(src, "tmp"), 0o755))
	must(os.Chmod(filepath.Join(src, "tmp"), 0o1777))
	must(os.MkdirAll(filepath.Join(src, "skipme/deep"), 0o755))
	must(os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("kit\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "init"), []byte("#!binary"), 0o755))
	must(os.Chmod(filepath.Join(src, "init"), 0o4755))
	must(os.WriteFile(filepath.Join(src, "secret"), []byte("s"), 0o600))
	must(os.Link(filepath.Join(src, "init"), filepath.Join(src, "etc/init-link")))
	must(os.Symlink("/proc/mounts", filepath.Join(src, "etc/mtab")))
	must(os.Symlink("hostname", filepath.Join(src, "etc/name")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o620))
	if root {
		must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(os.Lchown(filepath.Join(src, "secret"), 1000, 1001))
		must(os.Lchown(filepath.Join(src, "etc/name"), 1002, 1003))
	}
	must(os.Chtimes(filepath.Join(src, "etc/hostname"), mtime, mtime))
	must(os.Chtimes(filepath.Join(src, "etc"), mtime, mtime))

	if err := CopyTree(src, dst, func(p string) bool { return p == filepath.Join(src, "skipme") }); err != nil {
		t.Fatal(err)
	}

	var srcList, dstList []string
	for _, pair := range []struct {
		dir  string
		list *[]string
	}{{src, &srcList}, {dst, &dstList}} {
		err := filepath.Walk(pair.dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(pair.dir, p)
			if rel == "skipme" || strings.HasPrefix(rel, "skipme/") {
				return nil
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			line := rel + " " + fi.Mode().String()
			if root {
				line += " " + strings.Join([]string{itoa(st.Uid), itoa(st.Gid), itoa(uint32(st.Rdev))}, ":")
			}
			if fi.Mode().IsRegular() {
				b, _ := os.ReadFile(p)
				line += " " + string(b)
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(p)
				line += " -> " + target
			}
			if rel == "etc/hostname" || rel == "etc" {
				line += " " + fi.ModTime().UTC().String()
			}
			*pair.list = append(*pair.list, line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(srcList[1:], dstList[1:]) {
		t.Errorf("copy differs:\nsource:\n%s\ncopy:\n%s", strings.Join(srcList, "\n"), strings.Join(dstList, "\n"))
	}
	if _, err := os.Lstat(filepath.Join(dst, "skipme")); err == nil {
		t.Error("skipped directory copied")
	}
	var a, b unix.Stat_t
	must(unix.Stat(filepath.Join(dst, "init"), &a))
	must(unix.Stat(filepath.Join(dst, "etc/init-link"), &b))
	if a.Ino != b.Ino {
		t.Error("hard link not kept")
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func TestCopyTreeMissingSource(t *testing.T) {
	if err := CopyTree(filepath.Join(t.TempDir(), "nope"), t.TempDir(), nil); err == nil {
		t.Error("no error for a missing source")
	}
}

func TestDebugHook(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/kit-init"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := DebugHook(root, map[string]string{}); got != nil {
		t.Errorf("no hook: got %q", got)
	}
	if err := os.WriteFile(filepath.Join(root, DebugScript), []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "check"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cmdline map[string]string
		want    []string
	}{
		{map[string]string{}, []string{"/bin/sh", DebugScript}},
		{map[string]string{"kit.debug": "/check,a,b"}, []string{"/check", "a", "b"}},
		{map[string]string{"kit.debug": "/missing"}, []string{"/missing"}},
		{map[string]string{"kit.debug": "relative"}, nil},
	}
	for _, tt := range tests {
		if got := DebugHook(root, tt.cmdline); !slices.Equal(got, tt.want) {
			t.Errorf("DebugHook(%v) = %q, want %q", tt.cmdline, got, tt.want)
		}
	}
}

// fakeCommander records the command it is asked to run.
type fakeCommander struct {
	argv   []string
	status int
}

func (f *fakeCommander) Run(_ context.Context, argv []string, _ Stdio) (int, error) {
	f.argv = argv
	return f.status, nil
}

func TestBootRunsDebugHookAfterServices(t *testing.T) {
	cmd := &fakeCommander{status: 4}
	f := newFixture(t, WithCommander(cmd))
	f.bundle(t, Services, "svc", false, "")
	f.rt.block["svc"] = true
	f.in.Boot(context.Background(), []string{"/bin/sh", "/etc/kit-init/debug.sh"})
	eventually(t, "the hook's end", func() bool {
		return strings.Contains(f.console.String(), "kit-init: debug hook /bin/sh /etc/kit-init/debug.sh: exit 4\n")
	})
	console := f.console.String()
	if strings.Index(console, "service svc: started") > strings.Index(console, "debug hook /bin/sh /etc/kit-init/debug.sh: starting") {
		t.Errorf("hook started before the services:\n%s", console)
	}
	f.in.StopServices(context.Background())
}

func TestCopyTreeMove(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for _, f := range []string{"a", "d/b"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), []byte(f), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(src, "a"), filepath.Join(src, "d/a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(src, "s")); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		t.Fatal(err)
	}
	c := newCopier(st.Dev, nil)
	c.move = true
	if err := c.tree(src, dst, &st); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "d/b", "d/a-link"} {
		if _, err := os.Lstat(filepath.Join(src, f)); err == nil {
			t.Errorf("%s left in the source", f)
		}
		b, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || !strings.HasSuffix(f, string(b)) && f != "d/a-link" {
			t.Errorf("%s: %q, %v", f, b, err)
		}
	}
	if size := treeSize(dst, st.Dev); size < 3+4*4096 {
		t.Errorf("treeSize = %d", size)
	}
	removeTree(src, st.Dev, "")
	if entries, _ := os.ReadDir(src); len(entries) != 0 {
		t.Errorf("removeTree left %v", entries)
	}
}
