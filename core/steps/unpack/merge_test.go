package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/kitbuild/kit/core/steps/steptest"
)

// genMergeable draws images of two to five sorted layers over one small
// tree, which merge mostly streams: each layer holds some of the tree's
// names (directories, files, symlinks, a fifo, /dev/null) with contents and
// modes of its own, so that names repeat across layers. Now and then one
// layer breaks a rule of merge (a whiteout, an opaque directory, a hard
// link, a name whose type differs from the other layers', a name out of
// order, a bad name or device), so that the spooled path takes over; and
// emit refuses z/fail (see flattenWith).
func genMergeable(rng *rand.Rand) [][]steptest.Entry {
	tree := []struct {
		name string
		typ  byte
	}{
		{"a", tar.TypeDir}, {"a-b", tar.TypeReg}, {"a.c", tar.TypeSymlink}, {"a/b", tar.TypeDir},
		{"a/b/f", tar.TypeReg}, {"a/f", tar.TypeReg}, {"a/z", tar.TypeReg}, {"b", tar.TypeReg},
		{"c/d/e", tar.TypeReg}, {"c/p", tar.TypeFifo}, {"dev/null", tar.TypeChar}, {".x", tar.TypeDir},
		{".x/y", tar.TypeReg}, {"l", tar.TypeSymlink}, {"z", tar.TypeDir}, {"z/fail", tar.TypeReg},
	}
	var layers [][]steptest.Entry
	for l := range 2 + rng.IntN(4) {
		var entries []steptest.Entry
		for _, n := range tree {
			// The bottom layer has every directory, as images do (a
			// missing one that sorts before a name already emitted makes
			// the merge start over, as it does a single layer).
			if rng.IntN(2) == 0 && (l > 0 || n.typ != tar.TypeDir) {
				continue
			}
			typ := n.typ
			if rng.IntN(200) == 0 {
				// The same name as a directory here and a file elsewhere.
				typ = map[byte]byte{tar.TypeDir: tar.TypeReg}[typ]
				if typ == 0 {
					typ = tar.TypeDir
				}
			}
			var e steptest.Entry
			switch typ {
			case tar.TypeDir:
				e = steptest.Dir(n.name, []int64{0o755, 0o700}[rng.IntN(2)])
			case tar.TypeReg:
				e = steptest.File(n.name, fmt.Sprintf("%s@%d", n.name, l), []int64{0o644, 0o600}[rng.IntN(2)])
			case tar.TypeSymlink:
				e = steptest.Symlink(n.name, fmt.Sprintf("/t%d", rng.IntN(3)))
			case tar.TypeFifo:
				e = steptest.Entry{Header: tar.Header{Name: n.name, Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: steptest.MTime}}
			case tar.TypeChar:
				e = device(n.name, tar.TypeChar, 1, 3)
			}
			if rng.IntN(6) == 0 {
				e.Header.Uid, e.Header.Gid = 1000+rng.IntN(3), 100
			}
			entries = append(entries, e)
		}
		switch rng.IntN(40) {
		case 0:
			entries = append(entries, steptest.Whiteout("a/f"))
		case 1:
			entries = append(entries, steptest.Opaque("a"))
		case 2:
			entries = append(entries, steptest.Hardlink("zz", "b"))
		case 3:
			entries = append(entries, steptest.File("../up", "x", 0o644))
		case 4:
			entries = append(entries, device("dev/sda", tar.TypeBlock, 8, 0))
		}
		slices.SortStableFunc(entries, func(a, b steptest.Entry) int {
			return strings.Compare(strings.TrimSuffix(a.Header.Name, "/"), strings.TrimSuffix(b.Header.Name, "/"))
		})
		if len(entries) > 2 && rng.IntN(30) == 0 {
			entries[0], entries[len(entries)-1] = entries[len(entries)-1], entries[0]
		}
		layers = append(layers, entries)
	}
	return layers
}

// TestMergeMatchesReference compares Flatten, which merges these images,
// with the sequential reference, streaming and not.
func TestMergeMatchesReference(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	merged := 0
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		layers := genMergeable(rng)
		var drop func(string) bool
		if i%3 == 0 {
			drop = dropSome
		}
		checkMatchesReference(t, layers, drop)
		if _, n, _ := streamed(t, layers, drop); n == 0 {
			merged++
		}
	}
	// Most of the images are plain: the merge must have taken them.
	t.Logf("%d of %d images merged", merged, n)
	if merged < n*2/5 {
		t.Errorf("%d of %d images were merged without a restart", merged, n)
	}
}

