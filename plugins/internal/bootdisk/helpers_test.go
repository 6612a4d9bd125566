package bootdisk

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// need returns the path of a host tool, skipping the test when it is
// missing (failing when CI=true).
func need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found and CI=true: %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(need(t, name), args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// debCache is where Debian packages are unpacked for the tests:
// $KIT_BOOTDISK_DEBS or ~/.cache/kit/bootdisk-debs.
func debCache(t testing.TB) string {
	if d := os.Getenv("KIT_BOOTDISK_DEBS"); d != "" {
		return d
	}
	c, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(c, "kit", "bootdisk-debs")
}

// debTree downloads a Debian package with apt-get (from the machine's apt
// sources) and unpacks it with dpkg-deb -x into the cache, once; it returns
// the unpacked tree. Nothing is installed on the host.
func debTree(t testing.TB, pkg string) string {
	t.Helper()
	dir := filepath.Join(debCache(t), pkg)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	need(t, "apt-get")
	need(t, "dpkg-deb")
	tmp := t.TempDir()
	args := []string{"download", "-qq"}
	if os.Geteuid() == 0 {
		args = append(args, "-o", "APT::Sandbox::User=root") // the temp dir is not _apt's
	}
	cmd := exec.Command("apt-get", append(args, pkg)...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
		}
		t.Skipf("apt-get download %s: %v\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download %s: %d .deb files", pkg, len(debs))
	}
	os.RemoveAll(dir + ".tmp")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg-deb", "-x", debs[0], dir+".tmp")
	if err := os.WriteFile(filepath.Join(dir+".tmp", ".complete"), []byte(filepath.Base(debs[0])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(dir+".tmp", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bootloaderTar makes a tar of the union of the packages' files, as the
// bootloader image's root file system would be.
func bootloaderTar(t testing.TB, pkgs ...string) string {
	t.Helper()
	files := map[string]string{} // tar name → host path
	for _, p := range pkgs {
		root := debTree(t, p)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || path == root || d.Name() == ".complete" {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			files[filepath.ToSlash(rel)] = path
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		st, err := os.Lstat(files[n])
		if err != nil {
			t.Fatal(err)
		}
		h := &tar.Header{Name: n, Mode: int64(st.Mode().Perm()), Format: tar.FormatPAX}
		var body []byte
		switch {
		case st.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, n+"/"
		case st.Mode()&fs.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			h.Linkname, _ = os.Readlink(files[n])
		default:
			h.Typeflag = tar.TypeReg
			body, err = os.ReadFile(files[n])
			if err != nil {
				t.Fatal(err)
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bootloader.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// kernel returns the path of a bootable x86-64 kernel: $KIT_E2E_KERNEL, or
// what testing/e2e-boot/get-kernel.sh fetches.
func kernel(t testing.TB) string {
	t.Helper()
	if k := os.Getenv("KIT_E2E_KERNEL"); k != "" {
		return k
	}
	cmd := exec.Command("../../../testing/e2e-boot/get-kernel.sh")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("get-kernel.sh: %v\n%s", err, stderr.Bytes())
		}
		t.Skipf("no kernel (set KIT_E2E_KERNEL): get-kernel.sh: %v\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// testInitrd builds a newc cpio whose /init (testdata/init, a static Go
// binary) prints "KIT-BOOT-OK cmdline: ..." on the console and powers off.
func testInitrd(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, "./testdata/init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test init: %v\n%s", err, out)
	}
	initBin, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("proc", 0o755),
		cpio.StaticFile("init", string(initBin), 0o755),
	}
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSHA(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
