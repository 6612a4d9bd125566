package formatboard

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/kitbuild/kit/sdk"
)

// MaxTarFile bounds a file ReadTarFiles reads into memory, MaxTarTotal
// all of them.
const (
	MaxTarFile  = 64 << 20
	MaxTarTotal = 256 << 20
)

// maxLinkHops bounds the chains of links ReadTarFiles follows.
const maxLinkHops = 8

// ReadTarFiles reads the regular files of the tar archive at tarPath (plain
// or gzip'd) whose names, cleaned ("./a/b" and "/a/b" are "a/b"), match, and
// returns their contents by name. A matching hard or symbolic link gets
// the content of the file it leads to inside the archive (absolute
// symlinks are taken relative to the archive's root). When a name occurs
// twice, the last entry wins. A matching entry that is neither a file nor
// a link, a link leading nowhere, a file over MaxTarFile or files over
// MaxTarTotal in all is an error naming it.
func ReadTarFiles(ctx context.Context, tarPath string, match func(name string) bool) (map[string][]byte, error) {
	content := budget{files: map[string][]byte{}}
	alias := map[string]string{} // matched name → the name whose content it takes
	err := sdk.WalkTar(ctx, tarPath, func(h *tar.Header, r io.Reader) error {
		n := cleanName(h.Name)
		if n == "" || !match(n) {
			return nil
		}
		target, err := content.entry(h, n, r)
		if err != nil {
			return err
		}
		if target != "" {
			alias[n] = target
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for hop := 0; ; hop++ {
		missing := map[string]bool{}
		for _, t := range alias {
			if _, ok := content.files[t]; !ok {
				missing[t] = true
			}
		}
		if len(missing) == 0 {
			break
		}
		if hop == maxLinkHops {
			return nil, fmt.Errorf("%s: more than %d links to follow", tarPath, maxLinkHops)
		}
		next := map[string]string{}
		err := sdk.WalkTar(ctx, tarPath, func(h *tar.Header, r io.Reader) error {
			n := cleanName(h.Name)
			if !missing[n] {
				return nil
			}
			target, err := content.entry(h, n, r)
			if target != "" {
				next[n] = target
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		for n, t := range alias {
			if _, ok := content.files[t]; ok {
				continue
			}
			nt, ok := next[t]
			if !ok {
				return nil, fmt.Errorf("%s: /%s links to /%s, which is not in the archive", tarPath, n, t)
			}
			alias[n] = nt
		}
	}
	out := make(map[string][]byte, len(alias))
	for n, t := range alias {
		out[n] = content.files[t]
	}
	return out, nil
}

// budget holds the files read and the bytes read so far.
type budget struct {
	files map[string][]byte
	total int64
}

// entry reads the regular file n into b.files and returns n, or returns
// the name a link leads to.
func (b *budget) entry(h *tar.Header, n string, r io.Reader) (string, error) {
	switch h.Typeflag {
	case tar.TypeReg:
		if h.Size > MaxTarFile {
			return "", fmt.Errorf("/%s is %d bytes, more than %d", n, h.Size, MaxTarFile)
		}
		if b.total += h.Size; b.total > MaxTarTotal {
			return "", fmt.Errorf("/%s: the files read are more than %d bytes in all", n, MaxTarTotal)
		}
		body, err := io.ReadAll(io.LimitReader(r, MaxTarFile))
		if err != nil {
			return "", fmt.Errorf("/%s: %w", n, err)
		}
		b.files[n] = body
		return n, nil
	case tar.TypeLink:
		delete(b.files, n)
		return cleanName(h.Linkname), nil
	case tar.TypeSymlink:
		delete(b.files, n)
		t := h.Linkname
		if !path.IsAbs(t) {
			t = path.Join(path.Dir("/"+n), t)
		}
		return cleanName(t), nil
	}
	return "", fmt.Errorf("/%s is not a regular file (type %q)", n, h.Typeflag)
}

// cleanName turns a tar entry name into a slash-separated path without a
// leading slash; the root is "".
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}
