package assemble

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/steps/tarutil"
)

// fuzzInput is a generated input: a valid normalized tar and where it goes.
type fuzzInput struct {
	prefix  string
	fill    bool
	concat  bool
	entries []tar.Header
}

// genInputs turns fuzz bytes into 1 to 4 valid normalized inputs over a
// small name space, so that paths collide often.
func genInputs(data []byte) []fuzzInput {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	comps := []string{"a", "b", "a-b", "a.c", "d"}
	prefixes := []string{"", "", "a", "a/b", "p"}
	n := 1 + int(next()%4)
	ins := make([]fuzzInput, n)
	for i := range ins {
		flags := next()
		in := fuzzInput{prefix: prefixes[int(flags)%len(prefixes)], fill: flags&0x10 != 0, concat: flags&0x20 != 0}
		count := int(next() % 12)
		names := map[string]byte{}
		for j := 0; j < count; j++ {
			depth := 1 + int(next()%3)
			var parts []string
			for k := 0; k < depth; k++ {
				parts = append(parts, comps[int(next())%len(comps)])
			}
			names[strings.Join(parts, "/")] = next()
		}
		// Ancestors held by the input must be directories.
		for name := range names {
			for d := path.Dir(name); d != "."; d = path.Dir(d) {
				if _, ok := names[d]; ok {
					names[d] = 0
				}
			}
		}
		sorted := make([]string, 0, len(names))
		for name := range names {
			sorted = append(sorted, name)
		}
		sort.Strings(sorted)
		var files []string
		for _, name := range sorted {
			h := tar.Header{Name: name, Mode: 0o644, ModTime: time.Unix(epoch, 0), Uid: int(names[name] >> 4)}
			switch kind := names[name] % 4; {
			case kind == 0:
				h.Typeflag, h.Mode = tar.TypeDir, 0o755
			case kind == 1:
				h.Typeflag, h.Linkname = tar.TypeSymlink, "/target"
			case kind == 2 && len(files) > 0:
				h.Typeflag, h.Linkname = tar.TypeLink, files[int(names[name])%len(files)]
			default:
				h.Typeflag, h.Size = tar.TypeReg, int64(len(name))
				files = append(files, name)
			}
			in.entries = append(in.entries, h)
		}
		ins[i] = in
	}
	return ins
}

// writeTar writes entries (a regular file's contents are its name) to a
// file.
func writeTar(t *testing.T, dir string, i int, entries []tar.Header) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Name))
		}
	}
	tw.Close()
	name := filepath.Join(dir, fmt.Sprintf("in%d.tar", i))
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// checkOutput verifies that a merge output is a normalized tar with every
// parent present.
func checkOutput(t *testing.T, out []byte) map[string]*tar.Header {
	t.Helper()
	if _, err := tarutil.Verify(bytes.NewReader(out), epoch); err != nil {
		t.Fatalf("output is not normalized: %v", err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if p := tarutil.Parent(h.Name); p != "" {
			if got[p] == nil || got[p].Typeflag != tar.TypeDir {
				t.Fatalf("entry %s: parent %s missing", h.Name, p)
			}
		}
		got[h.Name] = h
	}
}

// FuzzMerge merges random valid inputs: the output is always a normalized
// tar (sorted, unique, parents present and directories, hard links to
// earlier entries), and each path that a non-fill input holds and that is
// not left out has the type of the last such input's entry.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{3, 0, 5, 1, 0, 0, 1, 1, 2, 2, 0, 1, 3, 3, 0, 1, 4, 4, 0, 2, 1, 2, 3, 2, 1, 1, 1, 6})
	f.Add([]byte("\x02\x00\x08\x02\x00\x01\x00\x02\x00\x01\x02\x01\x00\x02\x01\x01\x02\x01\x04\x06\x01\x02\x01\x01\x00\x02"))
	f.Add(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		gen := genInputs(data)
		dir := t.TempDir()
		var ins []*input
		for i, g := range gen {
			file, prefix := writeTar(t, dir, i, g.entries), g.prefix
			tier := tierNormal
			if g.fill {
				tier = tierFill
			}
			ins = append(ins, &input{name: fmt.Sprintf("in%d", i), tier: tier, concat: g.concat, prefix: prefix,
				open: func(*int64) (stream, error) { return openTar(fileOpener(file), blobRange{}, prefix, nil) }})
		}
		var out bytes.Buffer
		err := merge(context.Background(), &out, ins, mergeOptions{epoch: epoch, concat: map[string]bool{"a": true, "a/b": true}})
		if err != nil {
			if !strings.Contains(err.Error(), "it lies beneath") {
				t.Fatalf("valid inputs refused: %v", err)
			}
			return
		}
		got := checkOutput(t, out.Bytes())
		last := map[string]byte{}
		for _, tier := range []int{tierFill, tierNormal} {
			for i, g := range gen {
				if ins[i].tier != tier {
					continue
				}
				for _, h := range g.entries {
					last[join(g.prefix, h.Name)] = h.Typeflag
				}
			}
		}
		for name, want := range last {
			h := got[name]
			if h == nil {
				continue // left out beneath a replaced directory
			}
			if h.Typeflag != want && !(want == tar.TypeLink && h.Typeflag == tar.TypeReg) {
				t.Errorf("%s: type %c, want %c", name, h.Typeflag, want)
			}
		}
	})
}

// FuzzMergeTar feeds arbitrary bytes to the merge as an input tar beside a
// valid one: it must fail cleanly or produce a normalized tar.
func FuzzMergeTar(f *testing.F) {
	var valid bytes.Buffer
	tw := tar.NewWriter(&valid)
	for _, h := range []tar.Header{
		{Name: "a", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "a/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: "a/g", Typeflag: tar.TypeLink, Linkname: "a/f"},
		{Name: "b", Typeflag: tar.TypeSymlink, Linkname: "a"},
	} {
		tw.WriteHeader(&h)
		if h.Size > 0 {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	f.Add(valid.Bytes())
	f.Add([]byte{})
	f.Add(valid.Bytes()[:600])
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		fixed := filepath.Join(dir, "fixed.tar")
		fuzzed := filepath.Join(dir, "fuzzed.tar")
		if err := os.WriteFile(fixed, valid.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fuzzed, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ins := []*input{
			{name: "fixed", tier: tierNormal, open: func(*int64) (stream, error) { return openTar(fileOpener(fixed), blobRange{}, "", nil) }},
			{name: "fuzzed", tier: tierNormal, open: func(*int64) (stream, error) { return openTar(fileOpener(fuzzed), blobRange{}, "", nil) }},
		}
		var out bytes.Buffer
		if err := merge(context.Background(), &out, ins, mergeOptions{epoch: epoch}); err != nil {
			return
		}
		checkOutput(t, out.Bytes())
	})
}
