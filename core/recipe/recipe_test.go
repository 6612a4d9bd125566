package recipe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

// store is a directory of blobs named by digest.
type store struct {
	dir   string
	blobs map[graph.Digest][]byte
}

func newStore(t *testing.T, blobs ...[]byte) *store {
	s := &store{dir: t.TempDir(), blobs: map[graph.Digest][]byte{}}
	for _, b := range blobs {
		d := graph.FromBytes(b)
		s.blobs[d] = b
		if err := os.WriteFile(filepath.Join(s.dir, d.Hex()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *store) open(_ context.Context, d graph.Digest) (*os.File, error) {
	return os.Open(filepath.Join(s.dir, d.Hex()))
}

func TestRoundTrip(t *testing.T) {
	a := []byte("0123456789abcdefghij")
	b := bytes.Repeat([]byte("B"), 3<<20)
	s := newStore(t, a, b)
	var bl Builder
	var want bytes.Buffer
	lit := func(p string) {
		bl.Write([]byte(p))
		want.WriteString(p)
	}
	rng := func(src []byte, off, n int64) {
		if err := bl.Range(graph.FromBytes(src), int64(len(src)), off, n); err != nil {
			t.Fatal(err)
		}
		want.Write(src[off : off+n])
	}
	lit("header")
	lit("more")
	rng(a, 2, 5)
	rng(a, 7, 3) // continues the previous range: merged
	rng(b, 100, 2<<20)
	lit("x")
	rng(a, 0, 20)
	rng(a, 0, 0)
	if got := len(bl.ops); got != 5 {
		t.Errorf("%d ops, want 5 (adjacent literals and ranges merged)", got)
	}
	if bl.Size() != int64(want.Len()) {
		t.Fatalf("Size %d, want %d", bl.Size(), want.Len())
	}
	enc := bl.Encode()
	r, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sources()) != 2 || r.Sources()[0] != graph.FromBytes(a) {
		t.Errorf("sources %v", r.Sources())
	}
	rd, err := Open(context.Background(), r, s.open)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got bytes.Buffer
	if _, err := rd.WriteTo(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("WriteTo differs from the described bytes")
	}
	// ReadAt at every boundary and across them.
	w := want.Bytes()
	for _, c := range [][2]int{{0, 10}, {5, 10}, {9, 8}, {10, 1 << 20}, {len(w) - 25, 25}, {len(w) - 3, 10}, {len(w), 1}} {
		p := make([]byte, c[1])
		n, err := rd.ReadAt(p, int64(c[0]))
		end := min(c[0]+c[1], len(w))
		if n != end-c[0] || !bytes.Equal(p[:n], w[c[0]:end]) {
			t.Errorf("ReadAt(%d, %d): %d bytes, wrong contents", c[0], c[1], n)
		}
		if (end < c[0]+c[1]) != (err == io.EOF) {
			t.Errorf("ReadAt(%d, %d): err %v", c[0], c[1], err)
		}
	}
	// Encoding is deterministic.
	if !bytes.Equal(enc, bl.Encode()) {
		t.Error("Encode differs between calls")
	}
}

func TestOpenChecksSources(t *testing.T) {
	a := []byte("abc")
	s := newStore(t, a)
	var bl Builder
	if err := bl.Range(graph.FromBytes(a), 4, 0, 4); err != nil { // wrong size
		t.Fatal(err)
	}
	r, err := Decode(bl.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), r, s.open); err == nil {
		t.Error("a source of the wrong size was accepted")
	}
	var missing Builder
	if err := missing.Range(graph.FromBytes([]byte("zzz")), 3, 0, 3); err != nil {
		t.Fatal(err)
	}
	r, _ = Decode(missing.Encode())
	if _, err := Open(context.Background(), r, s.open); err == nil {
		t.Error("a missing source was accepted")
	}
	if err := bl.Range(graph.FromBytes(a), 3, 2, 2); err == nil {
		t.Error("a range beyond its source was accepted")
	}
}

func TestDecodeErrors(t *testing.T) {
	var bl Builder
	bl.Write([]byte("lit"))
	if err := bl.Range(graph.FromBytes([]byte("abc")), 3, 1, 2); err != nil {
		t.Fatal(err)
	}
	good := bl.Encode()
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("kit-recipe/2\n"),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"size":      append([]byte(magic), 9, 0, 0),
		"kind":      append([]byte(magic), 0, 0, 1, 7),
		"huge":      append([]byte(magic), 0, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"wrap":      wrapping(),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var bl Builder
	bl.Write([]byte("lit"))
	_ = bl.Range(graph.FromBytes([]byte("abc")), 3, 1, 2)
	f.Add(bl.Encode())
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		var sum int64
		for _, o := range r.ops {
			sum += o.len
		}
		if sum != r.Size() {
			t.Fatalf("ops make %d bytes, Size %d", sum, r.Size())
		}
	})
}

// wrapping is a recipe whose ranges add up past 2^64 bytes back to a small
// total.
func wrapping() []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	put := func(v uint64) { b.Write(binary.AppendUvarint(nil, v)) }
	d := graph.FromBytes([]byte("x"))
	put(4) // size
	put(1) // sources
	put(uint64(len(d)))
	b.WriteString(string(d))
	put(1 << 62) // source size
	put(5)       // ops
	for range 4 {
		put(opRange)
		put(0)
		put(0)
		put(1 << 62)
	}
	put(opRange)
	put(0)
	put(0)
	put(4)
	return b.Bytes()
}

// BenchmarkEncode encodes the recipe of a root filesystem like the bench's
// small system (1500 files: a 512-byte header, then a range of contents);
// one allocation per Encode.
func BenchmarkEncode(b *testing.B) {
	src := graph.FromBytes([]byte("modules"))
	var bl Builder
	hdr := bytes.Repeat([]byte{'h'}, 512)
	var off int64
	for range 1500 {
		bl.Write(hdr)
		if err := bl.Range(src, 50<<20, off, 30000); err != nil {
			b.Fatal(err)
		}
		off += 30000 + 512 // not adjacent: a range each
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if len(bl.Encode()) < 1500*512 {
			b.Fatal("short recipe")
		}
	}
}
