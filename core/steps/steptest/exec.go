package steptest

import (
	"bytes"
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
	logs        []string
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

// NewExecDir returns an Exec on dir (created if needed). Its Logf only
// records lines (see Logs).
func NewExecDir(dir string) (*Exec, error) {
	for _, d := range []string{"blobs/sha256", "tmp", "scratch"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &Exec{Dir: dir}, nil
}

// Has reports whether a blob is present.
func (x *Exec) Has(d graph.Digest) bool {
	_, err := x.Path(d)
	return err == nil
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

// Logf records a line for Logs and logs it through the test, if any.
func (x *Exec) Logf(format string, args ...any) {
	x.mu.Lock()
	x.logs = append(x.logs, fmt.Sprintf(format, args...))
	x.mu.Unlock()
	if x.tb != nil {
		x.tb.Logf(format, args...)
	}
}

// Logs returns the lines logged so far through Logf.
func (x *Exec) Logs() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.logs...)
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
	return x.PutReader(x.tb, name, mediaType, bytes.NewReader(data))
}

// Read returns the content of an output's blob.
func (x *Exec) Read(o graph.Output) []byte {
	x.tb.Helper()
	return x.ReadBlob(x.tb, o)
}

// PutReader streams r into a blob and returns it as an output called name,
// failing tb on error. It works on any Exec, and takes tb so that a
// subtest or fuzz function can use an Exec made for its parent.
func (x *Exec) PutReader(tb testing.TB, name, mediaType string, r io.Reader) graph.Output {
	tb.Helper()
	w, err := x.Create(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		tb.Fatalf("blob %s: %v", name, err)
	}
	o, err := w.Commit(name, mediaType, "")
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// ReadBlob returns the content of an output's blob, failing tb on error.
func (x *Exec) ReadBlob(tb testing.TB, o graph.Output) []byte {
	tb.Helper()
	p, err := x.Path(o.Digest)
	if err != nil {
		tb.Fatalf("output %s: %v", o.Name, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
