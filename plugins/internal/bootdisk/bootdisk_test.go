package bootdisk

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/plugins/internal/fat"
	"github.com/kitbuild/kit/plugins/internal/partition"
	"github.com/kitbuild/kit/plugins/internal/plugtest"
)

type writer func(context.Context, io.WriterAt, Input) (*Result, error)

// boot modes under test: the writer, its bootloader packages, and the
// partition table and type sfdisk reports.
var modes = []struct {
	name     string
	write    writer
	pkgs     []string
	label    string
	partType string
}{
	{"raw-bios", RawBIOS, []string{"syslinux", "syslinux-common"}, "dos", ""},
	{"raw-efi", RawEFI, []string{"systemd-boot-efi"}, "gpt", partition.TypeEFISystem.String()},
}

// writeDisk writes a disk into a new file.
func writeDisk(t testing.TB, w writer, in Input) (string, *Result) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := w(context.Background(), f, in)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != res.Size {
		t.Fatalf("file is %d bytes, result says %d", st.Size(), res.Size)
	}
	return path, res
}

// fakePayload makes a kernel and initrd of the given sizes (not bootable).
func fakePayload(t testing.TB, kernelSize, initrdSize int) (string, string) {
	dir := t.TempDir()
	k, i := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd")
	os.WriteFile(k, bytes.Repeat([]byte("K"), kernelSize), 0o644)
	os.WriteFile(i, bytes.Repeat([]byte("I"), initrdSize), 0o644)
	return k, i
}

// TestLayout writes both disk kinds and checks them with sfdisk, sgdisk,
// fsck.vfat and mtools; the same input twice gives identical bytes.
func TestLayout(t *testing.T) {
	plugtest.Tool(t, "sfdisk")
	plugtest.Tool(t, "fsck.vfat")
	plugtest.Tool(t, "mtype")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, i := fakePayload(t, 3<<20+17, 5<<20+3)
			in := Input{Kernel: k, Initrd: i, Cmdline: "console=ttyS0 quiet kit.x=\"a b\"", Bootloader: plugtest.DebTar(t, m.pkgs...), SourceDateEpoch: 1700000000}
			path, res := writeDisk(t, m.write, in)
			var js struct {
				PartitionTable struct {
					Label      string
					Partitions []struct {
						Start, Size uint64
						Type        string
						Bootable    bool
					}
				}
			}
			if err := json.Unmarshal([]byte(plugtest.Run(t, "sfdisk", "--json", path)), &js); err != nil {
				t.Fatal(err)
			}
			pt := js.PartitionTable
			if pt.Label != m.label || len(pt.Partitions) != 1 {
				t.Fatalf("sfdisk: %+v", pt)
			}
			p := pt.Partitions[0]
			if int64(p.Start)*512 != res.PartitionOffset || int64(p.Size)*512 != res.PartitionSize {
				t.Errorf("partition %+v, result %+v", p, res)
			}
			if m.label == "gpt" {
				if p.Type != m.partType {
					t.Errorf("type %s", p.Type)
				}
				if out := plugtest.Run(t, "sgdisk", "-v", path); !strings.Contains(out, "No problems found") {
					t.Errorf("sgdisk -v:\n%s", out)
				}
				if res.FAT != fat.FAT32 {
					t.Errorf("ESP is %v", res.FAT)
				}
			} else if !p.Bootable || (p.Type != "c" && p.Type != "e") {
				t.Errorf("MBR partition %+v", p)
			}
			// The derived size: payload plus at most a few MiB.
			if res.Size%(1<<20) != 0 || res.Size > 48<<20 {
				t.Errorf("derived disk size %d", res.Size)
			}
			part := extractPartition(t, path, res)
			plugtest.Run(t, "fsck.vfat", "-n", part)
			for name, want := range map[string]string{"kernel": k, "initrd.img": i} {
				got := plugtest.Run(t, "mtype", "-i", part, "::/"+name)
				w, _ := os.ReadFile(want)
				if got != string(w) {
					t.Errorf("%s differs on the disk", name)
				}
			}
			if m.name == "raw-efi" {
				entry := plugtest.Run(t, "mtype", "-i", part, "::/loader/entries/kit.conf")
				if !strings.Contains(entry, "options "+in.Cmdline+"\n") || !strings.Contains(entry, "linux /kernel\n") {
					t.Errorf("kit.conf:\n%s", entry)
				}
				efi := plugtest.Run(t, "mtype", "-i", part, "::/EFI/BOOT/BOOTX64.EFI")
				if !strings.HasPrefix(efi, "MZ") {
					t.Error("BOOTX64.EFI is not a PE image")
				}
			} else {
				cfg := plugtest.Run(t, "mtype", "-i", part, "::/SYSLINUX.CFG")
				if !strings.Contains(cfg, "APPEND "+in.Cmdline+"\n") || !strings.Contains(cfg, "SERIAL 0 115200") {
					t.Errorf("syslinux.cfg:\n%s", cfg)
				}
				if out := plugtest.Run(t, "mattrib", "-i", part, "::/LDLINUX.SYS"); !strings.Contains(out, " SHR ") {
					t.Errorf("LDLINUX.SYS is not system, hidden and read-only: %s", out)
				}
			}
			again, _ := writeDisk(t, m.write, in)
			if fileSHA(t, path) != fileSHA(t, again) {
				t.Error("two builds of the same input differ")
			}
			in.SourceDateEpoch++
			other, _ := writeDisk(t, m.write, in)
			if fileSHA(t, path) == fileSHA(t, other) {
				t.Error("SOURCE_DATE_EPOCH does not reach the disk")
			}
		})
	}
}

