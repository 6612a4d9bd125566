package isoboot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/kitbuild/kit/plugins/internal/iso9660"
)

// Paths of the bootloader files in Debian's packages (isolinux,
// syslinux-common, systemd-boot-efi), as they appear in the bootloader
// tars (relative, as in a normalized tar).
const (
	IsolinuxBin    = "usr/lib/ISOLINUX/isolinux.bin"
	IsohdpfxBin    = "usr/lib/ISOLINUX/isohdpfx.bin"
	LdlinuxC32     = "usr/lib/syslinux/modules/bios/ldlinux.c32"
	SystemdBootX64 = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
)

// ErrNotFound is wrapped when a bootloader file is in none of the tars.
var ErrNotFound = errors.New("bootloader file not found")

// tarEntry is a file or symlink found in a bootloader tar.
type tarEntry struct {
	f       *os.File
	off     int64
	size    int64
	symlink string
	mode    int64
}

// bootloaders indexes the tars named by Input.Bootloaders.
type bootloaders struct {
	files   []*os.File
	entries map[string]tarEntry // first tar wins
}

func openBootloaders(ctx context.Context, paths []string) (*bootloaders, error) {
	b := &bootloaders{entries: map[string]tarEntry{}}
	for _, p := range paths {
		if err := b.index(ctx, p); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *bootloaders) index(ctx context.Context, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("bootloader tar: %w", err)
	}
	b.files = append(b.files, f)
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bootloader tar: %w", err)
	}
	sr := io.NewSectionReader(f, 0, fi.Size())
	tr := tar.NewReader(sr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bootloader tar %s: %w", p, err)
		}
		name := strings.Trim(path.Clean("/"+h.Name), "/")
		if _, seen := b.entries[name]; seen {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg, '\x00':
			off, err := sr.Seek(0, io.SeekCurrent)
			if err != nil {
				return fmt.Errorf("bootloader tar %s: %w", p, err)
			}
			if h.Size < 0 || off+h.Size > fi.Size() {
				return fmt.Errorf("bootloader tar %s: %s: size %d past the end of the archive", p, h.Name, h.Size)
			}
			b.entries[name] = tarEntry{f: f, off: off, size: h.Size, mode: h.Mode}
		case tar.TypeSymlink:
			b.entries[name] = tarEntry{symlink: h.Linkname}
		case tar.TypeLink:
			b.entries[name] = tarEntry{symlink: "/" + strings.Trim(path.Clean("/"+h.Linkname), "/")}
		}
	}
}

// file returns the regular file at name, following symlinks inside the
// tars.
func (b *bootloaders) file(name string) (iso9660.Source, error) {
	orig := name
	for range 16 {
		e, ok := b.entries[name]
		if !ok {
			return nil, fmt.Errorf("%w: /%s", ErrNotFound, orig)
		}
		if e.symlink == "" {
			return iso9660.ReaderAtSource(io.NewSectionReader(e.f, e.off, e.size), e.size), nil
		}
		t := e.symlink
		if !strings.HasPrefix(t, "/") {
			t = path.Join(path.Dir(name), t)
		}
		name = strings.Trim(path.Clean("/"+t), "/")
	}
	return nil, fmt.Errorf("bootloader file /%s: too many levels of symlinks", orig)
}

func (b *bootloaders) Close() error {
	var errs []error
	for _, f := range b.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
