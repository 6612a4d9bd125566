package bazel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/format"
	_ "github.com/kitbuild/kit/core/format/builtin"
	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

// goBuild builds Go main packages of the kit module: pkg → output path.
func goBuild(t testing.TB, outs map[string]string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found:", err)
	}
	for pkg, out := range outs {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(goBin, "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
}

// devKit runs kit as a developer would outside Bazel (to make the lock
// files and the base image layout the workspace commits).
func devKit(t testing.TB, kit, dir, home string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kit, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + home, "CI=1"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kit %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree returns every regular file and symlink under root (relative path →
// sha256 of the content or link target) and every directory (→ "dir").
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link:" + target
		default:
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			out[rel] = hex.EncodeToString(h.Sum(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// declaredBy reports whether path (relative to the execroot) is one of the
// declared outputs or inside a declared directory.
func declaredBy(path string, declared []string) bool {
	for _, d := range declared {
		if strings.HasSuffix(d, "/") {
			if path == strings.TrimSuffix(d, "/") || strings.HasPrefix(path, d) {
				return true
			}
		} else if path == d {
			return true
		}
	}
	return false
}

// TestCommandsRun runs the sample targets' exact command lines (the ones
// TestCommandsGolden pins) as Bazel would: in an execroot holding only the
// declared inputs, with the action's environment, after creating the
// declared output directories. It checks that each action writes exactly
// its declared outputs and nothing else (the inputs, the lock files
// included, stay byte-identical; no file is left in $TMPDIR), that the
// offline system asks no registry, that the mirror system reaches the
// registry only through --mirror, and that the artifacts are the ones a
// plain kit build of the same locked spec writes.
func TestCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kit and a plugin")
	}
	root := t.TempDir()
	execroot := filepath.Join(root, "execroot")
	goBuild(t, map[string]string{
		"github.com/kitbuild/kit/cmd/kit":                                    filepath.Join(execroot, kitPath),
		"github.com/kitbuild/kit/plugins/format-fs/cmd/kit-plugin-format-fs": filepath.Join(execroot, fsPlugin),
	})
	kit := filepath.Join(execroot, kitPath)

	// The registry the developer locks against and the mirror serves.
	reg := registry.Start(t)
	kernel, err := imagegen.Kernel(imagegen.KernelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	initImg, err := imagegen.Init("init",
		imagegen.Exec("init", "#!/bin/sh\nexec /sbin/init\n"),
		imagegen.Reg("etc/os-release", "NAME=demo\n"),
	)
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "kit/kernel:1", kernel)
	reg.Push(t, "kit/init:1", initImg)

	// The workspace's sources.
	writeFile(t, filepath.Join(execroot, "systems/hello/pkg.yml"), "image: kit/hello\nfiles:\n  - {dest: /etc/hello, src: hello.txt}\n  - {dest: /etc/motd, contents: \"built by kit_package\\n\"}\n")
	writeFile(t, filepath.Join(execroot, "systems/hello/hello.txt"), "hello from a kit_package\n")
	writeFile(t, filepath.Join(execroot, "systems/squashfs.json"), `{"compression": "gzip"}`+"\n")

	// The developer, once, outside Bazel: push the package, write the
	// specs, lock them through the mirror, export the base images.
	dev := filepath.Join(root, "dev")
	devCache := filepath.Join(dev, "cache")
	devOut := filepath.Join(dev, "out")
	mirror := "registry.kit.test=" + reg.URL()
	line := devKit(t, kit, execroot, dev, nil, "pkg", "build", "--cache", devCache, "--push", reg.Host()+"/kit/hello", "systems/hello")
	imageTag, _, _ := strings.Cut(line, "\t")
	_, tag, ok := strings.Cut(imageTag, ":")
	if !ok || imageTag != "kit/hello:"+tag {
		t.Fatalf("kit pkg build printed %q, want kit/hello:TAG", line)
	}
	writeFile(t, filepath.Join(execroot, "systems/demo.yml"), "kernel:\n  image: registry.kit.test/kit/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - registry.kit.test/kit/init:1\n  - registry.kit.test/kit/hello:"+tag+"\n")
	writeFile(t, filepath.Join(execroot, "systems/demo-mirror.yml"), "kernel:\n  image: registry.kit.test/kit/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - registry.kit.test/kit/init:1\n")
	devKit(t, kit, execroot, dev, nil, "build", "--pull", "--cache", devCache, "--mirror", mirror, "--source-date-epoch", "1700000000",
		"-f", "kernel+initrd", "-f", "tar", "-f", "tar-kernel-initrd", "-f", "docker", "-o", devOut, "--name", "demo", "systems/demo.yml")
	devKit(t, kit, execroot, dev, []string{"KIT_PLUGIN_PATH=" + filepath.Dir(filepath.Join(execroot, fsPlugin))}, "build", "--pull", "--cache", devCache, "--mirror", mirror,
		"-f", "kernel+squashfs", "--format-config", "kernel+squashfs=@systems/squashfs.json", "-o", devOut, "--name", "demo-mirror", "systems/demo-mirror.yml")
	devKit(t, kit, execroot, dev, nil, "cache", "export", "--cache", devCache, "--format", "oci", "systems/base.oci",
		"registry.kit.test/kit/kernel:1", "registry.kit.test/kit/init:1")
	for _, f := range []string{"systems/demo.lock", "systems/demo-mirror.lock", "systems/base.oci/index.json"} {
		if _, err := os.Stat(filepath.Join(execroot, f)); err != nil {
			t.Fatalf("the developer's step left no %s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(execroot, "systems/base.oci/index.json")); bytes.Contains(b, []byte("hello")) {
		t.Fatalf("base.oci holds the package too; the test needs it to come from the kit_package action:\n%s", b)
	}

	// The commands are the golden ones, with this registry's URL.
	actions := sampleActions(t, reg.URL())
	b, _ := json.Marshal(actions)
	var asGolden map[string]action
	if err := json.Unmarshal(bytes.ReplaceAll(b, []byte(reg.URL()), []byte(mirrorURL)), &asGolden); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asGolden, sampleActions(t, mirrorURL)) {
		t.Fatal("the command lines run here differ from the golden ones in more than the registry URL")
	}

	before := tree(t, execroot)
	var declaredSoFar []string
	for _, s := range samples(reg.URL()) {
		t.Run(s.name, func(t *testing.T) {
			a := actions[s.name]
			// Bazel creates the declared directories and the parents of
			// declared files before the action runs.
			for _, d := range s.declared {
				dir := filepath.Join(execroot, d)
				if !strings.HasSuffix(d, "/") {
					dir = filepath.Dir(dir)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			tmp := filepath.Join(root, "tmp-"+s.name)
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				t.Fatal(err)
			}
			env := []string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp}
			for k, v := range a.Env {
				env = append(env, k+"="+v)
			}
			reg.Reset()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := osexec(ctx, execroot, env, a.Script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the %s action failed: %v\nscript:\n%s\noutput:\n%s", s.name, err, a.Script, out)
			}

			switch s.name {
			case "hello", "demo":
				if n := reg.Requests(); n != 0 {
					t.Errorf("the %s action asked the registry %d times; every image should come from its declared inputs:\n%v", s.name, n, reg.Log())
				}
			case "demo-mirror":
				if n := reg.Requests(); n == 0 {
					t.Errorf("the %s action never reached the registry through --mirror", s.name)
				}
			}

			declaredSoFar = append(declaredSoFar, s.declared...)
			after := tree(t, execroot)
			for p, sum := range after {
				if declaredBy(p, declaredSoFar) || isParentOfDeclared(p, declaredSoFar) {
					continue
				}
				if was, ok := before[p]; !ok {
					t.Errorf("the action wrote %s, which is not a declared output", p)
				} else if was != sum {
					t.Errorf("the action changed its input %s", p)
				}
			}
			for p := range before {
				if _, ok := after[p]; !ok {
					t.Errorf("the action removed its input %s", p)
				}
			}
			for _, d := range s.declared {
				sum, ok := after[strings.TrimSuffix(d, "/")]
				switch {
				case !ok:
					t.Errorf("declared output %s was not written", d)
				case strings.HasSuffix(d, "/") != (sum == "dir"):
					t.Errorf("declared output %s: directory %v, got %q", d, strings.HasSuffix(d, "/"), sum)
				}
			}
			// Outside the declared directories, the output directory holds
			// only declared files (no temporary leftovers of kit's).
			for p := range after {
				if strings.HasPrefix(p, binSystems+"/") && !declaredBy(p, declaredSoFar) && !isParentOfDeclared(p, declaredSoFar) {
					t.Errorf("undeclared file in the output directory: %s", p)
				}
			}
			if left := tree(t, tmp); len(left) != 0 {
				t.Errorf("the action left files in $TMPDIR: %v", keys(left))
			}
			before = after

			// The artifacts are those of the developer's plain kit build.
			if s.name != "hello" {
				for _, d := range s.declared {
					if strings.HasSuffix(d, "/") {
						continue
					}
					want := tree(t, devOut)[filepath.Base(d)]
					if got := after[d]; got != want {
						t.Errorf("%s: sha256 %s, the plain kit build wrote %s", d, got, want)
					}
				}
			}
		})
	}
}

// isParentOfDeclared reports whether p is a directory above a declared
// output (Bazel makes those).
func isParentOfDeclared(p string, declared []string) bool {
	for _, d := range declared {
		if strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// osexec runs script with /bin/sh as Bazel's run_shell does: in dir, with
// exactly env.
func osexec(ctx context.Context, dir string, env []string, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// TestFormatTable checks bazel/private/formats.bzl against kit: the
// built-in formats against core/format's registry (their suffixes are
// exercised by TestCommandsRun), every plugin format against what the
// plugins in plugins/ describe (`kit plugin ls --json`).
func TestFormatTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kit's plugins")
	}
	g := loadBzl(t, "formats.bzl")
	builtin := fromStarlark(t, g["BUILTIN_FORMATS"]).(map[string]any)
	var names []string
	for n := range builtin {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := format.Names(); !reflect.DeepEqual(names, want) {
		t.Errorf("BUILTIN_FORMATS has %q, kit's built-in formats are %q", names, want)
	}

	mains, err := filepath.Glob(filepath.Join("..", "..", "plugins", "*", "cmd", "kit-plugin-*"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no plugin main packages under plugins/*/cmd (%v)", err)
	}
	dir := t.TempDir()
	outs := map[string]string{"github.com/kitbuild/kit/cmd/kit": filepath.Join(dir, "kit")}
	for _, m := range mains {
		outs["./"+filepath.ToSlash(m)] = filepath.Join(dir, "plugins", filepath.Base(m))
	}
	goBuild(t, outs)
	cmd := exec.Command(filepath.Join(dir, "kit"), "plugin", "ls", "--json", "--cache", filepath.Join(dir, "cache"))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "KIT_PLUGIN_PATH=" + filepath.Join(dir, "plugins")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kit plugin ls: %v", err)
	}
	var plugins []struct {
		Name       string `json:"name"`
		Components []struct {
			Kind    string `json:"kind"`
			Name    string `json:"name"`
			Outputs []struct {
				Suffix string `json:"suffix"`
			} `json:"outputs"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &plugins); err != nil {
		t.Fatalf("kit plugin ls --json: %v\n%s", err, out)
	}
	served := map[string][]any{} // format → [plugin, suffixes]
	for _, p := range plugins {
		for _, c := range p.Components {
			if c.Kind != "format" {
				continue
			}
			var suffixes []any
			for _, o := range c.Outputs {
				suffixes = append(suffixes, o.Suffix)
			}
			served[c.Name] = []any{p.Name, suffixes}
		}
	}
	table := fromStarlark(t, g["PLUGIN_FORMATS"]).(map[string]any)
	for f, v := range served {
		// format-core serves the built-in formats too (for
		// KIT_BUILTIN_FORMATS=off); kit runs the built-in, whose
		// outputs BUILTIN_FORMATS lists and the plugin's must equal.
		if b, ok := builtin[f]; ok {
			if !reflect.DeepEqual(b, v[1]) {
				t.Errorf("BUILTIN_FORMATS[%q] = %v, plugin %s describes %v", f, b, v[0], v[1])
			}
			continue
		}
		got, ok := table[f]
		if !ok {
			t.Errorf("plugin %s serves format %q with outputs %v: add it to PLUGIN_FORMATS in bazel/private/formats.bzl", v[0], f, v[1])
			continue
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("PLUGIN_FORMATS[%q] = %v, the plugin describes %v", f, got, v)
		}
	}
	for f, v := range table {
		if _, ok := served[f]; !ok {
			t.Errorf("PLUGIN_FORMATS has %q (%v) but no plugin in plugins/ serves it", f, v)
		}
	}
}
