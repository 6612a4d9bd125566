package fetch

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
)

// dirStore is steptest's directory store, which implements Blobs and
// graph.Exec, recording every progress report.
type dirStore struct {
	*steptest.Exec

	mu       sync.Mutex
	progress [][2]int64
}

var (
	_ Blobs      = (*dirStore)(nil)
	_ graph.Exec = (*dirStore)(nil)
)

func newDirStore(dir string) *dirStore {
	x, err := steptest.NewExecDir(dir)
	if err != nil {
		panic(err)
	}
	return &dirStore{Exec: x}
}

func (s *dirStore) Progress(done, total int64) {
	s.mu.Lock()
	s.progress = append(s.progress, [2]int64{done, total})
	s.mu.Unlock()
	s.Exec.Progress(done, total)
}

// tmpFiles counts blobs being written (or left behind) in the scratch area.
func (s *dirStore) tmpFiles() int {
	es, _ := os.ReadDir(filepath.Join(s.Dir, "tmp"))
	return len(es)
}

func (s *dirStore) blobCount() int {
	es, _ := os.ReadDir(filepath.Join(s.Dir, "blobs", "sha256"))
	return len(es)
}

// path is where blob d lives (or would live) in the store.
func (s *dirStore) path(d graph.Digest) string {
	return filepath.Join(s.Dir, "blobs", "sha256", d.Hex())
}
