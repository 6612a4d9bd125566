package plugtest

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/sdktest"
)

// Tool returns the path of a host tool; when it is missing the test is
// skipped, or fails when CI=true.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (CI=true): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

// Run runs a host tool (skipping the test when it is missing) and returns
// its combined output, failing the test when it exits non-zero. mtools
// commands run without a configuration file and without geometry checks.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Tool(t, name), args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// debCache is where Debian packages are unpacked: $KIT_BOOTDISK_DEBS or
// ~/.cache/kit/bootdisk-debs.
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

// DebTree downloads the Debian package pkg with apt-get download (from the
// machine's apt sources) and unpacks it with dpkg-deb -x into the cache,
// once, returning the unpacked tree. Nothing is installed on the host. The
// test is skipped (failed when CI=true) when the package cannot be
// downloaded.
func DebTree(t testing.TB, pkg string) string {
	t.Helper()
	dir := filepath.Join(debCache(t), pkg)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	Tool(t, "apt-get")
	Tool(t, "dpkg-deb")
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
	Run(t, "dpkg-deb", "-x", debs[0], dir+".tmp")
	if err := os.WriteFile(filepath.Join(dir+".tmp", ".complete"), []byte(filepath.Base(debs[0])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(dir+".tmp", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// DebTar writes a tar of the union of the Debian packages' files at their
// Debian paths (sorted, PAX, no times or owners: the same bytes every run)
// to a temp file and returns its path: what the root file system of a
// bootloader image built from those packages holds.
func DebTar(t testing.TB, pkgs ...string) string {
	t.Helper()
	files := map[string]string{} // tar name → host path
	for _, p := range pkgs {
		root := DebTree(t, p)
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
			if body, err = os.ReadFile(files[n]); err != nil {
				t.Fatal(err)
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// WriteFile writes content to the new file name in a temp dir and returns
// it as an input.
func WriteFile(t testing.TB, name, content string) sdk.Input {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return sdktest.Input(t, p)
}

// RootfsTar writes a root filesystem tar with every kind of entry kit's
// normalized tars hold, and boot/ (a kernel and the command line cmdline),
// as the assemble step writes it, and returns it as an input.
func RootfsTar(t testing.TB, cmdline string) sdk.Input {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1600000000, 0)
	add := func(h *tar.Header, data string) {
		h.ModTime, h.Format = mt, tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if _, err := tw.Write([]byte(data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, "BUSYBOX "+strings.Repeat("b", 5000))
	add(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, "")
	add(&tar.Header{Name: "bin/ash", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}, "")
	add(&tar.Header{Name: "boot/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "boot/cmdline", Typeflag: tar.TypeReg, Mode: 0o644}, cmdline)
	add(&tar.Header{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644}, "KERNEL")
	add(&tar.Header{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "dev/console", Typeflag: tar.TypeChar, Mode: 0o600, Devmajor: 5, Devminor: 1}, "")
	add(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, "root:x:0:0:root:/root:/bin/sh\n")
	add(&tar.Header{Name: "etc/shadow", Typeflag: tar.TypeReg, Mode: 0o640, Gid: 42}, "root:*:1:0:99999:7:::\n")
	add(&tar.Header{Name: "run/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}, "")
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, "")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return sdktest.Input(t, p)
}
