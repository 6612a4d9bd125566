package e2eboot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// What the lean test system of TestFormatsBoot prints on its serial
// console: its onboot container echoes formatBootMarker, kit-init's debug
// hook then echoes formatHookMarker and powers the system off.
const (
	formatBootMarker = "KIT-FORMAT-BOOT-OK"
	formatHookMarker = "KIT-FORMAT-HOOK-DONE"
	formatHook       = "#!/bin/sh\necho " + formatHookMarker + "\npoweroff\n"
)

// Budgets of TestFormatsBoot; generous: TCG, and a machine shared with
// other test binaries.
const (
	formatBuildTimeout = 20 * time.Minute
	formatBootTimeout  = 6 * time.Minute
	// maxQEMUs is how many VMs boot at once (the machine has two cores).
	maxQEMUs = 2
)

// OVMF from Debian's ovmf package: the code (read-only) and the template
// of the variable store each EFI boot gets a copy of.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// bootRow is a bootable format and how QEMU boots it.
type bootRow struct {
	format string
	// firmware is "bios" (SeaBIOS, QEMU's default) or "efi" (OVMF); ""
	// derives it from the format's needs (vhd needs raw-bios: bios).
	firmware string
	// media is "cdrom", or the QEMU format of a virtio disk: raw, qcow2,
	// vpc (VHD, fixed or dynamic) or vmdk.
	media string
	// extract names the disk file to take out of a .tar.gz output first.
	extract string
}

// bootRows are the formats TestFormatsBoot boots, each skipped while no
// plugin serves it.
var bootRows = []bootRow{
	{format: "iso-bios", firmware: "bios", media: "cdrom"},
	{format: "iso-efi", firmware: "efi", media: "cdrom"},
	{format: "iso-efi-initrd", firmware: "efi", media: "cdrom"},
	{format: "raw-bios", firmware: "bios", media: "raw"},
	{format: "raw-efi", firmware: "efi", media: "raw"},
	{format: "qcow2-bios", firmware: "bios", media: "qcow2"},
	{format: "qcow2-efi", firmware: "efi", media: "qcow2"},
	{format: "vhd", media: "vpc"},
	{format: "dynamic-vhd", media: "vpc"},
	{format: "vmdk", media: "vmdk"},
	{format: "aws", media: "raw"},
	{format: "azure", media: "vpc"},
	{format: "gcp", media: "raw", extract: "disk.raw"},
}

// rootfsFormats are built into their own directory (kernel+iso's NAME.iso
// is iso-bios' file name too) and judged by xorriso, unsquashfs and
// fsck.erofs: they hold the root filesystem for a kernel booted directly
// and are not booted here.
var rootfsFormats = []string{"kernel+iso", "kernel+squashfs", "kernel+erofs"}

// pluginComponent is a component as `kit plugin ls --json` prints it.
type pluginComponent struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Outputs []struct {
		Suffix    string `json:"suffix"`
		MediaType string `json:"mediaType"`
	} `json:"outputs"`
	Needs  []string `json:"needs"`
	Images []struct {
		Name    string `json:"name"`
		Default string `json:"default"`
	} `json:"images"`
}

