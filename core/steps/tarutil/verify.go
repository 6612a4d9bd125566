package tarutil

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotNormalized is wrapped by the errors of Verify.
var ErrNotNormalized = errors.New("tar is not normalized")

// paxAllowed are the PAX records archive/tar may write for a normalized
// header (long names, big numbers) besides extended attributes.
var paxAllowed = map[string]bool{"path": true, "linkpath": true, "size": true, "uid": true, "gid": true, "mtime": true}

// Verify reads a whole tar stream and checks that it is normalized for epoch:
// clean unique names in strictly increasing byte order, no entry below a
// non-directory, hard links to earlier non-directory entries, only the
// allowed types, no user or group names, whole-second times not after epoch,
// no access or change times, and no PAX records but extended attributes
// (and those archive/tar needs for long names or big numbers). It returns the
// number of entries. Verify keeps every name in memory: it is meant for
// tests and checks, not for the build path.
func Verify(r io.Reader, epoch int64) (int, error) {
	tr := tar.NewReader(r)
	types := map[string]byte{}
	last := ""
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return n, fmt.Errorf("entry %d: %w", n, err)
		}
		if err := verifyHeader(h, epoch); err != nil {
			return n, fmt.Errorf("%w: entry %q: %v", ErrNotNormalized, h.Name, err)
		}
		if n > 0 && h.Name <= last {
			return n, fmt.Errorf("%w: entry %q after %q: %v", ErrNotNormalized, h.Name, last, ErrOrder)
		}
		for p := Parent(h.Name); p != ""; p = Parent(p) {
			if t, ok := types[p]; ok && t != tar.TypeDir {
				return n, fmt.Errorf("%w: entry %q is below %q, which is not a directory", ErrNotNormalized, h.Name, p)
			}
		}
		if h.Typeflag == tar.TypeLink {
			t, ok := types[h.Linkname]
			if !ok {
				return n, fmt.Errorf("%w: hard link %q to %q, which does not precede it", ErrNotNormalized, h.Name, h.Linkname)
			}
			if t == tar.TypeDir {
				return n, fmt.Errorf("%w: hard link %q to directory %q", ErrNotNormalized, h.Name, h.Linkname)
			}
		}
		types[h.Name] = h.Typeflag
		last = h.Name
		n++
	}
}

func verifyHeader(h *tar.Header, epoch int64) error {
	if c, err := CleanName(h.Name); err != nil || c != h.Name || c == "" {
		return fmt.Errorf("name is not clean")
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeLink:
		if c, err := CleanName(h.Linkname); err != nil || c != h.Linkname || c == "" {
			return fmt.Errorf("hard link target %q is not clean", h.Linkname)
		}
	default:
		return fmt.Errorf("%w %q", ErrType, h.Typeflag)
	}
	if h.Typeflag != tar.TypeReg && h.Size != 0 {
		return fmt.Errorf("size %d on a non-regular entry", h.Size)
	}
	if h.Mode&^0o7777 != 0 {
		return fmt.Errorf("mode %o has bits beyond 07777", h.Mode)
	}
	if h.Uname != "" || h.Gname != "" {
		return fmt.Errorf("user or group name set (%q, %q)", h.Uname, h.Gname)
	}
	if h.ModTime.Nanosecond() != 0 || h.ModTime.Unix() > epoch {
		return fmt.Errorf("mtime %v is not whole seconds at or before %d", h.ModTime, epoch)
	}
	if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
		return fmt.Errorf("access or change time set")
	}
	for k := range h.PAXRecords {
		if !paxAllowed[k] && !strings.HasPrefix(k, XattrPrefix) {
			return fmt.Errorf("PAX record %q", k)
		}
	}
	return nil
}

// Parent returns the parent directory of a clean name, "" for a top-level
// one.
func Parent(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}
