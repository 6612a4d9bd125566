package cache_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

// resident returns the share of the pages of path in [from, to) that are in
// the page cache.
func resident(t *testing.T, path string, from, to int64) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), from, int(to-from), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := int64(os.Getpagesize())
	vec := make([]byte, (to-from+page-1)/page)
	// x/sys/unix has no mincore(2) on Linux.
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(len(m)), uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatal(errno)
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return float64(in) / float64(len(vec))
}

// TestArtifactPastPageCache checks that a large artifact (a mirrored blob)
// and its mirror are written past the page cache from cache.DirectAfter on,
// with the same bytes, while a blob that is not an artifact stays cached.
func TestArtifactPastPageCache(t *testing.T) {
	dir := t.TempDir()
	if !cache.DirectSupported(dir) {
		t.Skipf("%s does not take direct I/O", dir)
	}
	s := open(t, filepath.Join(dir, "cache"))
	write := func(data []byte, mirror *os.File) string {
		want := graph.FromBytes(data)
		w, err := s.Create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if mirror != nil {
			w.(graph.MirroringWriter).Mirror(mirror)
		}
		// Odd sizes: the blob's chunks must stay whole all the same.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 300<<10+7)
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		out, err := w.Commit("x", "", want)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Path(out.Digest)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	rng := rand.NewChaCha8([32]byte{3})
	data := make([]byte, cache.DirectAfter+5<<20+123)
	from, to := int64(cache.DirectAfter+1<<20), int64(len(data)-1<<20)
	rng.Read(data)
	plain := write(data, nil)
	if r := resident(t, plain, from, to); r < 0.5 {
		t.Errorf("a plain blob has %.0f%% of its tail in the page cache, want most", r*100)
	}

	rng.Read(data)

	m, err := os.Create(filepath.Join(dir, "mirror"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	blob := write(data, m)
	for _, p := range []string{blob, m.Name()} {
		if r := resident(t, p, from, to); r > 0.1 {
			t.Errorf("%s: %.0f%% of the artifact past %d bytes is in the page cache, want none", p, r*100, cache.DirectAfter)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes that differ from the %d written", p, len(got), len(data))
		}
	}
}
