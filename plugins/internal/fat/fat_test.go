package fat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/plugtest"
)

// content is deterministic test data of n bytes.
func content(seed string, n int) []byte {
	b := make([]byte, 0, n+32)
	for i := 0; len(b) < n; i++ {
		s := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", seed, i)))
		b = append(b, s[:]...)
	}
	return b[:n]
}

// writeImage plans and writes files into a new file of size bytes.
func writeImage(t testing.TB, size int64, files []File, opts ...Option) (string, *Volume, *Written) {
	t.Helper()
	v, err := Plan(size, files, opts...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fat.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(v.Size()); err != nil {
		t.Fatal(err)
	}
	wr, err := v.Write(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, v, wr
}

func sample() []File {
	many := []File{}
	for i := 0; i < 40; i++ {
		// Long names sharing a prefix force BASE~N aliases.
		many = append(many, Bytes(fmt.Sprintf("many/a long file name number %02d.text", i), content(fmt.Sprint(i), i*37)))
	}
	return append([]File{
		Bytes("EFI/BOOT/BOOTX64.EFI", content("efi", 70000)),
		Bytes("loader/loader.conf", []byte("timeout 0\n")),
		Bytes("loader/entries/kit.conf", []byte("linux /kernel\n")),
		Bytes("kernel", content("kernel", 1<<20+3)),
		Bytes("initrd.img", content("initrd", 300000)),
		Bytes("README.TXT", []byte("hello\n")),
		Bytes("empty", nil),
		Dir("empty-dir"),
		Bytes("deep/er/and/deeper/still/file.with.dots.tar.gz", content("deep", 4096)),
		Bytes("ünïcode näme.txt", []byte("utf-16 name\n")),
		{Path: "LDLINUX.SYS", Size: 3, Open: Bytes("", []byte("abc")).Open, Attr: ReadOnly | Hidden | System},
	}, many...)
}

// TestToolsAccept writes volumes of both variants and checks them with
// fsck.vfat, then reads every file back with mtools.
func TestToolsAccept(t *testing.T) {
	plugtest.Tool(t, "fsck.vfat")
	plugtest.Tool(t, "mcopy")
	for _, tc := range []struct {
		name string
		size int64
		opts []Option
		want Type
	}{
		{"fat16-small", 4 << 20, nil, FAT16},
		{"fat16-32MiB", 32 << 20, []Option{WithLabel("kit-esp")}, FAT16},
		{"fat32-40MiB", 40 << 20, []Option{WithSourceDateEpoch(1700000000)}, FAT32},
		{"fat32-300MiB", 300 << 20, []Option{WithLabel("BOOT"), WithHiddenSectors(2048)}, FAT32},
		{"fat16-forced", 100 << 20, []Option{WithType(FAT16)}, FAT16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := sample()
			img, v, _ := writeImage(t, tc.size, files, tc.opts...)
			if v.Type() != tc.want {
				t.Fatalf("type %v, want %v", v.Type(), tc.want)
			}
			plugtest.Run(t, "fsck.vfat", "-n", "-V", img)
			out := filepath.Join(t.TempDir(), "out")
			plugtest.Run(t, "mcopy", "-s", "-n", "-m", "-i", img, "::", out)
			for _, f := range files {
				got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Path)))
				if f.Dir {
					st, err := os.Stat(filepath.Join(out, f.Path))
					if err != nil || !st.IsDir() {
						t.Errorf("%s: not a directory after mcopy: %v", f.Path, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", f.Path, err)
					continue
				}
				rc, _ := f.Open()
				want, _ := io.ReadAll(rc)
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes read back, want %d (contents differ)", f.Path, len(got), len(want))
				}
			}
			// mdir lists the long names and the aliases.
			listing := plugtest.Run(t, "mdir", "-a", "-i", img, "::/many")
			if !strings.Contains(listing, "ALONGF~1 TEX") || !strings.Contains(listing, "a long file name number 39.text") {
				t.Errorf("mdir ::/many:\n%s", listing)
			}
		})
	}
}

