package e2e

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/kitbuild/kit/testing/imagegen"
)

// TestSourceDateEpoch checks that SOURCE_DATE_EPOCH (or the flag) sets
// every timestamp of the artifacts, and that the artifacts do not depend on
// --jobs.
func TestSourceDateEpoch(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	const epoch = 1700000000 // earlier than every time in the images
	args := func(cache, out string, extra ...string) []string {
		return append(append([]string{"build", "--cache", filepath.Join(dir, cache), "-f", "tar", "-f", "kernel+initrd", "-o", out}, extra...), spec)
	}
	if r := kitEnv(t, dir, []string{"SOURCE_DATE_EPOCH=1700000000"}, args("c1", "env", "--jobs", "1")...); r.code != 0 {
		t.Fatalf("%s", r)
	}
	env := digests(t, filepath.Join(dir, "env"))
	mustKit(t, dir, args("c2", "flag", "--source-date-epoch", "1700000000", "--jobs", "4")...)
	sameOutputs(t, "--source-date-epoch with --jobs 4 against SOURCE_DATE_EPOCH with --jobs 1", digests(t, filepath.Join(dir, "flag")), env)
	mustKit(t, dir, args("c1", "zero")...)
	zero := digests(t, filepath.Join(dir, "zero"))
	if zero["small.tar"] == env["small.tar"] || zero["small-initrd.img"] == env["small-initrd.img"] {
		t.Error("the epoch does not change the tar and the initrd")
	}
	if zero["small-kernel"] != env["small-kernel"] {
		t.Error("the epoch changed the kernel binary")
	}

	m, _ := readTarAt(t, filepath.Join(dir, "env", "small.tar"), epoch)
	if len(m) < 50 {
		t.Fatalf("the tar has %d entries", len(m))
	}
	initrd, err := os.ReadFile(filepath.Join(dir, "env", "small-initrd.img"))
	if err != nil {
		t.Fatal(err)
	}
	gz := initrd[len(f.kernel["intel-ucode.cpio"]):]
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" || zr.Comment != "" {
		t.Errorf("gzip header: mtime %v name %q comment %q", zr.ModTime, zr.Name, zr.Comment)
	}
	// One member, then zero padding to a multiple of 4 bytes (as LinuxKit
	// pads it; the kernel skips zeros between initramfs archives).
	zr.Multistream(false)
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(gz)%4 != 0 {
		t.Errorf("the gzip member is not padded to a multiple of 4 bytes")
	}
	rr := cpio.Newc.Reader(bytes.NewReader(raw))
	n := 0
	for {
		rec, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Name == "TRAILER!!!" {
			continue
		}
		n++
		if rec.MTime != epoch {
			t.Errorf("initrd %s: mtime %d, want %d", rec.Name, rec.MTime, epoch)
		}
	}
	if n != len(m)-3 { // the tar's boot/kernel, boot/cmdline, boot/ucode.cpio
		t.Errorf("the initrd has %d entries, the tar %d", n, len(m))
	}
}

