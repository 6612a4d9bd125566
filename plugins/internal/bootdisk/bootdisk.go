package bootdisk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kitbuild/kit/plugins/internal/fat"
	"github.com/kitbuild/kit/plugins/internal/partition"
)

// Names of the payload on the boot partition.
const (
	KernelName = "kernel"
	InitrdName = "initrd.img"
)

const (
	mib = 1 << 20
	// partStart is where the boot partition begins (1 MiB, LBA 2048).
	partStart = mib
	sector    = 512
)

// Input is what a boot disk is made of.
type Input struct {
	// Kernel is the path of the kernel image (a bzImage with an EFI stub
	// for RawEFI).
	Kernel string
	// Initrd is the path of the initial ramdisk; empty boots without one.
	Initrd string
	// Cmdline is the kernel command line (one line).
	Cmdline string
	// Bootloader is the path of a tar of the bootloader image's root file
	// system (plugins/packages/syslinux or systemd-boot); the files are
	// read by their Debian paths (SyslinuxMBR, SystemdBootEFI, ...).
	Bootloader string
	// SourceDateEpoch is the time of every file on the disk (Unix seconds).
	SourceDateEpoch int64
	// DiskSize is the size of the disk in bytes, a multiple of 512; 0
	// derives it from the content: the smallest boot partition that holds
	// the files, rounded up to a whole MiB, plus 1 MiB of free space, plus
	// the 1 MiB before it (and 1 MiB after it on a GPT disk for the backup
	// table). A size too small for the content is an error.
	DiskSize int64
}

// Result describes a written disk.
type Result struct {
	// Size is the disk's size in bytes; the last byte has been written.
	Size int64
	// PartitionOffset and PartitionSize place the boot partition, in bytes.
	PartitionOffset int64
	PartitionSize   int64
	// FAT is the variant of the boot partition's file system.
	FAT fat.Type
}

// ErrTooSmall is returned (wrapped) when Input.DiskSize cannot hold the
// boot files.
var ErrTooSmall = errors.New("disk size too small")

