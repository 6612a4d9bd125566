package fetch

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// dirStore is a minimal content-addressed store for tests: it implements
// Blobs and graph.Exec.
type dirStore struct {
	dir string

	mu       sync.Mutex
	progress [][2]int64
	commits  int
}

var (
	_ Blobs      = (*dirStore)(nil)
	_ graph.Exec = (*dirStore)(nil)
)

func newDirStore(dir string) *dirStore {
	os.MkdirAll(filepath.Join(dir, "blobs"), 0o755)
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	return &dirStore{dir: dir}
}

func (s *dirStore) path(d graph.Digest) string { return filepath.Join(s.dir, "blobs", d.Hex()) }

func (s *dirStore) Has(d graph.Digest) bool {
	_, err := os.Stat(s.path(d))
	return err == nil
}

func (s *dirStore) Path(d graph.Digest) (string, error) {
	if !s.Has(d) {
		return "", fmt.Errorf("blob %s: %w", d, fs.ErrNotExist)
	}
	return s.path(d), nil
}

func (s *dirStore) Open(_ context.Context, d graph.Digest) (io.ReadCloser, error) {
	return os.Open(s.path(d))
}

func (s *dirStore) Create(context.Context) (graph.BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob")
	if err != nil {
		return nil, err
	}
	return &dirWriter{s: s, f: f, d: graph.NewDigester()}, nil
}

func (s *dirStore) TempDir() (string, error) { return os.MkdirTemp(filepath.Join(s.dir, "tmp"), "x") }

func (s *dirStore) Progress(done, total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress = append(s.progress, [2]int64{done, total})
}

func (s *dirStore) Logf(string, ...any) {}

// tmpFiles counts files left in the scratch directory.
func (s *dirStore) tmpFiles() int {
	es, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	return len(es)
}

func (s *dirStore) blobCount() int {
	es, _ := os.ReadDir(filepath.Join(s.dir, "blobs"))
	return len(es)
}

type dirWriter struct {
	s    *dirStore
	f    *os.File
	d    *graph.Digester
	n    int64
	done bool
}

func (w *dirWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.d.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *dirWriter) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	got := w.d.Digest()
	if want != "" && got != want {
		return graph.Output{}, fmt.Errorf("content is %s, want %s", got, want)
	}
	if err := w.f.Close(); err != nil {
		return graph.Output{}, err
	}
	if err := os.Rename(w.f.Name(), w.s.path(got)); err != nil {
		return graph.Output{}, err
	}
	w.done = true
	w.s.mu.Lock()
	w.s.commits++
	w.s.mu.Unlock()
	return graph.Output{Name: name, Digest: got, Size: w.n, MediaType: mediaType}, nil
}

func (w *dirWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
