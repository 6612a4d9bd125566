package assemble

import (
	"archive/tar"
	"fmt"

	"github.com/kitbuild/kit/core/steps/tarutil"
)

// cleanName reports whether name is a clean relative path inside the root,
// as every name of a normalized tar is.
func cleanName(name string) bool {
	c, err := tarutil.CleanName(name)
	return err == nil && c != "" && c == name
}

// checkHeader validates an entry of a normalized input tar.
func checkHeader(h *tar.Header) error {
	if !cleanName(h.Name) {
		return fmt.Errorf("name %q is not a clean relative path", h.Name)
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeLink:
		if !cleanName(h.Linkname) {
			return fmt.Errorf("hard link target %q is not a clean relative path", h.Linkname)
		}
		if h.Linkname >= h.Name {
			return fmt.Errorf("hard link target %s does not precede the link", h.Linkname)
		}
	default:
		return fmt.Errorf("entry type %q is not allowed in a normalized tar", h.Typeflag)
	}
	if h.Size < 0 {
		return fmt.Errorf("negative size %d", h.Size)
	}
	return nil
}

// typeWord names an entry type in messages.
func typeWord(flag byte) string {
	switch flag {
	case tar.TypeReg:
		return "regular file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("entry of type %q", flag)
}

// join prefixes name with dir ("" is the root).
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
