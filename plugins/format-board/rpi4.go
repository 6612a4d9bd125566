package formatboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/plugins/internal/bootimages"
	"github.com/kitbuild/kit/plugins/internal/fat"
	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/plugins/internal/partition"
	"github.com/kitbuild/kit/sdk"
)

// Name is the plugin's name: its binary is kit-plugin-format-board.
const Name = "format-board"

// Version is the plugin's version.
const Version = "0.1.0"

// RPi4Name is the Raspberry Pi 4 format's name, RPi4Suffix its output's.
const (
	RPi4Name   = "rpi4"
	RPi4Suffix = "-rpi4.img"
)

// ImageRPiFirmware is the name of the firmware image rpi4 needs.
const ImageRPiFirmware = bootimages.RPiFirmware

// Names of the files on the boot partition.
const (
	KernelName  = "kernel8.img"
	InitrdName  = "initrd.img"
	ConfigName  = "config.txt"
	CmdlineName = "cmdline.txt"
)

// ConfigTxt is config.txt: 64-bit mode, the kernel and initramfs by name,
// and the mini UART enabled as a serial console.
const ConfigTxt = `# Raspberry Pi 4 boot configuration, written by kit
arm_64bit=1
kernel=` + KernelName + `
initramfs ` + InitrdName + ` followkernel
enable_uart=1
`

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the formats the plugin serves: rpi4.
func Formats() []sdk.Format {
	return []sdk.Format{RPi4{}}
}

const (
	mib       = 1 << 20
	partStart = mib // the boot partition's offset (LBA 2048)
	sector    = 512
)

// RPi4 is the rpi4 format (see the package doc).
type RPi4 struct{}

var _ sdk.Format = RPi4{}

// rpi4Derived describes the derived disk size for the schema.
const rpi4Derived = "1 MiB before the boot partition, then the partition: the smallest FAT32 file system holding the boot files, rounded up to a whole MiB, plus 1 MiB free"

// Info describes the format.
func (RPi4) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:    RPi4Name,
		Version: "1",
		Outputs: []sdk.Output{{Suffix: RPi4Suffix, MediaType: formatdisk.MediaTypeRaw}},
		// rootfs.tar for the kernel's device trees (boot/dtb).
		Needs:        []string{sdk.InputKernel, sdk.InputInitrd, sdk.InputCmdline, sdk.InputRootfs},
		Images:       []sdk.Image{{Name: ImageRPiFirmware, Default: bootimages.MustRef(bootimages.RPiFirmware)}},
		ConfigSchema: formatdisk.DiskSizeSchema(rpi4Derived),
	}
}

// ErrTooSmall is returned (wrapped) when diskSize cannot hold the boot
// files.
var ErrTooSmall = errors.New("disk size too small")

