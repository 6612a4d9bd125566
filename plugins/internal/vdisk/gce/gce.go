package gce

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/pgzip"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
)

const (
	// DiskName is the name GCE requires for the disk inside the archive.
	DiskName = "disk.raw"
	// GiB is the unit GCE sizes disks in.
	GiB = 1 << 30
	// CompressionLevel is the fixed gzip level.
	CompressionLevel = 6
	// BlockSize is the fixed size of the blocks pgzip compresses independently; the output
	// depends on it and the level (and the klauspost/compress version), not on concurrency.
	BlockSize = 1 << 20

	chunk = 1 << 20
)

// Option sets an optional parameter of Write.
type Option func(*config)

type config struct {
	epoch       int64
	concurrency int
}

// WithSourceDateEpoch sets the tar entry's modification time (seconds since 1970, as
// SOURCE_DATE_EPOCH; default 0). Negative values are stored as 0.
func WithSourceDateEpoch(epoch int64) Option {
	return func(c *config) { c.epoch = epoch }
}

// WithConcurrency sets how many blocks are compressed at once (default GOMAXPROCS). The
// output does not depend on it.
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = n }
}

// DiskSize is the size of disk.raw for a raw disk of size bytes: size rounded up to a whole
// number of GiB, at least 1 GiB.
func DiskSize(size int64) int64 {
	return max(vdisk.RoundUp(size, GiB), GiB)
}

// Write writes the raw disk of size bytes (any positive size) read from src to w as a GCE
// image archive (.tar.gz). disk.raw is the disk followed by zeros up to DiskSize(size); the
// tar header is GNU format with mode 0644, uid/gid 0, empty owner names and the mtime of
// WithSourceDateEpoch; the gzip header has no name and mtime 0. src is read once, a chunk
// at a time. Write stops with ctx's error when ctx is cancelled.
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, opts ...Option) error {
	c := config{concurrency: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(&c)
	}
	if size <= 0 {
		return fmt.Errorf("gce: disk size %d: want a positive size", size)
	}
	total := DiskSize(size)

	sink := &stickyWriter{w: w}
	zw, err := pgzip.NewWriterLevel(sink, CompressionLevel)
	if err != nil {
		return fmt.Errorf("gce: gzip: %w", err)
	}
	if err := zw.SetConcurrency(BlockSize, max(c.concurrency, 1)); err != nil {
		return fmt.Errorf("gce: gzip: %w", err)
	}
	zw.ModTime = time.Unix(0, 0) // pgzip writes ModTime.Unix() as is; 0 means "none"
	if err := writeTar(ctx, zw, sink, src, size, total, c); err != nil {
		sink.fail(err) // discard what Close flushes
		zw.Close()     // stops pgzip's goroutines
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gce: gzip: %w", err)
	}
	if err := sink.check(); err != nil {
		return fmt.Errorf("gce: write: %w", err)
	}
	return nil
}

func writeTar(ctx context.Context, zw io.Writer, sink *stickyWriter, src io.ReaderAt, size, total int64, c config) error {
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     DiskName,
		Mode:     0o644,
		Size:     total,
		ModTime:  time.Unix(max(c.epoch, 0), 0),
		Format:   tar.FormatGNU,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("gce: tar header: %w", err)
	}
	buf := make([]byte, chunk)
	for off := int64(0); off < total; off += chunk {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gce: %w", err)
		}
		b := buf[:min(chunk, total-off)]
		if off >= size {
			clear(b) // padding: no need to read
		} else if err := vdisk.ReadBlock(src, b, off, size); err != nil {
			return fmt.Errorf("gce: %s at offset %d: %w", DiskName, off, err)
		}
		if _, err := tw.Write(b); err != nil {
			return fmt.Errorf("gce: %s at offset %d: %w", DiskName, off, err)
		}
		if err := sink.check(); err != nil {
			return fmt.Errorf("gce: write: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("gce: tar: %w", err)
	}
	return nil
}

// stickyWriter passes writes to w until the first error (its own or one set by fail), then
// discards them. pgzip leaks its writer goroutine when Close meets an error, so it is never
// shown one: Write reports the error from here instead.
type stickyWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}

// fail makes err the writer's error unless it has one already.
func (s *stickyWriter) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// check returns the writer's error.
func (s *stickyWriter) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
