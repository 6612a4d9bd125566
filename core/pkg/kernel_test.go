package pkg

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/pkg/pkgtest"
)

// elfModule returns a minimal ELF64 relocatable file whose .modinfo
// section holds the given NUL-separated fields, as kernel modules have.
func elfModule(fields ...string) []byte {
	modinfo := []byte(strings.Join(fields, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	shoff := ehsize + len(modinfo) + len(shstr)
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	le := binary.LittleEndian
	w := func(v any) { binary.Write(&b, le, v) }
	w(uint16(1))     // ET_REL
	w(uint16(62))    // EM_X86_64
	w(uint32(1))     // version
	w(uint64(0))     // entry
	w(uint64(0))     // phoff
	w(uint64(shoff)) // shoff
	w(uint32(0))     // flags
	w(uint16(ehsize))
	w(uint16(0)) // phentsize
	w(uint16(0)) // phnum
	w(uint16(shentsize))
	w(uint16(3)) // shnum
	w(uint16(2)) // shstrndx
	b.Write(modinfo)
	b.Write(shstr)
	type shdr struct {
		Name, Type             uint32
		Flags, Addr, Off, Size uint64
		Link, Info             uint32
		Addralign, Entsize     uint64
	}
	w(shdr{})
	w(shdr{Name: 1, Type: 1, Off: ehsize, Size: uint64(len(modinfo)), Addralign: 1})
	w(shdr{Name: 10, Type: 3, Off: uint64(ehsize + len(modinfo)), Size: uint64(len(shstr)), Addralign: 1})
	return b.Bytes()
}

func TestModinfoDepends(t *testing.T) {
	deps, err := modinfoDepends("a.ko", bytes.NewReader(elfModule("license=GPL", "depends=b,nf-nat", "name=a")))
	if err != nil || strings.Join(deps, " ") != "b nf_nat" {
		t.Errorf("depends %v, %v", deps, err)
	}
	if deps, err := modinfoDepends("a.ko", bytes.NewReader(elfModule("depends="))); err != nil || len(deps) != 0 {
		t.Errorf("empty depends: %v, %v", deps, err)
	}
	if _, err := modinfoDepends("a.ko", strings.NewReader("not elf")); err == nil {
		t.Error("a non-ELF module was accepted")
	}
}

func FuzzModinfoDepends(f *testing.F) {
	f.Add(elfModule("depends=b,c"))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		deps, err := modinfoDepends("m.ko", bytes.NewReader(b))
		if err == nil {
			for _, d := range deps {
				if d == "" || strings.Contains(d, "-") {
					t.Errorf("bad dependency name %q", d)
				}
			}
		}
	})
}

func TestKernelModules(t *testing.T) {
	mod := func(name string, fields ...string) pkgtest.File {
		return pkgtest.File{Name: "./lib/modules/6.1.0-1-amd64/kernel/" + name, Body: string(elfModule(fields...))}
	}
	repo := pkgtest.NewRepo(t,
		pkgtest.Deb{Name: "linux-image-amd64", Version: "6.1", Files: []pkgtest.File{
			{Name: "./boot/vmlinuz-6.1.0-1-amd64", Body: "bzImage"},
			{Name: "./lib/modules/6.1.0-1-amd64/modules.builtin", Body: "kernel/fs/ext4/ext4.ko\nkernel/net/packet/af_packet.ko\n"},
			{Name: "./lib/modules/6.1.0-1-amd64/modules.order", Body: "x"},
			mod("net/virtio_net.ko", "depends=net_failover"),
			mod("net/net_failover.ko", "depends=failover"),
			mod("net/core/failover.ko", "depends="),
			mod("sound/snd.ko", "depends="),
			mod("virtio-rng.ko", "name=virtio_rng"),
		}},
	)
	for _, tc := range []struct {
		modules []string
		want    string
		err     string
	}{
		{modules: nil, want: "lib lib/modules lib/modules/6.1.0-1-amd64 lib/modules/6.1.0-1-amd64/kernel lib/modules/6.1.0-1-amd64/kernel/net lib/modules/6.1.0-1-amd64/kernel/net/core lib/modules/6.1.0-1-amd64/kernel/net/core/failover.ko lib/modules/6.1.0-1-amd64/kernel/net/net_failover.ko lib/modules/6.1.0-1-amd64/kernel/net/virtio_net.ko lib/modules/6.1.0-1-amd64/kernel/sound lib/modules/6.1.0-1-amd64/kernel/sound/snd.ko lib/modules/6.1.0-1-amd64/kernel/virtio-rng.ko lib/modules/6.1.0-1-amd64/modules.builtin lib/modules/6.1.0-1-amd64/modules.order"},
		{modules: []string{"virtio-net", "af_packet", "virtio_rng"}, want: "lib lib/modules lib/modules/6.1.0-1-amd64 lib/modules/6.1.0-1-amd64/kernel lib/modules/6.1.0-1-amd64/kernel/net lib/modules/6.1.0-1-amd64/kernel/net/core lib/modules/6.1.0-1-amd64/kernel/net/core/failover.ko lib/modules/6.1.0-1-amd64/kernel/net/net_failover.ko lib/modules/6.1.0-1-amd64/kernel/net/virtio_net.ko lib/modules/6.1.0-1-amd64/kernel/virtio-rng.ko lib/modules/6.1.0-1-amd64/modules.builtin lib/modules/6.1.0-1-amd64/modules.order"},
		{modules: []string{"nosuch"}, err: "module nosuch is neither in the package nor built in"},
	} {
		dir := t.TempDir()
		yml := "image: kit/kernel\nkernel:\n  debian: linux-image-amd64\n"
		if tc.modules != nil {
			yml += "  modules: [" + strings.Join(tc.modules, ", ") + "]\n"
		}
		writeFiles(t, dir, map[string]string{"pkg.yml": yml})
		store := newStore(t)
		b, err := build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.modules, err, tc.err)
			}
			continue
		}
		must(t, err)
		_, _, layers := readImage(t, store, b.res.Digest)
		var names []string
		tr := tar.NewReader(strings.NewReader(layers[0]["kernel.tar"].body))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			must(t, err)
			names = append(names, h.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%v: kernel.tar\n%s\nwant\n%s", tc.modules, got, tc.want)
		}
	}
}
