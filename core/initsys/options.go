//go:build linux

package initsys

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags maps mount(8) options to mount(2) flags; a false clear sets the
// flag, a true one clears it.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// propagationFlags are the options that change a mount's propagation; they
// need a mount(2) call of their own.
var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// MountOptions is a list of mount(8) options split for mount(2).
type MountOptions struct {
	// Flags are the MS_* flags of the mount itself.
	Flags uintptr
	// Propagation are the MS_PRIVATE/SHARED/SLAVE/UNBINDABLE flags (with
	// MS_REC), applied by a second call.
	Propagation uintptr
	// Data is the comma-joined file-system specific options.
	Data string
}

// ParseMountOptions splits mount(8) style options into flags, propagation
// flags and file-system data, as runc and LinuxKit's init do. Unknown
// options are file-system data; empty options are dropped.
func ParseMountOptions(options []string) MountOptions {
	var m MountOptions
	var data []string
	for _, o := range options {
		if o == "" {
			continue
		}
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				m.Flags &^= f.flag
			} else {
				m.Flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			m.Propagation |= p
			continue
		}
		data = append(data, o)
	}
	m.Data = strings.Join(data, ",")
	return m
}

// overlayDirs returns the upperdir and workdir of overlay data, which must
// exist before the overlay is mounted.
func overlayDirs(data string) []string {
	var dirs []string
	for _, o := range strings.Split(data, ",") {
		for _, k := range []string{"upperdir=", "workdir="} {
			if v, ok := strings.CutPrefix(o, k); ok && v != "" {
				dirs = append(dirs, v)
			}
		}
	}
	return dirs
}
