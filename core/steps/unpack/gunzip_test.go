package unpack

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func gzipped(t *testing.T, parts ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64() & 0x0f0f0f0f0f0f0f0f // compressible, not trivially
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// TestGunzip reads streams of several sizes (several blocks, members
// concatenated) through readers reused from the pools, some closed before
// their end.
func TestGunzip(t *testing.T) {
	big := randomData(1, 3*gzipBlockSize+12345)
	small := randomData(2, 1000)
	for round := range 3 {
		for _, tc := range []struct {
			name  string
			z     []byte
			want  []byte
			early bool
		}{
			{"big", gzipped(t, big), big, false},
			{"members", gzipped(t, small, big, small), append(append(append([]byte(nil), small...), big...), small...), false},
			{"empty", gzipped(t, nil), nil, false},
			{"closed early", gzipped(t, big), big, true},
		} {
			g, err := newGunzip(bytes.NewReader(tc.z))
			if err != nil {
				t.Fatalf("round %d %s: %v", round, tc.name, err)
			}
			if tc.early {
				buf := make([]byte, 100)
				if _, err := io.ReadFull(g, buf); err != nil || !bytes.Equal(buf, tc.want[:100]) {
					t.Fatalf("%s: first bytes: %v", tc.name, err)
				}
				if err := g.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := g.Read(buf); err == nil {
					t.Fatalf("%s: read after Close succeeded", tc.name)
				}
				continue
			}
			got, err := io.ReadAll(g)
			if err != nil {
				t.Fatalf("round %d %s: %v", round, tc.name, err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("round %d %s: %d bytes, want %d", round, tc.name, len(got), len(tc.want))
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestGunzipErrors(t *testing.T) {
	z := gzipped(t, randomData(3, 2*gzipBlockSize))
	corrupt := bytes.Clone(z)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC-32 in the trailer
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"checksum", corrupt, "checksum"},
		{"truncated", z[:len(z)/2], io.ErrUnexpectedEOF.Error()},
	} {
		g, err := newGunzip(bytes.NewReader(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, g)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
		// The error stays.
		if _, again := g.Read(make([]byte, 10)); again == nil {
			t.Errorf("%s: a read after the error succeeded", tc.name)
		}
		g.Close()
	}
	if _, err := newGunzip(strings.NewReader("not gzip at all")); err == nil {
		t.Error("a stream that is not gzip was accepted")
	}
	// A reader returned to the pool after a bad header still works.
	g, err := newGunzip(bytes.NewReader(gzipped(t, []byte("fine"))))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(g); err != nil || string(b) != "fine" {
		t.Fatalf("after a bad header: %q, %v", b, err)
	}
	g.Close()
}

// failingReader fails every Read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestGunzipReadError(t *testing.T) {
	z := gzipped(t, randomData(4, gzipBlockSize))
	boom := errors.New("boom")
	g, err := newGunzip(io.MultiReader(bytes.NewReader(z[:len(z)/3]), failingReader{boom}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, g); !errors.Is(err, boom) {
		t.Fatalf("error %v, want the underlying reader's", err)
	}
	g.Close()
}