// extractPartition copies the boot partition into a file of its own.
func extractPartition(t testing.TB, disk string, res *Result) string {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "part.img")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := io.Copy(o, io.NewSectionReader(f, res.PartitionOffset, res.PartitionSize)); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDiskSize(t *testing.T) {
	k, i := fakePayload(t, 3<<20, 5<<20)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			boot := plugtest.DebTar(t, m.pkgs...)
			in := Input{Kernel: k, Initrd: i, Bootloader: boot, DiskSize: 100 << 20}
			path, res := writeDisk(t, m.write, in)
			if res.Size != 100<<20 || res.PartitionOffset != 1<<20 || res.PartitionOffset+res.PartitionSize > res.Size || res.FAT != fat.FAT32 {
				t.Errorf("result %+v", res)
			}
			plugtest.Run(t, "fsck.vfat", "-n", extractPartition(t, path, res))
			in.DiskSize = 4 << 20
			_, err := m.write(context.Background(), discard{}, in)
			if !errors.Is(err, ErrTooSmall) || !strings.Contains(err.Error(), "needs at least") {
				t.Errorf("4 MiB disk: %v", err)
			}
			in.DiskSize = 100<<20 + 1
			if _, err := m.write(context.Background(), discard{}, in); err == nil {
				t.Error("a size that is not a multiple of 512 was taken")
			}
			in.DiskSize = 0
			in.Cmdline = "a\nb"
			if _, err := m.write(context.Background(), discard{}, in); err == nil {
				t.Error("a two-line command line was taken")
			}
			in.Cmdline = ""
			in.Bootloader = plugtest.DebTar(t, "mtools")
			if _, err := m.write(context.Background(), discard{}, in); err == nil || !strings.Contains(err.Error(), "not found") {
				t.Errorf("wrong bootloader image: %v", err)
			}
		})
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestReadBootFiles(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []tar.Header{
		{Name: "./usr/", Typeflag: tar.TypeDir},
		{Name: "./usr/lib/real.bin", Typeflag: tar.TypeReg, Size: 4},
		{Name: "usr/lib/rel", Typeflag: tar.TypeSymlink, Linkname: "real.bin"},
		{Name: "usr/lib/abs", Typeflag: tar.TypeSymlink, Linkname: "/usr/lib/rel"},
		{Name: "usr/lib/hard", Typeflag: tar.TypeLink, Linkname: "usr/lib/real.bin"},
		{Name: "usr/lib/loop", Typeflag: tar.TypeSymlink, Linkname: "loop"},
		{Name: "usr/lib/fifo", Typeflag: tar.TypeFifo},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("data"))
		}
	}
	tw.Close()
	path := filepath.Join(t.TempDir(), "b.tar")
	os.WriteFile(path, buf.Bytes(), 0o644)
	got, err := readBootFiles(context.Background(), path, "usr/lib/real.bin", "usr/lib/rel", "usr/lib/abs", "usr/lib/hard")
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range got {
		if string(b) != "data" {
			t.Errorf("%s: %q", n, b)
		}
	}
	for _, bad := range []string{"usr/lib/loop", "usr/lib/fifo", "usr/lib/missing"} {
		if _, err := readBootFiles(context.Background(), path, bad); err == nil {
			t.Errorf("%s was read", bad)
		}
	}
}