func sha(t testing.TB, path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestReproducible(t *testing.T) {
	a, _, wa := writeImage(t, 40<<20, sample(), WithSourceDateEpoch(1700000000))
	b, _, wb := writeImage(t, 40<<20, sample(), WithSourceDateEpoch(1700000000))
	if sha(t, a) != sha(t, b) || wa.VolumeID != wb.VolumeID {
		t.Fatal("two writes of the same files differ")
	}
	// The order files are given in does not matter.
	files := sample()
	sort.Slice(files, func(i, j int) bool { return files[i].Path > files[j].Path })
	c, _, _ := writeImage(t, 40<<20, files, WithSourceDateEpoch(1700000000))
	if sha(t, a) != sha(t, c) {
		t.Fatal("the order of the file list changed the volume")
	}
	// Content and time change the serial and the bytes.
	files = sample()
	files[5] = Bytes("README.TXT", []byte("HELLO\n"))
	_, _, wd := writeImage(t, 40<<20, files, WithSourceDateEpoch(1700000000))
	e, _, we := writeImage(t, 40<<20, sample(), WithSourceDateEpoch(1700000002))
	if wd.VolumeID == wa.VolumeID || we.VolumeID == wa.VolumeID || sha(t, e) == sha(t, a) {
		t.Fatal("content or time did not change the volume")
	}
}

func TestExtent(t *testing.T) {
	files := sample()
	img, v, _ := writeImage(t, 8<<20, files)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Dir {
			continue
		}
		e, err := v.Extent(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := f.Open()
		want, _ := io.ReadAll(rc)
		if got := raw[e.Offset : e.Offset+e.Size]; !bytes.Equal(got, want) {
			t.Errorf("%s: bytes at the extent differ", f.Path)
		}
		sec := e.Sectors()
		if int64(len(sec)) != (e.Size+511)/512 || (len(sec) > 0 && sec[0]*512 != e.Offset) {
			t.Errorf("%s: sectors %v for extent %+v", f.Path, sec, e)
		}
	}
	if _, err := v.Extent("many"); err == nil {
		t.Error("Extent of a directory succeeded")
	}
	if _, err := v.Extent("efi/boot/bootx64.efi"); err != nil {
		t.Errorf("Extent is not case-insensitive: %v", err)
	}
}

func TestMinSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []File
	}{
		{"tiny", []File{Bytes("a", []byte("x"))}},
		{"sample", sample()},
		{"big", []File{{Path: "big", Size: 60 << 20, Open: func() (io.ReadCloser, error) { return io.NopCloser(io.LimitReader(zeros{}, 60<<20)), nil }}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := MinSize(tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Plan(n, tc.files); err != nil {
				t.Fatalf("MinSize %d does not fit: %v", n, err)
			}
			if _, err := Plan(n-64<<10, tc.files); !errors.Is(err, ErrNoSpace) {
				t.Fatalf("MinSize %d is not minimal: %v", n, err)
			}
			if tc.name == "big" {
				img, _, _ := writeImage(t, n, tc.files)
				plugtest.Run(t, "fsck.vfat", "-n", img)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestErrors(t *testing.T) {
	open := func(b string) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(b)), nil }
	}
	for _, tc := range []struct {
		name  string
		size  int64
		files []File
		opts  []Option
		want  string
	}{
		{"duplicate", 8 << 20, []File{Bytes("a", nil), Bytes("a", nil)}, nil, "given twice"},
		{"case", 8 << 20, []File{Bytes("a", nil), Bytes("A", nil)}, nil, "differ only in case"},
		{"file-as-dir", 8 << 20, []File{Bytes("a", nil), Bytes("a/b", nil)}, nil, "is a file, not a directory"},
		{"dir-as-file", 8 << 20, []File{Bytes("a/b", nil), Bytes("a", nil)}, nil, "both a file and a directory"},
		{"bad-char", 8 << 20, []File{Bytes("a:b", nil)}, nil, "not allowed"},
		{"dotdot", 8 << 20, []File{Bytes("../a", nil)}, nil, "invalid name"},
		{"trailing-dot", 8 << 20, []File{Bytes("a.", nil)}, nil, "trailing"},
		{"empty", 8 << 20, []File{Bytes("/", nil)}, nil, "empty path"},
		{"too-small", 1 << 20, []File{Bytes("a", nil)}, nil, "too small"},
		{"full", 4 << 20, []File{{Path: "a", Size: 5 << 20, Open: open("")}}, nil, "need"},
		{"fat32-small", 16 << 20, nil, []Option{WithType(FAT32)}, "FAT32 volume needs"},
		{"label", 8 << 20, nil, []Option{WithLabel("a label that is long")}, "longer than 11"},
		{"no-open", 8 << 20, []File{{Path: "a", Size: 1}}, nil, "no content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(tc.size, tc.files, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A reader that yields another length than declared.
	for _, f := range []File{{Path: "short", Size: 10, Open: open("abc")}, {Path: "long", Size: 2, Open: open("abc")}} {
		v, err := Plan(8<<20, []File{f})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Write(context.Background(), discard{}); err == nil || !strings.Contains(err.Error(), f.Path) {
			t.Errorf("%s: error %v", f.Path, err)
		}
	}
	// Cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, _ := Plan(8<<20, sample())
	if _, err := v.Write(ctx, discard{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestShortNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  []string // "BASE    EXT" per name; "" for an exact 8.3 name
	}{
		{[]string{"KERNEL", "README.TXT", "A.B"}, []string{"", "", ""}},
		{[]string{"kernel", "initrd.img"}, []string{"KERNEL     ", "INITRD  IMG"}},
		{[]string{"loader.conf"}, []string{"LOADER~1CON"}},
		{[]string{"systemd-bootx64.efi"}, []string{"SYSTEM~1EFI"}},
		{[]string{"a b", "a+b"}, []string{"AB~1       ", "A_B~1      "}},
		{[]string{".hidden"}, []string{"HIDDEN~1   "}},
		{[]string{"LONGNA~1", "longname1", "longname2"}, []string{"", "LONGNA~2   ", "LONGNA~3   "}},
		{[]string{"x.tar.gz"}, []string{"XTAR~1  GZ "}},
	} {
		d := &node{dir: true}
		for _, n := range tc.names {
			d.children = append(d.children, &node{name: n})
		}
		if err := assignShortNames(d); err != nil {
			t.Fatal(err)
		}
		for i, c := range d.children {
			got := string(c.short[:])
			if tc.want[i] == "" {
				if c.long {
					t.Errorf("%q got a long name entry", c.name)
				}
				continue
			}
			if got != tc.want[i] || !c.long {
				t.Errorf("%q: short name %q (long %v), want %q", c.name, got, c.long, tc.want[i])
			}
		}
	}
}

func TestDOSTime(t *testing.T) {
	for _, tc := range []struct {
		epoch      int64
		date, time uint16
	}{
		{0, 0x21, 0},                   // clamped to 1980-01-01
		{315532800, 0x21, 0},           // 1980-01-01
		{1700000000, 0x576e, 0xb1aa},   // 2023-11-14 22:13:20
		{1 << 40, 0xff9f, 0xbf7d},      // clamped to 2107-12-31 23:59:58
		{1700000001, 0x576e, 0xb1aa},   // odd seconds round down
		{-100000000, 0x21, 0x00000000}, // before 1970
	} {
		got := dosTime(tc.epoch)
		if got.date != tc.date || got.time != tc.time {
			t.Errorf("dosTime(%d) = %#x %#x, want %#x %#x", tc.epoch, got.date, got.time, tc.date, tc.time)
		}
	}
}
