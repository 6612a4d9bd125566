package initramfs

import (
	"io"
	"runtime"
	"time"

	"github.com/klauspost/pgzip"
)

// Gzip parameters. The compressed bytes depend on them (and on the
// klauspost/compress version) but not on the number of CPUs: pgzip cuts the
// stream into blocks of a fixed size and compresses each with the previous
// block's tail as dictionary. Formats that use NewGzipWriter must change
// their version when any of these change.
const (
	GzipLevel     = 6
	GzipBlockSize = 1 << 20
)

// NewGzipWriter returns a writer that compresses into w as one gzip member
// with a header free of name and time, using every CPU. Close flushes it
// and pads the output with zero bytes to a multiple of 4, as LinuxKit does
// (the kernel skips zero padding between the archives of an initramfs).
// Close does not close w.
func NewGzipWriter(w io.Writer) (io.WriteCloser, error) {
	cw := &countWriter{w: w}
	gz, err := pgzip.NewWriterLevel(cw, GzipLevel)
	if err != nil {
		return nil, err
	}
	if err := gz.SetConcurrency(GzipBlockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	gz.ModTime = time.Unix(0, 0)
	gz.OS = 255 // unknown
	return &gzipWriter{gz: gz, cw: cw}, nil
}

type gzipWriter struct {
	gz *pgzip.Writer
	cw *countWriter
}

func (g *gzipWriter) Write(p []byte) (int, error) { return g.gz.Write(p) }

func (g *gzipWriter) Close() error {
	if err := g.gz.Close(); err != nil {
		return err
	}
	if pad := (4 - g.cw.n%4) % 4; pad != 0 {
		_, err := g.cw.Write(make([]byte, pad))
		return err
	}
	return nil
}