// TestArch builds one spec of multi-arch images for amd64 and for arm64.
func TestArch(t *testing.T) {
	f := newFixture(t)
	index := func(ref string, imgs ...v1.Image) {
		t.Helper()
		idx, err := imagegen.Index(imgs...)
		if err != nil {
			t.Fatal(err)
		}
		f.reg.PushIndex(t, ref, idx)
	}
	kernels := map[string][]byte{}
	var kimgs, iimgs []v1.Image
	for _, arch := range []string{"amd64", "arm64"} {
		ko := imagegen.KernelOptions{Arch: arch}
		kf, err := imagegen.KernelFiles(ko)
		if err != nil {
			t.Fatal(err)
		}
		kernels[arch] = kf["kernel"]
		k, err := imagegen.Kernel(ko)
		if err != nil {
			t.Fatal(err)
		}
		i, err := imagegen.Image(imagegen.Config{Platform: "linux/" + arch}, imagegen.WithParents(imagegen.Exec("init", "#!/bin/sh\n"), imagegen.Reg("etc/init-arch", arch+"\n")))
		if err != nil {
			t.Fatal(err)
		}
		kimgs, iimgs = append(kimgs, k), append(iimgs, i)
	}
	index("e2e/mkernel:1", kimgs...)
	index("e2e/minit:1", iimgs...)
	getty, err := imagegen.MultiArch("getty", imagegen.Config{Cmd: []string{"/bin/getty"}})
	if err != nil {
		t.Fatal(err)
	}
	f.reg.PushIndex(t, "e2e/mgetty:1", getty)

	dir := t.TempDir()
	spec := f.spec(t, dir, "multi.yml", `kernel:
  image: $REG/e2e/mkernel:1
  cmdline: "console=ttyS0"
init:
  - $REG/e2e/minit:1
services:
  - name: getty
    image: $REG/e2e/mgetty:1
`)
	cache := filepath.Join(dir, "cache")
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dir, arch)
		mustKit(t, dir, "build", "--arch", arch, "--cache", cache, "-f", "tar", "-f", "kernel+initrd", "-o", out, spec)
		m, _ := readTar(t, filepath.Join(out, "multi.tar"))
		body := func(n string) string {
			if e, ok := m[n]; ok {
				return string(e.body)
			}
			return "<missing>"
		}
		if !bytes.Equal([]byte(body("boot/kernel")), kernels[arch]) {
			t.Errorf("%s: boot/kernel is not the %s kernel", arch, arch)
		}
		if got := body("etc/init-arch"); got != arch+"\n" {
			t.Errorf("%s: the init image is for %q", arch, got)
		}
		if got := body("containers/services/getty/lower/etc/arch"); got != arch+"\n" {
			t.Errorf("%s: the getty image is for %q", arch, got)
		}
		_, dtb := m["boot/dtb/broadcom/bcm2710-rpi-3-b.dtb"]
		if dtb != (arch == "arm64") {
			t.Errorf("%s: boot/dtb present=%v", arch, dtb)
		}
		if k, _ := os.ReadFile(filepath.Join(out, "multi-kernel")); !bytes.Equal(k, kernels[arch]) {
			t.Errorf("%s: multi-kernel is not the %s kernel", arch, arch)
		}
	}
	lock, err := os.ReadFile(filepath.Join(dir, "multi.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"linux/amd64", "linux/arm64"} {
		if !strings.Contains(string(lock), want) {
			t.Errorf("the lock file does not pin the %s manifests:\n%s", want, lock)
		}
	}
	// Both platforms are locked: another arm64 build asks the registry
	// nothing.
	f.reg.Reset()
	mustKit(t, dir, "build", "--arch", "arm64", "--cache", cache, "-f", "tar", "-o", filepath.Join(dir, "again"), spec)
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("a locked, cached arm64 rebuild made %d registry requests", n)
	}
}

// TestSharedImage: an image used by several containers is fetched and
// unpacked once per mode; kernel tar: none leaves the modules out.
func TestSharedImage(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "shared.yml", `kernel:
  image: $REG/e2e/kernel:1
  tar: none
init:
  - $REG/e2e/init:1
  - $REG/e2e/getty:1
onboot:
  - name: first
    image: $REG/e2e/getty:1
services:
  - name: getty
    image: $REG/e2e/getty:1
  - name: tty2
    image: $REG/e2e/getty:1
    readonly: true
`)
	r := mustKit(t, dir, "build", "--cache", filepath.Join(dir, "cache"), "-f", "tar", "-o", "out", "--progress=json", spec)
	count := map[string]int{}
	for _, n := range r.started() {
		if strings.Contains(n, "e2e/getty") {
			kind, _, _ := strings.Cut(n, " ")
			if kind == "unpack" {
				kind += n[strings.LastIndex(n, " "):]
			}
			count[kind]++
		}
	}
	if count["fetch"] != 1 || count["unpack (container)"] != 1 || count["unpack (init)"] != 1 {
		t.Errorf("steps of the shared image: %v, want one fetch and one unpack per mode", count)
	}
	m, _ := readTar(t, filepath.Join(dir, "out", "shared.tar"))
	for _, p := range []string{"containers/onboot/000-first/lower/bin/getty", "containers/services/getty/lower/bin/getty",
		"containers/services/tty2/rootfs/bin/getty", "bin/getty", "boot/kernel"} {
		if _, ok := m[p]; !ok {
			t.Errorf("%s is missing", p)
		}
	}
	for n := range m {
		if strings.HasPrefix(n, "lib/modules") {
			t.Errorf("kernel tar: none, yet %s is in the root filesystem", n)
			break
		}
	}
	if e := m["boot/cmdline"]; e == nil || len(e.body) != 0 {
		t.Errorf("boot/cmdline without a cmdline: %+v", e)
	}
}