// RawEFI writes a GPT disk with one EFI System Partition holding
// systemd-boot as the removable-media loader EFI/BOOT/BOOTX64.EFI,
// loader/loader.conf, loader/entries/kit.conf (booting /kernel with
// /initrd.img and the command line), and the kernel and initrd. The ESP is
// FAT32 as the UEFI specification asks of fixed disks, so it is at least
// about 33 MiB (65525 clusters). w must read as zeros where nothing is
// written (a new or truncated file).
func RawEFI(ctx context.Context, w io.WriterAt, in Input) (*Result, error) {
	if err := checkCmdline(in.Cmdline); err != nil {
		return nil, err
	}
	boot, err := readBootFiles(ctx, in.Bootloader, SystemdBootEFI)
	if err != nil {
		return nil, fmt.Errorf("raw-efi: %w", err)
	}
	files, err := payload(in)
	if err != nil {
		return nil, fmt.Errorf("raw-efi: %w", err)
	}
	entry := "title kit\nlinux /" + KernelName + "\n"
	if in.Initrd != "" {
		entry += "initrd /" + InitrdName + "\n"
	}
	if in.Cmdline != "" {
		entry += "options " + in.Cmdline + "\n"
	}
	files = append(files,
		fat.Bytes("EFI/BOOT/BOOTX64.EFI", boot[SystemdBootEFI]),
		fat.Bytes("loader/loader.conf", []byte("default kit.conf\ntimeout 0\neditor no\n")),
		fat.Bytes("loader/entries/kit.conf", []byte(entry)),
	)
	d, err := planDisk(in, true, files, fat.WithType(fat.FAT32), fat.WithLabel("EFI"))
	if err != nil {
		return nil, fmt.Errorf("raw-efi: %w", err)
	}
	written, err := d.writeVolume(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("raw-efi: %w", err)
	}
	seed := d.seed("raw-efi", written)
	err = partition.WriteGPT(ctx, w, d.size, partition.GPT{
		Seed: seed,
		Partitions: []partition.GPTPartition{{
			Type:     partition.TypeEFISystem,
			Name:     "EFI System Partition",
			FirstLBA: uint64(partStart / sector),
			LastLBA:  uint64((partStart+d.partSize)/sector - 1),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("raw-efi: %w", err)
	}
	return d.result(), nil
}

// RawBIOS writes an MBR disk with SYSLINUX's MBR code and one bootable FAT
// partition on which SYSLINUX is installed the way its installer does it:
// ldlinux.sys (patched with its own sector list and checksum, followed by an
// empty ADV), the FAT boot sector code that loads it, ldlinux.c32, and
// syslinux.cfg (serial console on ttyS0 at 115200, booting /kernel with
// /initrd.img and the command line at once), plus the kernel and initrd. w
// must read as zeros where nothing is written (a new or truncated file).
func RawBIOS(ctx context.Context, w io.WriterAt, in Input) (*Result, error) {
	if err := checkCmdline(in.Cmdline); err != nil {
		return nil, err
	}
	boot, err := readBootFiles(ctx, in.Bootloader, SyslinuxMBR, SyslinuxLdlinuxC32, SyslinuxInstaller)
	if err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	if n := len(boot[SyslinuxMBR]); n > partition.BootCodeSize {
		return nil, fmt.Errorf("raw-bios: /%s is %d bytes, more than the %d of MBR boot code", SyslinuxMBR, n, partition.BootCodeSize)
	}
	sysBS, image, err := extractSyslinux(boot[SyslinuxInstaller])
	if err != nil {
		return nil, fmt.Errorf("raw-bios: /%s: %w", SyslinuxInstaller, err)
	}
	ldlinux := append(image, emptyADV()...)
	files, err := payload(in)
	if err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	files = append(files,
		fat.File{Path: "LDLINUX.SYS", Size: int64(len(ldlinux)), Open: fat.Bytes("", ldlinux).Open, Attr: fat.ReadOnly | fat.Hidden | fat.System},
		fat.Bytes("LDLINUX.C32", boot[SyslinuxLdlinuxC32]),
		fat.Bytes("SYSLINUX.CFG", []byte(syslinuxConfig(in))),
	)
	d, err := planDisk(in, false, files)
	if err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	ext, err := d.vol.Extent("LDLINUX.SYS")
	if err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	// ldlinux.sys is patched before the volume is written: Open reads the
	// slice when the file is copied.
	if err := patchSyslinux(ldlinux, len(image), &sysBS, ext.Sectors()); err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	written, err := d.writeVolume(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	bs := written.BootSector
	mergeBootSector(&bs, sysBS)
	if err := d.vol.WriteBootSector(ctx, io.NewOffsetWriter(w, partStart), bs); err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	typ := partition.MBRTypeFAT32LBA
	if d.vol.Type() == fat.FAT16 {
		typ = partition.MBRTypeFAT16LBA
	}
	err = partition.WriteMBR(ctx, w, d.size, partition.MBR{
		BootCode:      boot[SyslinuxMBR],
		DiskSignature: partition.DiskSignature(d.seed("raw-bios", written)),
		Partitions: []partition.MBRPartition{{
			Type: typ, Start: partStart / sector, Sectors: uint32(d.partSize / sector), Bootable: true,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("raw-bios: %w", err)
	}
	return d.result(), nil
}

// syslinuxConfig is syslinux.cfg: serial console, no prompt, one entry.
func syslinuxConfig(in Input) string {
	var b strings.Builder
	b.WriteString("SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT kit\n\nLABEL kit\n")
	b.WriteString("  LINUX /" + KernelName + "\n")
	if in.Initrd != "" {
		b.WriteString("  INITRD /" + InitrdName + "\n")
	}
	b.WriteString("  APPEND " + in.Cmdline + "\n")
	return b.String()
}

func checkCmdline(c string) error {
	if strings.ContainsAny(c, "\n\r\x00") {
		return fmt.Errorf("bootdisk: the kernel command line must be one line without NUL bytes")
	}
	return nil
}

// payload is the kernel and initrd as FAT files.
func payload(in Input) ([]fat.File, error) {
	if in.Kernel == "" {
		return nil, fmt.Errorf("no kernel given")
	}
	k, err := fat.HostFile(KernelName, in.Kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	files := []fat.File{k}
	if in.Initrd != "" {
		i, err := fat.HostFile(InitrdName, in.Initrd)
		if err != nil {
			return nil, fmt.Errorf("initrd: %w", err)
		}
		files = append(files, i)
	}
	return files, nil
}

// disk is a planned disk: its size and the boot volume.
type disk struct {
	size     int64
	partSize int64
	vol      *fat.Volume
}

// planDisk sizes the disk and plans the boot volume. The partition starts
// at 1 MiB and ends on a MiB boundary, before the backup GPT on a GPT disk.
func planDisk(in Input, gpt bool, files []fat.File, opts ...fat.Option) (*disk, error) {
	opts = append([]fat.Option{fat.WithSourceDateEpoch(in.SourceDateEpoch), fat.WithHiddenSectors(partStart / sector)}, opts...)
	// tail is what must follow the partition: the backup GPT.
	tail := int64(0)
	if gpt {
		tail = mib
	}
	d := &disk{size: in.DiskSize}
	if d.size == 0 {
		n, err := fat.MinSize(files, opts...)
		if err != nil {
			return nil, err
		}
		d.partSize = (n+mib-1)/mib*mib + mib
		d.size = partStart + d.partSize + tail
	} else {
		if d.size < 0 || d.size%sector != 0 {
			return nil, fmt.Errorf("disk size %d is not a positive multiple of %d bytes", d.size, sector)
		}
		end := d.size
		if gpt {
			_, last := partition.UsableLBAs(d.size)
			end = int64(last+1) * sector
		}
		d.partSize = (end/mib)*mib - partStart
	}
	var err error
	if d.partSize > 0 {
		d.vol, err = fat.Plan(d.partSize, files, opts...)
	}
	if d.partSize <= 0 || errors.Is(err, fat.ErrNoSpace) {
		n, merr := fat.MinSize(files, opts...)
		if merr != nil {
			return nil, merr
		}
		need := partStart + (n+mib-1)/mib*mib + tail
		return nil, fmt.Errorf("disk size %d bytes: the boot partition needs at least %d bytes, a disk of %d (%d MiB): %w", in.DiskSize, n, need, need/mib, ErrTooSmall)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// writeVolume writes the last sector of the disk (so that a file has its
// full length) and then the boot volume.
func (d *disk) writeVolume(ctx context.Context, w io.WriterAt) (*fat.Written, error) {
	if _, err := w.WriteAt(make([]byte, sector), d.size-sector); err != nil {
		return nil, fmt.Errorf("writing the last sector: %w", err)
	}
	return d.vol.Write(ctx, io.NewOffsetWriter(w, partStart))
}

// seed derives the disk's identifiers from the boot volume's content
// digest and the disk layout.
func (d *disk) seed(kind string, written *fat.Written) []byte {
	h := sha256.New()
	h.Write([]byte("kit-bootdisk\x00" + kind + "\x00"))
	h.Write(written.Digest[:])
	binary.Write(h, binary.LittleEndian, []int64{d.size, d.partSize})
	return h.Sum(nil)
}

func (d *disk) result() *Result {
	return &Result{Size: d.size, PartitionOffset: partStart, PartitionSize: d.partSize, FAT: d.vol.Type()}
}
