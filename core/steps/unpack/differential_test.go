package unpack

import (
	"archive/tar"
	"bytes"
	"context"

	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// genLayers draws layers of a few entries each from rng: names over a small
// alphabet that sorts around '/' ("a", "a-b", "a.c", ".x", …), every entry
// type, duplicates, whiteouts, opaque directories, hard links to names of
// any layer, bad devices and bad names now and then; half the layers are
// sorted by name, as a normalized tar is.
func genLayers(rng *rand.Rand) [][]steptest.Entry {
	comps := []string{"a", "a-b", "a.c", "b", ".x", "c", "dev", "z"}
	var names []string
	pick := func() string {
		if len(names) > 0 && rng.IntN(3) == 0 {
			return names[rng.IntN(len(names))]
		}
		n := 1 + rng.IntN(3)
		var parts []string
		for range n {
			parts = append(parts, comps[rng.IntN(len(comps))])
		}
		name := strings.Join(parts, "/")
		switch rng.IntN(40) {
		case 0:
			name = "../" + name
		case 1:
			name = "/" + name
		case 2:
			name = "./" + name
		}
		return name
	}
	var layers [][]steptest.Entry
	for range 1 + rng.IntN(3) {
		var entries []steptest.Entry
		for range rng.IntN(14) {
			name := pick()
			var e steptest.Entry
			switch k := rng.IntN(20); {
			case k < 5:
				e = steptest.Dir(name, 0o755)
				if rng.IntN(2) == 0 {
					e.Header.Name += "/"
				}
			case k < 11:
				e = steptest.File(name, fmt.Sprintf("%s#%d", name, rng.IntN(100)), 0o644)
			case k < 13:
				e = steptest.Symlink(name, "/"+pick())
			case k < 15:
				e = steptest.Hardlink(name, pick())
			case k < 17:
				e = steptest.Whiteout(name)
			case k < 18:
				e = steptest.Opaque(name)
			case k < 19:
				e = device("dev/null", tar.TypeChar, 1, int64(3+rng.IntN(2)))
			default:
				e = steptest.Entry{Header: tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: steptest.MTime}}
			}
			if rng.IntN(8) == 0 {
				e.Header.Uid, e.Header.Gid = 1000+rng.IntN(3), 100
			}
			entries = append(entries, e)
			names = append(names, strings.Trim(name, "/"))
		}
		if rng.IntN(2) == 0 {
			slices.SortStableFunc(entries, func(a, b steptest.Entry) int {
				return strings.Compare(strings.TrimSuffix(a.Header.Name, "/"), strings.TrimSuffix(b.Header.Name, "/"))
			})
		}
		layers = append(layers, entries)
	}
	return layers
}

// flattenWith runs a flatten function over layers and returns the
// normalized tar it makes (or the error) and what emit saw, restarts
// included.
type flattenFunc func(ctx context.Context, layers []Layer, opt FlattenOptions, emit EmitFunc) error

func flattenWith(t testing.TB, f flattenFunc, layers []Layer, opt FlattenOptions) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	tw := tarutil.NewWriter(&buf, opt.SourceDateEpoch)
	var lines []string
	if opt.Restart != nil {
		opt.Restart = func() error {
			buf.Reset()
			tw = tarutil.NewWriter(&buf, opt.SourceDateEpoch)
			lines = nil
			return nil
		}
	}
	err := f(context.Background(), layers, opt, func(h *tar.Header, r io.Reader) error {
		var data []byte
		if r != nil {
			var err error
			if data, err = io.ReadAll(r); err != nil {
				return err
			}
		}
		lines = append(lines, render(h, data))
		if h.Name == "z/fail" {
			return fmt.Errorf("emit refuses %s", h.Name)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	})
	if err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n") + "\n" + fmt.Sprintf("%x", buf.Bytes()), nil
}

