package isoboot

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kitbuild/kit/plugins/internal/iso9660"
)

// Input is what a bootable ISO is made of.
type Input struct {
	// Kernel and Initrd are paths of the kernel (an x86 bzImage, EFI stub
	// included for EFI) and its initrd.
	Kernel, Initrd string
	// Cmdline is the kernel command line.
	Cmdline string
	// Bootloaders are paths of tars (kit's normalized tars of the
	// bootloader images) searched in order for the Debian paths above.
	Bootloaders []string
	// SourceDateEpoch dates everything the image records.
	SourceDateEpoch int64
}

// Names of the kernel and initrd in the ISO tree and in the ESP.
const (
	KernelPath = "boot/kernel"
	InitrdPath = "boot/initrd.img"
)

// Option sets an optional property of a built ISO.
type Option func(*options)

type options struct {
	volumeID string
	noHybrid bool
	extra    []iso9660.Entry
}

// WithVolumeID sets the ISO volume identifier (default "KIT").
func WithVolumeID(id string) Option { return func(o *options) { o.volumeID = id } }

// WithoutHybridMBR leaves the isohybrid MBR out of a BIOS image (which then
// boots as a CD only).
func WithoutHybridMBR() Option { return func(o *options) { o.noHybrid = true } }

// WithEntries adds entries (e.g. a root filesystem) to the ISO tree
// beside the boot files.
func WithEntries(entries ...iso9660.Entry) Option {
	return func(o *options) { o.extra = append(o.extra, entries...) }
}

func newOptions(opts []Option) options {
	o := options{volumeID: "KIT"}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// IsolinuxCfg is the ISOLINUX configuration BIOS writes: the serial
// console first (0, 115200 baud), then straight to the kernel with no
// prompt.
func IsolinuxCfg(cmdline string) string {
	return "SERIAL 0 115200\nDEFAULT kit\nPROMPT 0\nTIMEOUT 0\nLABEL kit\n  KERNEL /" + KernelPath +
		"\n  INITRD /" + InitrdPath + "\n  APPEND " + oneLine(cmdline) + "\n"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// BIOS writes to w an ISO that boots in's kernel through ISOLINUX: isolinux/
// holds isolinux.bin (the El Torito no-emulation image, with its boot
// info table), ldlinux.c32, isolinux.cfg and the boot catalog; boot/ holds
// the kernel, the initrd and the command line. The image carries an
// isohybrid MBR (from isohdpfx.bin) unless WithoutHybridMBR is given.
func BIOS(ctx context.Context, w io.Writer, in Input, opts ...Option) error {
	o := newOptions(opts)
	bl, err := openBootloaders(ctx, in.Bootloaders)
	if err != nil {
		return fmt.Errorf("iso-bios: %w", err)
	}
	defer bl.Close()
	isoOpts := []iso9660.Option{iso9660.WithVolumeID(o.volumeID), iso9660.WithBIOSBoot("isolinux/isolinux.bin"),
		iso9660.WithBootCatalog("isolinux/boot.cat")}
	if !o.noHybrid {
		mbr, err := readAll(ctx, bl, IsohdpfxBin)
		if err != nil {
			return fmt.Errorf("iso-bios: %w", err)
		}
		isoOpts = append(isoOpts, iso9660.WithHybridMBR(mbr))
	}
	im := iso9660.New(in.SourceDateEpoch, isoOpts...)
	for _, f := range []struct{ iso, deb string }{
		{"isolinux/isolinux.bin", IsolinuxBin},
		{"isolinux/ldlinux.c32", LdlinuxC32},
	} {
		src, err := bl.file(f.deb)
		if err != nil {
			return fmt.Errorf("iso-bios: %w", err)
		}
		if err := im.Add(iso9660.Entry{Path: f.iso, Type: iso9660.TypeFile, Mode: 0o444, Data: src}); err != nil {
			return fmt.Errorf("iso-bios: %w", err)
		}
	}
	if err := im.Add(iso9660.Entry{Path: "isolinux/isolinux.cfg", Type: iso9660.TypeFile, Mode: 0o444,
		Data: iso9660.BytesSource([]byte(IsolinuxCfg(in.Cmdline)))}); err != nil {
		return fmt.Errorf("iso-bios: %w", err)
	}
	if err := addKernel(im, in, o); err != nil {
		return fmt.Errorf("iso-bios: %w", err)
	}
	if _, err := im.Write(ctx, w); err != nil {
		return fmt.Errorf("iso-bios: %w", err)
	}
	return nil
}

// ESP is the FAT image of an EFI system partition.
type ESP struct {
	R    io.ReaderAt
	Size int64
}

// EFIImagePath is where EFI puts the ESP image in the ISO tree.
const EFIImagePath = "boot/efi.img"

// EFI writes to w an ISO whose El Torito entry for platform 0xEF is esp (a
// FAT image holding ESPFiles(in)); the kernel, initrd and command line are
// in the ISO tree too (boot/), beside boot/efi.img and the boot catalog.
func EFI(ctx context.Context, w io.Writer, in Input, esp ESP, opts ...Option) error {
	o := newOptions(opts)
	im := iso9660.New(in.SourceDateEpoch, iso9660.WithVolumeID(o.volumeID),
		iso9660.WithEFIBoot(EFIImagePath), iso9660.WithBootCatalog("boot/boot.cat"))
	if err := im.Add(iso9660.Entry{Path: EFIImagePath, Type: iso9660.TypeFile, Mode: 0o444,
		Data: iso9660.ReaderAtSource(esp.R, esp.Size)}); err != nil {
		return fmt.Errorf("iso-efi: %w", err)
	}
	if err := addKernel(im, in, o); err != nil {
		return fmt.Errorf("iso-efi: %w", err)
	}
	if _, err := im.Write(ctx, w); err != nil {
		return fmt.Errorf("iso-efi: %w", err)
	}
	return nil
}

func addKernel(im *iso9660.Image, in Input, o options) error {
	for _, f := range []struct{ iso, host string }{{KernelPath, in.Kernel}, {InitrdPath, in.Initrd}} {
		src, err := iso9660.FileSource(f.host)
		if err != nil {
			return err
		}
		if err := im.Add(iso9660.Entry{Path: f.iso, Type: iso9660.TypeFile, Mode: 0o444, Data: src}); err != nil {
			return err
		}
	}
	if err := im.Add(iso9660.Entry{Path: "boot/cmdline", Type: iso9660.TypeFile, Mode: 0o444,
		Data: iso9660.BytesSource([]byte(oneLine(in.Cmdline) + "\n"))}); err != nil {
		return err
	}
	for _, e := range o.extra {
		if err := im.Add(e); err != nil {
			return err
		}
	}
	return nil
}

func readAll(ctx context.Context, bl *bootloaders, name string) ([]byte, error) {
	src, err := bl.file(name)
	if err != nil {
		return nil, err
	}
	rc, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
