package pkg

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/klauspost/compress/gzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/pkg/deb"
	"github.com/kitbuild/kit/core/pkg/pkgtest"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/core/steps/fetch"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// writeFiles writes name → content under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		mode := os.FileMode(0o644)
		if strings.HasPrefix(body, "#!") {
			mode = 0o755
		}
		must(t, os.WriteFile(p, []byte(body), mode))
	}
}

// newModule makes a Go module with a main package at ./cmd/hello.
func newModule(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":             "module example.com/hello\n\ngo 1.22\n",
		"cmd/hello/main.go":  "package main\n\nimport \"example.com/hello/greet\"\n\nfunc main() { println(greet.Hello) }\n",
		"greet/greet.go":     "package greet\n\n// Hello is the greeting.\nconst Hello = \"hello\"\n",
		"unrelated/other.go": "package unrelated\n",
	})
	return dir
}

// built is a build's result with the ops that ran, by kind.
type built struct {
	res *Result
	ran map[string]int
}

func build(t testing.TB, dir string, store *cache.Store, opts Options) (built, error) {
	t.Helper()
	var mu sync.Mutex
	ran := map[string]int{}
	opts.Store = store
	opts.Events = func(e solver.Event) {
		if e.Type == solver.EventStart {
			mu.Lock()
			ran[e.Kind]++
			mu.Unlock()
		}
	}
	res, err := Build(context.Background(), dir, opts)
	return built{res, ran}, err
}

func newStore(t testing.TB) *cache.Store {
	t.Helper()
	s, err := cache.Open(t.TempDir())
	must(t, err)
	return s
}

// imageFile is an entry of an image layer.
type imageFile struct {
	hdr  tar.Header
	body string
}

// readImage returns the manifest and config of an image in store and its
// layers' entries (layer index → name → entry), checking every layer is a
// normalized tar.
func readImage(t testing.TB, store *cache.Store, d graph.Digest) (ocispec.Manifest, ocispec.Image, []map[string]imageFile) {
	t.Helper()
	ctx := context.Background()
	var m ocispec.Manifest
	mb, err := readBlob(ctx, store, d)
	must(t, err)
	must(t, json.Unmarshal(mb, &m))
	var c ocispec.Image
	cb, err := readBlob(ctx, store, graph.Digest(m.Config.Digest))
	must(t, err)
	must(t, json.Unmarshal(cb, &c))
	var layers []map[string]imageFile
	for i, l := range m.Layers {
		zb, err := readBlob(ctx, store, graph.Digest(l.Digest))
		must(t, err)
		zr, err := gzip.NewReader(bytes.NewReader(zb))
		must(t, err)
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("layer %d: gzip header has name %q, time %v", i, zr.Name, zr.ModTime)
		}
		raw, err := io.ReadAll(zr)
		must(t, err)
		if got := "sha256:" + pkgtest.HexSum(raw); got != string(c.RootFS.DiffIDs[i]) {
			t.Errorf("layer %d: diff ID %s, config says %s", i, got, c.RootFS.DiffIDs[i])
		}
		if _, err := tarutil.Verify(bytes.NewReader(raw), c.Created.Unix()); err != nil {
			t.Errorf("layer %d: %v", i, err)
		}
		files := map[string]imageFile{}
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			must(t, err)
			b, _ := io.ReadAll(tr)
			files[h.Name] = imageFile{*h, string(b)}
		}
		layers = append(layers, files)
	}
	return m, c, layers
}

const testPkg = `image: kit/test
debian:
  packages: [hello]
  exclude-paths: [/usr/share/doc]
go:
  - main: ./cmd/hello
    dest: /usr/bin/hello
files:
  - {dest: /etc/motd, src: motd}
  - {dest: /usr/bin/run, src: run.sh}
  - {dir: /var/lib/x, uid: 100, gid: 101, mode: "0700"}
  - {symlink: /bin/sh, target: busybox}
  - {dest: /etc/inline, contents: "inline\n", mode: "0600"}
config:
  entrypoint: [/usr/bin/hello]
  env: [A=b]
  labels: {org.example: x}
  moby:
    capabilities: [CAP_NET_ADMIN]
    net: host
`

