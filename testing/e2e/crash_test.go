package e2e

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitbuild/kit/testing/imagegen"
)

var crashSeed = flag.Uint64("crash-seed", 0, "seed of TestCrashSafety's kill delays (default: from the clock)")

// bigSpec adds a service with a 60 MiB image to the small system, so that a
// build takes long enough to be interrupted in any of its steps.
const bigSpec = smallSpec + `  - name: scratch
    readonly: true
`

func withBig(t testing.TB, f *fixture) string {
	t.Helper()
	img, err := imagegen.Big(imagegen.BigOptions{MB: 60, Layers: 2, Semi: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Push(t, "e2e/big:1", img)
	return strings.Replace(bigSpec, "files:\n", "  - name: big\n    image: $REG/e2e/big:1\n    readonly: true\n    command: [\"/bin/true\"]\nfiles:\n", 1)
}

// TestCrashSafety kills builds with SIGKILL at random points and checks
// that a later build on the same cache succeeds with the same artifacts as
// an uninterrupted build on a fresh cache.
func TestCrashSafety(t *testing.T) {
	f := newFixture(t)
	text := withBig(t, f)
	dir := t.TempDir()
	spec := f.spec(t, dir, "big.yml", text)
	args := func(cache, out string, extra ...string) []string {
		return append(append([]string{"build", "--cache", filepath.Join(dir, cache), "-f", "tar", "-f", "kernel+initrd", "-o", filepath.Join(dir, out)}, extra...), spec)
	}
	ref := mustKit(t, dir, args("ref-cache", "ref")...)
	want := digests(t, filepath.Join(dir, "ref"))

	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("kill delays seeded with -crash-seed=%d (reference build took %v)", seed, ref.took)
	rng := rand.New(rand.NewPCG(seed, 0))
	iterations := 5
	if testing.Short() {
		iterations = 2
	}
	// Delays are spread over the length of a cold build: iteration i kills
	// somewhere in the i-th of `iterations` equal slices of it.
	window := ref.took + ref.took/4
	killed := 0
	for i := range iterations {
		delay := time.Duration((float64(i) + rng.Float64()) * float64(window) / float64(iterations))
		// Every other build ignores the cache, so that it redoes (and is
		// killed in) every step even when an earlier one finished them.
		var extra []string
		if i%2 == 1 {
			extra = append(extra, "--no-cache")
		}
		out := filepath.Join(dir, "killed")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := kitCmd(ctx, dir, args("cache", "killed", extra...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		cancel()
		t.Logf("iteration %d: SIGKILL after %v %v: %v", i, delay, extra, err)
		if err != nil {
			killed++
		}
		// An artifact under its final name is never partial.
		for n, d := range digests(t, out) {
			if strings.HasPrefix(n, ".kit-") {
				continue // a temporary file of the killed process
			}
			if want[n] != d {
				t.Errorf("iteration %d: killed build left %s with digest %.12s, want %.12s", i, n, d, want[n])
			}
		}
		os.RemoveAll(out)
	}
	if killed == 0 {
		t.Fatal("every build finished before its SIGKILL; nothing was tested")
	}
	r := mustKit(t, dir, append(args("cache", "final"), "--progress=json")...)
	sameOutputs(t, "build after the killed ones", digests(t, filepath.Join(dir, "final")), want)
	noFiles(t, "cache tmp after a normal build", filepath.Join(dir, "cache", "tmp"))
	t.Logf("final build took %v, started %d steps", r.took, len(r.started()))

	// A killed build leaves its artifacts' mirrors (temporary files no
	// process holds) in the output directory: the next build there
	// removes them.
	stale := filepath.Join(dir, "final", ".kit-mirror-1")
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKit(t, dir, args("cache", "final")...)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a killed build's mirror is still in the output directory: %v", err)
	}

	// The cache holds no corrupt blob: a build ignoring cached results but
	// reusing fetched images gives the same bytes.
	mustKit(t, dir, args("cache", "again", "--no-cache")...)
	sameOutputs(t, "build with --no-cache on the same cache", digests(t, filepath.Join(dir, "again")), want)
}

func isEvent(line, typ, kind string) bool {
	return strings.Contains(line, `"type":"`+typ+`"`) && strings.Contains(line, `"kind":"`+kind+`"`)
}

// TestInterrupt sends SIGINT to a build in the middle of its work: kit
// exits non-zero promptly and leaves no files in the output directory and
// no temporary files in the cache.
func TestInterrupt(t *testing.T) {
	f := newFixture(t)
	text := withBig(t, f)
	dir := t.TempDir()
	spec := f.spec(t, dir, "big.yml", text)
	// Each stage interrupts when its event is seen: the start of the big
	// image's fetch or unpack, the start of the first format, or the end of
	// the last format (kit is then copying the artifacts into -o).
	formatsDone := 0
	stages := map[string]func(l string) bool{
		"fetch":  func(l string) bool { return isEvent(l, "start", "fetch") && strings.Contains(l, "e2e/big") },
		"unpack": func(l string) bool { return isEvent(l, "start", "unpack") && strings.Contains(l, "e2e/big") },
		"format": func(l string) bool { return isEvent(l, "start", "format") },
		"output": func(l string) bool {
			if isEvent(l, "done", "format") || isEvent(l, "cached", "format") {
				formatsDone++
			}
			return formatsDone == 2
		},
		// A single big artifact: the interrupt comes while it is copied.
		"output-tar": func(l string) bool { return isEvent(l, "cached", "format") || isEvent(l, "done", "format") },
	}
	for _, at := range []string{"fetch", "unpack", "format", "output", "output-tar"} {
		t.Run(at, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache")
			out := filepath.Join(t.TempDir(), "out")
			formatsDone = 0
			if at == "format" || strings.HasPrefix(at, "output") {
				// Warm the cache up to the format steps.
				mustKit(t, dir, "build", "--cache", cache, "-f", "tar", "-o", filepath.Join(t.TempDir(), "warm"), spec)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			formats := []string{"-f", "tar", "-f", "kernel+initrd"}
			if at == "output-tar" {
				formats = formats[:2]
			}
			cmd := kitCmd(ctx, dir, append(append([]string{"build", "--cache", cache, "-o", out, "--progress=json"}, formats...), spec)...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Interrupt when the step of kind `at` that handles the big image
			// (or, for formats, the first format step) has started.
			sc := bufio.NewScanner(stderr)
			var log strings.Builder
			sent := time.Time{}
			for sc.Scan() {
				l := sc.Text()
				log.WriteString(l + "\n")
				if sent.IsZero() && stages[at](l) {
					if err := cmd.Process.Signal(os.Interrupt); err != nil {
						t.Fatal(err)
					}
					sent = time.Now()
				}
			}
			_, _ = io.Copy(io.Discard, stderr)
			err = cmd.Wait()
			took := time.Since(sent)
			if sent.IsZero() {
				t.Fatalf("no %s event seen: %v\n%s", at, err, tail(log.String(), 3000))
			}
			code := cmd.ProcessState.ExitCode()
			t.Logf("interrupted in %s: exit %d after %v", at, code, took)
			if code == 0 {
				t.Errorf("kit exited 0 after SIGINT\n%s", tail(log.String(), 2000))
			}
			if took > 3*time.Second {
				t.Errorf("kit took %v to exit after SIGINT", took)
			}
			if !strings.Contains(log.String(), "kit: ") {
				t.Errorf("no error message after SIGINT:\n%s", tail(log.String(), 2000))
			}
			noFiles(t, "output directory after SIGINT", out)
			noFiles(t, "cache tmp after SIGINT", filepath.Join(cache, "tmp"))
		})
	}
}
