package qcow2_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
	"github.com/kitbuild/kit/plugins/internal/vdisk/qcow2"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
)

const mib = 1 << 20

func write(t testing.TB, raw string, size int64) string {
	out := filepath.Join(t.TempDir(), "disk.qcow2")
	vdisktest.WriteFile(t, out, func(w io.Writer) error {
		return qcow2.Write(context.Background(), w, vdisktest.Open(t, raw), size)
	})
	return out
}

func TestQemu(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"aligned", 70 * mib},
		{"partial-last-cluster", 70*mib + 12<<10},
		{"tiny", 512},
		{"all-zero", 3 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := vdisktest.Image(t, tc.size)
			if tc.name == "all-zero" {
				raw = filepath.Join(t.TempDir(), "zero.raw")
				vdisktest.WriteFile(t, raw, func(w io.Writer) error { return vdisk.WriteZeros(w, tc.size) })
			}
			img := write(t, raw, tc.size)
			info := vdisktest.QemuInfo(t, img, "")
			if info.Format != "qcow2" || info.VirtualSize != tc.size || info.ClusterSize != qcow2.ClusterSize || info.FormatSpecific.Data.Compat != "1.1" {
				t.Fatalf("qemu-img info: %+v", info)
			}
			out := vdisktest.QemuCheck(t, img, "qcow2")
			if !strings.Contains(out, "No errors were found") {
				t.Fatalf("qemu-img check:\n%s", out)
			}
			vdisktest.SameContent(t, raw, vdisktest.QemuToRaw(t, img, "qcow2"))
		})
	}
}

func TestReproducible(t *testing.T) {
	size := int64(70*mib + 12<<10)
	raw := vdisktest.Image(t, size)
	a, b := vdisktest.FileDigest(t, write(t, raw, size)), vdisktest.FileDigest(t, write(t, raw, size))
	if a != b {
		t.Fatalf("two writes differ: %s vs %s", a, b)
	}
}

func TestUnaligned(t *testing.T) {
	for _, size := range []int64{0, -512, 1000} {
		err := qcow2.Write(context.Background(), io.Discard, bytes.NewReader(make([]byte, 1024)), size)
		if !errors.Is(err, vdisk.ErrUnaligned) {
			t.Errorf("size %d: got %v, want ErrUnaligned", size, err)
		}
	}
}

func TestShortSource(t *testing.T) {
	err := qcow2.Write(context.Background(), io.Discard, bytes.NewReader(make([]byte, 1024)), 4096)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestCancel(t *testing.T) {
	size := int64(70 * mib)
	src := vdisktest.Open(t, vdisktest.Image(t, size))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := qcow2.Write(ctx, io.Discard, src, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: got %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w := &vdisktest.CancelAfter{N: 2 * mib, Cancel: cancel}
	if err := qcow2.Write(ctx, w, src, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled midway: got %v", err)
	}
}

func BenchmarkWrite(b *testing.B) {
	size := int64(256 * mib)
	src := vdisktest.Open(b, vdisktest.Image(b, size))
	b.SetBytes(size)
	for b.Loop() {
		if err := qcow2.Write(context.Background(), io.Discard, src, size); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQemuMultiL2 spreads data over L2 tables (512 MiB each): the first, none in the
// second, across the edge of the second and the third, and the last partial one.
func TestQemuMultiL2(t *testing.T) {
	size := int64(1030*mib + 4096)
	raw := vdisktest.SparseImage(t, size, []vdisktest.Extent{
		{Off: 0, Len: mib}, {Off: 1024*mib - 4096, Len: 8192}, {Off: size - 4096, Len: 4096},
	})
	img := write(t, raw, size)
	if info := vdisktest.QemuInfo(t, img, "qcow2"); info.VirtualSize != size {
		t.Fatalf("virtual size %d, want %d", info.VirtualSize, size)
	}
	if out := vdisktest.QemuCheck(t, img, "qcow2"); !strings.Contains(out, "No errors were found") {
		t.Fatalf("qemu-img check:\n%s", out)
	}
	vdisktest.SameContent(t, raw, vdisktest.QemuToRaw(t, img, "qcow2"))
}