// TestMergeStreams checks that plain sorted layers are merged without a
// spool (Restart is not called): upper layers win, directories merge,
// missing parents are made; and that each kind of entry merge leaves to
// the spool makes it start over once, with the spool's result.
func TestMergeStreams(t *testing.T) {
	lower := []steptest.Entry{dir("a", 0o755), file("a/f", "old", 0o644), file("a/g", "g", 0o644), symlink("b", "a"), file("d/e", "e", 0o644)}
	upper := []steptest.Entry{dir("a", 0o700), file("a-b", "x", 0o644), file("a/f", "new", 0o600), file("c", "c", 0o644)}
	flatten := func(layers ...[]steptest.Entry) ([]string, int) {
		t.Helper()
		got, n, err := streamed(t, layers, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got, n
	}
	got, n := flatten(lower, upper)
	if n != 0 {
		t.Errorf("plain sorted layers were restarted %d times", n)
	}
	want := []string{`a/ 700`, `a-b 644 "x"`, `a/f 600 "new"`, `a/g 644 "g"`, `b -> a`, `c 644 "c"`, `d/ 755`, `d/e 644 "e"`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	for _, tt := range []struct {
		name  string
		upper []steptest.Entry
		want  []string
	}{
		{"whiteout", []steptest.Entry{whiteout("a/g")},
			[]string{`a/ 755`, `a/f 644 "old"`, `b -> a`, `d/ 755`, `d/e 644 "e"`}},
		{"hard link", []steptest.Entry{hardlink("h", "a/g")},
			[]string{`a/ 755`, `a/f 644 "old"`, `a/g 644 "g"`, `b -> a`, `d/ 755`, `d/e 644 "e"`, `h => a/g`}},
		{"file over directory", []steptest.Entry{file("a", "a", 0o644)},
			[]string{`a 644 "a"`, `b -> a`, `d/ 755`, `d/e 644 "e"`}},
		{"directory over file", []steptest.Entry{dir("b", 0o755)},
			[]string{`a/ 755`, `a/f 644 "old"`, `a/g 644 "g"`, `b/ 755`, `d/ 755`, `d/e 644 "e"`}},
		{"unsorted", []steptest.Entry{file("c", "c", 0o644), file("a-b", "x", 0o644)},
			[]string{`a/ 755`, `a-b 644 "x"`, `a/f 644 "old"`, `a/g 644 "g"`, `b -> a`, `c 644 "c"`, `d/ 755`, `d/e 644 "e"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkMatchesReference(t, [][]steptest.Entry{lower, tt.upper}, nil)
			got, n := flatten(lower, tt.upper)
			if n != 1 {
				t.Errorf("restarted %d times, want 1", n)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMergeDirectoryOverFile checks that a directory of an upper layer does
// not make up for names that a lower layer put below a file: the image is
// refused, as when its layers are applied one after another.
func TestMergeDirectoryOverFile(t *testing.T) {
	lower := []steptest.Entry{dir("a", 0o755), file("a/b", "b", 0o644), file("a/b/f", "f", 0o644)}
	upper := []steptest.Entry{dir("a/b", 0o755)}
	checkMatchesReference(t, [][]steptest.Entry{lower, upper}, nil)
	opt := FlattenOptions{TempDir: t.TempDir(), Restart: func() error { return nil }}
	err := Flatten(context.Background(), memLayers(t, [][]steptest.Entry{lower, upper}), opt, func(*tar.Header, io.Reader) error { return nil })
	if !errors.Is(err, ErrNotDir) {
		t.Errorf("Flatten = %v, want ErrNotDir", err)
	}
}

// TestMergeZstdLayers checks that merge reads at most maxMergeZstd zstd
// layers at once: an image with more of them is spooled.
func TestMergeZstdLayers(t *testing.T) {
	zstdLayers := func(n int) []Layer {
		var out []Layer
		for i := range n {
			name := fmt.Sprintf("f%d", i)
			b := steptest.Tar(t, file(name, name, 0o644))
			var buf bytes.Buffer
			zw, err := zstd.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			zw.Write(b)
			zw.Close()
			data := buf.Bytes()
			out = append(out, Layer{Name: name, Size: int64(len(data)),
				Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
		}
		return out
	}
	for _, n := range []int{maxMergeZstd, maxMergeZstd + 1} {
		restarted := 0
		var got []string
		opt := FlattenOptions{TempDir: t.TempDir(), Restart: func() error { restarted++; got = nil; return nil }}
		err := Flatten(context.Background(), zstdLayers(n), opt, func(h *tar.Header, r io.Reader) error {
			got = append(got, h.Name)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[n <= maxMergeZstd]; restarted != want {
			t.Errorf("%d zstd layers: restarted %d times, want %d", n, restarted, want)
		}
		if len(got) != n {
			t.Errorf("%d zstd layers: emitted %q", n, got)
		}
	}
}

// FuzzMergeMatchesReference compares Flatten with the sequential reference
// on images of mergeable layers generated from the fuzzer's seed.
func FuzzMergeMatchesReference(f *testing.F) {
	for i := range 16 {
		f.Add(uint64(i), uint64(i*17), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64, drop bool) {
		layers := genMergeable(rand.New(rand.NewPCG(s1, s2)))
		var d func(string) bool
		if drop {
			d = dropSome
		}
		checkMatchesReference(t, layers, d)
	})
}
