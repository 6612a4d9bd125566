package formattest

import (
	"archive/tar"
	"bytes"
	"sort"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graph"
)

// Entry is a member of a test tar.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Mode     int64
	UID, GID int
	Data     string // regular files
	Link     string // symlink or hard link target
	Major    int64
	Minor    int64
	ModTime  int64 // seconds since 1970
	Xattrs   map[string]string
}

// File is a regular file entry.
func File(name, data string, mode int64) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Mode: mode, Data: data}
}

// Dir is a directory entry.
func Dir(name string, mode int64) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: mode} }

// Symlink is a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Link: target}
}

// Hardlink is a hard link entry.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Link: target}
}

// Device is a character (tar.TypeChar) or block (tar.TypeBlock) device.
func Device(name string, typ byte, mode, major, minor int64) Entry {
	return Entry{Name: name, Type: typ, Mode: mode, Major: major, Minor: minor}
}

// Fifo is a named pipe entry.
func Fifo(name string, mode int64) Entry { return Entry{Name: name, Type: tar.TypeFifo, Mode: mode} }

// Sorted returns the entries sorted by name, as in a normalized tar.
func Sorted(entries []Entry) []Entry {
	s := append([]Entry(nil), entries...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return s
}

// Tar returns a tar holding the entries in the order given.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{
			Name:     e.Name,
			Typeflag: typ,
			Mode:     e.Mode,
			Uid:      e.UID,
			Gid:      e.GID,
			Linkname: e.Link,
			Devmajor: e.Major,
			Devminor: e.Minor,
			ModTime:  time.Unix(e.ModTime, 0),
		}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar %s: %v", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// System describes the result of an assemble step for tests.
type System struct {
	Kernel  []byte // nil: no kernel
	Cmdline []byte // nil: no cmdline output
	UCode   []byte // nil: no microcode
	Entries []Entry
}

// Assembled stores what an assemble step would produce for s: a normalized
// rootfs tar holding the entries plus boot/kernel, boot/cmdline and
// boot/ucode.cpio, and the kernel, cmdline and ucode as separate blobs.
func Assembled(t testing.TB, x *Exec, s System) format.Input {
	t.Helper()
	entries := append([]Entry(nil), s.Entries...)
	if s.Kernel != nil || s.Cmdline != nil || s.UCode != nil {
		entries = append(entries, Dir("boot", 0o755))
	}
	var in format.Input
	add := func(name string, data []byte, out *graph.Output, blob string) {
		if data == nil {
			return
		}
		entries = append(entries, File("boot/"+name, string(data), 0o644))
		*out = x.Put(t, blob, data)
	}
	add("kernel", s.Kernel, &in.Kernel, format.KernelOutput)
	add("cmdline", s.Cmdline, &in.Cmdline, format.CmdlineOutput)
	add("ucode.cpio", s.UCode, &in.UCode, format.UCodeOutput)
	in.Rootfs = x.Put(t, format.RootfsOutput, Tar(t, Sorted(entries)...))
	return in
}
