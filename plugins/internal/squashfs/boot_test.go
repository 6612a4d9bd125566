package squashfs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/kitbuild/kit/plugins/internal/erofs"
	"github.com/kitbuild/kit/plugins/internal/iso9660"
)

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// findKernel returns a Debian bzImage: $KIT_E2E_KERNEL or the one
// testing/e2e-boot/get-kernel.sh fetches (with its modules beside it).
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

// TestBootMount boots the Debian kernel that kit's images run (TCG) with an
// initrd holding SquashFS images (zstd and gzip), an EROFS image and an ISO
// 9660 image (plugins/internal/iso9660, Rock Ridge) of the same tree, and
// the modules to read them: its /init mounts each through a
// loop device and lists every entry on the console, which must match the
// tar.
func TestBootMount(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	needTool(t, "qemu-system-x86_64", "qemu-system-x86")
	kernel := findKernel(t)
	mods, _ := filepath.Glob(filepath.Join(filepath.Dir(kernel), "..", "lib", "modules", "*", "kernel"))
	if len(mods) != 1 {
		skipOrFail(t, "no modules beside %s (the linux-image package unpacked by get-kernel.sh has them)", kernel)
	}
	order := []string{"drivers/block/loop.ko", "fs/squashfs/squashfs.ko", "lib/libcrc32c.ko", "fs/erofs/erofs.ko",
		"drivers/cdrom/cdrom.ko", "fs/isofs/isofs.ko"}

	dir := t.TempDir()
	initBin := filepath.Join(dir, "init")
	goBuild := exec.Command("go", "build", "-trimpath", "-o", initBin, "./testdata/mountinit")
	goBuild.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := goBuild.CombinedOutput(); err != nil {
		t.Fatalf("building the test init: %v\n%s", err, out)
	}
	items := tree(128 << 10)
	tb := tarOf(t, items)
	ef := filepath.Join(dir, "image.erofs")
	f, err := os.Create(ef)
	if err != nil {
		t.Fatal(err)
	}
	if err := erofs.FromTar(context.Background(), f, bytes.NewReader(tb), epoch, erofs.WithTempDir(dir)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ero, err := os.ReadFile(ef)
	if err != nil {
		t.Fatal(err)
	}
	im := iso9660.New(epoch)
	if err := im.AddTar(context.Background(), bytes.NewReader(tb), int64(len(tb))); err != nil {
		t.Fatal(err)
	}
	var iso bytes.Buffer
	if _, err := im.Write(context.Background(), &iso); err != nil {
		t.Fatal(err)
	}
	images := map[string][]byte{
		"iso.iso9660":   iso.Bytes(),
		"zstd.squashfs": build(t, tb, WithCompression(Zstd)),
		"gzip.squashfs": build(t, tb, WithCompression(Gzip)),
		"erofs.erofs":   ero,
	}

	initData, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("images", 0o755),
		cpio.Directory("modules", 0o755),
		cpio.StaticFile("init", string(initData), 0o755),
	}
	var names []string
	for i, m := range order {
		b, err := os.ReadFile(filepath.Join(mods[0], m))
		if err != nil {
			skipOrFail(t, "kernel module: %v", err)
		}
		name := fmt.Sprintf("%d-%s", i, filepath.Base(m))
		names = append(names, name)
		recs = append(recs, cpio.StaticFile("modules/"+name, string(b), 0o644))
	}
	recs = append(recs, cpio.StaticFile("modules/order", strings.Join(names, "\n"), 0o644))
	for name, b := range images {
		recs = append(recs, cpio.StaticFile("images/"+name, string(b), 0o644))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	cpio.MakeAllReproducible(recs)
	var initrd bytes.Buffer
	w := cpio.Newc.Writer(&initrd)
	if err := cpio.WriteRecords(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	initrdPath := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(initrdPath, initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-no-reboot", "-display", "none",
		"-monitor", "none", "-serial", "stdio", "-nic", "none", "-kernel", kernel, "-initrd", initrdPath,
		"-append", "console=ttyS0 panic=-1 quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	console := strings.ReplaceAll(out.String(), "\r", "")
	if !strings.Contains(console, "KIT-MOUNT-OK") {
		t.Fatalf("no KIT-MOUNT-OK after %v (qemu: %v):\n%s", time.Since(start).Round(time.Second), runErr, lastLines(console, 60))
	}
	t.Logf("booted, mounted %d images and powered off in %v", len(images), time.Since(start).Round(time.Second))

	got := map[string]map[string]string{}
	for line := range strings.SplitSeq(console, "\n") {
		rest, ok := strings.CutPrefix(line, "KIT-FS ")
		if !ok {
			continue
		}
		img, rest, _ := strings.Cut(rest, " ")
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		p, _ := strconv.Unquote(q)
		if got[img] == nil {
			got[img] = map[string]string{}
		}
		got[img][p] = strings.TrimSpace(rest[len(q):])
	}
	byName := map[string]item{}
	for _, it := range items {
		byName[it.h.Name] = it
	}
	for name := range images {
		img, _, _ := strings.Cut(name, ".")
		t.Run(img, func(t *testing.T) {
			g := got[img]
			for _, it := range items {
				p := it.h.Name
				if p == "" {
					p = "."
				}
				want := it
				if it.h.Typeflag == tar.TypeLink {
					want = byName[it.h.Linkname]
				}
				w := kernelLine(want)
				if img == "iso" {
					p = linuxRRName(p)
					if p == bigMinor {
						continue // Linux reads a Rock Ridge device number above 255 wrongly
					}
					w = w[:strings.LastIndexByte(w, ' ')] + " -" // ISO 9660 has no xattrs
				}
				if g[p] != w {
					t.Errorf("%s: the kernel shows %q, want %q", p, g[p], w)
				}
			}
			if len(g) != len(items)+21 { // the parents made: copies, deep/a/.../p, link, many, names
				t.Errorf("the kernel shows %d entries, want %d", len(g), len(items)+21)
			}
		})
	}
}

// kernelLine is what the test init prints for an entry.
func kernelLine(it item) string {
	h := it.h
	typ := map[byte]uint32{tar.TypeDir: 0o040000, tar.TypeSymlink: 0o120000, tar.TypeChar: 0o020000,
		tar.TypeBlock: 0o060000, tar.TypeFifo: 0o010000}[h.Typeflag]
	if typ == 0 {
		typ = 0o100000
	}
	mode := typ | uint32(h.Mode&0o7777)
	mt := min(h.ModTime.Unix(), epoch)
	var size int64
	var sum string
	if typ == 0o100000 {
		s := sha256.Sum256(it.data)
		sum, size = hex.EncodeToString(s[:8]), int64(len(it.data))
	}
	x := "-"
	var xs []string
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPAX); ok {
			xs = append(xs, name+"="+hex.EncodeToString([]byte(v)))
		}
	}
	if len(xs) > 0 {
		sort.Strings(xs)
		x = strings.Join(xs, ",")
	}
	return fmt.Sprintf("%o %d %d %d %d %q %d:%d %s %s", mode, h.Uid, h.Gid, mt, size, h.Linkname, h.Devmajor, h.Devminor, sum, x)
}

// linuxRRName is name as Linux shows it from Rock Ridge: it stops reading
// NM entries before a name reaches 254 bytes (fs/isofs/rock.c), so a
// component of 254 or 255 bytes shows its first 250 (one NM entry).
func linuxRRName(name string) string {
	parts := strings.Split(name, "/")
	for i, c := range parts {
		if len(c) >= 254 {
			parts[i] = c[:250]
		}
	}
	return strings.Join(parts, "/")
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