func testRepo(t testing.TB) *pkgtest.Repo {
	return pkgtest.NewRepo(t,
		pkgtest.Deb{Name: "hello", Version: "1.0", Depends: "libhello (>= 2)", Files: []pkgtest.File{
			{Name: "./", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/bin/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/bin/hello-deb", Body: "ELF hello", Mode: 0o755},
			{Name: "./usr/bin/hello-link", Type: tar.TypeLink, Link: "./usr/bin/hello-deb"},
			{Name: "./usr/share/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/share/doc/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/share/doc/hello/copyright", Body: "GPL"},
		}},
		pkgtest.Deb{Name: "libhello", Version: "2.1", Files: []pkgtest.File{
			{Name: "./", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/lib/libhello.so.2", Body: "ELF lib"},
		}},
		pkgtest.Deb{Name: "libhello", Version: "1.0", Files: []pkgtest.File{{Name: "./usr/lib/libhello.so.1", Body: "old"}}},
	)
}

func newTestPkg(t testing.TB) string {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pkg.yml": testPkg, "motd": "hello\n", "run.sh": "#!/bin/sh\necho hi\n"})
	return dir
}

func TestBuild(t *testing.T) {
	repo := testRepo(t)
	mod := newModule(t)
	dir := newTestPkg(t)
	store := newStore(t)
	opts := Options{Arch: "amd64", AptRoot: repo.Root, ModuleDir: mod, SourceDateEpoch: 1700000000}
	b1, err := build(t, dir, store, opts)
	must(t, err)
	for _, k := range []string{KindDebs, KindGo, KindFiles, KindImage} {
		if b1.ran[k] != 1 {
			t.Errorf("first build ran %s %d times, want 1 (ran %v)", k, b1.ran[k], b1.ran)
		}
	}
	if !strings.HasPrefix(b1.res.Ref, "kit/test:") || len(b1.res.Tag) != 20 {
		t.Errorf("ref %q tag %q", b1.res.Ref, b1.res.Tag)
	}

	t.Run("Image", func(t *testing.T) {
		m, c, layers := readImage(t, store, b1.res.Digest)
		if m.MediaType != ocispec.MediaTypeImageManifest || len(m.Layers) != 3 {
			t.Fatalf("manifest %+v", m)
		}
		if c.Created.Unix() != 1700000000 || c.Architecture != "amd64" || c.OS != "linux" {
			t.Errorf("config created %v platform %s/%s", c.Created, c.OS, c.Architecture)
		}
		if got := strings.Join(c.Config.Entrypoint, " "); got != "/usr/bin/hello" {
			t.Errorf("entrypoint %q", got)
		}
		if c.Config.Labels["org.example"] != "x" || c.Config.Labels[fetch.MobyConfigLabel] != `{"capabilities":["CAP_NET_ADMIN"],"net":"host"}` {
			t.Errorf("labels %v", c.Config.Labels)
		}
		if len(c.History) != 3 || !strings.Contains(c.History[0].CreatedBy, "debian: hello") {
			t.Errorf("history %+v", c.History)
		}
		debs, gol, files := layers[0], layers[1], layers[2]
		if got := strings.Join(pkgtest.SortedKeys(debs), " "); got != "usr usr/bin usr/bin/hello-deb usr/bin/hello-link usr/lib usr/lib/libhello.so.2 usr/share" {
			t.Errorf("debian layer: %s", got)
		}
		if l := debs["usr/bin/hello-link"]; l.hdr.Typeflag != tar.TypeReg || l.body != "ELF hello" {
			t.Errorf("hard link not made a copy: %+v", l.hdr)
		}
		if h := debs["usr/bin/hello-deb"].hdr; h.Uname != "" || h.ModTime.Unix() != 1700000000 || h.Mode != 0o755 {
			t.Errorf("deb entry not normalized: %+v", h)
		}
		if h := gol["usr/bin/hello"].hdr; h.Mode != 0o755 || h.Size == 0 || len(gol) != 3 {
			t.Errorf("go layer: %v, binary %+v", pkgtest.SortedKeys(gol), h)
		}
		want := map[string]struct {
			typ        byte
			mode       int64
			uid, gid   int
			body, link string
		}{
			"bin":         {tar.TypeDir, 0o755, 0, 0, "", ""},
			"bin/sh":      {tar.TypeSymlink, 0o777, 0, 0, "", "busybox"},
			"etc":         {tar.TypeDir, 0o755, 0, 0, "", ""},
			"etc/inline":  {tar.TypeReg, 0o600, 0, 0, "inline\n", ""},
			"etc/motd":    {tar.TypeReg, 0o644, 0, 0, "hello\n", ""},
			"usr":         {tar.TypeDir, 0o755, 0, 0, "", ""},
			"usr/bin":     {tar.TypeDir, 0o755, 0, 0, "", ""},
			"usr/bin/run": {tar.TypeReg, 0o755, 0, 0, "#!/bin/sh\necho hi\n", ""},
			"var":         {tar.TypeDir, 0o755, 0, 0, "", ""},
			"var/lib":     {tar.TypeDir, 0o755, 0, 0, "", ""},
			"var/lib/x":   {tar.TypeDir, 0o700, 100, 101, "", ""},
		}
		if got, w := strings.Join(pkgtest.SortedKeys(files), " "), strings.Join(pkgtest.SortedKeys(want), " "); got != w {
			t.Errorf("files layer: %s, want %s", got, w)
		}
		for name, w := range want {
			f := files[name]
			if f.hdr.Typeflag != w.typ || f.hdr.Mode != w.mode || f.hdr.Uid != w.uid || f.hdr.Gid != w.gid || f.body != w.body || f.hdr.Linkname != w.link {
				t.Errorf("%s: got %c %o %d:%d %q →%q", name, f.hdr.Typeflag, f.hdr.Mode, f.hdr.Uid, f.hdr.Gid, f.body, f.hdr.Linkname)
			}
		}
		imgs, err := store.Images()
		must(t, err)
		if len(imgs) != 1 || imgs[0].Ref != b1.res.Ref || imgs[0].Digest != b1.res.Digest {
			t.Errorf("cache images %+v", imgs)
		}
	})

	t.Run("Lock", func(t *testing.T) {
		l, err := ReadLock(filepath.Join(dir, LockFile))
		must(t, err)
		a := l.Arch["amd64"]
		if a == nil || a.Debian == nil || len(a.Debian.Packages) != 2 || a.Debian.Packages[1].Name != "libhello" || a.Debian.Packages[1].Version != "2.1" {
			t.Fatalf("lock %+v", a)
		}
	})

	t.Run("SecondBuildIsCacheLookup", func(t *testing.T) {
		hits := repo.IndexHits()
		b2, err := build(t, dir, store, opts)
		must(t, err)
		if len(b2.ran) != 0 {
			t.Errorf("second build ran %v", b2.ran)
		}
		if b2.res.Digest != b1.res.Digest {
			t.Errorf("second build %s, first %s", b2.res.Digest, b1.res.Digest)
		}
		if repo.IndexHits() != hits {
			t.Errorf("second build fetched indexes although the lock is complete")
		}
	})

	t.Run("SameDigestInFreshCache", func(t *testing.T) {
		b3, err := build(t, dir, newStore(t), opts)
		must(t, err)
		if b3.res.Digest != b1.res.Digest || b3.res.Ref != b1.res.Ref {
			t.Errorf("fresh cache: %s %s, first %s %s", b3.res.Ref, b3.res.Digest, b1.res.Ref, b1.res.Digest)
		}
		if b3.ran[KindGo] != 1 {
			t.Errorf("fresh cache did not build Go: %v", b3.ran)
		}
	})

	t.Run("ChangedFile", func(t *testing.T) {
		dir2 := t.TempDir()
		for _, n := range []string{"pkg.yml", "motd", "run.sh", LockFile} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir2, n), b, 0o755))
		}
		must(t, os.WriteFile(filepath.Join(dir2, "motd"), []byte("changed\n"), 0o644))
		b4, err := build(t, dir2, store, opts)
		must(t, err)
		if b4.res.Digest == b1.res.Digest || b4.res.Tag == b1.res.Tag {
			t.Errorf("a changed file kept digest %s tag %s", b4.res.Digest, b4.res.Tag)
		}
		if b4.ran[KindFiles] != 1 || b4.ran[KindImage] != 1 || b4.ran[KindDebs] != 0 || b4.ran[KindGo] != 0 {
			t.Errorf("a changed file ran %v, want only pkg-files and pkg-image", b4.ran)
		}
	})

	t.Run("ChangedGoSource", func(t *testing.T) {
		before, err := GoSourceHash(context.Background(), mod, "./cmd/hello", "amd64")
		must(t, err)
		must(t, os.WriteFile(filepath.Join(mod, "unrelated/other.go"), []byte("package unrelated\n\nvar X = 1\n"), 0o644))
		same, err := GoSourceHash(context.Background(), mod, "./cmd/hello", "amd64")
		must(t, err)
		if same != before {
			t.Errorf("a package main does not import changed the source hash")
		}
		must(t, os.WriteFile(filepath.Join(mod, "greet/greet.go"), []byte("package greet\n\nconst Hello = \"bye\"\n"), 0o644))
		b5, err := build(t, dir, store, opts)
		must(t, err)
		if b5.res.Digest == b1.res.Digest || b5.ran[KindGo] != 1 || b5.ran[KindDebs] != 0 || b5.ran[KindFiles] != 0 {
			t.Errorf("changed Go source: digest %s (first %s), ran %v", b5.res.Digest, b1.res.Digest, b5.ran)
		}
	})
}