// TestBoot boots both disks in QEMU with TCG: raw-bios with SeaBIOS (QEMU's
// default firmware), raw-efi with OVMF, with a Debian kernel and an initrd
// whose /init prints a marker and the command line, then powers off.
func TestBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU; skipped with -short")
	}
	qemu := plugtest.Tool(t, "qemu-system-x86_64")
	k := kernel(t)
	initrd := testInitrd(t)
	// raw-bios twice: a derived size (a FAT16 partition) and 64 MiB (FAT32).
	for _, tc := range []struct {
		mode     int
		diskSize int64
		fat      fat.Type
	}{{0, 0, fat.FAT16}, {0, 64 << 20, fat.FAT32}, {1, 0, fat.FAT32}} {
		m := modes[tc.mode]
		t.Run(fmt.Sprintf("%s-%v", m.name, tc.fat), func(t *testing.T) {
			token := fmt.Sprintf("kit.test=%s-%d", m.name, os.Getpid())
			in := Input{Kernel: k, Initrd: initrd, Cmdline: "console=ttyS0 panic=-1 " + token, Bootloader: plugtest.DebTar(t, m.pkgs...), DiskSize: tc.diskSize}
			path, res := writeDisk(t, m.write, in)
			if res.FAT != tc.fat {
				t.Fatalf("%v partition, want %v", res.FAT, tc.fat)
			}
			dir := t.TempDir()
			serial := filepath.Join(dir, "serial.log")
			args := []string{"-machine", "q35", "-accel", "tcg", "-m", "512", "-display", "none", "-monitor", "none",
				"-no-reboot", "-serial", "file:" + serial,
				"-drive", "file=" + path + ",format=raw,if=virtio"}
			if m.name == "raw-efi" {
				code := "/usr/share/OVMF/OVMF_CODE_4M.fd"
				vars := "/usr/share/OVMF/OVMF_VARS_4M.fd"
				if _, err := os.Stat(code); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("OVMF missing (apt-get install ovmf): %v", err)
					}
					t.Skipf("OVMF missing (apt-get install ovmf): %v", err)
				}
				b, err := os.ReadFile(vars)
				if err != nil {
					t.Fatal(err)
				}
				myVars := filepath.Join(dir, "vars.fd")
				os.WriteFile(myVars, b, 0o644)
				args = append(args, "-drive", "if=pflash,format=raw,readonly=on,file="+code, "-drive", "if=pflash,format=raw,file="+myVars)
			}
			// A guard against a hang, not a timing assertion.
			ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
			defer cancel()
			start := time.Now()
			out, err := exec.CommandContext(ctx, qemu, args...).CombinedOutput()
			log, _ := os.ReadFile(serial)
			if err != nil || !bytes.Contains(log, []byte("KIT-BOOT-OK")) {
				t.Fatalf("qemu: %v\n%s\nserial console:\n%s", err, out, tail(log, 4000))
			}
			if !bytes.Contains(log, []byte(token)) {
				t.Errorf("the command line did not reach the kernel:\n%s", tail(log, 2000))
			}
			t.Logf("%s (%v, %d MiB) booted to the marker in %s", m.name, res.FAT, res.Size>>20, time.Since(start).Round(time.Second))
		})
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// FuzzReadBootFiles reads arbitrary tars: no panic, no endless link chase.
func FuzzReadBootFiles(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "b"})
	tw.WriteHeader(&tar.Header{Name: "b", Typeflag: tar.TypeSymlink, Linkname: "/a"})
	tw.WriteHeader(&tar.Header{Name: "c", Typeflag: tar.TypeReg, Size: 1})
	tw.Write([]byte("c"))
	tw.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "f.tar")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = readBootFiles(context.Background(), path, "a", "c", "usr/bin/syslinux")
	})
}
