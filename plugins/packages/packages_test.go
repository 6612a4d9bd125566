package packages

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/kitbuild/kit/plugins/internal/bootdisk"
)

// pkgs are the bootloader images: the directory, the architecture they are
// built for, and files (regular expressions over tar names) that must be in
// the image.
var pkgs = []struct {
	dir, arch string
	want      []string
}{
	{"syslinux", "amd64", []string{
		`^usr/lib/syslinux/mbr/mbr\.bin$`,
		`^usr/lib/syslinux/modules/bios/ldlinux\.c32$`,
		`^usr/lib/syslinux/modules/bios/menu\.c32$`,
		`^usr/bin/syslinux$`,
		`^usr/lib/ISOLINUX/isolinux\.bin$`,
		`^usr/lib/ISOLINUX/isohdpfx\.bin$`,
	}},
	{"systemd-boot", "amd64", []string{
		`^usr/lib/systemd/boot/efi/systemd-bootx64\.efi$`,
	}},
	{"rpi-firmware", "arm64", []string{
		`^usr/lib/raspi-firmware/start4\.elf$`,
		`^usr/lib/raspi-firmware/fixup4\.dat$`,
		`^usr/lib/linux-image-[^/]+-arm64/broadcom/bcm2711-rpi-4-b\.dtb$`,
		`^usr/lib/linux-image-[^/]+-arm64/broadcom/bcm2711-rpi-400\.dtb$`,
	}},
}

// kit builds the kit binary once per test.
func kit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kit")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/kitbuild/kit/cmd/kit")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building kit: %v\n%s", err, out)
	}
	return bin
}

// TestPackages builds the images with `kit pkg build` into a fresh cache
// and checks that the boot files are in them. It downloads about 70 MB of
// Debian packages (the arm64 kernel holds the device trees), so it runs
// only with CI=true or KIT_TEST_PACKAGES=1.
func TestPackages(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("KIT_TEST_PACKAGES") != "1" {
		t.Skip("downloads ~70 MB of Debian packages; set KIT_TEST_PACKAGES=1 (or CI=true) to run")
	}
	bin := kit(t)
	cache := t.TempDir()
	for _, p := range pkgs {
		t.Run(p.dir, func(t *testing.T) {
			out, err := exec.Command(bin, "pkg", "build", "--locked", "--progress", "plain", "--cache", cache, "--arch", p.arch, p.dir).CombinedOutput()
			if err != nil {
				t.Fatalf("kit pkg build %s: %v\n%s", p.dir, err, out)
			}
			ref := strings.Fields(lastLine(string(out)))[0]
			rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
			names := imageFiles(t, cache, ref, rootfs)
			for _, w := range p.want {
				re := regexp.MustCompile(w)
				found := false
				for n := range names {
					if re.MatchString(n) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("%s: no file matches %s", ref, w)
				}
			}
			for n := range names {
				// Only the Raspberry Pi device trees, whatever the kernel
				// version in pkg.lock: a new version must be excluded anew.
				if strings.HasSuffix(n, ".dtb") && !strings.Contains(n, "/broadcom/") {
					t.Errorf("%s: %s (update the exclude-paths to the kernel version in pkg.lock)", ref, n)
					break
				}
			}
			// The boot disks take their files from the image's root file
			// system by the paths bootdisk expects.
			write := map[string]func(context.Context, io.WriterAt, bootdisk.Input) (*bootdisk.Result, error){
				"syslinux": bootdisk.RawBIOS, "systemd-boot": bootdisk.RawEFI,
			}[p.dir]
			if write == nil {
				return
			}
			k := filepath.Join(t.TempDir(), "kernel")
			os.WriteFile(k, bytes.Repeat([]byte("k"), 1<<20), 0o644)
			f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := write(context.Background(), f, bootdisk.Input{Kernel: k, Initrd: k, Bootloader: rootfs}); err != nil {
				t.Errorf("a boot disk from %s: %v", ref, err)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// imageFiles lists the regular files of the image ref in the kit cache (an
// OCI image layout) and writes its layers, concatenated, as one tar to
// rootfs (the images have no whiteouts: a later file wins in readers).
func imageFiles(t *testing.T, cache, ref, rootfs string) map[string]bool {
	t.Helper()
	p, err := layout.FromPath(cache)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range m.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] != ref {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(rootfs)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		tw := tar.NewWriter(out)
		defer tw.Close()
		for _, l := range layers {
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Typeflag == tar.TypeReg {
					names[strings.TrimPrefix(h.Name, "./")] = true
				}
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(tw, tr); err != nil {
					t.Fatal(err)
				}
			}
			rc.Close()
		}
		return names
	}
	t.Fatalf("%s not in the cache's index.json", ref)
	return nil
}
