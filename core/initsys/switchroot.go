//go:build linux

package initsys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SwitchedEnv is set in the environment of the init re-executed after the
// root switch, so that it does not switch again.
const SwitchedEnv = "KIT_INIT_SWITCHED"

// newRootDir is where the tmpfs root is filled before it is moved to /.
const newRootDir = "/.kit-root"

// NeedsSwitchRoot reports whether the init runs as PID 1 on the initial
// ramfs or tmpfs root of an initramfs, where runc's pivot_root fails, and
// has not switched yet.
func NeedsSwitchRoot() bool {
	if os.Getpid() != 1 || os.Getenv(SwitchedEnv) != "" {
		return false
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// SwitchRoot copies the initramfs root into a new tmpfs, frees the old
// root's files, moves the tmpfs onto / and chroots into it (the classic
// switch_root), then re-executes self with SwitchedEnv set. It returns
// only on failure; a failure before the move leaves the old root usable.
func SwitchRoot(self string) error {
	if err := os.Mkdir(newRootDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("switch root: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat("/", &st); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	// The tmpfs is sized for the root plus room to work (its default, half
	// the memory, can be less than an initramfs holds), and files are moved
	// rather than copied so that memory use does not double.
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	size := treeSize("/", st.Dev) + max(64<<20, uint64(si.Totalram)*uint64(si.Unit)/4)
	if err := unix.Mount("tmpfs", newRootDir, "tmpfs", 0, fmt.Sprintf("mode=0755,size=%d", size)); err != nil {
		return fmt.Errorf("switch root: mount tmpfs on %s: %w", newRootDir, err)
	}
	c := newCopier(st.Dev, func(p string) bool { return p == newRootDir })
	c.move = true
	if err := c.tree("/", newRootDir, &st); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	removeTree("/", st.Dev, newRootDir)
	if err := unix.Chdir(newRootDir); err != nil {
		return fmt.Errorf("switch root: chdir: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch root: move %s to /: %w", newRootDir, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch root: chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("switch root: chdir /: %w", err)
	}
	env := append(os.Environ(), SwitchedEnv+"=1")
	if err := unix.Exec(self, []string{self}, env); err != nil {
		return fmt.Errorf("switch root: exec %s: %w", self, err)
	}
	return nil
}

// treeSize adds up the sizes of what is under dir on device dev, counting
// a page per entry.
func treeSize(dir string, dev uint64) uint64 {
	var total uint64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			if d != nil && d.IsDir() && p != dir {
				return filepath.SkipDir
			}
			return nil
		}
		total += uint64(st.Size) + 4096
		return nil
	})
	return total
}

// removeTree removes what is under dir on device dev, except skip; errors
// are ignored (it only frees memory).
func removeTree(dir string, dev uint64, skip string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if p == skip {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			removeTree(p, dev, skip)
			_ = unix.Rmdir(p)
			continue
		}
		_ = unix.Unlink(p)
	}
}

// CopyTree copies the tree at src into the existing directory dst,
// preserving types, modes (setuid, setgid, sticky included), owners,
// modification times, symlinks, device nodes, fifos and hard links. It
// stays on src's file system, skips sockets and any path for which skip
// (given the source path) is true. Owners are set only when running as
// root.
func CopyTree(src, dst string, skip func(string) bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return newCopier(st.Dev, skip).tree(src, dst, &st)
}

type copier struct {
	dev   uint64
	links map[[2]uint64]string
	skip  func(string) bool
	root  bool
	// move removes each regular file once copied.
	move bool
}

func newCopier(dev uint64, skip func(string) bool) *copier {
	return &copier{dev: dev, links: map[[2]uint64]string{}, skip: skip, root: os.Geteuid() == 0}
}

// tree copies the directory src, whose stat is st, into dst.
func (c *copier) tree(src, dst string, st *unix.Stat_t) error {
	if err := c.dir(src, dst); err != nil {
		return err
	}
	return c.meta(dst, st)
}

func (c *copier) dir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	for _, e := range entries {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if c.skip != nil && c.skip(s) {
			continue
		}
		if err := c.entry(s, d); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) entry(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if st.Dev != c.dev {
		return nil
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok {
			if err := os.Link(first, dst); err != nil {
				return fmt.Errorf("copy %s: %w", src, err)
			}
			if c.move && typ == unix.S_IFREG {
				_ = unix.Unlink(src)
			}
			return nil
		}
		c.links[key] = dst
	}
	var err error
	switch typ {
	case unix.S_IFDIR:
		err = os.Mkdir(dst, 0o700)
		if err == nil {
			err = c.dir(src, dst)
		}
	case unix.S_IFREG:
		err = copyFile(src, dst)
	case unix.S_IFLNK:
		var target string
		if target, err = os.Readlink(src); err == nil {
			err = os.Symlink(target, dst)
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		err = unix.Mknod(dst, st.Mode, int(st.Rdev))
	default: // sockets
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := c.meta(dst, &st); err != nil {
		return err
	}
	if c.move && typ == unix.S_IFREG {
		_ = unix.Unlink(src)
	}
	return nil
}

// meta sets owner, mode and times of dst from st (the mode after the
// owner: chown clears setuid).
func (c *copier) meta(dst string, st *unix.Stat_t) error {
	if c.root {
		if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("copy %s: chown: %w", dst, err)
		}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return fmt.Errorf("copy %s: chmod: %w", dst, err)
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy %s: times: %w", dst, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// reopenConsole makes /dev/console stdin, stdout and stderr when stdout is
// not usable (an initramfs without dev/console).
func reopenConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup2(fd, i)
	}
	if fd > 2 {
		_ = unix.Close(fd)
	}
}
