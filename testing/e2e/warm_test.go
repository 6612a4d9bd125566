package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildKinds are the step kinds of a build.
var buildKinds = []string{"fetch", "unpack", "kernel", "runtime", "files", "assemble", "format"}

func startedKinds(r *run) map[string]int {
	n := map[string]int{}
	for _, e := range r.events {
		if e.Type == "start" {
			n[e.Kind]++
		}
	}
	return n
}

// checkEvents checks the event stream of a successful build: every node
// ends exactly once, as cached or done; a node starts at most once, after
// being queued, and a started node is done.
func checkEvents(t *testing.T, what string, r *run) {
	t.Helper()
	seen := map[string][]string{}
	for _, e := range r.events {
		if e.Type == "progress" || e.Type == "log" || e.Type == "message" {
			continue
		}
		seen[e.Node] = append(seen[e.Node], e.Type)
	}
	if len(seen) == 0 {
		t.Errorf("%s: no events", what)
	}
	for n, types := range seen {
		s := strings.Join(types, ",")
		if s != "cached" && s != "queued,start,done" {
			t.Errorf("%s: node %s had events %s, want cached or queued,start,done", what, n, s)
		}
	}
}

// TestWarmBuild checks that an unchanged spec rebuilds from the cache
// alone, that a change reruns exactly the steps it affects, and that a cold
// cache gives the same bytes.
func TestWarmBuild(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	cache := filepath.Join(dir, "cache")
	build := func(out string, extra ...string) *run {
		t.Helper()
		args := append([]string{"build", "--cache", cache, "-f", "tar", "-f", "kernel+initrd", "-o", out, "--progress=json"}, extra...)
		return mustKit(t, dir, append(args, spec)...)
	}

	cold := build("out1")
	checkEvents(t, "cold build", cold)
	kinds := startedKinds(cold)
	for _, k := range buildKinds {
		if kinds[k] == 0 {
			t.Errorf("cold build started no %s step: %v", k, kinds)
		}
	}
	first := digests(t, filepath.Join(dir, "out1"))
	if len(first) != 4 {
		t.Fatalf("cold build wrote %v", first)
	}
	if f.reg.Requests() == 0 {
		t.Fatal("cold build made no registry requests")
	}

	f.reg.Reset()
	warm := build("out2")
	checkEvents(t, "warm build", warm)
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("warm build made %d registry requests: %v", n, f.reg.Log())
	}
	if s := warm.started(); len(s) != 0 {
		t.Errorf("warm build started %v", s)
	}
	for _, e := range warm.events {
		if e.Type != "cached" {
			t.Errorf("warm build event %s %s", e.Type, e.Node)
		}
	}
	sameOutputs(t, "warm build", digests(t, filepath.Join(dir, "out2")), first)

	// Change one service: its runtime config, the assembly (and the tar
	// the tar format takes written out of it) and the formats are built
	// again, nothing else.
	writeFile(t, spec, strings.Replace(strings.ReplaceAll(smallSpec, "$REG", f.reg.Host()),
		"    image: "+f.reg.Host()+"/e2e/getty:1\n",
		"    image: "+f.reg.Host()+"/e2e/getty:1\n    command: [\"/bin/getty\", \"-L\", \"ttyS0\"]\n", 1))
	changed := build("out3", "--explain")
	checkEvents(t, "build after a change", changed)
	want := []string{"assemble", "format kernel+initrd", "format tar", "rootfs", "runtime services/getty"}
	if got := changed.started(); !slices.Equal(got, want) {
		t.Errorf("after changing a service's command, started %v, want %v", got, want)
	}
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("rebuild after a change made %d registry requests", n)
	}
	third := digests(t, filepath.Join(dir, "out3"))
	for n, d := range third {
		same := d == first[n]
		if wantSame := n == "small-kernel" || n == "small-cmdline"; same != wantSame {
			t.Errorf("%s: unchanged=%v after a service change, want %v", n, same, wantSame)
		}
	}
	why := "<no queued event>"
	for _, e := range changed.events {
		if e.Type == "queued" && e.Node == "runtime services/getty" {
			why = strings.Join(e.Explain, "; ")
		}
	}
	if !strings.Contains(why, "parameters changed") {
		t.Errorf("--explain for the changed service: %q, want the parameters changed", why)
	}

	// A cold cache in another directory (no lock file) gives the same bytes.
	dir2 := t.TempDir()
	spec2 := f.spec(t, dir2, "small.yml", smallSpec)
	mustKit(t, dir2, "build", "--cache", filepath.Join(dir2, "cache"), "-f", "tar", "-f", "kernel+initrd", "-o", "out", spec2)
	sameOutputs(t, "cold build in another cache", digests(t, filepath.Join(dir2, "out")), first)
}
