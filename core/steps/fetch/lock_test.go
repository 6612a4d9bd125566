package fetch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

var (
	dA = graph.Digest("sha256:" + strings.Repeat("a", 64))
	dB = graph.Digest("sha256:" + strings.Repeat("b", 64))
	dC = graph.Digest("sha256:" + strings.Repeat("c", 64))
)

const goldenLock = `# kit lock file: the digest each image reference resolved to.
# Written by kit build; refresh with "kit build --update-lock".
# Keep it beside the spec, under version control.
version: 1
images:
  - ref: 127.0.0.1:5000/kit/app:1
    digest: sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
    mediaType: application/vnd.docker.distribution.manifest.v2+json
  - ref: index.docker.io/library/redis:7
    digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    mediaType: application/vnd.oci.image.index.v1+json
    platforms:
      linux/amd64: sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
      linux/arm64: sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
`

func TestLockMarshal(t *testing.T) {
	l := NewLock()
	l.Record("redis:7", dA, "application/vnd.oci.image.index.v1+json", "linux/arm64", dC)
	l.Record("127.0.0.1:5000/kit/app:1", dC, "application/vnd.docker.distribution.manifest.v2+json", "linux/amd64", "")
	l.Record("docker.io/library/redis:7", dA, "application/vnd.oci.image.index.v1+json", "linux/amd64", dB)
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != goldenLock {
		t.Errorf("got\n%s\nwant\n%s", b, goldenLock)
	}
	l2, err := ParseLock(b)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := l2.Marshal(); string(b2) != string(b) {
		t.Error("round trip changed the lock")
	}
	if d, ok := l2.Platform("redis:7", "linux/arm64"); !ok || d != dC {
		t.Errorf("platform lookup %s %v", d, ok)
	}

	// A new digest replaces the entry and its platforms.
	l2.Record("redis:7", dB, "application/vnd.oci.image.index.v1+json", "linux/amd64", dC)
	if e, _ := l2.Get("redis:7"); e.Digest != dB || len(e.Platforms) != 1 || e.Platforms["linux/amd64"] != dC {
		t.Errorf("after re-resolve: %+v", e)
	}
	// Entries are copies.
	e, _ := l2.Get("redis:7")
	e.Platforms["linux/amd64"] = dA
	if d, _ := l2.Platform("redis:7", "linux/amd64"); d != dC {
		t.Error("Get exposed the lock's map")
	}

	l2.Retain("docker.io/redis:7", "other:1")
	if refs := l2.Refs(); len(refs) != 1 || refs[0] != "index.docker.io/library/redis:7" {
		t.Errorf("after retain: %v", refs)
	}
	l2.Remove("redis:7")
	if len(l2.Refs()) != 0 {
		t.Error("remove failed")
	}
}

func TestParseLockErrors(t *testing.T) {
	head := "version: 1\nimages:\n"
	entry := func(ref string, d graph.Digest) string {
		return "  - ref: " + ref + "\n    digest: " + string(d) + "\n"
	}
	for _, tc := range []struct {
		name, in, want string
		line           int
	}{
		{"version", "version: 2\nimages: []\n", "unsupported lock file version 2", 0},
		{"no version", "images: []\n", "unsupported lock file version 0", 0},
		{"unknown field", head + entry("redis:7", dA) + "    extra: 1\n", "field extra not found", 0},
		{"not yaml", "version: [\n", "yaml", 0},
		{"duplicate", head + entry("redis:7", dA) + entry("docker.io/library/redis:7", dB), "index.docker.io/library/redis:7 is locked twice", 5},
		{"bad digest", head + entry("redis:7", "sha256:abc"), "want 64 hex digits", 3},
		{"bad ref", head + entry("Redis:7", dA), `"Redis:7"`, 3},
		{"bad platform", head + entry("redis:7", dA) + "    platforms:\n      linux: " + string(dB) + "\n", `bad platform "linux"`, 3},
		{"bad platform digest", head + entry("redis:7", dA) + "    platforms:\n      linux/amd64: md5:x\n", "only sha256", 3},
	} {
		_, err := ParseLock([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
			continue
		}
		var le *LockError
		if !errors.As(err, &le) {
			t.Errorf("%s: %T is not a *LockError", tc.name, err)
		} else if le.Line != tc.line {
			t.Errorf("%s: line %d, want %d (%v)", tc.name, le.Line, tc.line, err)
		}
	}
	l, err := ParseLock(nil)
	if err != nil || len(l.Refs()) != 0 {
		t.Errorf("empty file: %v", err)
	}
}

func TestLoadLock(t *testing.T) {
	dir := t.TempDir()
	l, err := LoadLock(filepath.Join(dir, "missing.lock"))
	if err != nil || len(l.Refs()) != 0 {
		t.Fatalf("missing lock: %v", err)
	}
	bad := filepath.Join(dir, "bad.lock")
	os.WriteFile(bad, []byte("version: 1\nimages:\n  - ref: x\n    digest: nope\n"), 0o644)
	_, err = LoadLock(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":3:5: image index.docker.io/library/x:latest") {
		t.Errorf("error %v", err)
	}
	// Save into a fresh path, then an unchanged save keeps the file.
	p := filepath.Join(dir, "ok.lock")
	good, _ := ParseLock([]byte(goldenLock))
	if err := good.Save(p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != goldenLock {
		t.Errorf("saved\n%s", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := good.Save(filepath.Join(dir, "no/such/dir.lock")); err == nil {
		t.Error("save into a missing directory succeeded")
	}
}

func TestLockPath(t *testing.T) {
	for in, want := range map[string]string{
		"redis-os.yml":        "redis-os.lock",
		"a/b/sys.yaml":        "a/b/sys.lock",
		"sys.hcl":             "sys.lock",
		"sys.YML":             "sys.lock",
		"weird.spec":          "weird.spec.lock",
		"noext":               "noext.lock",
		"dir.v2/linuxkit.yml": "dir.v2/linuxkit.lock",
	} {
		if got := LockPath(in); got != want {
			t.Errorf("LockPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte(goldenLock))
	f.Add([]byte(""))
	f.Add([]byte("version: 1\nimages: []\n"))
	f.Add([]byte("version: 1\nimages:\n  - ref: redis\n    digest: sha256:" + strings.Repeat("0", 64) + "\n    platforms: {linux/arm64/v8: sha256:" + strings.Repeat("1", 64) + "}\n"))
	f.Add([]byte("version: 1\nimages:\n  - ref: a\n  - ref: a\n"))
	f.Add([]byte("{version: 1, images: [{ref: '127.0.0.1:1/x@sha256:" + strings.Repeat("2", 64) + "', digest: 'sha256:" + strings.Repeat("2", 64) + "'}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock(data)
		if err != nil {
			return
		}
		b, err := l.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed lock: %v", err)
		}
		l2, err := ParseLock(b)
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, b)
		}
		b2, _ := l2.Marshal()
		if string(b) != string(b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}
