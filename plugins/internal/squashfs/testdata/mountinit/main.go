// Command mountinit is the /init of the squashfs boot test: it loads the
// kernel modules listed in /modules/order, mounts every /images/NAME.FSTYPE
// read-only through a loop device, prints one "KIT-FS NAME ..." line per
// entry it finds there (path, mode, owner, time, size, link target, device,
// content digest, xattrs), then "KIT-MOUNT-OK" and powers off.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

var out io.Writer = os.Stdout

func fail(format string, args ...any) {
	fmt.Fprintf(out, "KIT-MOUNT-FAILED: "+format+"\n", args...)
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func main() {
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = f
	}
	order, err := os.ReadFile("/modules/order")
	if err != nil {
		fail("%v", err)
	}
	for _, m := range strings.Fields(string(order)) {
		f, err := os.Open("/modules/" + m)
		if err != nil {
			fail("%v", err)
		}
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
			fail("loading %s: %v", m, err)
		}
		f.Close()
	}
	if err := os.MkdirAll("/dev", 0o755); err != nil {
		fail("%v", err)
	}
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""); err != nil {
		fail("mount devtmpfs: %v", err)
	}
	images, _ := filepath.Glob("/images/*")
	sort.Strings(images)
	for _, img := range images {
		base := filepath.Base(img)
		name, fstype, _ := strings.Cut(base, ".")
		mnt := "/mnt/" + name
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			fail("%v", err)
		}
		dev := attach(img)
		if err := unix.Mount(dev, mnt, fstype, unix.MS_RDONLY, ""); err != nil {
			fail("mount %s (%s) on %s: %v", img, fstype, dev, err)
		}
		walk(name, mnt)
	}
	fmt.Fprintf(out, "KIT-MOUNT-OK\n")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(out, "KIT-POWEROFF-FAILED: %v\n", err)
	}
	select {}
}

// attach puts img on a free loop device and returns the device's path.
func attach(img string) string {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		fail("%v", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		fail("LOOP_CTL_GET_FREE: %v", err)
	}
	dev := fmt.Sprintf("/dev/loop%d", n)
	lf, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		fail("%v", err)
	}
	f, err := os.Open(img)
	if err != nil {
		fail("%v", err)
	}
	if err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_FD, int(f.Fd())); err != nil {
		fail("LOOP_SET_FD %s: %v", dev, err)
	}
	return dev
}

func walk(name, root string) {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		var target, sum string
		size := int64(0)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, _ = os.Readlink(p)
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			sum, size = hex.EncodeToString(h[:8]), int64(len(b))
		}
		fmt.Fprintf(out, "KIT-FS %s %q %o %d %d %d %d %q %d:%d %s %s\n", name, rel, st.Mode, st.Uid, st.Gid,
			st.Mtim.Sec, size, target, unix.Major(st.Rdev), unix.Minor(st.Rdev), sum, xattrs(p))
		return nil
	})
	if err != nil {
		fail("walking %s: %v", name, err)
	}
}

func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return "-"
	}
	var names []string
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, k, v)
		if err != nil {
			continue
		}
		parts = append(parts, k+"="+hex.EncodeToString(v[:m]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}
