package vmdk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vmdk"
)

const mib = 1 << 20

func write(t testing.TB, raw string, size int64, opts ...vmdk.Option) string {
	out := filepath.Join(t.TempDir(), "disk.vmdk")
	vdisktest.WriteFile(t, out, func(w io.Writer) error {
		return vmdk.Write(context.Background(), w, vdisktest.Open(t, raw), size, opts...)
	})
	return out
}

func TestQemu(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int64
		extents []vdisktest.Extent // nil: vdisktest.Extents
	}{
		{"aligned", 70 * mib, nil},
		{"partial-last-grain", 70*mib + 12<<10, nil},
		{"tiny", 512, nil},
		{"empty-grain-tables", 100 * mib, []vdisktest.Extent{{Off: 0, Len: 4096}, {Off: 99 * mib, Len: mib}}},
		{"all-zero", 40 * mib, []vdisktest.Extent{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := tc.extents
			if ext == nil {
				ext = vdisktest.Extents(tc.size)
			}
			raw := vdisktest.SparseImage(t, tc.size, ext)
			img := write(t, raw, tc.size)
			checkStream(t, img, raw, tc.size)
			info := vdisktest.QemuInfo(t, img, "")
			d := info.FormatSpecific.Data
			if info.Format != "vmdk" || info.VirtualSize != tc.size || d.CreateType != "streamOptimized" ||
				len(d.Extents) != 1 || !d.Extents[0].Compressed || d.ParentCID != 0xffffffff {
				t.Fatalf("qemu-img info: %+v", info)
			}
			if out := vdisktest.QemuCheck(t, img, "vmdk"); !strings.Contains(out, "No errors were found") {
				t.Fatalf("qemu-img check:\n%s", out)
			}
			vdisktest.SameContent(t, raw, vdisktest.QemuToRaw(t, img, "vmdk"))
		})
	}
}

// checkStream reads img as a streaming importer would (vmdk.ReadStream) and compares the
// disk it rebuilds with raw.
func checkStream(t *testing.T, img, raw string, size int64) {
	t.Helper()
	back := filepath.Join(t.TempDir(), "stream.raw")
	f, err := os.Create(back)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	info, err := vmdk.ReadStream(vdisktest.Open(t, img), func(off int64, data []byte) error {
		_, err := f.WriteAt(data[:min(int64(len(data)), size-off)], off)
		return err
	})
	if err != nil {
		t.Fatalf("ReadStream: %v", err)
	}
	if info.Capacity != size || !strings.Contains(info.Descriptor, `createType="streamOptimized"`) {
		t.Fatalf("ReadStream: %+v", info)
	}
	vdisktest.SameContent(t, raw, back)
}

func TestReproducible(t *testing.T) {
	size := int64(70*mib + 12<<10)
	raw := vdisktest.Image(t, size)
	a := vdisktest.FileDigest(t, write(t, raw, size, vmdk.WithConcurrency(1)))
	b := vdisktest.FileDigest(t, write(t, raw, size, vmdk.WithConcurrency(4)))
	c := vdisktest.FileDigest(t, write(t, raw, size))
	if a != b || a != c {
		t.Fatalf("writes differ with concurrency 1, 4 and default: %s %s %s", a, b, c)
	}
}

func TestDescriptor(t *testing.T) {
	size := int64(70 * mib)
	raw := vdisktest.Image(t, size)
	img := write(t, raw, size, vmdk.WithAdapterType(vmdk.IDE), vmdk.WithFileName("kit.vmdk"))
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	desc := string(bytes.TrimRight(b[512:512*21], "\x00"))
	for _, want := range []string{
		`createType="streamOptimized"`, `RW 143360 SPARSE "kit.vmdk"`, `ddb.adapterType = "ide"`,
		`ddb.geometry.heads = "16"`, `ddb.geometry.cylinders = "142"`, "parentCID=ffffffff",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("descriptor lacks %q:\n%s", want, desc)
		}
	}
	// The CID follows the content.
	info := vdisktest.QemuInfo(t, img, "vmdk")
	other := vdisktest.SparseImage(t, size, []vdisktest.Extent{{Off: 0, Len: 512}})
	if info.FormatSpecific.Data.CID == vdisktest.QemuInfo(t, write(t, other, size), "vmdk").FormatSpecific.Data.CID {
		t.Error("different disks got the same CID")
	}
}

func TestErrors(t *testing.T) {
	src := bytes.NewReader(make([]byte, 4096))
	for _, size := range []int64{0, 1000, -512} {
		if err := vmdk.Write(context.Background(), io.Discard, src, size); !errors.Is(err, vdisk.ErrUnaligned) {
			t.Errorf("size %d: got %v, want ErrUnaligned", size, err)
		}
	}
	if err := vmdk.Write(context.Background(), io.Discard, src, vmdk.MaxSize+512); err == nil {
		t.Error("no error past MaxSize")
	}
	if err := vmdk.Write(context.Background(), io.Discard, src, 8192); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: got %v", err)
	}
	if err := vmdk.Write(context.Background(), io.Discard, src, 4096, vmdk.WithFileName(`a"b`)); err == nil {
		t.Error("no error for a quote in the file name")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	size := int64(70 * mib)
	src := vdisktest.Open(t, vdisktest.Image(t, size))
	err := vmdk.Write(context.Background(), &failWriter{n: 1 * mib}, src, size)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

func TestCancel(t *testing.T) {
	size := int64(70 * mib)
	src := vdisktest.Open(t, vdisktest.Image(t, size))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := vmdk.Write(ctx, io.Discard, src, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: got %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w := &vdisktest.CancelAfter{N: mib, Cancel: cancel}
	if err := vmdk.Write(ctx, w, src, size); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled midway: got %v", err)
	}
}

func BenchmarkWrite(b *testing.B) {
	size := int64(256 * mib)
	src := vdisktest.Open(b, vdisktest.Image(b, size))
	b.SetBytes(size)
	for b.Loop() {
		if err := vmdk.Write(context.Background(), io.Discard, src, size); err != nil {
			b.Fatal(err)
		}
	}
}
