package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// kitBin is the kit binary TestMain builds once for every test.
var kitBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "kit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	kitBin = filepath.Join(dir, "kit")
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go not found:", err)
		os.Exit(2)
	}
	build := exec.Command(goBin, "build", "-o", kitBin, "github.com/kitbuild/kit/cmd/kit")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building kit:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// event is one line of `kit build --progress=json`.
type event struct {
	Type    string   `json:"type"`
	Node    string   `json:"node"`
	Kind    string   `json:"kind"`
	Key     string   `json:"key"`
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Explain []string `json:"explain"`
}

// run is one finished kit process.
type run struct {
	args   []string
	code   int
	stdout string
	stderr string
	events []event
	took   time.Duration
}

func (r *run) String() string {
	return fmt.Sprintf("kit %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, tail(r.stderr, 4000))
}

// message is stderr without the JSON event lines: what a user reads.
func (r *run) message() string {
	var b strings.Builder
	for _, l := range strings.Split(r.stderr, "\n") {
		if !strings.HasPrefix(l, "{") && l != "" {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// started returns "kind node" for every start event, sorted.
func (r *run) started() []string {
	var out []string
	for _, e := range r.events {
		if e.Type == "start" {
			out = append(out, e.Node)
		}
	}
	sort.Strings(out)
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// kitCmd returns an unstarted kit process running in dir with a clean
// environment: no $KIT_CACHE or $SOURCE_DATE_EPOCH from the caller, and a
// home directory of its own.
func kitCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, kitBin, args...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KIT_CACHE", "SOURCE_DATE_EPOCH", "XDG_CACHE_HOME", "HOME", "DOCKER_CONFIG":
			continue
		}
		env = append(env, kv)
	}
	home := filepath.Join(dir, ".home")
	env = append(env, "HOME="+home, "KIT_CACHE="+filepath.Join(home, "default-cache"), "CI=1")
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// kit runs kit in dir and waits for it (at most two minutes).
func kit(t testing.TB, dir string, args ...string) *run {
	t.Helper()
	return kitEnv(t, dir, nil, args...)
}

// kitEnv is kit with extra environment variables ("K=V").
func kitEnv(t testing.TB, dir string, env []string, args ...string) *run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := kitCmd(ctx, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := &run{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("kit %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("kit %s: timed out\n%s", strings.Join(args, " "), r)
	}
	r.events = parseEvents(t, r.stderr)
	return r
}

// mustKit runs kit and fails the test unless it exits 0.
func mustKit(t testing.TB, dir string, args ...string) *run {
	t.Helper()
	r := kit(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

func parseEvents(t testing.TB, stderr string) []event {
	var evs []event
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("bad JSON event %q: %v", l, err)
			continue
		}
		evs = append(evs, e)
	}
	return evs
}

// digests returns name → sha256 of every entry of dir (files only; a
// directory or other entry is reported as such), nil when dir is missing.
func digests(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			out[e.Name()] = "<" + e.Type().String() + ">"
			continue
		}
		out[e.Name()] = fileDigest(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func fileDigest(t testing.TB, p string) string {
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
	return hex.EncodeToString(h.Sum(nil))
}

// sameOutputs fails the test unless the two output sets are equal and
// non-empty.
func sameOutputs(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Errorf("%s: reference build wrote no outputs", what)
		return
	}
	var diffs []string
	for n, d := range want {
		if got[n] != d {
			diffs = append(diffs, fmt.Sprintf("%s: %.12s, want %.12s", n, got[n], d))
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			diffs = append(diffs, "unexpected output "+n)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: outputs differ:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

// noFiles fails the test if dir holds anything.
func noFiles(t testing.TB, what, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("%s: %s holds %v, want nothing", what, dir, names)
	}
}

// goldenBytes compares got with testdata/name, rewriting it under -update.
func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./testing/e2e -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./testing/e2e -update rewrites it):\n%s", p, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+), in order.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	wset, gset := map[string]int{}, map[string]int{}
	for _, l := range wl {
		wset[l]++
	}
	for _, l := range gl {
		gset[l]++
	}
	var b strings.Builder
	n := 0
	for _, l := range wl {
		if gset[l] == 0 && n < 60 {
			fmt.Fprintf(&b, "- %s\n", l)
			n++
		}
	}
	for _, l := range gl {
		if wset[l] == 0 && n < 60 {
			fmt.Fprintf(&b, "+ %s\n", l)
			n++
		}
	}
	if b.Len() == 0 {
		return "(same lines, different order or count)"
	}
	return b.String()
}

func writeFile(t testing.TB, p, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
