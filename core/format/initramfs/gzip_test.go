package initramfs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"testing"
)

// compressible returns n bytes of text-like pseudo-random data.
func compressible(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"kernel ", "initrd ", "cpio ", "newc ", "0123 ", "\n", "linuxkit ", "kit "}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func gz(t *testing.T, data []byte, writes int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewGzipWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	// Write in uneven pieces: the output must not depend on them.
	step := len(data)/writes + 7
	for p := data; len(p) > 0; {
		n := min(step, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestGzipDeterministic(t *testing.T) {
	data := compressible(5*GzipBlockSize + 12345) // several pgzip blocks
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var sums [][32]byte
	for _, c := range []struct{ procs, writes int }{{1, 1}, {2, 3}, {4, 1000}, {runtime.NumCPU(), 17}} {
		runtime.GOMAXPROCS(c.procs)
		out := gz(t, data, c.writes)
		sums = append(sums, sha256.Sum256(out))
		if len(out)%4 != 0 {
			t.Errorf("GOMAXPROCS=%d: %d bytes, not padded to 4", c.procs, len(out))
		}
	}
	for i := range sums {
		if sums[i] != sums[0] {
			t.Fatalf("run %d differs from run 0", i)
		}
	}
}

func TestGzipFormat(t *testing.T) {
	data := compressible(3*GzipBlockSize + 1)
	out := gz(t, data, 5)
	// Header: magic, deflate, no flags (no name/comment/extra), mtime 0,
	// OS unknown.
	if want := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}; !bytes.Equal(out[:8], want) || out[9] != 255 {
		t.Errorf("header % x", out[:10])
	}
	zr, err := gzip.NewReader(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("round trip differs")
	}
	if bin, err := exec.LookPath("gzip"); err == nil {
		// GNU gzip reads the stream, zero padding included.
		cmd := exec.Command(bin, "-dc")
		cmd.Stdin = bytes.NewReader(out)
		dec, err := cmd.Output()
		if err != nil || !bytes.Equal(dec, data) {
			t.Errorf("gzip -dc: %v (%d bytes)", err, len(dec))
		}
	}
}
