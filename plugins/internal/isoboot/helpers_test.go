package isoboot

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// needTool skips the test when name is not installed, unless CI=true.
func needTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
}

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// cacheDir is where downloaded test inputs are kept between runs.
func cacheDir(t testing.TB, name string) string {
	t.Helper()
	base := os.Getenv("XDG_CACHE_HOME")
	if home, err := os.UserHomeDir(); base == "" && err == nil {
		base = filepath.Join(home, ".cache")
	}
	if base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "kit", name)
}

var debOnce sync.Mutex

// debianTree downloads Debian's bootloader packages (apt-get download, no
// install) and unpacks them with dpkg-deb -x into a cached directory, which
// it returns.
func debianTree(t testing.TB) string {
	t.Helper()
	debOnce.Lock()
	defer debOnce.Unlock()
	dir := cacheDir(t, "isoboot-debs")
	root := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(root, SystemdBootX64)); err == nil {
		if _, err := os.Stat(filepath.Join(root, IsolinuxBin)); err == nil {
			return root
		}
	}
	needTool(t, "apt-get", "apt")
	needTool(t, "dpkg-deb", "dpkg")
	dl := filepath.Join(dir, "debs")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"download", "-qq"}
	if os.Geteuid() == 0 {
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append(args, "isolinux", "syslinux-common", "systemd-boot-efi")...)
		cmd.Dir = dl
		return cmd.CombinedOutput()
	}
	out, err := download()
	if err != nil && os.Geteuid() == 0 { // the package lists may be missing or stale
		if uout, uerr := exec.Command("apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			t.Logf("apt-get update: %v\n%s", uerr, uout)
		}
		out, err = download()
	}
	if err != nil {
		skipOrFail(t, "apt-get download of the bootloader packages failed (run apt-get update?): %v\n%s", err, out)
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	for _, d := range debs {
		if out, err := exec.Command("dpkg-deb", "-x", d, tmp).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", d, err, out)
		}
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	return root
}

// tarTree writes the tree at root as a sorted tar of relative names, as
// a bootloader image unpacks to.
func tarTree(t testing.TB, root, out string) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range names {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		h.Name = filepath.ToSlash(rel)
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// bootloaderTar is a tar of the Debian bootloader packages.
func bootloaderTar(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootloaders.tar")
	tarTree(t, debianTree(t), out)
	return out
}

// findKernel returns a bzImage: $KIT_E2E_KERNEL or the one
// testing/e2e-boot/get-kernel.sh fetches.
func findKernel(t testing.TB) string {
	t.Helper()
	if k := os.Getenv("KIT_E2E_KERNEL"); k != "" {
		return k
	}
	script, err := filepath.Abs("../../../testing/e2e-boot/get-kernel.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		skipOrFail(t, "no kernel to boot (testing/e2e-boot/get-kernel.sh: %v)", err)
	}
	return strings.TrimSpace(string(out))
}

// markerInitrd builds the test /init (static, CGO off) and packs it in a
// newc cpio with /dev/console.
func markerInitrd(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/bootinit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test init: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(data), 0o755),
	}
	cpio.MakeAllReproducible(recs)
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fatImage builds the ESP with mkfs.vfat and mtools from files (the
// pure-Go FAT writer replaces this in the format plugin).
func fatImage(t testing.TB, ctx context.Context, files []File, out string) {
	t.Helper()
	needTool(t, "mkfs.vfat", "dosfstools")
	needTool(t, "mcopy", "mtools")
	var total int64
	for _, f := range files {
		total += f.Size
	}
	kib := total/1024*11/10 + 2048
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("mkfs.vfat", "-C", "--invariant", "-i", "4b495431", "-n", "KITESP", out, fmt.Sprint(kib))
	dirs := map[string]bool{}
	tmp := t.TempDir()
	for i, f := range files {
		parts := strings.Split(f.Path, "/")
		for j := 1; j < len(parts); j++ {
			d := strings.Join(parts[:j], "/")
			if !dirs[d] {
				dirs[d] = true
				run("mmd", "-i", out, "::/"+d)
			}
		}
		rc, err := f.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		host := filepath.Join(tmp, fmt.Sprint(i))
		hf, err := os.Create(host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(hf, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		hf.Close()
		run("mcopy", "-i", out, host, "::/"+f.Path)
	}
}
