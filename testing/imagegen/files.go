package imagegen

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Created is the fixed time recorded in every generated image and archive
// entry (later than SOURCE_DATE_EPOCH=0, so clamping is observable).
var Created = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// File is one tar entry of a generated layer. The zero Type is a regular
// file. Names are written exactly as given (hostile names included), except
// that directories get a trailing slash.
type File struct {
	Name  string
	Type  byte  // a tar.Type* flag; 0 means tar.TypeReg
	Mode  int64 // permission bits; 0 means 0644 (files), 0755 (dirs), 0777 (symlinks)
	Body  []byte
	Link  string // target of a symlink or hard link
	UID   int
	GID   int
	Major int64 // devices
	Minor int64
	// ModTime defaults to Created.
	ModTime time.Time
	// Xattrs are written as PAX SCHILY.xattr records.
	Xattrs map[string]string
}

// Reg returns a regular file with mode 0644.
func Reg(name, body string) File { return File{Name: name, Body: []byte(body)} }

// Exec returns a regular file with mode 0755.
func Exec(name, body string) File { return File{Name: name, Body: []byte(body), Mode: 0o755} }

// Dir returns a directory with mode 0755.
func Dir(name string) File { return File{Name: name, Type: tar.TypeDir} }

// Symlink returns a symbolic link name → target.
func Symlink(name, target string) File { return File{Name: name, Type: tar.TypeSymlink, Link: target} }

// Hardlink returns a hard link name → target (a path in the archive).
func Hardlink(name, target string) File { return File{Name: name, Type: tar.TypeLink, Link: target} }

// CharDev returns a character device node.
func CharDev(name string, major, minor int64) File {
	return File{Name: name, Type: tar.TypeChar, Major: major, Minor: minor, Mode: 0o600}
}

// BlockDev returns a block device node.
func BlockDev(name string, major, minor int64) File {
	return File{Name: name, Type: tar.TypeBlock, Major: major, Minor: minor, Mode: 0o600}
}

// Fifo returns a named pipe.
func Fifo(name string) File { return File{Name: name, Type: tar.TypeFifo, Mode: 0o600} }

// Whiteout returns the OCI whiteout entry that deletes p in a lower layer.
func Whiteout(p string) File {
	dir, base := path.Split(p)
	return File{Name: dir + ".wh." + base}
}

// Opaque returns the OCI opaque-directory marker for dir: everything in dir
// from lower layers is hidden.
func Opaque(dir string) File {
	return File{Name: strings.TrimSuffix(dir, "/") + "/.wh..wh..opq"}
}

// WithMode returns f with permission bits mode.
func (f File) WithMode(mode int64) File { f.Mode = mode; return f }

// WithOwner returns f owned by uid:gid.
func (f File) WithOwner(uid, gid int) File { f.UID, f.GID = uid, gid; return f }

// WithXattr returns f with an extended attribute added.
func (f File) WithXattr(key, value string) File {
	x := make(map[string]string, len(f.Xattrs)+1)
	for k, v := range f.Xattrs {
		x[k] = v
	}
	x[key] = value
	f.Xattrs = x
	return f
}

func (f File) header() *tar.Header {
	typ := f.Type
	if typ == 0 {
		typ = tar.TypeReg
	}
	mode := f.Mode
	if mode == 0 {
		switch typ {
		case tar.TypeDir:
			mode = 0o755
		case tar.TypeSymlink:
			mode = 0o777
		default:
			mode = 0o644
		}
	}
	mt := f.ModTime
	if mt.IsZero() {
		mt = Created
	}
	name := f.Name
	if typ == tar.TypeDir && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	h := &tar.Header{
		Typeflag: typ,
		Name:     name,
		Linkname: f.Link,
		Mode:     mode,
		Uid:      f.UID,
		Gid:      f.GID,
		ModTime:  mt,
		Devmajor: f.Major,
		Devminor: f.Minor,
	}
	if typ == tar.TypeReg {
		h.Size = int64(len(f.Body))
	}
	if len(f.Xattrs) > 0 {
		keys := make([]string, 0, len(f.Xattrs))
		for k := range f.Xattrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h.PAXRecords = map[string]string{}
		for _, k := range keys {
			h.PAXRecords["SCHILY.xattr."+k] = f.Xattrs[k]
		}
		h.Format = tar.FormatPAX
	}
	return h
}

// Tar returns an uncompressed tar of files, in the given order.
func Tar(files ...File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(f.header()); err != nil {
			return nil, fmt.Errorf("imagegen: tar entry %q: %w", f.Name, err)
		}
		if len(f.Body) > 0 && (f.Type == 0 || f.Type == tar.TypeReg) {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, fmt.Errorf("imagegen: tar entry %q: %w", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("imagegen: tar: %w", err)
	}
	return buf.Bytes(), nil
}

// WithParents returns files preceded by directory entries for every missing
// parent, sorted by name (as a typical image layer).
func WithParents(files ...File) []File {
	have := map[string]bool{}
	for _, f := range files {
		have[strings.TrimSuffix(f.Name, "/")] = true
	}
	out := append([]File(nil), files...)
	for _, f := range files {
		for d := path.Dir(strings.TrimSuffix(f.Name, "/")); d != "." && d != "/"; d = path.Dir(d) {
			if !have[d] {
				have[d] = true
				out = append(out, Dir(d))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.TrimSuffix(out[i].Name, "/") < strings.TrimSuffix(out[j].Name, "/")
	})
	return out
}
