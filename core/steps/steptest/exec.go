package steptest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

// Exec is a graph.Exec whose store is a directory: blobs live under
// Dir/blobs/sha256/<hex>, blobs being written under Dir/tmp, and scratch
// directories under Dir/scratch. It is safe for concurrent use.
type Exec struct {
	// Dir is the root of the store.
	Dir string

	tb          testing.TB
	mu          sync.Mutex
	done, total int64
}

var _ graph.Exec = (*Exec)(nil)

// NewExec returns an Exec on a new temporary directory of tb.
func NewExec(tb testing.TB) *Exec {
	tb.Helper()
	x, err := NewExecDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	x.tb = tb
	return x
}

// NewExecDir returns an Exec on dir (created if needed). Its Logf discards
// lines.
func NewExecDir(dir string) (*Exec, error) {
	for _, d := range []string{"blobs/sha256", "tmp", "scratch"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &Exec{Dir: dir}, nil
}

// Path returns the path of a blob; the error wraps fs.ErrNotExist when the
// blob is missing.
func (x *Exec) Path(d graph.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	p := filepath.Join(x.Dir, "blobs", "sha256", d.Hex())
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("blob %s: %w", d, fs.ErrNotExist)
	}
	return p, nil
}

// Open opens a blob.
func (x *Exec) Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error) {
	p, err := x.Path(d)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Create starts a new blob.
func (x *Exec) Create(ctx context.Context) (graph.BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(x.Dir, "tmp"), "blob-")
	if err != nil {
		return nil, err
	}
	return &blobWriter{x: x, f: f, d: graph.NewDigester()}, nil
}

// TempDir returns a new scratch directory.
func (x *Exec) TempDir() (string, error) {
	return os.MkdirTemp(filepath.Join(x.Dir, "scratch"), "exec-")
}

// Progress records the last progress report.
func (x *Exec) Progress(done, total int64) {
	x.mu.Lock()
	x.done, x.total = done, total
	x.mu.Unlock()
}

// LastProgress returns the last progress report.
func (x *Exec) LastProgress() (done, total int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.done, x.total
}

// Logf logs through the test, if any.
func (x *Exec) Logf(format string, args ...any) {
	if x.tb != nil {
		x.tb.Logf(format, args...)
	}
}

type blobWriter struct {
	x      *Exec
	f      *os.File
	d      *graph.Digester
	n      int64
	closed bool
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.d.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *blobWriter) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	if w.closed {
		return graph.Output{}, fmt.Errorf("blob %s: commit after close", name)
	}
	defer w.Close()
	got := w.d.Digest()
	if want != "" && got != want {
		return graph.Output{}, fmt.Errorf("blob %s: digest %s, want %s", name, got, want)
	}
	if err := w.f.Close(); err != nil {
		return graph.Output{}, err
	}
	if err := os.Rename(w.f.Name(), filepath.Join(w.x.Dir, "blobs", "sha256", got.Hex())); err != nil {
		return graph.Output{}, err
	}
	return graph.Output{Name: name, Digest: got, Size: w.n, MediaType: mediaType}, nil
}

func (w *blobWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Put stores data as a blob and returns it as an output called name. Put
// and Read fail the test on error; they need an Exec made by NewExec.
func (x *Exec) Put(name, mediaType string, data []byte) graph.Output {
	x.tb.Helper()
	w, err := x.Create(context.Background())
	if err != nil {
		x.tb.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		x.tb.Fatal(err)
	}
	o, err := w.Commit(name, mediaType, "")
	if err != nil {
		x.tb.Fatal(err)
	}
	return o
}

// Read returns the content of an output's blob.
func (x *Exec) Read(o graph.Output) []byte {
	x.tb.Helper()
	p, err := x.Path(o.Digest)
	if err != nil {
		x.tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		x.tb.Fatal(err)
	}
	return b
}
