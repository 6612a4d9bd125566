package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginHello builds examples/plugin-hello the way a third party would:
// in its own module, outside the workspace (GOWORK=off), against sdk/ alone;
// runs its own tests; and uses it through the real kit binary with
// `kit build -f hello`, found on $KIT_PLUGIN_PATH.
func TestPluginHello(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a module of its own")
	}
	src, err := filepath.Abs("../../examples/plugin-hello")
	if err != nil {
		t.Fatal(err)
	}
	gocmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in examples/plugin-hello: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// It depends on nothing of kit's but the sdk module.
	for _, p := range strings.Fields(gocmd("list", "-deps", "-f", "{{.ImportPath}}", ".")) {
		if strings.HasPrefix(p, "github.com/kitbuild/kit") && !strings.HasPrefix(p, "github.com/kitbuild/kit/sdk") {
			t.Errorf("plugin-hello depends on %s, outside sdk/", p)
		}
	}
	gocmd("test", "-count=1", "./...")
	bin := t.TempDir()
	gocmd("build", "-o", filepath.Join(bin, "kit-plugin-hello"), ".")

	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	out := filepath.Join(dir, "out")
	r := kitEnv(t, dir, []string{"KIT_PLUGIN_PATH=" + bin}, "build", "--cache", filepath.Join(dir, "cache"), "-o", out, "-f", "hello", "-f", "tar", spec)
	if r.code != 0 {
		t.Fatalf("kit build -f hello: exit %d\n%s", r.code, r.stderr)
	}
	hello, err := os.ReadFile(filepath.Join(out, "small-hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The artifact lists the rootfs: exactly the entries of the tar format's
	// output, which is the same assembled root filesystem.
	tarNames := lines(tool(t, mustRead(t, filepath.Join(out, "small.tar")), "tar", "-t"))
	if len(tarNames) == 0 {
		t.Fatal("small.tar is empty")
	}
	if want := fmt.Sprintf("entries: %d\n", len(tarNames)); !strings.Contains(string(hello), want) {
		t.Errorf("small-hello.txt does not say %q:\n%s", want, tail(string(hello), 20))
	}
	for _, n := range tarNames {
		if !strings.Contains(string(hello), " "+strings.TrimSuffix(n, "/")+"\n") {
			t.Errorf("small-hello.txt lacks %s", n)
		}
	}
	// kit plugin ls shows it with its source.
	ls := kitEnv(t, dir, []string{"KIT_PLUGIN_PATH=" + bin}, "plugin", "ls", "--cache", filepath.Join(dir, "cache"))
	if ls.code != 0 || !strings.Contains(ls.stdout, "hello") || !strings.Contains(ls.stdout, "format: hello") {
		t.Errorf("kit plugin ls:\n%s%s", ls.stdout, ls.stderr)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