// checkMatchesReference flattens layers with Flatten, with and without
// streaming, and with the reference implementation, and compares the
// results: the same tar bytes, or the same error.
func checkMatchesReference(t testing.TB, layers [][]steptest.Entry, drop func(string) bool) {
	t.Helper()
	mem := memLayers(t, layers)
	opt := FlattenOptions{Image: "img", SourceDateEpoch: 1.6e9, Drop: drop}
	run := func(f flattenFunc, restart bool) (string, string) {
		o := opt
		o.TempDir = t.TempDir()
		if restart {
			o.Restart = func() error { return nil } // replaced by flattenWith
		}
		out, err := flattenWith(t, f, mem, o)
		if left, _ := os.ReadDir(o.TempDir); len(left) != 0 {
			t.Errorf("left %v in the temp dir", left)
		}
		if err != nil {
			return "", err.Error()
		}
		return out, ""
	}
	wantOut, wantErr := run(refFlatten, false)
	for _, restart := range []bool{false, true} {
		out, err := run(Flatten, restart)
		if err != wantErr || out != wantOut {
			t.Fatalf("streaming %v: Flatten differs from the reference for layers %v:\ngot  %q\n%s\nwant %q\n%s",
				restart, describe(layers), err, out, wantErr, wantOut)
		}
	}
}

func describe(layers [][]steptest.Entry) string {
	var b strings.Builder
	for i, l := range layers {
		fmt.Fprintf(&b, "\nlayer %d:", i)
		for _, e := range l {
			fmt.Fprintf(&b, " %s", render(&e.Header, e.Data))
		}
	}
	return b.String()
}

// dropSome drops a few names, as unpack's modes do.
func dropSome(name string) bool {
	return name == "a-b" || name == "c/a" || strings.HasPrefix(name, "z/.x")
}

// TestFlattenMatchesReference compares Flatten with the sequential
// reference on generated images.
func TestFlattenMatchesReference(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		layers := genLayers(rng)
		var drop func(string) bool
		if i%3 == 0 {
			drop = dropSome
		}
		checkMatchesReference(t, layers, drop)
	}
}

// streamed flattens layers with streaming allowed and returns the entries
// emit saw since the last restart (rendered), how many times Flatten
// restarted, and its error.
func streamed(t testing.TB, layers [][]steptest.Entry, drop func(string) bool) ([]string, int, error) {
	t.Helper()
	var got []string
	n := 0
	opt := FlattenOptions{TempDir: t.TempDir(), Drop: drop, Restart: func() error { n++; got = nil; return nil }}
	err := Flatten(context.Background(), memLayers(t, layers), opt, func(h *tar.Header, r io.Reader) error {
		var data []byte
		if r != nil {
			var err error
			if data, err = io.ReadAll(r); err != nil {
				return err
			}
		}
		got = append(got, render(h, data))
		return nil
	})
	return got, n, err
}

// TestFlattenStreamsSorted checks that a sorted single layer is streamed:
// Restart is not called.
func TestFlattenStreamsSorted(t *testing.T) {
	layer := []steptest.Entry{dir("a", 0o755), file("a-b", "x", 0o644), file("a/f", "f", 0o600), hardlink("a/g", "a/f"),
		symlink("b", "a"), whiteout("c"), file("d/e", "e", 0o644)}
	got, restarted, err := streamed(t, [][]steptest.Entry{layer}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if restarted != 0 {
		t.Errorf("a sorted layer was restarted %d times", restarted)
	}
	want := []string{`a/ 755`, `a-b 644 "x"`, `a/f 600 "f"`, `a/g => a/f`, `b -> a`, `d/ 755`, `d/e 644 "e"`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Unsorted: streamed partway, then restarted once.
	layer[1], layer[2] = layer[2], layer[1]
	if _, restarted, err = streamed(t, [][]steptest.Entry{layer}, nil); err != nil {
		t.Fatal(err)
	}
	if restarted != 1 {
		t.Errorf("an unsorted layer was restarted %d times, want 1", restarted)
	}
}

// FuzzFlattenMatchesReference compares Flatten with the sequential
// reference on images generated from the fuzzer's seed.
func FuzzFlattenMatchesReference(f *testing.F) {
	for i := range 16 {
		f.Add(uint64(i), uint64(i*31), false)
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64, drop bool) {
		layers := genLayers(rand.New(rand.NewPCG(s1, s2)))
		var d func(string) bool
		if drop {
			d = dropSome
		}
		checkMatchesReference(t, layers, d)
	})
}
