//go:build linux

package initsys

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// System is the part of the kernel the init uses. Linux is the real one;
// tests record the calls.
type System interface {
	// Mount is mount(2).
	Mount(source, target, fstype string, flags uintptr, data string) error
	// Unmount is umount2(2).
	Unmount(target string, flags int) error
	// MkdirAll is os.MkdirAll.
	MkdirAll(path string, perm os.FileMode) error
	// CreateFile creates an empty file if path does not exist (a target for
	// a bind mount of a namespace).
	CreateFile(path string) error
	// Sethostname is sethostname(2).
	Sethostname(name string) error
	// LinkUp sets a network interface up.
	LinkUp(name string) error
	// CreateLink creates network interface name of kind (a veth with its
	// peer left in the root namespace when peer is set), in the network
	// namespace of process nsPid unless it is 0.
	CreateLink(name, kind, peer string, nsPid int) error
	// MoveLink moves network interface name into the network namespace of
	// process nsPid.
	MoveLink(name string, nsPid int) error
	// Mounts lists the mount points, in mount order.
	Mounts() ([]string, error)
	// KernelRelease is uname -r.
	KernelRelease() (string, error)
	// InitModule loads the kernel module file at path (finit_module(2);
	// compressed asks the kernel to decompress it).
	InitModule(path string, compressed bool) error
	// KillAll sends sig to every process but the caller (kill(-1, sig)).
	KillAll(sig syscall.Signal) error
	// Sync is sync(2).
	Sync()
	// Reboot is reboot(2) with a LINUX_REBOOT_CMD_*.
	Reboot(cmd int) error
}

// Linux is the System of the running kernel.
type Linux struct{}

var _ System = Linux{}

// Mount calls mount(2).
func (Linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &os.PathError{Op: "mount " + fstype, Path: target, Err: err}
	}
	return nil
}

// Unmount calls umount2(2).
func (Linux) Unmount(target string, flags int) error {
	if err := unix.Unmount(target, flags); err != nil {
		return &os.PathError{Op: "umount", Path: target, Err: err}
	}
	return nil
}

// MkdirAll calls os.MkdirAll.
func (Linux) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// CreateFile creates path, empty, unless it exists.
func (Linux) CreateFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	return f.Close()
}

// Sethostname calls sethostname(2).
func (Linux) Sethostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %q: %w", name, err)
	}
	return nil
}

// LinkUp sets IFF_UP on the interface through SIOCSIFFLAGS (the kernel
// gives lo 127.0.0.1/8 and ::1 when it comes up).
func (Linux) LinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("link %s up: socket: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("link %s up: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("link %s up: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("link %s up: set flags: %w", name, err)
	}
	return nil
}

// CreateLink sends RTM_NEWLINK over rtnetlink.
func (Linux) CreateLink(name, kind, peer string, nsPid int) error {
	if err := netlinkDo(createLinkRequest(netlinkSeq.Add(1), name, kind, peer, nsPid)); err != nil {
		return fmt.Errorf("creating %s link %s: %w", kind, name, err)
	}
	return nil
}

// MoveLink sends RTM_NEWLINK with IFLA_NET_NS_PID over rtnetlink.
func (Linux) MoveLink(name string, nsPid int) error {
	if err := netlinkDo(moveLinkRequest(netlinkSeq.Add(1), name, nsPid)); err != nil {
		return fmt.Errorf("moving link %s to the namespace of process %d: %w", name, nsPid, err)
	}
	return nil
}

// Mounts reads /proc/self/mountinfo.
func (Linux) Mounts() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(b), nil
}

// KernelRelease returns uname(2)'s release.
func (Linux) KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// InitModule calls finit_module(2); a module already loaded is not an
// error.
func (Linux) InitModule(path string, compressed bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if compressed {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

// KillAll calls kill(-1, sig).
func (Linux) KillAll(sig syscall.Signal) error {
	if err := unix.Kill(-1, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill -1 %v: %w", sig, err)
	}
	return nil
}

// Sync calls sync(2).
func (Linux) Sync() { unix.Sync() }

// Reboot calls reboot(2).
func (Linux) Reboot(cmd int) error {
	if err := unix.Reboot(cmd); err != nil {
		return fmt.Errorf("reboot(%#x): %w", cmd, err)
	}
	return nil
}

// ParseMountinfo returns the mount points of a /proc/self/mountinfo, in
// order, with the octal escapes of the kernel decoded. Malformed lines are
// skipped.
func ParseMountinfo(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeMount(f[4]))
	}
	return out
}

// unescapeMount decodes the \NNN escapes of a mountinfo field.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 || s[0] > '3' {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// unmountOrder returns the mount points to unmount at shutdown: all but
// those in keep, each once, deepest first (the latest first among equals).
func unmountOrder(mounts []string, keep []string) []string {
	var out []string
	for _, m := range slices.Backward(mounts) {
		m = filepath.Clean(m)
		if slices.Contains(keep, m) || slices.Contains(out, m) {
			continue
		}
		out = append(out, m)
	}
	depth := func(p string) int { return strings.Count(p, "/") }
	slices.SortStableFunc(out, func(a, b string) int { return depth(b) - depth(a) })
	return out
}
