package tarfmt

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/format/internal/tarscan"
	"github.com/kitbuild/kit/core/graph"
)

func init() {
	format.MustRegister(Tar{})
	format.MustRegister(Docker{})
}

// Tar is the "tar" format: the assembled root filesystem tar, unchanged
// (boot/kernel, boot/cmdline and boot/ucode.cpio included), written as
// <name>.tar. It copies nothing: the output is the input blob renamed.
type Tar struct{}

var _ format.Format = Tar{}

// Name implements format.Format.
func (Tar) Name() string { return "tar" }

// Version implements format.Format.
func (Tar) Version() string { return "1" }

// Outputs implements format.Format.
func (Tar) Outputs() []string { return []string{".tar"} }

// Write implements format.Format.
func (Tar) Write(_ context.Context, _ graph.Exec, in format.Input, _ format.Options) ([]graph.Output, error) {
	return []graph.Output{format.Rename(in.Rootfs, ".tar", format.MediaTypeTar)}, nil
}

// Dockerfile is what the docker format adds to the root filesystem, as
// LinuxKit does: `docker build -` then makes an image of the whole tree
// that starts LinuxKit's init.
const Dockerfile = "\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT [\"/bin/rc.init\"]\n"

// Docker is the "docker" format: the root filesystem tar with a Dockerfile
// at its top, written as <name>.docker, usable as `docker build -` context
// or with `docker import`. The members of the rootfs are copied byte for
// byte; the Dockerfile (mode 0644, uid/gid 0, mtime SOURCE_DATE_EPOCH) is
// inserted in sorted position, replacing a Dockerfile the rootfs may hold
// (LinuxKit appends its own after, which wins in the same way).
type Docker struct{}

var _ format.Format = Docker{}

// Name implements format.Format.
func (Docker) Name() string { return "docker" }

// Version implements format.Format.
func (Docker) Version() string { return "1" }

// Outputs implements format.Format.
func (Docker) Outputs() []string { return []string{".docker"} }

// Write implements format.Format.
func (Docker) Write(ctx context.Context, x graph.Exec, in format.Input, opts format.Options) ([]graph.Output, error) {
	p, err := x.Path(in.Rootfs.Digest)
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", in.Rootfs.Digest, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	defer f.Close()
	out, err := format.WriteBlob(ctx, x, ".docker", format.MediaTypeTar, func(w io.Writer) error {
		replaced, err := addDockerfile(ctx, w, f, in.Rootfs.Size, opts.SourceDateEpoch, x.Progress)
		if replaced {
			x.Logf("docker: replaced the Dockerfile of the root filesystem")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return []graph.Output{out}, nil
}

// addDockerfile copies the tar in src to w with the Dockerfile inserted
// before the first member that sorts after it and every member called
// Dockerfile left out. It reports whether it left one out.
func addDockerfile(ctx context.Context, w io.Writer, src io.ReaderAt, size, epoch int64, progress func(done, total int64)) (replaced bool, err error) {
	var copied int64 // src is copied up to here
	copyTo := func(to int64) error {
		_, err := io.Copy(w, format.ContextReader(ctx, io.NewSectionReader(src, copied, to-copied)))
		copied = to
		progress(copied, size)
		return err
	}
	inserted := false
	insert := func() error {
		inserted = true
		tw := tar.NewWriter(w)
		hdr := &tar.Header{
			Name:     "Dockerfile",
			Typeflag: tar.TypeReg,
			Mode:     0o644,
			Size:     int64(len(Dockerfile)),
			ModTime:  time.Unix(max(epoch, 0), 0),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, Dockerfile); err != nil {
			return err
		}
		return tw.Flush() // pads the member, writes no end of archive
	}
	s := tarscan.New(src, size)
	for {
		e, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return replaced, fmt.Errorf("rootfs: %w", err)
		}
		switch name := e.Header.Name; {
		case name == "Dockerfile":
			if e.Header.Typeflag == tar.TypeDir {
				return replaced, fmt.Errorf("rootfs: Dockerfile is a directory")
			}
			if err := copyTo(e.Start); err != nil {
				return replaced, err
			}
			copied, replaced = e.End, true
		case name > "Dockerfile" && !inserted:
			if err := copyTo(e.Start); err != nil {
				return replaced, err
			}
			if err := insert(); err != nil {
				return replaced, err
			}
		}
	}
	if err := copyTo(s.End()); err != nil {
		return replaced, err
	}
	if !inserted {
		if err := insert(); err != nil {
			return replaced, err
		}
	}
	// End of archive: two zero blocks.
	_, err = w.Write(make([]byte, 1024))
	progress(size, size)
	return replaced, err
}
