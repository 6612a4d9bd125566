package deb

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDebianIntegration resolves and downloads busybox-static from the
// machine's real apt sources. It needs network access to the Debian
// mirrors and runs only with KIT_TEST_DEBIAN=1 and without -short.
func TestDebianIntegration(t *testing.T) {
	if os.Getenv("KIT_TEST_DEBIAN") != "1" || testing.Short() {
		t.Skip("set KIT_TEST_DEBIAN=1 (and no -short) to resolve against the machine's apt sources")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := LoadConfig("/")
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t)
	c := NewClient(store, WithLogf(t.Logf), WithFetchLog(filepath.Join(t.TempDir(), "fetched.json")))
	ix, err := c.LoadIndex(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	redis, err := ix.Resolve([]Request{{Name: "redis-server"}}, Assume("debconf", "debconf-2.0", "adduser", "init-system-helpers", "lsb-base", "sysvinit-utils"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range redis {
		have[p.Name] = true
	}
	for _, want := range []string{"redis-server", "redis-tools", "libc6", "libjemalloc2"} {
		if !have[want] {
			t.Errorf("redis-server closure lacks %s", want)
		}
	}
	t.Logf("redis-server resolves to %d packages", len(redis))
	pkgs, err := ix.Resolve([]Request{{Name: "busybox-static"}})
	if err != nil {
		t.Fatal(err)
	}
	lock := NewLock(pkgs)
	b, _ := lock.Marshal()
	t.Logf("lock:\n%s", b)
	outs, err := c.FetchLock(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		p, err := store.Path(out.Digest)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := OpenDeb(f)
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		if d.Control.Value("Package") != lock.Packages[i].Name || d.Control.Value("Version") != lock.Packages[i].Version {
			t.Errorf("%s: control says %s %s", out.Name, d.Control.Value("Package"), d.Control.Value("Version"))
		}
		var found bool
		err = d.WalkData(ctx, func(h *tar.Header, r io.Reader) error {
			if h.Name == "bin/busybox" && h.Size > 100000 {
				found = true
			}
			return nil
		})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if lock.Packages[i].Name == "busybox-static" && !found {
			t.Error("busybox-static has no bin/busybox")
		}
	}
}