func TestGoBuildDeterministic(t *testing.T) {
	mod := newModule(t)
	ctx := context.Background()
	h, err := GoSourceHash(ctx, mod, "./cmd/hello", "amd64")
	must(t, err)
	var digests []graph.Digest
	for range 2 {
		store := newStore(t)
		op := GoOp{Binaries: []GoBuild{{Main: "./cmd/hello", Dest: "bin/hello", SourceHash: h}}, GOARCH: "amd64", GoVersion: "x", ModuleDir: mod}
		p, err := graph.NewPlan(graph.Env{Platform: "linux/amd64"}, graph.NewVertex("go", op))
		must(t, err)
		// a separate Go build cache, so the second build really compiles
		t.Setenv("GOCACHE", t.TempDir())
		res, err := solver.New(store).Solve(ctx, p)
		must(t, err)
		out, _ := res[p.Targets[0].Key].Get(LayerName)
		digests = append(digests, out.Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("two Go builds differ: %s %s", digests[0], digests[1])
	}
	// the sources changing between plan and exec are refused
	must(t, os.WriteFile(filepath.Join(mod, "greet/greet.go"), []byte("package greet\n\nconst Hello = \"x\"\n"), 0o644))
	op := GoOp{Binaries: []GoBuild{{Main: "./cmd/hello", Dest: "bin/hello", SourceHash: h}}, GOARCH: "amd64", ModuleDir: mod}
	p, _ := graph.NewPlan(graph.Env{}, graph.NewVertex("go", op))
	if _, err := solver.New(newStore(t)).Solve(ctx, p); err == nil || !strings.Contains(err.Error(), "sources changed") {
		t.Errorf("changed sources: %v", err)
	}
}

func TestTamperedDebRefused(t *testing.T) {
	repo := testRepo(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pkg.yml": "image: kit/t\ndebian:\n  packages: [hello]\n"})
	repo.Tamper("libhello")
	_, err := build(t, dir, newStore(t), Options{Arch: "amd64", AptRoot: repo.Root})
	if err == nil {
		t.Fatal("a .deb that does not match its index was accepted")
	}
	if !errors.Is(err, deb.ErrChecksum) || !strings.Contains(err.Error(), "libhello 2.1") || !strings.Contains(err.Error(), "pkg-debs kit/t") {
		t.Errorf("error does not name the package and the checksum: %v", err)
	}
	if testing.Verbose() {
		t.Logf("error: %v", err)
	}
}

func TestLockedAndUpdateLock(t *testing.T) {
	repo := testRepo(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pkg.yml": "image: kit/t\ndebian:\n  packages: [hello]\n"})
	store := newStore(t)
	if _, err := build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root, Locked: true}); err == nil || !strings.Contains(err.Error(), "not in") {
		t.Errorf("--locked without a lock: %v", err)
	}
	_, err := build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root})
	must(t, err)
	// a pinned version is used even when the request changes nothing
	_, err = build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root, Locked: true})
	must(t, err)
	hits := repo.IndexHits()
	_, err = build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root, UpdateLock: true})
	must(t, err)
	if repo.IndexHits() == hits {
		t.Error("--update-lock did not consult the repository")
	}
	// a changed request list re-resolves
	writeFiles(t, dir, map[string]string{"pkg.yml": "image: kit/t\ndebian:\n  packages: [libhello=1.0]\n"})
	_, err = build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root})
	must(t, err)
	l, err := ReadLock(filepath.Join(dir, LockFile))
	must(t, err)
	if p := l.Arch["amd64"].Debian.Packages; len(p) != 1 || p[0].Version != "1.0" {
		t.Errorf("lock after a changed request: %+v", p)
	}
}

