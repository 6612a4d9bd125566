package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
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
