//go:build linux

package initsys

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeModule is a minimal ELF64 relocatable file whose .modinfo section
// holds fields (NUL-separated), as a kernel module's does.
func fakeModule(fields ...string) []byte {
	modinfo := []byte(strings.Join(fields, "\x00") + "\x00")
	shstrtab := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(len(modinfo))
	shOff := (strOff + uint64(len(shstrtab)) + 7) &^ 7
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, v := range []any{uint16(1), uint16(62), uint32(1), uint64(0), uint64(0), shOff, uint32(0),
		uint16(ehsize), uint16(0), uint16(0), uint16(shentsize), uint16(3), uint16(2)} {
		_ = binary.Write(&b, le, v)
	}
	b.Write(modinfo)
	b.Write(shstrtab)
	b.Write(make([]byte, int(shOff)-b.Len()))
	section := func(name, typ uint32, off, size uint64) {
		for _, v := range []any{name, typ, uint64(0), uint64(0), off, size, uint32(0), uint32(0), uint64(1), uint64(0)} {
			_ = binary.Write(&b, le, v)
		}
	}
	section(0, 0, 0, 0)
	section(1, 1, modOff, uint64(len(modinfo)))   // .modinfo, PROGBITS
	section(10, 3, strOff, uint64(len(shstrtab))) // .shstrtab, STRTAB
	return b.Bytes()
}

func TestModInfoDepends(t *testing.T) {
	tests := []struct {
		in   []byte
		want []string
	}{
		{fakeModule("license=GPL", "depends=nf-conntrack,nf_defrag_ipv4", "name=nf_nat"), []string{"nf_conntrack", "nf_defrag_ipv4"}},
		{fakeModule("depends=", "name=overlay"), nil},
		{fakeModule("name=x"), nil},
		{[]byte("not elf"), nil},
		{nil, nil},
	}
	for _, tt := range tests {
		if got := ModInfoDepends(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func FuzzModInfoDepends(f *testing.F) {
	f.Add(fakeModule("depends=a,b"))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range ModInfoDepends(b) {
			if d == "" || strings.Contains(d, "-") {
				t.Errorf("bad dependency %q", d)
			}
		}
	})
}

func TestLoadModules(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.root, "lib/modules/6.6-test")
	write := func(rel string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kernel/net/nf_nat.ko", fakeModule("depends=nf_conntrack,libcrc32c"))
	write("kernel/net/nf_conntrack.ko", fakeModule("depends=libcrc32c,nf-defrag-ipv4"))
	write("kernel/lib/libcrc32c.ko", fakeModule("depends="))
	write("kernel/net/nf_defrag_ipv4.ko.xz", []byte("compressed"))
	write("kernel/fs/overlayfs/overlay.ko", fakeModule("depends="))
	write("kernel/drivers/loaded.ko", fakeModule("depends="))
	write("modules.builtin", []byte("kernel/fs/ext4/ext4.ko\n"))
	if err := os.MkdirAll(filepath.Join(f.root, "sys/module/loaded"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := f.in.LoadModules([]string{"nf-nat", "ext4", "overlay", "loaded", "missing"})
	if err == nil || !strings.Contains(err.Error(), "module missing: not found") {
		t.Errorf("err = %v", err)
	}
	want := []string{
		"insmod /lib/modules/6.6-test/kernel/lib/libcrc32c.ko false",
		"insmod /lib/modules/6.6-test/kernel/net/nf_defrag_ipv4.ko.xz true",
		"insmod /lib/modules/6.6-test/kernel/net/nf_conntrack.ko false",
		"insmod /lib/modules/6.6-test/kernel/net/nf_nat.ko false",
		"insmod /lib/modules/6.6-test/kernel/fs/overlayfs/overlay.ko false",
	}
	if got := f.rec.matching("insmod"); !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(f.console.String(), "kit-init: module nf_nat loaded\n") {
		t.Errorf("console:\n%s", f.console.String())
	}
}

func TestWantedModules(t *testing.T) {
	f := newFixture(t)
	if got := f.in.wantedModules(map[string]string{"kit.modules": "veth, br_netfilter,"}); !slices.Equal(got, []string{"veth", "br_netfilter"}) {
		t.Errorf("without /proc/filesystems: %q", got)
	}
	if err := os.MkdirAll(filepath.Join(f.root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	fsList := "nodev\tsysfs\nnodev\ttmpfs\n\text4\n"
	if err := os.WriteFile(filepath.Join(f.root, "proc/filesystems"), []byte(fsList), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := f.in.wantedModules(nil); !slices.Equal(got, []string{"overlay"}) {
		t.Errorf("no overlay known: %q", got)
	}
	if err := os.WriteFile(filepath.Join(f.root, "proc/filesystems"), []byte(fsList+"nodev\toverlay\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := f.in.wantedModules(nil); got != nil {
		t.Errorf("overlay known: %q", got)
	}
}

func TestBootLoadsModulesBeforeOnboot(t *testing.T) {
	f := newFixture(t, WithModules("overlay"))
	if err := os.MkdirAll(filepath.Join(f.root, "lib/modules/6.6-test"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.root, "lib/modules/6.6-test/overlay.ko"), fakeModule("depends="), 0o644); err != nil {
		t.Fatal(err)
	}
	f.bundle(t, Onboot, "000-x", true, "")
	f.in.Boot(context.Background(), nil)
	if i, j := f.rec.index("insmod /lib/modules/6.6-test/overlay.ko false"), f.rec.index("create x 000-x"); i < 0 || i > j {
		t.Errorf("insmod at %d, create at %d", i, j)
	}
}
