package imagegen

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/u-root/u-root/pkg/cpio"
)

// KernelOptions shape a synthetic kernel image.
type KernelOptions struct {
	// Version is the module directory name; default "6.6.13-linuxkit".
	Version string
	// Arch is "amd64" (default) or "arm64".
	Arch string
	// Size is the size of the kernel binary in bytes; default 64 KiB.
	Size int
	// UCode adds intel-ucode.cpio.
	UCode bool
	// SystemMap adds System.map.
	SystemMap bool
	// OCI selects OCI media types.
	OCI bool
}

func (o KernelOptions) withDefaults() KernelOptions {
	if o.Version == "" {
		o.Version = "6.6.13-linuxkit"
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Size <= 0 {
		o.Size = 64 << 10
	}
	if o.Size < 1024 {
		o.Size = 1024
	}
	return o
}

// KernelFiles returns the files of the kernel image Kernel(o) builds: name →
// contents, for "kernel", "kernel.tar" and, when asked for,
// "intel-ucode.cpio" and "System.map".
func KernelFiles(o KernelOptions) (map[string][]byte, error) {
	o = o.withDefaults()
	out := map[string][]byte{"kernel": kernelBinary(o)}

	mod := "lib/modules/" + o.Version + "/"
	tarFiles := []File{
		Reg(mod+"kernel/drivers/net/dummy.ko", "fake module dummy "+o.Version+"\n"),
		Reg(mod+"kernel/fs/kitfs.ko", "fake module kitfs "+o.Version+"\n"),
		Reg(mod+"modules.dep", "kernel/drivers/net/dummy.ko:\nkernel/fs/kitfs.ko:\n"),
		Reg(mod+"modules.order", "kernel/drivers/net/dummy.ko\nkernel/fs/kitfs.ko\n"),
	}
	if o.Arch == "arm64" {
		tarFiles = append(tarFiles, Reg("boot/dtb/broadcom/bcm2710-rpi-3-b.dtb", "\xd0\x0d\xfe\xedfake dtb\n"))
	}
	t, err := Tar(WithParents(tarFiles...)...)
	if err != nil {
		return nil, err
	}
	out["kernel.tar"] = t

	if o.UCode {
		var buf bytes.Buffer
		w := cpio.Newc.Writer(&buf)
		recs := []cpio.Record{
			cpio.Directory("kernel", 0o755),
			cpio.Directory("kernel/x86", 0o755),
			cpio.Directory("kernel/x86/microcode", 0o755),
			cpio.StaticFile("kernel/x86/microcode/GenuineIntel.bin", "fake microcode\n", 0o644),
		}
		cpio.MakeAllReproducible(recs)
		if err := cpio.WriteRecords(w, recs); err != nil {
			return nil, fmt.Errorf("imagegen: ucode cpio: %w", err)
		}
		if err := cpio.WriteTrailer(w); err != nil {
			return nil, fmt.Errorf("imagegen: ucode cpio: %w", err)
		}
		out["intel-ucode.cpio"] = buf.Bytes()
	}
	if o.SystemMap {
		out["System.map"] = []byte("ffffffff81000000 T _text\nffffffff81000000 T startup_64\n")
	}
	return out, nil
}

// kernelBinary returns deterministic pseudo-random bytes carrying the magic
// numbers of a bzImage (amd64) or an arm64 Image header.
func kernelBinary(o KernelOptions) []byte {
	b := make([]byte, o.Size)
	var seed [32]byte
	copy(seed[:], "kernel "+o.Version+" "+o.Arch)
	rand.NewChaCha8(seed).Read(b)
	if o.Arch == "arm64" {
		copy(b[0x38:], "ARM\x64")
	} else {
		b[0x1fe], b[0x1ff] = 0x55, 0xaa
		copy(b[0x202:], "HdrS")
	}
	return b
}

// Kernel returns a LinuxKit-style kernel image: one layer with the files of
// KernelFiles at its root, no entrypoint.
func Kernel(o KernelOptions) (v1.Image, error) {
	o = o.withDefaults()
	files, err := KernelFiles(o)
	if err != nil {
		return nil, err
	}
	var entries []File
	for _, n := range []string{"System.map", "intel-ucode.cpio", "kernel", "kernel.tar"} {
		if b, ok := files[n]; ok {
			entries = append(entries, File{Name: n, Body: b})
		}
	}
	return Image(Config{Platform: "linux/" + o.Arch, OCI: o.OCI}, entries)
}