func TestKernelLayout(t *testing.T) {
	repo := pkgtest.NewRepo(t,
		pkgtest.Deb{Name: "linux-image-amd64", Version: "6.1", Depends: "linux-image-6.1.0-1-amd64", Files: []pkgtest.File{{Name: "./usr/share/doc/linux-image-amd64/copyright", Body: "x"}}},
		pkgtest.Deb{Name: "linux-image-6.1.0-1-amd64", Version: "6.1", Depends: "kmod", Files: []pkgtest.File{
			{Name: "./", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./boot/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./boot/System.map-6.1.0-1-amd64", Body: "ffff T start"},
			{Name: "./boot/vmlinuz-6.1.0-1-amd64", Body: "bzImage", Mode: 0o600},
			{Name: "./usr/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/lib/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/lib/modules/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/lib/modules/6.1.0-1-amd64/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/lib/modules/6.1.0-1-amd64/kernel/a.ko", Body: "module"},
			{Name: "./usr/lib/modules/6.1.0-1-amd64/modules.order", Body: "a.ko"},
		}},
		pkgtest.Deb{Name: "kmod", Version: "1", Files: []pkgtest.File{{Name: "./bin/kmod", Body: "kmod"}}},
	)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pkg.yml": "image: kit/kernel\nkernel:\n  debian: linux-image-amd64\n"})
	store := newStore(t)
	b, err := build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root})
	must(t, err)
	_, _, layers := readImage(t, store, b.res.Digest)
	if len(layers) != 1 {
		t.Fatalf("%d layers", len(layers))
	}
	l := layers[0]
	if got := strings.Join(pkgtest.SortedKeys(l), " "); got != "System.map kernel kernel.tar" {
		t.Fatalf("kernel layer: %s", got)
	}
	if l["kernel"].body != "bzImage" || l["System.map"].body != "ffff T start" || l["kernel"].hdr.Mode != 0o644 {
		t.Errorf("kernel %q (%o), System.map %q", l["kernel"].body, l["kernel"].hdr.Mode, l["System.map"].body)
	}
	kt := []byte(l["kernel.tar"].body)
	if _, err := tarutil.Verify(bytes.NewReader(kt), 0); err != nil {
		t.Errorf("kernel.tar: %v", err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(kt))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "lib lib/modules lib/modules/6.1.0-1-amd64 lib/modules/6.1.0-1-amd64/kernel lib/modules/6.1.0-1-amd64/kernel/a.ko lib/modules/6.1.0-1-amd64/modules.order" {
		t.Errorf("kernel.tar: %s", got)
	}
	lk, err := ReadLock(filepath.Join(dir, LockFile))
	must(t, err)
	if p := lk.Arch["amd64"].Kernel.Packages; len(p) != 2 {
		t.Errorf("kernel lock keeps %+v, want only the linux-image packages", p)
	}
}

