package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConcurrentBuilds starts two builds of one spec on one cache at the
// same time; both must succeed with the same artifacts. Each round uses a
// fresh cache and no lock file, so the two processes race on every step,
// on the cache's index and on writing the lock file.
func TestConcurrentBuilds(t *testing.T) {
	f := newFixture(t)
	rounds := 5
	if testing.Short() {
		rounds = 1
	}
	var first map[string]string
	for round := range rounds {
		dir := t.TempDir()
		spec := writeSystem(t, dir, "system.yml", f.reg.Host())
		cache := filepath.Join(dir, "cache")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		outs := []string{"a", "b"}
		cmds := make([]*exec.Cmd, len(outs))
		logs := make([]*bytes.Buffer, len(outs))
		for i, out := range outs {
			cmds[i] = kitCmd(ctx, dir, "build", "--cache", cache, "-f", "tar", "-f", "kernel+initrd", "-o", out, "--progress=plain", spec)
			logs[i] = &bytes.Buffer{}
			cmds[i].Stdout, cmds[i].Stderr = logs[i], logs[i]
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Errorf("round %d: build %s: %v\n%s", round, outs[i], err, tail(logs[i].String(), 3000))
			}
		}
		cancel()
		a, b := digests(t, filepath.Join(dir, "a")), digests(t, filepath.Join(dir, "b"))
		if len(a) != 4 {
			t.Fatalf("round %d: build a wrote %v", round, a)
		}
		sameOutputs(t, "concurrent builds", b, a)
		if first == nil {
			first = a
		} else {
			sameOutputs(t, "rounds", a, first)
		}
		noFiles(t, "cache tmp after the builds", filepath.Join(cache, "tmp"))
	}
}

// TestPruneDuringBuild runs kit cache prune while a build is in the middle
// of its work: the prune waits for the build, which succeeds with the same
// artifacts as an undisturbed build, and then removes all it recorded.
func TestPruneDuringBuild(t *testing.T) {
	f := newFixture(t)
	text := withBig(t, f)
	dir := t.TempDir()
	spec := f.spec(t, dir, "big.yml", text)
	mustKit(t, dir, "build", "--cache", filepath.Join(dir, "ref-cache"), "-f", "tar", "-o", "ref", spec)
	want := digests(t, filepath.Join(dir, "ref"))

	cache := filepath.Join(dir, "cache")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := kitCmd(ctx, dir, "build", "--cache", cache, "-f", "tar", "-o", "out", "--progress=json", spec)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pruned chan *run
	var log strings.Builder
	nodes := map[string]bool{}
	for sc := bufio.NewScanner(stderr); sc.Scan(); {
		l := sc.Text()
		log.WriteString(l + "\n")
		for _, e := range parseEvents(t, l) {
			nodes[e.Key] = true
		}
		if pruned == nil && isEvent(l, "start", "unpack") && strings.Contains(l, "e2e/big") {
			pruned = make(chan *run, 1)
			go func() {
				pruned <- kit(t, dir, "cache", "prune", "--keep-bytes", "0", "--images", "--json", "--cache", cache)
			}()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the build failed while a prune waited: %v\n%s", err, tail(log.String(), 3000))
	}
	if pruned == nil {
		t.Fatal("the big unpack never started")
	}
	sameOutputs(t, "build with a waiting prune", digests(t, filepath.Join(dir, "out")), want)
	p := <-pruned
	var rep struct{ ActionsRemoved, ImagesRemoved int }
	if p.code != 0 || json.Unmarshal([]byte(p.stdout), &rep) != nil {
		t.Fatalf("prune: %s", p)
	}
	if rep.ActionsRemoved != len(nodes) || rep.ImagesRemoved != 8 {
		t.Errorf("the prune removed %d results and %d images, want the build's %d and 8: it did not wait", rep.ActionsRemoved, rep.ImagesRemoved, len(nodes))
	}
}
