package tarutil

import (
	"archive/tar"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
)

// MediaType is the media type of a normalized tar output.
const MediaType = "application/x-tar"

// Limits on names, as on Linux (PATH_MAX and NAME_MAX).
const (
	MaxNameLen      = 4096
	MaxComponentLen = 255
)

// XattrPrefix starts the PAX record of an extended attribute.
const XattrPrefix = "SCHILY.xattr."

// typeRegA is the pre-POSIX regular file type (tar.TypeRegA, deprecated).
const typeRegA = '\x00'

// ErrUnsafeName is wrapped by the errors of CleanName.
var ErrUnsafeName = errors.New("unsafe name")

// ErrType is wrapped by Normalize when an entry's type cannot appear in a
// normalized tar.
var ErrType = errors.New("unsupported entry type")

// ErrOrder is wrapped by Writer and Verify when an entry is out of order.
var ErrOrder = errors.New("entry out of order")

// CleanName checks a name found in an archive and returns its normalized
// form: relative, without "." components, doubled or trailing slashes.
// Leading slashes are dropped (an archive's absolute names are rooted at the
// archive's root, as container runtimes treat them). A name with a ".."
// component, a NUL byte, or more bytes than MaxNameLen (MaxComponentLen for
// one component) is refused, never cleaned. The root itself ("", ".", "/",
// "./") cleans to "".
func CleanName(name string) (string, error) {
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("%w: name is %d bytes long (limit %d)", ErrUnsafeName, len(name), MaxNameLen)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: name contains a NUL byte", ErrUnsafeName)
	}
	if isClean(name) {
		return name, nil
	}
	var b strings.Builder
	for c := range strings.SplitSeq(name, "/") {
		switch {
		case c == "" || c == ".":
			continue
		case c == "..":
			return "", fmt.Errorf("%w: name has a \"..\" component", ErrUnsafeName)
		case len(c) > MaxComponentLen:
			return "", fmt.Errorf("%w: name has a component of %d bytes (limit %d)", ErrUnsafeName, len(c), MaxComponentLen)
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
	}
	return b.String(), nil
}

// isClean reports whether name is already a clean relative name (the common
// case, checked without allocating).
func isClean(name string) bool {
	if name == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		c := name[start:i]
		if c == "" || c == "." || c == ".." || len(c) > MaxComponentLen {
			return false
		}
		start = i + 1
	}
	return true
}

// Clamp truncates t to whole seconds and clamps it to epoch (seconds since
// 1970): a later time becomes epoch, an earlier one is kept. The zero time
// (unset) becomes epoch too.
func Clamp(t time.Time, epoch int64) time.Time {
	s := t.Unix()
	if t.IsZero() || s > epoch {
		s = epoch
	}
	return time.Unix(s, 0).UTC()
}

// Normalize rewrites h in place into its normalized form: the name (and a
// hard link's target) cleaned by CleanName, the type one of regular file,
// directory, symlink, hard link, char or block device, or fifo (old-style
// regular files and GNU sparse files become regular files), mode reduced to
// permission and setuid/setgid/sticky bits, user and group names cleared,
// mtime clamped to epoch, access and change times cleared, only extended
// attribute PAX records kept, and the format left for archive/tar to pick
// (USTAR when it can hold the header, else PAX), so equal headers are always
// encoded alike. A name that cleans to the root is refused.
func Normalize(h *tar.Header, epoch int64) error {
	name, err := CleanName(h.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: the archive root", ErrUnsafeName)
	}
	h.Name = name
	switch h.Typeflag {
	case tar.TypeReg, typeRegA, tar.TypeCont, tar.TypeGNUSparse:
		h.Typeflag = tar.TypeReg
	case tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeLink:
		target, err := CleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", h.Linkname, err)
		}
		if target == "" {
			return fmt.Errorf("%w: hard link to the archive root", ErrUnsafeName)
		}
		h.Linkname = target
	default:
		return fmt.Errorf("%w %q", ErrType, h.Typeflag)
	}
	if h.Typeflag == tar.TypeSymlink {
		if h.Linkname == "" || len(h.Linkname) > MaxNameLen || strings.IndexByte(h.Linkname, 0) >= 0 {
			return fmt.Errorf("%w: symlink target is empty, too long or has a NUL byte", ErrUnsafeName)
		}
	} else if h.Typeflag != tar.TypeLink {
		h.Linkname = ""
	}
	if h.Typeflag != tar.TypeReg {
		h.Size = 0
	}
	if h.Typeflag != tar.TypeChar && h.Typeflag != tar.TypeBlock {
		h.Devmajor, h.Devminor = 0, 0
	}
	h.Mode &= 0o7777
	h.Uname, h.Gname = "", ""
	h.ModTime = Clamp(h.ModTime, epoch)
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.PAXRecords = xattrs(h)
	//lint:ignore SA1019 cleared so that only PAXRecords carry xattrs
	h.Xattrs = nil
	h.Format = tar.FormatUnknown
	return nil
}

// xattrs returns the extended attribute records of h (from PAXRecords and
// the deprecated Xattrs field), or nil.
func xattrs(h *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, XattrPrefix) && len(k) > len(XattrPrefix) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	//lint:ignore SA1019 read for headers built with the deprecated field only
	for k, v := range h.Xattrs {
		if k == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		if _, ok := out[XattrPrefix+k]; !ok {
			out[XattrPrefix+k] = v
		}
	}
	return out
}

// Clone returns a copy of h that shares nothing mutable with it.
func Clone(h *tar.Header) *tar.Header {
	c := *h
	c.PAXRecords = maps.Clone(h.PAXRecords)
	//lint:ignore SA1019 copied like every other field
	c.Xattrs = maps.Clone(h.Xattrs)
	return &c
}
