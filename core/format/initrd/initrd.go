package initrd

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/format/initramfs"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/assemble"
)

func init() {
	format.MustRegister(KernelInitrd{})
	format.MustRegister(TarKernelInitrd{})
}

// version is shared by both formats: bump it when the initramfs bytes
// change (initramfs conversion, gzip parameters, klauspost/compress).
const version = "3"

// maxCmdline bounds the command line read into memory.
const maxCmdline = 1 << 20

// KernelInitrd is the "kernel+initrd" format: the kernel as is; the
// initrd, made of the kernel's microcode cpio (uncompressed, when there is
// one) followed by the root filesystem as a gzip-compressed newc cpio
// without boot/ (see initramfs.Write and initramfs.SkipBoot); and the
// kernel command line. Kernel and command line are the assemble step's
// blobs, renamed, not copied.
type KernelInitrd struct{}

var _ format.Format = KernelInitrd{}

// Name implements format.Format.
func (KernelInitrd) Name() string { return "kernel+initrd" }

// Version implements format.Format.
func (KernelInitrd) Version() string { return version }

// ReadsRecipe implements format.RecipeReader.
func (KernelInitrd) ReadsRecipe() {}

// Outputs implements format.Format.
func (KernelInitrd) Outputs() []string { return []string{"-kernel", "-initrd.img", "-cmdline"} }

// Write implements format.Format.
func (f KernelInitrd) Write(ctx context.Context, x graph.Exec, in format.Input, opts format.Options) ([]graph.Output, error) {
	if !format.Has(in.Kernel) {
		return nil, errNoKernel(f.Name())
	}
	img, err := format.WriteBlob(ctx, x, "-initrd.img", format.MediaTypeBinary, func(w io.Writer) error {
		if format.Has(in.UCode) {
			if err := format.CopyBlob(ctx, x, w, in.UCode); err != nil {
				return fmt.Errorf("microcode: %w", err)
			}
		}
		return writeInitramfs(ctx, x, w, in, opts)
	})
	if err != nil {
		return nil, err
	}
	var cmdline graph.Output
	if format.Has(in.Cmdline) {
		cmdline = format.Rename(in.Cmdline, "-cmdline", format.MediaTypeText)
	} else if cmdline, err = format.WriteBlob(ctx, x, "-cmdline", format.MediaTypeText, func(io.Writer) error { return nil }); err != nil {
		return nil, err
	}
	return []graph.Output{format.Rename(in.Kernel, "-kernel", format.MediaTypeBinary), img, cmdline}, nil
}

// TarKernelInitrd is the "tar-kernel-initrd" format: one tar holding, as
// LinuxKit writes it, "kernel", "initrd.img" (the gzip-compressed newc cpio
// of the root filesystem, without the microcode), "cmdline" (when not
// empty) and "ucode.cpio" (when the kernel has microcode), in that order,
// each mode 0644, uid/gid 0, mtime SOURCE_DATE_EPOCH.
type TarKernelInitrd struct{}

var _ format.Format = TarKernelInitrd{}

// Name implements format.Format.
func (TarKernelInitrd) Name() string { return "tar-kernel-initrd" }

// Version implements format.Format.
func (TarKernelInitrd) Version() string { return version }

// ReadsRecipe implements format.RecipeReader.
func (TarKernelInitrd) ReadsRecipe() {}

// Outputs implements format.Format.
func (TarKernelInitrd) Outputs() []string { return []string{"-initrd.tar"} }

// Write implements format.Format.
func (f TarKernelInitrd) Write(ctx context.Context, x graph.Exec, in format.Input, opts format.Options) ([]graph.Output, error) {
	if !format.Has(in.Kernel) {
		return nil, errNoKernel(f.Name())
	}
	// The tar header needs the initrd's size first: build it in scratch.
	dir, err := x.TempDir()
	if err != nil {
		return nil, err
	}
	tmp, err := os.Create(filepath.Join(dir, "initrd.img"))
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := writeInitramfs(ctx, x, tmp, in, opts); err != nil {
		return nil, fmt.Errorf("initrd.img: %w", err)
	}
	initrdSize, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	var cmdline []byte
	if format.Has(in.Cmdline) {
		if cmdline, err = format.ReadSmallBlob(ctx, x, in.Cmdline, maxCmdline); err != nil {
			return nil, err
		}
	}
	mtime := time.Unix(max(opts.SourceDateEpoch, 0), 0)
	out, err := format.WriteBlob(ctx, x, "-initrd.tar", format.MediaTypeTar, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		member := func(name string, size int64, copy func(io.Writer) error) error {
			hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mtime}
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := copy(tw); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}
		blob := func(o graph.Output) func(io.Writer) error {
			return func(w io.Writer) error { return format.CopyBlob(ctx, x, w, o) }
		}
		if err := member("kernel", in.Kernel.Size, blob(in.Kernel)); err != nil {
			return err
		}
		if err := member("initrd.img", initrdSize, func(w io.Writer) error {
			_, err := io.Copy(w, format.ContextReader(ctx, io.NewSectionReader(tmp, 0, initrdSize)))
			return err
		}); err != nil {
			return err
		}
		if len(cmdline) > 0 {
			if err := member("cmdline", int64(len(cmdline)), func(w io.Writer) error {
				_, err := w.Write(cmdline)
				return err
			}); err != nil {
				return err
			}
		}
		if format.Has(in.UCode) {
			if err := member("ucode.cpio", in.UCode.Size, blob(in.UCode)); err != nil {
				return err
			}
		}
		return tw.Close()
	})
	if err != nil {
		return nil, err
	}
	return []graph.Output{out}, nil
}

func errNoKernel(name string) error {
	return fmt.Errorf("format %s needs a kernel, and the system has none", name)
}

// writeInitramfs writes the root filesystem of in to w as a gzip-compressed
// newc cpio without boot/.
func writeInitramfs(ctx context.Context, x graph.Exec, w io.Writer, in format.Input, opts format.Options) error {
	var src io.ReaderAt
	var size int64
	rootfs := in.Rootfs
	if format.Has(in.RootfsRecipe) {
		rootfs = in.RootfsRecipe
		rd, err := assemble.OpenRecipe(ctx, x, in.RootfsRecipe)
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		defer rd.Close()
		src, size = rd, rd.Size()
	} else {
		f, err := assemble.OpenFile(ctx, x, in.Rootfs.Digest)
		if err != nil {
			return fmt.Errorf("rootfs %s: %w", in.Rootfs.Digest, err)
		}
		defer f.Close()
		src, size = f, in.Rootfs.Size
	}
	packs, closePacks, err := packSet(ctx, x, in)
	if err != nil {
		return err
	}
	defer closePacks()
	st, err := initramfs.WriteGzip(ctx, w, src, size, packs,
		initramfs.WithSkip(initramfs.SkipBoot),
		initramfs.WithSourceDateEpoch(opts.SourceDateEpoch),
		initramfs.WithProgress(x.Progress))
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs.Digest.Short(), err)
	}
	x.Logf("initramfs: %d entries (%d hard links), %d bytes uncompressed", st.Entries, st.HardLinks, st.Size)
	if st.XattrsDropped > 0 {
		x.Logf("initramfs: extended attributes of %d entries dropped (newc cannot hold them)", st.XattrsDropped)
	}
	return nil
}