// Build writes the disk image into the scratch directory.
func (RPi4) Build(ctx context.Context, req *sdk.BuildRequest) (_ []sdk.File, err error) {
	if req.Arch != "arm64" {
		return nil, fmt.Errorf("rpi4: arch %q is not supported: Raspberry Pi 4 boot media hold an arm64 kernel; build with --arch arm64", req.Arch)
	}
	cfg, err := formatdisk.DecodeDiskSize(req.Config)
	if err != nil {
		return nil, err
	}
	kernel, err := fmtutil.Input(req, sdk.InputKernel)
	if err != nil {
		return nil, fmt.Errorf("%w (does the spec have a kernel?)", err)
	}
	if err := checkKernel(kernel); err != nil {
		return nil, err
	}
	initrd, err := fmtutil.Input(req, sdk.InputInitrd)
	if err != nil {
		return nil, err
	}
	cmdline, err := fmtutil.Cmdline(req)
	if err != nil {
		return nil, err
	}
	fw, ok := req.Images[ImageRPiFirmware]
	if !ok || fw.Path == "" {
		return nil, fmt.Errorf("image %s is missing", ImageRPiFirmware)
	}
	firmware, fwDTBs, err := readFirmware(ctx, fw.Path)
	if err != nil {
		return nil, err
	}
	dtbs := fwDTBs
	dtbSource := "image " + ImageRPiFirmware
	if rootfs, ok := req.Inputs[sdk.InputRootfs]; ok && rootfs.Path != "" {
		own, err := ReadTarFiles(ctx, rootfs.Path, kernelDTB)
		if err != nil {
			return nil, fmt.Errorf("input %s: device trees: %w", sdk.InputRootfs, err)
		}
		if len(own) > 0 {
			if dtbs, err = byBaseName(own); err != nil {
				return nil, fmt.Errorf("input %s: %w", sdk.InputRootfs, err)
			}
			dtbSource = "the kernel (" + sdk.InputRootfs + ")"
		}
	}
	if len(dtbs) == 0 {
		return nil, fmt.Errorf("no bcm2711-*.dtb device tree: neither the root filesystem (boot/dtb/broadcom/) nor image %s (%s) holds one", ImageRPiFirmware, fw.Ref)
	}

	k, err := fat.HostFile(KernelName, kernel)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputKernel, err)
	}
	i, err := fat.HostFile(InitrdName, initrd)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", sdk.InputInitrd, err)
	}
	files := []fat.File{
		k, i,
		fat.Bytes(ConfigName, []byte(ConfigTxt)),
		fat.Bytes(CmdlineName, []byte(cmdline+"\n")),
	}
	for _, m := range []map[string][]byte{firmware, dtbs} {
		for _, n := range sortedKeys(m) {
			files = append(files, fat.Bytes(n, m[n]))
		}
	}

	f, err := fmtutil.Create(req, "disk"+RPi4Suffix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("output: %w", cerr)
		}
	}()
	size, err := WriteDisk(ctx, f, files, cfg.DiskSize, req.SourceDateEpoch)
	if err != nil {
		return nil, fmt.Errorf("rpi4: %w", err)
	}
	if req.Log != nil {
		req.Log.Info("rpi4 boot media written", "size", size, "firmware", fw.Ref, "dtbs", strings.Join(sortedKeys(dtbs), " "), "dtbSource", dtbSource)
	}
	return []sdk.File{{Suffix: RPi4Suffix, Path: f.Name()}}, nil
}

// WriteDisk writes an MBR disk image of diskSize bytes (0: derived from the
// files) to w, which must read as zeros where nothing is written, with one
// FAT32 partition (type 0x0C) from 1 MiB holding files, and returns the
// disk's size. A diskSize too small for the files is an error wrapping
// ErrTooSmall that says the size needed.
func WriteDisk(ctx context.Context, w io.WriterAt, files []fat.File, diskSize, sourceDateEpoch int64) (int64, error) {
	opts := []fat.Option{
		fat.WithType(fat.FAT32), fat.WithLabel("BOOT"),
		fat.WithSourceDateEpoch(sourceDateEpoch), fat.WithHiddenSectors(partStart / sector),
	}
	need, err := fat.MinSize(files, opts...)
	if err != nil {
		return 0, err
	}
	var partSize int64
	if diskSize == 0 {
		partSize = (need+mib-1)/mib*mib + mib
		diskSize = partStart + partSize
	} else {
		if diskSize < 0 || diskSize%sector != 0 {
			return 0, fmt.Errorf("disk size %d is not a positive multiple of %d bytes", diskSize, sector)
		}
		partSize = diskSize/mib*mib - partStart
	}
	var vol *fat.Volume
	if partSize > 0 {
		vol, err = fat.Plan(partSize, files, opts...)
	}
	if partSize <= 0 || errors.Is(err, fat.ErrNoSpace) {
		min := partStart + (need+mib-1)/mib*mib
		return 0, fmt.Errorf("disk size %d bytes: the boot partition needs at least %d bytes, a disk of %d (%d MiB): %w", diskSize, need, min, min/mib, ErrTooSmall)
	}
	if err != nil {
		return 0, err
	}
	// The last sector first, so that a file has the disk's full length.
	if _, err := w.WriteAt(make([]byte, sector), diskSize-sector); err != nil {
		return 0, fmt.Errorf("writing the last sector: %w", err)
	}
	written, err := vol.Write(ctx, io.NewOffsetWriter(w, partStart))
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	h.Write([]byte("kit-rpi4\x00"))
	h.Write(written.Digest[:])
	binary.Write(h, binary.LittleEndian, []int64{diskSize, partSize})
	err = partition.WriteMBR(ctx, w, diskSize, partition.MBR{
		DiskSignature: partition.DiskSignature(h.Sum(nil)),
		Partitions: []partition.MBRPartition{{
			Type: partition.MBRTypeFAT32LBA, Start: partStart / sector, Sectors: uint32(partSize / sector),
		}},
	})
	if err != nil {
		return 0, err
	}
	return diskSize, nil
}

