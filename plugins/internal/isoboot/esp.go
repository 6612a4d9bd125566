package isoboot

import (
	"context"
	"fmt"
	"io"

	"github.com/kitbuild/kit/plugins/internal/iso9660"
)

// File is one file of the ESP image.
type File struct {
	// Path is relative to the ESP's root, with slashes ("EFI/BOOT/BOOTX64.EFI").
	Path string
	Size int64
	// Open reads the file's Size bytes.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Paths in the ESP.
const (
	ESPBootloader = "EFI/BOOT/BOOTX64.EFI"
	ESPLoaderConf = "loader/loader.conf"
	ESPEntry      = "loader/entries/kit.conf"
	ESPKernel     = "kernel"
	ESPInitrd     = "initrd.img"
)

// LoaderConf is systemd-boot's loader.conf: no menu, straight to kit.conf.
const LoaderConf = "timeout 0\ndefault kit.conf\n"

// EntryConf is the systemd-boot entry for the kernel, initrd and cmdline.
func EntryConf(cmdline string) string {
	return "title kit\nlinux /" + ESPKernel + "\ninitrd /" + ESPInitrd + "\noptions " + oneLine(cmdline) + "\n"
}

// ESPFiles lists what the ESP image given to EFI must hold, in path order:
// systemd-boot as the removable-media bootloader, its configuration and
// entry, the kernel and the initrd. The returned files read from in's
// bootloader tars and host files until close is called.
func ESPFiles(ctx context.Context, in Input) (files []File, close func() error, err error) {
	bl, err := openBootloaders(ctx, in.Bootloaders)
	if err != nil {
		return nil, nil, fmt.Errorf("esp: %w", err)
	}
	sd, err := bl.file(SystemdBootX64)
	if err != nil {
		bl.Close()
		return nil, nil, fmt.Errorf("esp: %w", err)
	}
	kernel, err := iso9660.FileSource(in.Kernel)
	if err != nil {
		bl.Close()
		return nil, nil, fmt.Errorf("esp: kernel: %w", err)
	}
	initrd, err := iso9660.FileSource(in.Initrd)
	if err != nil {
		bl.Close()
		return nil, nil, fmt.Errorf("esp: initrd: %w", err)
	}
	file := func(p string, s iso9660.Source) File { return File{Path: p, Size: s.Size(), Open: s.Open} }
	files = []File{
		file(ESPBootloader, sd),
		file(ESPInitrd, initrd),
		file(ESPKernel, kernel),
		file(ESPEntry, iso9660.BytesSource([]byte(EntryConf(in.Cmdline)))),
		file(ESPLoaderConf, iso9660.BytesSource([]byte(LoaderConf))),
	}
	return files, bl.Close, nil
}
