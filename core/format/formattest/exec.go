package formattest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

// Exec is a graph.Exec whose store is a directory (blobs/sha256/<hex>), for
// tests.
type Exec struct {
	dir string

	mu       sync.Mutex
	logs     []string
	progress [2]int64
	temps    int
}

var _ graph.Exec = (*Exec)(nil)

// NewExec returns an Exec storing into a temporary directory of t.
func NewExec(t testing.TB) *Exec {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Exec{dir: dir}
}

func (x *Exec) blobPath(d graph.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(x.dir, "blobs", "sha256", d.Hex()), nil
}

// Open implements graph.Exec.
func (x *Exec) Open(_ context.Context, d graph.Digest) (io.ReadCloser, error) {
	p, err := x.blobPath(d)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Path implements graph.Exec.
func (x *Exec) Path(d graph.Digest) (string, error) {
	p, err := x.blobPath(d)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// Create implements graph.Exec.
func (x *Exec) Create(_ context.Context) (graph.BlobWriter, error) {
	f, err := os.CreateTemp(x.dir, "ingest-")
	if err != nil {
		return nil, err
	}
	return &blobWriter{x: x, f: f, d: graph.NewDigester()}, nil
}

// TempDir implements graph.Exec.
func (x *Exec) TempDir() (string, error) {
	x.mu.Lock()
	x.temps++
	n := x.temps
	x.mu.Unlock()
	d := filepath.Join(x.dir, fmt.Sprintf("tmp-%d", n))
	return d, os.Mkdir(d, 0o700)
}

// Progress implements graph.Exec; LastProgress returns what it was told.
func (x *Exec) Progress(done, total int64) {
	x.mu.Lock()
	x.progress = [2]int64{done, total}
	x.mu.Unlock()
}

// LastProgress returns the last progress reported.
func (x *Exec) LastProgress() (done, total int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.progress[0], x.progress[1]
}

// Logf implements graph.Exec; Logs returns the lines.
func (x *Exec) Logf(format string, args ...any) {
	x.mu.Lock()
	x.logs = append(x.logs, fmt.Sprintf(format, args...))
	x.mu.Unlock()
}

// Logs returns the lines logged so far.
func (x *Exec) Logs() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.logs...)
}

// Put stores data as a blob and returns it as an output called name.
func (x *Exec) Put(t testing.TB, name string, data []byte) graph.Output {
	t.Helper()
	w, err := x.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	o, err := w.Commit(name, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// PutFile stores the file at path as a blob (for inputs too big to hold in
// memory).
func (x *Exec) PutFile(t testing.TB, name, path string) graph.Output {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := x.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, f); err != nil {
		t.Fatal(err)
	}
	o, err := w.Commit(name, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Read returns the contents of an output's blob.
func (x *Exec) Read(t testing.TB, o graph.Output) []byte {
	t.Helper()
	p, err := x.Path(o.Digest)
	if err != nil {
		t.Fatalf("output %s: %v", o.Name, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type blobWriter struct {
	x         *Exec
	f         *os.File
	d         *graph.Digester
	n         int64
	committed bool
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.d.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *blobWriter) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	if w.committed {
		return graph.Output{}, fmt.Errorf("blob %s: committed twice", name)
	}
	d := w.d.Digest()
	if want != "" && want != d {
		return graph.Output{}, fmt.Errorf("blob %s: digest %s, want %s", name, d, want)
	}
	if err := w.f.Close(); err != nil {
		return graph.Output{}, err
	}
	p, _ := w.x.blobPath(d)
	if err := os.Rename(w.f.Name(), p); err != nil {
		return graph.Output{}, err
	}
	w.committed = true
	return graph.Output{Name: name, Digest: d, Size: w.n, MediaType: mediaType}, nil
}

func (w *blobWriter) Close() error {
	if w.committed {
		return nil
	}
	w.committed = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
