package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vhd"
)

const mib = 1 << 20

type writeFunc func(context.Context, io.Writer, io.ReaderAt, int64, ...vhd.Option) error

var writers = []struct {
	name    string
	write   writeFunc
	dynamic bool
}{
	{"fixed", vhd.WriteFixed, false},
	{"dynamic", vhd.WriteDynamic, true},
}

func write(t testing.TB, w writeFunc, raw string, size int64, opts ...vhd.Option) string {
	out := filepath.Join(t.TempDir(), "disk.vhd")
	vdisktest.WriteFile(t, out, func(f io.Writer) error {
		return w(context.Background(), f, vdisktest.Open(t, raw), size, opts...)
	})
	return out
}

func readFooter(t *testing.T, path string) vhd.Footer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := vhd.ParseFooter(b[len(b)-512:])
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkQemu asserts what qemu makes of a VHD: format vpc, the wanted virtual size, a
// cluster size (2 MiB) only for dynamic disks, and the same bytes as the raw disk (padded
// with zeros to the virtual size) once converted back.
func checkQemu(t *testing.T, img, raw string, rawSize, virtual int64, dynamic bool) {
	t.Helper()
	info := vdisktest.QemuInfo(t, img, "vpc")
	if info.Format != "vpc" || info.VirtualSize != virtual {
		t.Fatalf("qemu-img info: %+v, want vpc of %d bytes", info, virtual)
	}
	if dynamic != (info.ClusterSize == vhd.BlockSize) {
		t.Fatalf("qemu-img info: cluster size %d for dynamic=%v", info.ClusterSize, dynamic)
	}
	// qemu-img check has no checker for vpc (exit status 63); should one appear, it must
	// find nothing wrong.
	if out, status := vdisktest.RunStatus(t, "qemu-img", "check", "-f", "vpc", img); status != 0 &&
		!(status == 63 && strings.Contains(out, "does not support checks")) {
		t.Fatalf("qemu-img check (status %d):\n%s", status, out)
	}
	if dynamic {
		// qemu probes a dynamic VHD by the footer copy at its start.
		if probed := vdisktest.QemuInfo(t, img, ""); probed.Format != "vpc" {
			t.Fatalf("qemu-img probes the dynamic VHD as %q", probed.Format)
		}
	}
	want := raw
	if virtual != rawSize {
		want = filepath.Join(t.TempDir(), "padded.raw")
		vdisktest.WriteFile(t, want, func(w io.Writer) error {
			if _, err := io.Copy(w, vdisktest.Open(t, raw)); err != nil {
				return err
			}
			return vdisk.WriteZeros(w, virtual-rawSize)
		})
	}
	vdisktest.SameContent(t, want, vdisktest.QemuToRaw(t, img, "vpc"))
}

func TestQemu(t *testing.T) {
	sizes := []int64{
		70 * mib,        // a whole number of MiB; its CHS geometry covers less (73322496)
		70*mib + 12<<10, // a partial last 2 MiB block
		73400832,        // the size whose geometry is exact (qemu-img create rounds 70M to it)
		512,             // a single sector
	}
	for _, wr := range writers {
		for _, size := range sizes {
			t.Run(wr.name+"/"+time.Duration(size).String(), func(t *testing.T) {
				raw := vdisktest.Image(t, size)
				img := write(t, wr.write, raw, size, vhd.WithSourceDateEpoch(1700000000))
				f := readFooter(t, img)
				c, h, s := vhd.Geometry(size / 512)
				exact := int64(c)*int64(h)*int64(s)*512 == size
				if !exact {
					c, h, s = 65535, 16, 255
				}
				if f.Cylinders != c || f.Heads != h || f.SectorsPerTrack != s {
					t.Fatalf("geometry %d/%d/%d, want %d/%d/%d", f.Cylinders, f.Heads, f.SectorsPerTrack, c, h, s)
				}
				if f.Dynamic != wr.dynamic || f.CurrentSize != size || f.OriginalSize != size ||
					f.CreatorApp != "kit " || !f.Timestamp.Equal(time.Unix(1700000000, 0)) {
					t.Fatalf("footer %+v", f)
				}
				if wr.dynamic {
					b, _ := os.ReadFile(img)
					if !bytes.Equal(b[:512], b[len(b)-512:]) {
						t.Fatal("footer copy at the start differs from the footer")
					}
				}
				checkQemu(t, img, raw, size, size, wr.dynamic)
			})
		}
	}
}

func TestSparse(t *testing.T) {
	size := int64(70 * mib)
	raw := vdisktest.Image(t, size)
	img := write(t, vhd.WriteDynamic, raw, size)
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	// Data lies in blocks 0, 1, 15, 16, 20 and 34 (see vdisktest.Extents): 6 blocks.
	want := int64(512+1024+512) + 6*(512+vhd.BlockSize) + 512
	if st.Size() != want {
		t.Fatalf("dynamic VHD is %d bytes, want %d (6 allocated blocks)", st.Size(), want)
	}
}