// pluginFormats returns the formats the fixture's plugins serve, by name.
func (f *fixture) pluginFormats(t *testing.T) map[string]pluginComponent {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := f.kitRun(context.Background(), t, nil, &stdout, &stderr, "plugin", "ls", "--json"); err != nil {
		t.Fatalf("kit plugin ls: %v\n%s", err, stderr.String())
	}
	var plugins []struct {
		Name       string            `json:"name"`
		Error      string            `json:"error"`
		Components []pluginComponent `json:"components"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &plugins); err != nil {
		t.Fatalf("kit plugin ls --json: %v\n%s", err, stdout.String())
	}
	out := map[string]pluginComponent{}
	for _, p := range plugins {
		if p.Error != "" {
			t.Errorf("plugin %s: %s", p.Name, p.Error)
		}
		for _, c := range p.Components {
			if c.Kind == "format" {
				out[c.Name] = c
			}
		}
	}
	return out
}

// closure returns name and the formats it needs, transitively, in
// dependency order (needs first).
func closure(formats map[string]pluginComponent, names ...string) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		c, ok := formats[n]
		if !ok || seen[n] {
			return
		}
		seen[n] = true
		for _, need := range c.Needs {
			visit(need)
		}
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

// firmwareOf is row's firmware, or the one of the format it derives from.
func firmwareOf(formats map[string]pluginComponent, row bootRow) (string, error) {
	if row.firmware != "" {
		return row.firmware, nil
	}
	for _, n := range closure(formats, row.format) {
		switch {
		case strings.HasSuffix(n, "-efi"):
			return "efi", nil
		case strings.HasSuffix(n, "-bios"):
			return "bios", nil
		}
	}
	return "", fmt.Errorf("format %s derives from no -bios or -efi format (needs %v): add its firmware to bootRows", row.format, formats[row.format].Needs)
}

// leanSpec is the test system: kernel, kit-init and runc, an onboot
// container from the getty (busybox) image that echoes formatBootMarker,
// and the debug hook that powers off. built is the output of
// `kit pkg build` of examples/packages, whose tags it uses.
func leanSpec(t *testing.T, built string) []byte {
	t.Helper()
	tags := map[string]string{}
	for _, m := range builtRef.FindAllStringSubmatch(built, -1) {
		tags[m[1]] = m[2]
	}
	ref := func(name string) string {
		tag, ok := tags[name]
		if !ok {
			t.Fatalf("kit pkg build printed no tag for examples/packages/%s:\n%s", name, built)
		}
		return "127.0.0.1:5000/kit/" + name + ":" + tag
	}
	spec := map[string]any{
		"kernel": map[string]any{"image": ref("kernel"), "cmdline": "console=ttyS0 panic=-1"},
		"init":   []any{ref("init"), ref("runc")},
		"onboot": []any{map[string]any{
			"name": "format-marker", "image": ref("getty"),
			"command": []any{"/bin/sh", "-c", "echo " + formatBootMarker},
		}},
		"files": []any{map[string]any{"path": "etc/kit-init/debug.sh", "mode": "0755", "contents": formatHook}},
	}
	out, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildEvent is a line of `kit build --progress=json`.
type buildEvent struct {
	Type       string `json:"type"`
	Node       string `json:"node"`
	DurationMS int64  `json:"durationMs"`
	Error      string `json:"error"`
}

// builtArtifact is a line kit build prints per artifact.
type builtArtifact struct {
	path, digest string
	size         int64
}

// kitBuild is one `kit build --progress=json`: its artifacts by file name,
// its events and how long it took.
type kitBuild struct {
	artifacts map[string]builtArtifact
	events    []buildEvent
	took      time.Duration
}

func (f *fixture) build(t *testing.T, args ...string) kitBuild {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), formatBuildTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := f.kitRun(ctx, t, nil, &stdout, &stderr, append([]string{"build", "--progress=json"}, args...)...)
	b := kitBuild{artifacts: map[string]builtArtifact{}, took: time.Since(start)}
	if err != nil {
		t.Fatalf("kit build: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e buildEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Errorf("kit build --progress=json: not a JSON event: %q", sc.Text())
			continue
		}
		b.events = append(b.events, e)
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		fs := strings.Split(l, "\t")
		if len(fs) != 3 {
			t.Fatalf("kit build printed %q, want PATH\\tDIGEST\\tSIZE", l)
		}
		size, err := strconv.ParseInt(fs[2], 10, 64)
		if err != nil {
			t.Fatalf("kit build printed %q: %v", l, err)
		}
		b.artifacts[filepath.Base(fs[0])] = builtArtifact{path: fs[0], digest: fs[1], size: size}
	}
	return b
}

// fileDigest is "sha256:<hex>" of the file at p.
func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// checkNoWork fails the test unless the warm build did no work (every
// node came from the cache) and wrote the same bytes as the cold one.
func checkNoWork(t *testing.T, cold, warm kitBuild) {
	t.Helper()
	var worked []string
	for _, e := range warm.events {
		switch e.Type {
		case "cached", "log":
		default:
			worked = append(worked, e.Type+" "+e.Node)
		}
	}
	if len(worked) > 0 {
		t.Errorf("the second build of the same spec did work: %s", strings.Join(worked, "; "))
	}
	if len(warm.artifacts) != len(cold.artifacts) {
		t.Errorf("the second build wrote %d artifacts, the first %d", len(warm.artifacts), len(cold.artifacts))
	}
	for name, a := range cold.artifacts {
		w, ok := warm.artifacts[name]
		switch {
		case !ok:
			t.Errorf("the second build did not write %s", name)
		case w.digest != a.digest:
			t.Errorf("%s: %s, then %s", name, a.digest, w.digest)
		case fileDigest(t, w.path) != a.digest:
			t.Errorf("%s: the second build's file is not %s", w.path, a.digest)
		}
	}
}

// TestFormatsBoot builds a lean test system (kernel, kit-init and runc, one
// onboot container printing a marker, a debug hook that powers off) into
// every bootable format the plugins serve, in one `kit build` with the
// bootloader images of plugins/packages pushed to a loopback registry and
// mirrored for ghcr.io; boots each in QEMU under TCG (SeaBIOS, or OVMF for
// EFI formats; ISOs as CD-ROMs, disks as virtio drives in their own format)
// and checks the serial console for the marker and a clean power-off;
// checks that the same build again does no work and gives the same bytes;
// and checks kernel+iso, kernel+squashfs and kernel+erofs with xorriso,
// unsquashfs and fsck.erofs.
// Formats that no plugin serves yet are skipped.
//
// Skipped with -short, and without QEMU unless CI=true.
func TestFormatsBoot(t *testing.T) {
	needBootHost(t)
	f := sharedFixture(t)
	formats := f.pluginFormats(t)
	var rows []bootRow
	var selected []string
	for _, r := range bootRows {
		if _, ok := formats[r.format]; ok {
			rows = append(rows, r)
			selected = append(selected, r.format)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("no plugin serves a bootable format (plugins serve %v)", keys(formats))
	}
	var images []string
	for _, n := range closure(formats, append(selected, rootfsFormats...)...) {
		for _, im := range formats[n].Images {
			images = append(images, im.Default)
		}
	}
	f.bootPackages(t, images)

	dir := t.TempDir()
	spec := filepath.Join(dir, "lean.yml")
	if err := os.WriteFile(spec, leanSpec(t, f.built), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(out string, formats []string) []string {
		a := []string{"--arch", "amd64", "--mirror", "127.0.0.1:5000=" + f.reg.URL(), "--mirror", "ghcr.io=" + f.reg.URL(),
			"-o", filepath.Join(dir, out), "--name", "lean"}
		for _, n := range formats {
			a = append(a, "-f", n)
		}
		return append(a, spec)
	}
	cold := f.build(t, args("out", selected)...)
	warm := f.build(t, args("out-again", selected)...)
	t.Run("rebuild does no work", func(t *testing.T) { checkNoWork(t, cold, warm) })

	t.Run("kernel+iso,kernel+squashfs,kernel+erofs", func(t *testing.T) {
		var fs []string
		for _, n := range rootfsFormats {
			if _, ok := formats[n]; ok {
				fs = append(fs, n)
			}
		}
		if len(fs) == 0 {
			t.Skip("format not served yet")
		}
		// One build each: they all write NAME-kernel and NAME-cmdline,
		// which kit refuses in one build. The kernel is the same in all.
		all := kitBuild{artifacts: map[string]builtArtifact{}}
		for i, n := range fs {
			b := f.build(t, args(fmt.Sprintf("out-rootfs-%d", i), []string{n})...)
			logBuild(t, b, []string{n})
			for name, a := range b.artifacts {
				if prev, ok := all.artifacts[name]; ok && prev.digest != a.digest {
					t.Errorf("%s: %s's is %s, another format's %s", name, n, a.digest, prev.digest)
				}
				all.artifacts[name] = a
			}
		}
		checkRootfsImages(t, all)
	})

	results := &bootResults{boot: map[string]time.Duration{}}
	sem := make(chan struct{}, maxQEMUs)
	t.Run("boot", func(t *testing.T) {
		for _, r := range bootRows {
			t.Run(r.format, func(t *testing.T) {
				c, ok := formats[r.format]
				if !ok {
					t.Skip("format not served yet")
				}
				t.Parallel()
				fw, err := firmwareOf(formats, r)
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Outputs) != 1 {
					t.Fatalf("format %s has %d outputs, the boot table expects one", r.format, len(c.Outputs))
				}
				a, ok := cold.artifacts["lean"+c.Outputs[0].Suffix]
				if !ok {
					t.Fatalf("kit build wrote no lean%s", c.Outputs[0].Suffix)
				}
				sem <- struct{}{}
				defer func() { <-sem }()
				took := bootFormat(t, r, fw, a.path)
				results.add(r.format, took)
			})
		}
	})
	logBuild(t, cold, selected)
	t.Logf("cold build %v, warm build %v", cold.took.Round(time.Millisecond), warm.took.Round(time.Millisecond))
	for _, r := range bootRows {
		if d, ok := results.boot[r.format]; ok {
			t.Logf("boot %-16s %v", r.format, d.Round(100*time.Millisecond))
		}
	}
}

// bootResults collects how long each boot took.
type bootResults struct {
	mu   sync.Mutex
	boot map[string]time.Duration
}

func (b *bootResults) add(format string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.boot[format] = d
}

// logBuild logs each format's output sizes and step time (cold).
func logBuild(t *testing.T, b kitBuild, formats []string) {
	t.Helper()
	took := map[string]int64{}
	for _, e := range b.events {
		if e.Type == "done" && strings.HasPrefix(e.Node, "format ") {
			took[strings.TrimPrefix(e.Node, "format ")] = e.DurationMS
		}
	}
	names := make([]string, 0, len(b.artifacts))
	for n := range b.artifacts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("artifact %-24s %11d bytes", n, b.artifacts[n].size)
	}
	for _, n := range formats {
		t.Logf("format %-16s built in %d ms", n, took[n])
	}
}

// checkRootfsImages judges kernel+iso's and kernel+squashfs' root
// filesystem images with xorriso and unsquashfs: both list the debug hook
// and leave boot/ out; and kernel+erofs' with fsck.erofs (checkErofs).
func checkRootfsImages(t *testing.T, b kitBuild) {
	t.Helper()
	checkErofs(t, b)
	for _, c := range []struct {
		artifact, tool, pkg string
		args                func(path string) []string
	}{
		{"lean.iso", "xorriso", "xorriso", func(p string) []string { return []string{"-abort_on", "WARNING", "-indev", p, "-find", "/"} }},
		{"lean-squashfs.img", "unsquashfs", "squashfs-tools", func(p string) []string { return []string{"-l", "-d", "", p} }},
	} {
		a, ok := b.artifacts[c.artifact]
		if !ok {
			continue
		}
		if _, err := exec.LookPath(c.tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (apt-get install %s)", c.tool, c.pkg)
			}
			t.Logf("%s not installed (apt-get install %s): %s not checked", c.tool, c.pkg, c.artifact)
			continue
		}
		args := c.args(a.path)
		out, err := exec.Command(c.tool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s %s: %v\n%s", c.tool, strings.Join(args, " "), err, out)
			continue
		}
		list := string(out)
		if !strings.Contains(list, "/etc/kit-init/debug.sh") || !strings.Contains(list, "/usr/sbin/runc") {
			t.Errorf("%s: %s does not list /etc/kit-init/debug.sh and /usr/sbin/runc:\n%s", c.artifact, c.tool, list)
		}
		if strings.Contains(list, "/boot/kernel") {
			t.Errorf("%s holds /boot/kernel: boot/ is left out of the root filesystem", c.artifact)
		}
	}
	for _, n := range []string{"lean-kernel", "lean-cmdline"} {
		if _, ok := b.artifacts[n]; !ok {
			t.Errorf("kit build wrote no %s", n)
		}
	}
}

// bootFormat boots the artifact at path as row says, checks the serial
// console and returns how long the VM ran.
func bootFormat(t *testing.T, row bootRow, firmware, path string) time.Duration {
	t.Helper()
	tmp := t.TempDir()
	if row.extract != "" {
		path = extractFromTarGz(t, path, row.extract, tmp)
	}
	args := []string{"-machine", "q35", "-accel", "tcg", "-m", "1G", "-smp", "1",
		"-nographic", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nic", "none"}
	if firmware == "efi" {
		for _, p := range []string{ovmfCode, ovmfVars} {
			if _, err := os.Stat(p); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s: %v (apt-get install ovmf)", p, err)
				}
				t.Skipf("%s: %v (apt-get install ovmf)", p, err)
			}
		}
		vars := filepath.Join(tmp, "OVMF_VARS.fd")
		b, err := os.ReadFile(ovmfVars)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vars, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+qemuEscape(ovmfCode),
			"-drive", "if=pflash,format=raw,unit=1,file="+qemuEscape(vars))
	}
	if row.media == "cdrom" {
		args = append(args, "-drive", "file="+qemuEscape(path)+",media=cdrom,readonly=on")
	} else {
		// snapshot=on: the guest's writes go to a temporary overlay, the
		// artifact stays as built.
		args = append(args, "-drive", "file="+qemuEscape(path)+",format="+row.media+",if=virtio,snapshot=on")
	}
	ctx, cancel := context.WithTimeout(context.Background(), formatBootTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	log := filepath.Join(tmp, "console.log")
	_ = os.WriteFile(log, console.Bytes(), 0o644)
	t.Logf("qemu-system-x86_64 %s: %v (%v)", strings.Join(args, " "), err, took.Round(100*time.Millisecond))

	out := console.String()
	var problems []string
	switch {
	case ctx.Err() != nil:
		problems = append(problems, fmt.Sprintf("timeout: the VM was still running after %v", formatBootTimeout))
	case err != nil:
		problems = append(problems, fmt.Sprintf("qemu: %v (want exit 0: the guest powers off by itself)", err))
	}
	if strings.Contains(out, "Kernel panic") {
		problems = append(problems, "the kernel panicked")
	}
	problems = append(problems, missingInOrder(out, []string{
		formatBootMarker, formatHookMarker, "kit-init: poweroff", "reboot: Power down",
	})...)
	if len(problems) > 0 {
		t.Fatalf("%s (%s, %s):\n  %s\nconsole (%s):\n%s", row.format, firmware, row.media, strings.Join(problems, "\n  "), log, tail(out, 6000))
	}
	return took
}

// qemuEscape doubles the commas of a path for QEMU's option syntax.
func qemuEscape(p string) string { return strings.ReplaceAll(p, ",", ",,") }

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// extractFromTarGz copies the file name out of the gzip'd tar at p into
// dir and returns its path.
func extractFromTarGz(t *testing.T, p, name, dir string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s holds no %s", p, name)
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if h.Name != name {
			continue
		}
		out := filepath.Join(dir, filepath.Base(name))
		w, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkErofs checks kernel+erofs' image with fsck.erofs and extracts it:
// the debug hook and runc are there, the same bytes as in the SquashFS
// image (extracted by unsquashfs) when that was built too, and boot/ is
// left out.
func checkErofs(t *testing.T, b kitBuild) {
	t.Helper()
	a, ok := b.artifacts["lean-erofs.img"]
	if !ok {
		return
	}
	if _, err := exec.LookPath("fsck.erofs"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("fsck.erofs not installed (apt-get install erofs-utils)")
		}
		t.Log("fsck.erofs not installed (apt-get install erofs-utils): lean-erofs.img not checked")
		return
	}
	dir := filepath.Join(t.TempDir(), "erofs")
	if out, err := exec.Command("fsck.erofs", "--extract="+dir, "--no-preserve", a.path).CombinedOutput(); err != nil {
		t.Errorf("fsck.erofs --extract: %v\n%s", err, out)
		return
	}
	files := []string{"etc/kit-init/debug.sh", "usr/sbin/runc"}
	for _, f := range files {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			t.Errorf("lean-erofs.img: /%s: %v", f, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "boot")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lean-erofs.img holds /boot (%v): boot/ is left out of the root filesystem", err)
	}
	sq, ok := b.artifacts["lean-squashfs.img"]
	if _, err := exec.LookPath("unsquashfs"); !ok || err != nil {
		return
	}
	sqDir := filepath.Join(t.TempDir(), "squashfs")
	args := append([]string{"-no-xattrs", "-d", sqDir, sq.path}, files...)
	if out, err := exec.Command("unsquashfs", args...).CombinedOutput(); err != nil {
		t.Errorf("unsquashfs %s: %v\n%s", strings.Join(args, " "), err, out)
		return
	}
	for _, f := range files {
		e, err1 := os.ReadFile(filepath.Join(dir, f))
		s, err2 := os.ReadFile(filepath.Join(sqDir, f))
		if err := errors.Join(err1, err2); err != nil || !bytes.Equal(e, s) {
			t.Errorf("/%s: the EROFS image's %d bytes differ from the SquashFS image's %d (%v)", f, len(e), len(s), err)
		}
	}
	t.Logf("lean-erofs.img: fsck.erofs extracted it cleanly; /%s as in lean-squashfs.img", strings.Join(files, ", /"))
}
