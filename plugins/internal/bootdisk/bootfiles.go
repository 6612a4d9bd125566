package bootdisk

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Debian paths of the boot loader files, as the bootloader images
// (plugins/packages) hold them.
const (
	// SystemdBootEFI is systemd-boot for x86-64 UEFI (package
	// systemd-boot-efi).
	SystemdBootEFI = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
	// SyslinuxMBR is SYSLINUX's MBR boot code (package syslinux-common).
	SyslinuxMBR = "usr/lib/syslinux/mbr/mbr.bin"
	// SyslinuxLdlinuxC32 is the BIOS core module ldlinux.sys loads
	// (package syslinux-common).
	SyslinuxLdlinuxC32 = "usr/lib/syslinux/modules/bios/ldlinux.c32"
	// SyslinuxInstaller is the installer that carries ldlinux.sys and the
	// FAT boot sector (package syslinux).
	SyslinuxInstaller = "usr/bin/syslinux"
)

// maxBootFile bounds a boot loader file read into memory.
const maxBootFile = 64 << 20

// cleanTarName turns a tar entry name into the form of the constants above.
func cleanTarName(name string) string {
	name = strings.TrimLeft(path.Clean("/"+name), "/")
	return name
}

// readBootFiles reads the regular files named by want (Debian paths, without
// a leading slash) from the tar at tarPath, following symbolic links inside
// the tar.
func readBootFiles(ctx context.Context, tarPath string, want ...string) (map[string][]byte, error) {
	out := map[string][]byte{}
	// alias maps a wanted name to the name whose content it takes.
	alias := map[string]string{}
	for _, w := range want {
		alias[w] = w
	}
	for hop := 0; hop < 8; hop++ {
		targets := map[string]bool{}
		for _, t := range alias {
			if _, ok := out[t]; !ok {
				targets[t] = true
			}
		}
		if len(targets) == 0 {
			break
		}
		links, err := scanTar(ctx, tarPath, targets, out)
		if err != nil {
			return nil, err
		}
		progress := false
		for w, t := range alias {
			if _, ok := out[t]; ok {
				continue
			}
			if l, ok := links[t]; ok {
				alias[w] = l
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	res := map[string][]byte{}
	for _, w := range want {
		b, ok := out[alias[w]]
		if !ok {
			return nil, fmt.Errorf("bootloader files %s: /%s not found (is it the right bootloader image?)", tarPath, w)
		}
		res[w] = b
	}
	return res, nil
}

// scanTar reads the entries of names into out and returns the targets
// (resolved to tar names) of those that are symbolic or hard links.
func scanTar(ctx context.Context, tarPath string, names map[string]bool, out map[string][]byte) (map[string]string, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, fmt.Errorf("bootloader files: %w", err)
	}
	defer f.Close()
	links := map[string]string{}
	tr := tar.NewReader(f)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return links, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bootloader files %s: %w", tarPath, err)
		}
		name := cleanTarName(h.Name)
		if !names[name] {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			if h.Size > maxBootFile {
				return nil, fmt.Errorf("bootloader files %s: /%s is %d bytes, more than %d", tarPath, name, h.Size, maxBootFile)
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxBootFile))
			if err != nil {
				return nil, fmt.Errorf("bootloader files %s: /%s: %w", tarPath, name, err)
			}
			out[name] = b
		case tar.TypeSymlink:
			t := h.Linkname
			if !path.IsAbs(t) {
				t = path.Join(path.Dir("/"+name), t)
			}
			links[name] = cleanTarName(t)
		case tar.TypeLink:
			links[name] = cleanTarName(h.Linkname)
		default:
			return nil, fmt.Errorf("bootloader files %s: /%s is not a regular file", tarPath, name)
		}
	}
}
