package formatcore

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// dirExec is a graph.Exec over a build request's scratch directory: it
// serves the host's read-only input files by digest, writes new blobs into
// DIR/blobs/<hex> (through DIR/tmp) and makes scratch directories under
// DIR/scratch. It is safe for concurrent use.
type dirExec struct {
	dir    string
	log    *slog.Logger
	mu     sync.Mutex
	inputs map[graph.Digest]string // digest → the host's read-only path
}

var _ graph.Exec = (*dirExec)(nil)

// newDirExec makes the store's directories under dir.
func newDirExec(dir string, log *slog.Logger) (*dirExec, error) {
	for _, d := range []string{"blobs", "tmp", "scratch"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("scratch store: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &dirExec{dir: dir, log: log, inputs: map[graph.Digest]string{}}, nil
}

// addInput makes the host's file at path available as blob d.
func (x *dirExec) addInput(d graph.Digest, path string) {
	x.mu.Lock()
	x.inputs[d] = path
	x.mu.Unlock()
}

// written reports the path of a blob written through Create, if d is one.
func (x *dirExec) written(d graph.Digest) (string, bool) {
	if d.Validate() != nil {
		return "", false
	}
	p := filepath.Join(x.dir, "blobs", d.Hex())
	_, err := os.Stat(p)
	return p, err == nil
}

// Path implements graph.Exec: an input or a blob written before.
func (x *dirExec) Path(d graph.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	x.mu.Lock()
	p, ok := x.inputs[d]
	x.mu.Unlock()
	if ok {
		return p, nil
	}
	if p, ok := x.written(d); ok {
		return p, nil
	}
	return "", fmt.Errorf("blob %s: %w", d, fs.ErrNotExist)
}

// Open implements graph.Exec.
func (x *dirExec) Open(_ context.Context, d graph.Digest) (io.ReadCloser, error) {
	p, err := x.Path(d)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Create implements graph.Exec.
func (x *dirExec) Create(_ context.Context) (graph.BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(x.dir, "tmp"), "blob-")
	if err != nil {
		return nil, fmt.Errorf("new blob: %w", err)
	}
	return &blobWriter{x: x, f: f, d: graph.NewDigester()}, nil
}

// TempDir implements graph.Exec.
func (x *dirExec) TempDir() (string, error) {
	return os.MkdirTemp(filepath.Join(x.dir, "scratch"), "exec-")
}

// Progress implements graph.Exec; the protocol carries no progress.
func (x *dirExec) Progress(done, total int64) {}

// Logf implements graph.Exec: the line goes to the host's log.
func (x *dirExec) Logf(format string, args ...any) {
	x.log.Info(fmt.Sprintf(format, args...))
}

type blobWriter struct {
	x    *dirExec
	f    *os.File
	d    *graph.Digester
	n    int64
	done bool
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.d.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Commit implements graph.BlobWriter: the blob becomes DIR/blobs/<hex>.
func (w *blobWriter) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	if w.done {
		return graph.Output{}, fmt.Errorf("blob %s: commit after close", name)
	}
	defer w.Close()
	got := w.d.Digest()
	if want != "" && got != want {
		return graph.Output{}, fmt.Errorf("blob %s: digest %s, want %s", name, got, want)
	}
	if err := w.f.Close(); err != nil {
		return graph.Output{}, fmt.Errorf("blob %s: %w", name, err)
	}
	if err := os.Rename(w.f.Name(), filepath.Join(w.x.dir, "blobs", got.Hex())); err != nil {
		return graph.Output{}, fmt.Errorf("blob %s: %w", name, err)
	}
	w.done = true
	return graph.Output{Name: name, Digest: got, Size: w.n, MediaType: mediaType}, nil
}

// Close implements graph.BlobWriter: it discards an uncommitted blob.
func (w *blobWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