func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pkg.yml": "image: kit/t\nfiles:\n  - {dest: /etc/x, contents: x}\n"})
	store := newStore(t)
	b, err := build(t, dir, store, Options{Arch: "amd64"})
	must(t, err)
	host := strings.TrimPrefix(srv.URL, "http://")
	pushed, err := Push(context.Background(), store, b.res.Digest, host+"/kit/t", b.res.Tag)
	must(t, err)
	if pushed != host+"/kit/t@"+string(b.res.Digest) {
		t.Errorf("pushed %s", pushed)
	}
	ref, err := fetch.ParseRef(host + "/kit/t:" + b.res.Tag)
	must(t, err)
	desc, err := remote.Get(ref)
	must(t, err)
	if desc.Digest.String() != string(b.res.Digest) {
		t.Errorf("registry has %s, built %s", desc.Digest, b.res.Digest)
	}
}

// TestDebianIntegration builds examples/packages/redis against the
// machine's apt sources (the real Debian mirror). Opt in with
// KIT_TEST_DEBIAN=1.
func TestDebianIntegration(t *testing.T) {
	if testing.Short() || os.Getenv("KIT_TEST_DEBIAN") != "1" {
		t.Skip("set KIT_TEST_DEBIAN=1 (and drop -short) to build examples/packages/redis from Debian")
	}
	dir := t.TempDir()
	src := "../../examples/packages/redis"
	entries, err := os.ReadDir(src)
	must(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	store := newStore(t)
	b, err := build(t, dir, store, Options{Arch: "amd64"})
	must(t, err)
	_, c, layers := readImage(t, store, b.res.Digest)
	f, ok := layers[0]["usr/bin/redis-server"]
	if !ok {
		t.Fatal("no usr/bin/redis-server in the debian layer")
	}
	t.Logf("%s %s: redis-server → %s, %d debian entries", b.res.Ref, b.res.Digest, f.hdr.Linkname, len(layers[0]))
	if c.Config.Labels[fetch.MobyConfigLabel] == "" {
		t.Error("no org.mobyproject.config label")
	}
	b2, err := build(t, dir, store, Options{Arch: "amd64"})
	must(t, err)
	if len(b2.ran) != 0 || b2.res.Digest != b.res.Digest {
		t.Errorf("rebuild ran %v, digest %s vs %s", b2.ran, b2.res.Digest, b.res.Digest)
	}
	// resolving afresh against the mirror's current indexes works too
	b3, err := build(t, dir, store, Options{Arch: "amd64", UpdateLock: true})
	must(t, err)
	l, err := ReadLock(filepath.Join(dir, LockFile))
	must(t, err)
	found := false
	for _, p := range l.Arch["amd64"].Debian.Packages {
		found = found || p.Name == "redis-server"
	}
	if !found {
		t.Errorf("re-resolved lock has no redis-server: %+v", l.Arch["amd64"].Debian.Packages)
	}
	t.Logf("re-resolved: %s", b3.res.Ref)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
