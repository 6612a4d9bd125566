package e2eboot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitbuild/kit/testing/registry"
)

// fixture is what the boot tests of one test binary share, made once: kit
// and every plugin binary built into one directory (kit finds the plugins
// beside itself; KIT_PLUGIN_PATH names the directory too), a loopback
// registry, one kit cache, and the example packages built and pushed.
type fixture struct {
	dir   string
	bin   string // kit and kit-plugin-*
	kit   string
	cache string
	reg   *registry.Registry
	// built is the output of `kit pkg build` of examples/packages: the
	// tags the tests name the packages by.
	built string

	bootOnce sync.Once
	bootErr  error
	// bootBuilt is the output of `kit pkg build` of plugins/packages.
	bootBuilt string
}

var shared struct {
	once sync.Once
	f    *fixture
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if f := shared.f; f != nil {
		if f.reg != nil {
			f.reg.Close()
		}
		os.RemoveAll(f.dir)
	}
	os.Exit(code)
}

// needBootHost skips (or, with CI=true, fails) a test that needs QEMU, and
// skips it with -short and off linux/amd64.
func needBootHost(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds packages from Debian and boots VMs; skipped with -short")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the example packages are amd64 Linux; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-system-x86_64 not installed, and CI=true: the boot tests must run; install it with: apt-get install qemu-system-x86")
		}
		t.Skip("qemu-system-x86_64 not installed; install it with: apt-get install qemu-system-x86")
	}
}

// sharedFixture returns the fixture, making it on first use: builds kit and
// the plugins, starts the registry and builds and pushes
// examples/packages/*.
func sharedFixture(t *testing.T) *fixture {
	t.Helper()
	shared.once.Do(func() { shared.err = newFixture(t) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.f
}

// newFixture makes the fixture into shared.f (set first, so that TestMain
// removes what a failed one left).
func newFixture(t *testing.T) error {
	dir, err := os.MkdirTemp("", "kit-e2e-boot-")
	if err != nil {
		return err
	}
	f := &fixture{dir: dir, bin: filepath.Join(dir, "bin"), cache: filepath.Join(dir, "cache")}
	f.kit = filepath.Join(f.bin, "kit")
	shared.f = f
	start := time.Now()
	build := exec.Command("go", "build", "-o", f.bin+string(filepath.Separator),
		"github.com/kitbuild/kit/cmd/kit", "github.com/kitbuild/kit/plugins/...")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building kit and the plugins: %v\n%s", err, out)
	}
	t.Logf("built kit and the plugins in %v", time.Since(start).Round(time.Millisecond))
	if f.reg, err = registry.Serve("127.0.0.1:0"); err != nil {
		return err
	}
	pkgs, err := filepath.Glob("../../examples/packages/*")
	if err != nil || len(pkgs) == 0 {
		return fmt.Errorf("no example packages: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pkgBuildTimeout)
	defer cancel()
	args := append([]string{"pkg", "build", "--locked", "--arch", "amd64", "--progress", "plain", "--registry", f.reg.Host()}, pkgs...)
	if f.built, err = f.kitCmd(ctx, t, nil, args...); err != nil {
		return fmt.Errorf("kit pkg build: %v\n%s", err, f.built)
	}
	return nil
}

// bootRepository is where the plugins' bootloader images are published;
// plugins/packages/NAME is pushed as kitbuild/NAME (see
// plugins/internal/bootimages).
const bootRepository = "ghcr.io/kitbuild/"

// builtBootRef matches a line of `kit pkg build` of plugins/packages:
// kitbuild/NAME:TAG, a tab, ....
var builtBootRef = regexp.MustCompile(`(?m)^kitbuild/([a-z0-9][a-z0-9._-]*):([0-9a-f]+)\t`)

// bootPackages builds the packages of plugins/packages behind refs (the
// default images the plugins declare, ghcr.io/kitbuild/NAME:TAG) for amd64
// and pushes them to the registry as kitbuild/NAME:TAG, where
// `--mirror ghcr.io=` + f.reg.URL() finds them. It fails the test when a
// package's tag is not the one the plugins declare
// (plugins/internal/bootimages is stale). Done once; later calls must pass
// the same refs.
func (f *fixture) bootPackages(t *testing.T, refs []string) {
	t.Helper()
	f.bootOnce.Do(func() {
		want := map[string]string{}
		var dirs []string
		for _, ref := range refs {
			name, tag, ok := strings.Cut(strings.TrimPrefix(ref, bootRepository), ":")
			if !strings.HasPrefix(ref, bootRepository) || !ok {
				f.bootErr = fmt.Errorf("default image %s is not %sNAME:TAG", ref, bootRepository)
				return
			}
			if _, dup := want[name]; !dup {
				dirs = append(dirs, "../../plugins/packages/"+name)
			}
			want[name] = tag
		}
		ctx, cancel := context.WithTimeout(context.Background(), pkgBuildTimeout)
		defer cancel()
		args := append([]string{"pkg", "build", "--locked", "--arch", "amd64", "--progress", "plain", "--registry", f.reg.Host()}, dirs...)
		out, err := f.kitCmd(ctx, t, nil, args...)
		if err != nil {
			f.bootErr = fmt.Errorf("kit pkg build: %v\n%s", err, out)
			return
		}
		f.bootBuilt = out
		for _, m := range builtBootRef.FindAllStringSubmatch(out, -1) {
			if m[2] != want[m[1]] {
				f.bootErr = fmt.Errorf("plugins/packages/%s has the tag %s, but the plugins default to %s%s:%s: refresh with go test ./plugins/internal/bootimages -run TestDefaultTags -update",
					m[1], m[2], bootRepository, m[1], want[m[1]])
				return
			}
			delete(want, m[1])
		}
		if len(want) > 0 {
			f.bootErr = fmt.Errorf("kit pkg build did not print the packages %v:\n%s", want, out)
		}
	})
	if f.bootErr != nil {
		t.Fatal(f.bootErr)
	}
}

// kitCmd runs the fixture's kit with its cache and plugins, and env added,
// and returns its combined output.
func (f *fixture) kitCmd(ctx context.Context, t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := f.kitRun(ctx, t, env, &out, &out, args...)
	return out.String(), err
}

// kitRun runs the fixture's kit with stdout and stderr apart.
func (f *fixture) kitRun(ctx context.Context, t testing.TB, env []string, stdout, stderr *bytes.Buffer, args ...string) error {
	t.Helper()
	cmd := exec.CommandContext(ctx, f.kit, args...)
	cmd.Env = append(append(os.Environ(), "KIT_CACHE="+f.cache, "KIT_PLUGIN_PATH="+f.bin, "SOURCE_DATE_EPOCH=0"), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	t.Logf("kit %s: %v (%v)", strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond))
	return err
}
