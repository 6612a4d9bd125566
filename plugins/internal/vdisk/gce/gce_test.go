package gce_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/vdisk/gce"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
)

const mib = 1 << 20

func write(t testing.TB, raw string, size int64, opts ...gce.Option) string {
	out := filepath.Join(t.TempDir(), "disk.tar.gz")
	vdisktest.WriteFile(t, out, func(w io.Writer) error {
		return gce.Write(context.Background(), w, vdisktest.Open(t, raw), size, opts...)
	})
	return out
}

// TestGNUTar writes a 70 MiB disk (plus 12 KiB: not even a whole MiB) and has GNU tar
// list and extract the archive: one entry, disk.raw, of 1 GiB, owned by 0/0, mode 0644,
// mtime SOURCE_DATE_EPOCH, whose bytes are the raw disk and then zeros.
func TestGNUTar(t *testing.T) {
	tarPath := vdisktest.Tool(t, "tar")
	if out, _ := exec.Command(tarPath, "--version").Output(); !bytes.Contains(out, []byte("GNU tar")) {
		t.Skipf("tar is not GNU tar: %s", out)
	}
	size := int64(70*mib + 12<<10)
	raw := vdisktest.Image(t, size)
	img := write(t, raw, size, gce.WithSourceDateEpoch(1700000000))

	list := strings.TrimSpace(string(vdisktest.Run(t, "tar", "--full-time", "--numeric-owner", "-tvzf", img)))
	if want := "-rw-r--r-- 0/0 1073741824 2023-11-14 22:13:20 disk.raw"; strings.Join(strings.Fields(list), " ") != want {
		t.Fatalf("tar -tvzf:\n%s\nwant\n%s", list, want)
	}

	// GNU format: the "ustar  \0" magic; empty owner names.
	f := vdisktest.Open(t, img)
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Fatalf("gzip header: name %q, mtime %v", zr.Name, zr.ModTime)
	}
	block := make([]byte, 512)
	if _, err := io.ReadFull(zr, block); err != nil {
		t.Fatal(err)
	}
	if string(block[257:265]) != "ustar  \x00" || strings.Trim(string(block[265:329]), "\x00") != "" {
		t.Fatalf("tar header: magic %q, owner names %q", block[257:265], block[265:329])
	}

	// GNU tar extracts the raw disk padded with zeros.
	cmd := exec.Command(tarPath, "-xzOf", img, gce.DiskName)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want := io.MultiReader(vdisktest.Open(t, raw), io.LimitReader(zeroReader{}, gce.GiB-size))
	if err := sameStream(stdout, want); err != nil {
		t.Fatalf("extracted disk.raw: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func sameStream(a, b io.Reader) error {
	ba, bb := make([]byte, mib), make([]byte, mib)
	var off int64
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("content differs in the MiB at offset %d", off)
		}
		off += int64(na)
		if ea != nil || eb != nil {
			if (ea == nil) != (eb == nil) {
				return fmt.Errorf("lengths differ after offset %d", off)
			}
			return nil
		}
	}
}

func TestDiskSize(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{
		{1, gce.GiB}, {gce.GiB - 1, gce.GiB}, {gce.GiB, gce.GiB}, {gce.GiB + 512, 2 * gce.GiB}, {10*gce.GiB + 1, 11 * gce.GiB},
	} {
		if got := gce.DiskSize(tc.in); got != tc.want {
			t.Errorf("DiskSize(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestReproducible: two writes, with different concurrency, give the same bytes; Go's
// reader sees a single disk.raw entry.
func TestReproducible(t *testing.T) {
	size := int64(3 * mib)
	raw := vdisktest.Image(t, size)
	a := write(t, raw, size, gce.WithConcurrency(1), gce.WithSourceDateEpoch(5))
	b := write(t, raw, size, gce.WithConcurrency(2), gce.WithSourceDateEpoch(5))
	if da, db := vdisktest.FileDigest(t, a), vdisktest.FileDigest(t, b); da != db {
		t.Fatalf("two writes differ: %s vs %s", da, db)
	}
	zr, err := gzip.NewReader(vdisktest.Open(t, a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != gce.DiskName || h.Size != gce.GiB || h.Format != tar.FormatGNU || h.Uid != 0 || h.Gid != 0 || h.Mode != 0o644 || h.ModTime.Unix() != 5 {
		t.Fatalf("header %+v", h)
	}
	if _, err := io.Copy(io.Discard, tr); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("second entry: %v", err)
	}
}

func TestErrors(t *testing.T) {
	if err := gce.Write(context.Background(), io.Discard, bytes.NewReader(nil), 0); err == nil {
		t.Error("no error for size 0")
	}
	if err := gce.Write(context.Background(), io.Discard, bytes.NewReader(make([]byte, 100)), 4096); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: got %v", err)
	}
	err := gce.Write(context.Background(), failWriter{}, bytes.NewReader(make([]byte, 4096)), 4096)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failing writer: got %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCancel(t *testing.T) {
	size := int64(70 * mib)
	src := vdisktest.Open(t, vdisktest.Image(t, size))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := gce.Write(ctx, io.Discard, src, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: got %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w := &vdisktest.CancelAfter{N: mib, Cancel: cancel}
	if err := gce.Write(ctx, w, src, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled midway: got %v", err)
	}
}

func BenchmarkWrite(b *testing.B) {
	size := int64(256 * mib)
	src := vdisktest.Open(b, vdisktest.Image(b, size))
	b.SetBytes(gce.DiskSize(size))
	for b.Loop() {
		if err := gce.Write(context.Background(), io.Discard, src, size); err != nil {
			b.Fatal(err)
		}
	}
}