// arm64ImageMagic is at offset 56 of an arm64 kernel Image's header.
var arm64ImageMagic = []byte("ARM\x64")

// checkKernel refuses a kernel the firmware cannot start as kernel8.img:
// one that is neither an arm64 Image nor gzip'd (an x86 bzImage, or an
// arm64 EFI zboot image, which only an EFI loader unpacks).
func checkKernel(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("input %s: %w", sdk.InputKernel, err)
	}
	defer f.Close()
	hdr := make([]byte, 64)
	n, _ := io.ReadFull(f, hdr)
	if KernelKind(hdr[:n]) == "" {
		return fmt.Errorf("input %s: not an arm64 kernel Image (no %q at offset 56) nor a gzip'd one: the Raspberry Pi firmware cannot start it", sdk.InputKernel, arm64ImageMagic)
	}
	return nil
}

// KernelKind says what the start of a kernel file is: "Image" (an arm64
// Image), "gzip" or "" (neither).
func KernelKind(hdr []byte) string {
	switch {
	case len(hdr) >= 60 && bytes.Equal(hdr[56:60], arm64ImageMagic):
		return "Image"
	case len(hdr) >= 2 && hdr[0] == 0x1f && hdr[1] == 0x8b:
		return "gzip"
	}
	return ""
}

// Where the firmware image keeps its files (Debian's paths).
var (
	// firmwareFile matches the Pi 4's GPU firmware: start4*.elf and
	// fixup4*.dat.
	firmwareFile = regexp.MustCompile(`^usr/lib/raspi-firmware/(start4[a-z]*\.elf|fixup4[a-z]*\.dat)$`)
	// imageDTB matches the device trees of Debian's arm64 kernel.
	imageDTB = regexp.MustCompile(`^usr/lib/linux-image-[^/]+/broadcom/bcm2711-[^/]+\.dtb$`)
	// kernelDTBPattern matches the kernel's device trees in the rootfs.
	kernelDTBPattern = regexp.MustCompile(`^(boot/dtb/broadcom|usr/lib/linux-image-[^/]+/broadcom)/bcm2711-[^/]+\.dtb$`)
)

func kernelDTB(name string) bool { return kernelDTBPattern.MatchString(name) }

// readFirmware reads the firmware files and the device trees (by base
// name) from the firmware image's tar.
func readFirmware(ctx context.Context, tarPath string) (firmware, dtbs map[string][]byte, err error) {
	got, err := ReadTarFiles(ctx, tarPath, func(n string) bool {
		return firmwareFile.MatchString(n) || imageDTB.MatchString(n)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ImageRPiFirmware, err)
	}
	firmware, rest := map[string][]byte{}, map[string][]byte{}
	for n, b := range got {
		if firmwareFile.MatchString(n) {
			firmware[path.Base(n)] = b
		} else {
			rest[n] = b
		}
	}
	for _, want := range []string{"start4.elf", "fixup4.dat"} {
		if _, ok := firmware[want]; !ok {
			return nil, nil, fmt.Errorf("image %s: /usr/lib/raspi-firmware/%s not found (is it the rpi-firmware image?)", ImageRPiFirmware, want)
		}
	}
	dtbs, err = byBaseName(rest)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ImageRPiFirmware, err)
	}
	return firmware, dtbs, nil
}

// byBaseName keys files by base name, refusing two different files of one
// name (device trees of two kernel versions).
func byBaseName(files map[string][]byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	from := map[string]string{}
	for _, n := range sortedKeys(files) {
		b := path.Base(n)
		if prev, ok := from[b]; ok && !bytes.Equal(out[b], files[n]) {
			return nil, fmt.Errorf("two different device trees named %s: /%s and /%s", b, prev, n)
		}
		out[b], from[b] = files[n], n
	}
	return out, nil
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