func TestAzure(t *testing.T) {
	for _, size := range []int64{70*mib + 12<<10, 70*mib + 1000, 70 * mib, 1} {
		t.Run(time.Duration(size).String(), func(t *testing.T) {
			raw := vdisktest.SparseImage(t, size, []vdisktest.Extent{{Off: 0, Len: min(size, 4096)}, {Off: size - 1, Len: 1}})
			img := filepath.Join(t.TempDir(), "azure.vhd")
			vdisktest.WriteFile(t, img, func(w io.Writer) error {
				return vhd.WriteAzure(context.Background(), w, vdisktest.Open(t, raw), size)
			})
			virtual := vhd.AzureSize(size)
			if virtual%mib != 0 || virtual < size || virtual-size >= mib {
				t.Fatalf("AzureSize(%d) = %d", size, virtual)
			}
			st, _ := os.Stat(img)
			if st.Size() != virtual+512 {
				t.Fatalf("file is %d bytes, want %d + 512", st.Size(), virtual)
			}
			f := readFooter(t, img)
			if f.Dynamic || f.CurrentSize != virtual {
				t.Fatalf("footer %+v", f)
			}
			checkQemu(t, img, raw, size, virtual, false)
		})
	}
}

func TestReproducible(t *testing.T) {
	size := int64(70*mib + 12<<10)
	raw := vdisktest.Image(t, size)
	for _, wr := range writers {
		a := vdisktest.FileDigest(t, write(t, wr.write, raw, size, vhd.WithSourceDateEpoch(1)))
		b := vdisktest.FileDigest(t, write(t, wr.write, raw, size, vhd.WithSourceDateEpoch(1)))
		if a != b {
			t.Errorf("%s: two writes differ: %s vs %s", wr.name, a, b)
		}
	}
	// The unique ID follows the content.
	other := vdisktest.SparseImage(t, size, []vdisktest.Extent{{Off: 0, Len: 512}})
	for _, wr := range writers {
		if readFooter(t, write(t, wr.write, raw, size)).UniqueID == readFooter(t, write(t, wr.write, other, size)).UniqueID {
			t.Errorf("%s: different disks got the same unique ID", wr.name)
		}
	}
}

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		sectors int64
		c       uint16
		h, s    uint8
	}{
		{143360, 936, 9, 17},               // 70 MiB: 143208 sectors of geometry
		{2097152, 2080, 16, 63},            // 1 GiB
		{65535 * 16 * 255, 65535, 16, 255}, // the maximum
		{1 << 40 / 512, 65535, 16, 255},    // beyond it: clamped
	} {
		c, h, s := vhd.Geometry(tc.sectors)
		if c != tc.c || h != tc.h || s != tc.s {
			t.Errorf("Geometry(%d) = %d/%d/%d, want %d/%d/%d", tc.sectors, c, h, s, tc.c, tc.h, tc.s)
		}
	}
}

func TestExactGeometrySize(t *testing.T) {
	for _, tc := range []struct{ size, want int64 }{
		{70 * mib, 73400832}, // what qemu-img create -f vpc makes of 70M
		{73400832, 73400832},
		{512, 512 * 4 * 17},
		{200 << 30, 200 << 30}, // past the CHS range: unchanged
	} {
		got := vhd.ExactGeometrySize(tc.size)
		c, h, s := vhd.Geometry(got / 512)
		if got != tc.want || (got < 127<<30 && int64(c)*int64(h)*int64(s)*512 != got) {
			t.Errorf("ExactGeometrySize(%d) = %d (geometry %d/%d/%d), want %d", tc.size, got, c, h, s, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	src := bytes.NewReader(make([]byte, 4096))
	for _, wr := range writers {
		for _, size := range []int64{0, 1000, -512} {
			if err := wr.write(context.Background(), io.Discard, src, size); !errors.Is(err, vdisk.ErrUnaligned) {
				t.Errorf("%s size %d: got %v, want ErrUnaligned", wr.name, size, err)
			}
		}
		if err := wr.write(context.Background(), io.Discard, src, vhd.MaxSize+512); err == nil {
			t.Errorf("%s: no error past MaxSize", wr.name)
		}
		if err := wr.write(context.Background(), io.Discard, src, 8192); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: short source: got %v", wr.name, err)
		}
	}
}

func TestCancel(t *testing.T) {
	size := int64(70 * mib)
	src := vdisktest.Open(t, vdisktest.Image(t, size))
	for _, wr := range append(writers, struct {
		name    string
		write   writeFunc
		dynamic bool
	}{"azure", vhd.WriteAzure, false}) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := wr.write(ctx, io.Discard, src, size); !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled before: got %v", wr.name, err)
		}
		ctx, cancel = context.WithCancel(context.Background())
		w := &vdisktest.CancelAfter{N: 3 * mib, Cancel: cancel}
		if err := wr.write(ctx, w, src, size); !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled midway: got %v", wr.name, err)
		}
		cancel()
	}
}

func FuzzParseFooter(f *testing.F) {
	for _, wr := range writers {
		var b bytes.Buffer
		if err := wr.write(context.Background(), &b, bytes.NewReader(make([]byte, 4096)), 4096); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes()[b.Len()-512:])
	}
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		ft, err := vhd.ParseFooter(b)
		if err != nil {
			return
		}
		if len(b) != 512 || ft.CurrentSize < 0 {
			t.Fatalf("accepted %d bytes: %+v", len(b), ft)
		}
	})
}

func benchmark(b *testing.B, w writeFunc) {
	size := int64(256 * mib)
	src := vdisktest.Open(b, vdisktest.Image(b, size))
	b.SetBytes(size)
	for b.Loop() {
		if err := w(context.Background(), io.Discard, src, size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFixed(b *testing.B)   { benchmark(b, vhd.WriteFixed) }
func BenchmarkWriteDynamic(b *testing.B) { benchmark(b, vhd.WriteDynamic) }
