package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

// keychain returns fixed credentials (or anonymous) for every registry, so
// tests never read the host's Docker config.
type keychain struct{ user, pass string }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	if k.user == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

func testOptions() Options {
	return Options{Keychain: keychain{}, Retry: &remote.Backoff{Duration: time.Millisecond, Steps: 1}}
}

func app(t *testing.T, name string) v1.Image {
	t.Helper()
	img, err := imagegen.Container(name, imagegen.Config{
		Entrypoint: []string{"/bin/" + name},
		Cmd:        []string{"-v"},
		Env:        []string{"PATH=/bin"},
		WorkingDir: "/srv",
		MobyConfig: `{"pid":"host"}`,
		Files:      []imagegen.File{imagegen.Reg("srv/data", name)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func hash(t *testing.T, x interface{ Digest() (v1.Hash, error) }) graph.Digest {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return graph.Digest(h.String())
}

func TestParseRef(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in, want, scheme string
	}{
		{"redis:7", "index.docker.io/library/redis:7", "https"},
		{"redis", "index.docker.io/library/redis:latest", "https"},
		{"docker.io/library/redis:7", "index.docker.io/library/redis:7", "https"},
		{"index.docker.io/redis:7", "index.docker.io/library/redis:7", "https"},
		{"linuxkit/kernel:6.6.13", "index.docker.io/linuxkit/kernel:6.6.13", "https"},
		{"ghcr.io/foo/bar:1", "ghcr.io/foo/bar:1", "https"},
		{"redis@" + dg, "index.docker.io/library/redis@" + dg, "https"},
		{"redis:7@" + dg, "index.docker.io/library/redis@" + dg, "https"},
		{"localhost:5000/x:1", "localhost:5000/x:1", "http"},
		{"127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest", "http"},
		{"127.1.2.3:80/x:1", "127.1.2.3:80/x:1", "http"},
		{"[::1]:5000/x:1", "[::1]:5000/x:1", "http"},
	} {
		ref, err := ParseRef(tc.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tc.in, err)
			continue
		}
		if ref.Name() != tc.want {
			t.Errorf("ParseRef(%q) = %s, want %s", tc.in, ref.Name(), tc.want)
		}
		if s := ref.Context().Scheme(); s != tc.scheme {
			t.Errorf("ParseRef(%q) scheme %s, want %s", tc.in, s, tc.scheme)
		}
	}
	for _, bad := range []string{"", "Redis:7", "redis:7:8", "a b", "redis@sha256:short", "redis:"} {
		_, err := ParseRef(bad)
		if err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		} else if bad != "" && !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseRef(%q): error does not name the reference: %v", bad, err)
		}
	}
}

func TestResolveLockRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	img := app(t, "app")
	reg.Push(t, "kit/app:1", img)
	ref := reg.Ref("kit/app:1")

	store := newDirStore(t.TempDir())
	r := NewResolver(store, nil, testOptions())
	got, err := r.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != ref || got.Repository != reg.Ref("kit/app") || got.Digest != hash(t, img) || got.Index != "" {
		t.Errorf("image %+v", got)
	}
	c := got.Config.Config
	if c.Entrypoint[0] != "/bin/app" || c.Cmd[0] != "-v" || c.Env[0] != "PATH=/bin" || c.WorkingDir != "/srv" {
		t.Errorf("config %+v", c)
	}
	if string(got.MobyConfig()) != `{"pid":"host"}` {
		t.Errorf("moby config %q", got.MobyConfig())
	}
	if len(got.Layers) != 2 || got.Platform.String() != "linux/amd64" || got.MediaType != string(types.DockerManifestSchema2) {
		t.Errorf("layers %d platform %s media type %s", len(got.Layers), got.Platform, got.MediaType)
	}
	for _, d := range []graph.Digest{got.Digest, got.ConfigDigest()} {
		if !store.Has(d) {
			t.Errorf("%s not stored", d)
		}
	}
	if store.Has(graph.Digest(got.Layers[0].Digest.String())) {
		t.Error("resolve downloaded a layer")
	}

	path := filepath.Join(t.TempDir(), "SPEC.lock")
	if err := r.Lock().Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# kit lock file") || !strings.Contains(string(data), "ref: "+ref) || !strings.Contains(string(data), string(got.Digest)) {
		t.Errorf("lock file:\n%s", data)
	}
	l, err := LoadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := l.Get(ref)
	if !ok || e.Digest != got.Digest || e.MediaType != got.MediaType || e.Platforms != nil {
		t.Errorf("loaded entry %+v", e)
	}

	// Unchanged content: the file is not rewritten.
	old := time.Unix(1000, 0)
	os.Chtimes(path, old, old)
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(old) {
		t.Error("unchanged lock was rewritten")
	}
	if es, _ := os.ReadDir(filepath.Dir(path)); len(es) != 1 {
		t.Errorf("stray files beside the lock: %v", es)
	}
}

func TestSecondResolveNoRequests(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	reg.Push(t, "kit/app:1", app(t, "app"))
	idx, _ := imagegen.MultiArch("multi", imagegen.Config{})
	reg.PushIndex(t, "kit/multi:1", idx)
	refs := []string{reg.Ref("kit/app:1"), reg.Ref("kit/multi:1")}

	store := newDirStore(t.TempDir())
	path := filepath.Join(t.TempDir(), "x.lock")
	l := NewLock()
	first, err := NewResolver(store, l, testOptions()).ResolveAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}

	reg.Reset()
	l2, err := LoadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewResolver(store, l2, testOptions()).ResolveAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.Requests(); n != 0 {
		t.Errorf("second resolve made %d requests: %v", n, reg.Log())
	}
	for i := range first {
		if first[i].Digest != second[i].Digest || first[i].Index != second[i].Index {
			t.Errorf("%s: %s/%s then %s/%s", refs[i], first[i].Index, first[i].Digest, second[i].Index, second[i].Digest)
		}
	}

	// With the lock but an empty store, only digest-addressed requests are
	// made (no tag lookups).
	reg.Reset()
	if _, err := NewResolver(newDirStore(t.TempDir()), l2, testOptions()).ResolveAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	if n := reg.Count(http.MethodGet, "/manifests/1"); n != 0 {
		t.Errorf("locked tags were looked up %d times", n)
	}
	if reg.Requests() == 0 {
		t.Error("empty store resolved without requests")
	}
}

// A derived resolver, and the fetch ops it makes, reuse the connections of
// the resolver it came from: the registry is pinged once, not once per
// resolver, and the derived resolver keeps its own lock and policy.
func TestDeriveSharesConnections(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	reg.Push(t, "kit/app:1", app(t, "app"))
	ref := reg.Ref("kit/app:1")
	store := newDirStore(t.TempDir())
	reg.Reset()

	opts := testOptions()
	opts.Pull = true
	floating := NewResolver(store, nil, opts)
	if _, err := floating.Resolve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := reg.Count(http.MethodGet, "/v2/"); n == 0 {
		t.Fatal("the registry saw no request")
	}
	pings := func() int {
		n := 0
		for _, q := range reg.Log() {
			if q.Path == "/v2/" {
				n++
			}
		}
		return n
	}
	if pings() != 1 {
		t.Fatalf("first resolve pinged %d times: %v", pings(), reg.Log())
	}

	lock := NewLock()
	r := floating.Derive(lock, false, false)
	if r.Lock() != lock || floating.Lock() == lock {
		t.Error("the derived resolver does not have its own lock")
	}
	img, err := r.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lock.Get(ref); !ok {
		t.Errorf("the derived resolver did not record %s in its lock", ref)
	}
	op, err := r.Op(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Exec(ctx, store, nil); err != nil {
		t.Fatal(err)
	}
	if reg.Count(http.MethodGet, "/blobs/") == 0 {
		t.Fatal("the fetch downloaded nothing")
	}
	if pings() != 1 {
		t.Errorf("derived resolve and fetch pinged again: %d pings in %v", pings(), reg.Log())
	}

	// Frozen comes from Derive, not from the resolver derived from.
	frozen := floating.Derive(nil, false, true)
	if _, err := frozen.Resolve(ctx, reg.Ref("kit/app:2")); !errors.Is(err, ErrNotLocked) {
		t.Errorf("frozen derived resolver: %v, want ErrNotLocked", err)
	}
}

func TestPullReResolves(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	v1img, v2img := app(t, "one"), app(t, "two")
	reg.Push(t, "kit/app:latest", v1img)
	ref := reg.Ref("kit/app")
	store := newDirStore(t.TempDir())
	lock := NewLock()
	if _, err := NewResolver(store, lock, testOptions()).Resolve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "kit/app:latest", v2img)

	reg.Reset()
	got, err := NewResolver(store, lock, testOptions()).Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != hash(t, v1img) || reg.Requests() != 0 {
		t.Errorf("locked resolve: %s after %d requests", got.Digest, reg.Requests())
	}

	opts := testOptions()
	opts.Pull = true
	got, err = NewResolver(store, lock, opts).Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != hash(t, v2img) {
		t.Errorf("pull resolved %s, want %s", got.Digest, hash(t, v2img))
	}
	if e, _ := lock.Get(ref); e.Digest != hash(t, v2img) {
		t.Errorf("lock not updated: %+v", e)
	}

	opts = testOptions()
	opts.Frozen = true
	if _, err := NewResolver(store, NewLock(), opts).Resolve(ctx, ref); !errors.Is(err, ErrNotLocked) {
		t.Errorf("frozen resolve of an unlocked tag: %v", err)
	}
	if _, err := NewResolver(store, lock, opts).Resolve(ctx, ref); err != nil {
		t.Errorf("frozen resolve of a locked tag: %v", err)
	}
}

func TestMirror(t *testing.T) {
	ctx := context.Background()
	img := app(t, "redis")

	t.Run("docker.io", func(t *testing.T) {
		mirror := registry.Start(t)
		mirror.Push(t, "library/redis:7", img)
		mirror.Reset()
		opts := testOptions()
		opts.Mirrors = map[string]string{"docker.io": mirror.URL()}
		store := newDirStore(t.TempDir())
		r := NewResolver(store, nil, opts)
		got, err := r.Resolve(ctx, "redis:7")
		if err != nil {
			t.Fatal(err)
		}
		if got.Ref != "index.docker.io/library/redis:7" || got.Digest != hash(t, img) {
			t.Errorf("resolved %s to %s", got.Ref, got.Digest)
		}
		if _, ok := r.Lock().Get("docker.io/library/redis:7"); !ok {
			t.Errorf("lock keys %v", r.Lock().Refs())
		}
		if mirror.Count(http.MethodGet, "/v2/library/redis/manifests/7") != 1 {
			t.Errorf("mirror log %v", mirror.Log())
		}
		op, err := r.Op(got)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := op.Exec(ctx, store, nil); err != nil {
			t.Fatal(err)
		}
		if n := mirror.Count(http.MethodGet, "/blobs/"); n != 3 {
			t.Errorf("mirror served %d blobs for a config and two layers", n)
		}
	})

	t.Run("prefix and fallback", func(t *testing.T) {
		origin, mirror := registry.Start(t), registry.Start(t)
		origin.Push(t, "kit/a:1", img)
		origin.Push(t, "kit/b:1", img)
		mirror.Push(t, "cache/kit/a:1", img)
		origin.Reset()
		mirror.Reset()
		opts := testOptions()
		opts.Mirrors = map[string]string{origin.Host(): mirror.URL() + "/cache"}
		r := NewResolver(newDirStore(t.TempDir()), nil, opts)
		if _, err := r.Resolve(ctx, origin.Ref("kit/a:1")); err != nil {
			t.Fatal(err)
		}
		if origin.Requests() != 0 {
			t.Errorf("origin asked although the mirror had the image: %v", origin.Log())
		}
		// b is not on the mirror: the origin serves it.
		got, err := r.Resolve(ctx, origin.Ref("kit/b:1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Ref != origin.Ref("kit/b:1") || origin.Count(http.MethodGet, "/kit/b/manifests/1") != 1 {
			t.Errorf("fallback: %s, origin log %v", got.Ref, origin.Log())
		}
		// Neither has c: the error names both.
		_, err = r.Resolve(ctx, origin.Ref("kit/c:1"))
		t.Log(err)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), mirror.Host()) || !strings.Contains(err.Error(), origin.Host()) {
			t.Errorf("missing everywhere: %v", err)
		}
	})

	t.Run("bad", func(t *testing.T) {
		for _, m := range []map[string]string{{"docker.io": "ftp://x"}, {"docker.io": "http://"}, {"Bad Name": "http://x"}} {
			opts := testOptions()
			opts.Mirrors = m
			if err := opts.Validate(); err == nil {
				t.Errorf("mirrors %v accepted", m)
			}
			if _, err := NewResolver(newDirStore(t.TempDir()), nil, opts).Resolve(ctx, "redis"); err == nil {
				t.Errorf("resolve with mirrors %v succeeded", m)
			}
		}
	})
}

func TestMultiArch(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	idx, err := imagegen.MultiArch("multi", imagegen.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// An attestation manifest, as buildx adds, must be ignored.
	att, _ := imagegen.Image(imagegen.Config{}, []imagegen.File{imagegen.Reg("x", "y")})
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	reg.PushIndex(t, "kit/multi:1", idx)
	im, _ := idx.IndexManifest()
	ref := reg.Ref("kit/multi:1")

	store := newDirStore(t.TempDir())
	r := NewResolver(store, nil, testOptions())
	for i, arch := range []string{"amd64", "arm64"} {
		got, err := r.ResolvePlatform(ctx, ref, v1.Platform{OS: "linux", Architecture: arch})
		if err != nil {
			t.Fatal(err)
		}
		if got.Index != hash(t, idx) || got.Digest != graph.Digest(im.Manifests[i].Digest.String()) || got.Config.Architecture != arch || got.Platform.Architecture != arch {
			t.Errorf("%s: index %s manifest %s config arch %s", arch, got.Index, got.Digest, got.Config.Architecture)
		}
	}
	def, _ := r.Resolve(ctx, ref)
	if def.Platform.Architecture != "amd64" {
		t.Errorf("default platform %s", def.Platform)
	}
	e, _ := r.Lock().Get(ref)
	if e.Digest != hash(t, idx) || e.MediaType != string(types.OCIImageIndex) || len(e.Platforms) != 2 ||
		e.Platforms["linux/arm64"] != graph.Digest(im.Manifests[1].Digest.String()) {
		t.Errorf("lock entry %+v", e)
	}

	_, err = r.ResolvePlatform(ctx, ref, v1.Platform{OS: "linux", Architecture: "riscv64"})
	t.Log(err)
	if !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), "available: linux/amd64, linux/arm64)") || !strings.Contains(err.Error(), ref) {
		t.Errorf("missing platform: %v", err)
	}

	// A single-platform image for another architecture is refused.
	arm, _ := imagegen.Container("arm", imagegen.Config{Platform: "linux/arm64"})
	reg.Push(t, "kit/arm:1", arm)
	_, err = r.Resolve(ctx, reg.Ref("kit/arm:1"))
	if !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("arm64 image for amd64: %v", err)
	}
}

func TestFetchOp(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	img := app(t, "app")
	reg.Push(t, "kit/app:1", img)
	store := newDirStore(t.TempDir())
	r := NewResolver(store, nil, testOptions())
	res, err := r.Resolve(ctx, reg.Ref("kit/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := r.Op(res)
	if err != nil {
		t.Fatal(err)
	}
	params, _ := op.Params()
	want := `{"repository":"` + reg.Ref("kit/app") + `","manifest":"` + string(res.Digest) + `"}`
	if string(params) != want || op.Kind() != "fetch" || op.Name() != "fetch "+res.DigestRef() {
		t.Errorf("params %s kind %s name %s", params, op.Kind(), op.Name())
	}

	reg.Reset()
	outs, err := op.Exec(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	wantOuts := []graph.Output{
		{Name: "manifest", Digest: res.Digest, MediaType: string(types.DockerManifestSchema2)},
		{Name: "config", Digest: graph.Digest(m.Config.Digest.String()), Size: m.Config.Size, MediaType: string(m.Config.MediaType)},
	}
	raw, _ := img.RawManifest()
	wantOuts[0].Size = int64(len(raw))
	for i, l := range m.Layers {
		wantOuts = append(wantOuts, graph.Output{Name: "layer/" + string(rune('0'+i)), Digest: graph.Digest(l.Digest.String()), Size: l.Size, MediaType: string(l.MediaType)})
	}
	if len(outs) != len(wantOuts) {
		t.Fatalf("outputs %+v", outs)
	}
	for i := range outs {
		if outs[i] != wantOuts[i] {
			t.Errorf("output %d = %+v, want %+v", i, outs[i], wantOuts[i])
		}
		if !store.Has(outs[i].Digest) {
			t.Errorf("%s not stored", outs[i].Name)
		}
	}
	// Layer bytes are the compressed layer as served.
	ls, _ := img.Layers()
	rc, _ := ls[1].Compressed()
	wantBytes, _ := io.ReadAll(rc)
	gotBytes, _ := os.ReadFile(store.path(outs[3].Digest))
	if string(gotBytes) != string(wantBytes) {
		t.Error("stored layer differs from the pushed one")
	}
	if n := reg.Count(http.MethodGet, "/blobs/"); n != 2 {
		t.Errorf("%d blob GETs for 2 layers (config was stored by resolve)", n)
	}
	last := store.progress[len(store.progress)-1]
	if last[0] != last[1] || last[1] != m.Config.Size+m.Layers[0].Size+m.Layers[1].Size {
		t.Errorf("final progress %v", last)
	}

	// Everything present: no requests, same outputs.
	reg.Reset()
	again, err := op.Exec(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Requests() != 0 {
		t.Errorf("second exec made requests: %v", reg.Log())
	}
	for i := range again {
		if again[i] != outs[i] {
			t.Errorf("second exec output %d = %+v", i, again[i])
		}
	}

	// One layer missing: only it is downloaded.
	os.Remove(store.path(outs[2].Digest))
	reg.Reset()
	if _, err := op.Exec(ctx, store, nil); err != nil {
		t.Fatal(err)
	}
	if n := reg.Count(http.MethodGet, "/blobs/"); n != 1 || reg.Count("", "/blobs/"+m.Layers[0].Digest.String()) != 1 {
		t.Errorf("log %v", reg.Log())
	}

	// A store without the manifest: the op fetches it by digest.
	fresh := newDirStore(t.TempDir())
	outs2, err := op.Exec(ctx, fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if outs2[0] != outs[0] || !fresh.Has(res.Digest) || fresh.blobCount() != 4 {
		t.Errorf("fresh store outputs %+v, %d blobs", outs2, fresh.blobCount())
	}
}

func TestDigestMismatch(t *testing.T) {
	ctx := context.Background()
	img := app(t, "app")
	m, _ := img.Manifest()
	layer := m.Layers[1].Digest

	t.Run("layer", func(t *testing.T) {
		reg := registry.Start(t, registry.WithCorruptBlob(layer))
		reg.Push(t, "kit/app:1", img)
		store := newDirStore(t.TempDir())
		r := NewResolver(store, nil, testOptions())
		res, err := r.Resolve(ctx, reg.Ref("kit/app:1"))
		if err != nil {
			t.Fatal(err)
		}
		op, _ := r.Op(res)
		_, err = op.Exec(ctx, store, nil)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("corrupted layer: %v", err)
		}
		t.Log(err)
		for _, want := range []string{reg.Ref("kit/app:1"), layer.String(), "layer/1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
		if store.Has(graph.Digest(layer.String())) || store.tmpFiles() != 0 {
			t.Errorf("corrupted layer stored (%d temp files)", store.tmpFiles())
		}
	})

	t.Run("config", func(t *testing.T) {
		reg := registry.Start(t, registry.WithCorruptBlob(m.Config.Digest))
		reg.Push(t, "kit/app:1", img)
		store := newDirStore(t.TempDir())
		_, err := NewResolver(store, nil, testOptions()).Resolve(ctx, reg.Ref("kit/app:1"))
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), m.Config.Digest.String()) {
			t.Fatalf("corrupted config: %v", err)
		}
		if store.Has(graph.Digest(m.Config.Digest.String())) {
			t.Error("corrupted config stored")
		}
	})

	t.Run("manifest by digest", func(t *testing.T) {
		d := hash(t, img)
		reg := registry.Start(t, registry.WithCorruptBlob(v1.Hash{Algorithm: "sha256", Hex: d.Hex()}))
		reg.Push(t, "kit/app:1", img)
		lock := NewLock()
		lock.Set(LockEntry{Ref: reg.Ref("kit/app:1"), Digest: d})
		store := newDirStore(t.TempDir())
		_, err := NewResolver(store, lock, testOptions()).Resolve(ctx, reg.Ref("kit/app:1"))
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("corrupted manifest: %v", err)
		}
		t.Log(err)
		if store.blobCount() != 0 {
			t.Error("something was stored")
		}
	})
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	img := app(t, "app")
	for _, tc := range []struct {
		name  string
		opts  []registry.Option
		setup func(*registry.Registry)
		kc    keychain
		ref   string
		want  error
		words []string
	}{
		{name: "unreachable", setup: func(r *registry.Registry) { r.Close() }, want: ErrUnreachable, words: []string{"unreachable", "connection refused"}},
		{name: "not found", ref: "kit/nope:1", want: ErrNotFound, words: []string{"kit/nope:1", "not found on registry"}},
		{name: "wrong tag", ref: "kit/app:2", want: ErrNotFound, words: []string{"kit/app:2"}},
		{name: "auth", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, kc: keychain{"u", "wrong"}, want: ErrUnauthorized, words: []string{"authentication failed"}},
		{name: "anonymous", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, want: ErrUnauthorized},
		{name: "auth ok", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, kc: keychain{"u", "p"}},
		{name: "500", setup: func(r *registry.Registry) { r.Fail(500) }, words: []string{"500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry.Start(t, tc.opts...)
			ref := "kit/app:1"
			if tc.ref != "" {
				ref = tc.ref
			}
			if _, err := reg.Write(ctx, "kit/app:1", img); err != nil {
				// Pushing to a registry that wants auth: push with it.
				dst := reg.Ref("kit/app:1")
				tag, _ := ParseRef(dst)
				if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})); err != nil {
					t.Fatal(err)
				}
			}
			if tc.setup != nil {
				tc.setup(reg)
			}
			opts := testOptions()
			opts.Keychain = tc.kc
			_, err := NewResolver(newDirStore(t.TempDir()), nil, opts).Resolve(ctx, reg.Ref(ref))
			if tc.want == nil && len(tc.words) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("resolved")
			}
			t.Log(err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			for _, w := range append(tc.words, reg.Host()) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// blockingTransport holds every request until release is closed.
type blockingTransport struct {
	release chan struct{}
	started chan struct{}
	once    sync.Once
}

func (b *blockingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b.once.Do(func() { close(b.started) })
	select {
	case <-b.release:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestConcurrentResolve(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	reg.Push(t, "kit/app:1", app(t, "app"))
	reg.Reset()
	bt := &blockingTransport{release: make(chan struct{}), started: make(chan struct{})}
	opts := testOptions()
	opts.Transport = bt
	r := NewResolver(newDirStore(t.TempDir()), nil, opts)

	// One caller gives up; the others must still succeed.
	cctx, cancel := context.WithCancel(ctx)
	quit := make(chan error, 1)
	go func() {
		_, err := r.Resolve(cctx, reg.Ref("kit/app:1"))
		quit <- err
	}()
	<-bt.started
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	imgs := make([]*Image, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = r.Resolve(ctx, reg.Ref("kit/app:1"))
		}()
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-quit; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(bt.release)
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if imgs[i] != imgs[0] {
			t.Error("callers got different images")
		}
	}
	if got := reg.Count(http.MethodGet, "/manifests/1"); got != 1 {
		t.Errorf("%d tag lookups for concurrent resolves", got)
	}
}

func TestResolveAllOrderAndError(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	a, b := app(t, "a"), app(t, "b")
	reg.Push(t, "kit/a:1", a)
	reg.Push(t, "kit/b:1", b)
	r := NewResolver(newDirStore(t.TempDir()), nil, testOptions())
	imgs, err := r.ResolveAll(ctx, []string{reg.Ref("kit/b:1"), reg.Ref("kit/a:1"), reg.Ref("kit/b:1")})
	if err != nil {
		t.Fatal(err)
	}
	if imgs[0].Digest != hash(t, b) || imgs[1].Digest != hash(t, a) || imgs[2] != imgs[0] {
		t.Error("results out of order")
	}
	if _, err := r.ResolveAll(ctx, []string{reg.Ref("kit/a:1"), "Bad:Ref"}); err == nil || !strings.Contains(err.Error(), "Bad:Ref") {
		t.Errorf("bad ref: %v", err)
	}
}

func TestSniff(t *testing.T) {
	idx, _ := imagegen.MultiArch("m", imagegen.Config{})
	rawIdx, _ := idx.RawManifest()
	img, _ := imagegen.Container("c", imagegen.Config{OCI: true})
	rawImg, _ := img.RawManifest()
	emptyIdx, _ := empty.Index.RawManifest()
	for _, tc := range []struct {
		raw, declared, want string
		err                 bool
	}{
		{string(rawIdx), "", string(types.OCIImageIndex), false},
		{string(rawImg), "", string(types.OCIManifestSchema1), false},
		{string(emptyIdx), "", string(types.OCIImageIndex), false},
		{`{"schemaVersion":2,"config":{}}`, "", string(types.OCIManifestSchema1), false},
		{`{"schemaVersion":2,"manifests":[]}`, "application/json", string(types.OCIImageIndex), false},
		{`{"schemaVersion":1,"fsLayers":[]}`, "", "", true},
		{`{"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}`, "", "", true},
		{`{"mediaType":"text/html"}`, "", "", true},
		{`<html>`, "", "", true},
	} {
		got, err := sniff([]byte(tc.raw), tc.declared)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("sniff(%.40s) = %q, %v", tc.raw, got, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("sniff error %v is not ErrUnsupported", err)
		}
	}
}

func TestEndpoints(t *testing.T) {
	c, err := newClient(Options{
		Mirrors:  map[string]string{"docker.io": "mirror.example.com/hub/", "ghcr.io": "http://10.0.0.5:5000"},
		Insecure: []string{"myreg.example:5000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  string
		want []string // name and scheme of each endpoint
	}{
		{"redis:7", []string{"mirror.example.com/hub/library/redis https", "index.docker.io/library/redis https"}},
		{"ghcr.io/a/b:1", []string{"10.0.0.5:5000/a/b http", "ghcr.io/a/b https"}},
		{"myreg.example:5000/x:1", []string{"myreg.example:5000/x http"}},
		{"quay.io/x/y:1", []string{"quay.io/x/y https"}},
		{"localhost:1/x:1", []string{"localhost:1/x http"}},
	} {
		ref, err := ParseRef(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		eps, err := c.endpoints(ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ep := range eps {
			got = append(got, ep.Name()+" "+ep.Scheme())
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: endpoints %v, want %v", tc.ref, got, tc.want)
		}
	}
}

// recordingStore is a store that keeps an image index.
type recordingStore struct {
	*dirStore
	mu   sync.Mutex
	imgs map[string]graph.Digest
}

func (s *recordingStore) AddImage(ref string, d graph.Digest, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imgs[ref] = d
	return nil
}

func TestImageRecorderAndPlan(t *testing.T) {
	ctx := context.Background()
	reg := registry.Start(t)
	img := app(t, "app")
	reg.Push(t, "kit/app:1", img)
	store := &recordingStore{dirStore: newDirStore(t.TempDir()), imgs: map[string]graph.Digest{}}
	r := NewResolver(store, nil, testOptions())
	res, err := r.Resolve(ctx, reg.Ref("kit/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	if store.imgs[reg.Ref("kit/app:1")] != hash(t, img) {
		t.Errorf("recorded %v", store.imgs)
	}
	// Two ops for the same manifest (different tags) merge into one node.
	reg.Push(t, "kit/app:other", img)
	res2, err := r.Resolve(ctx, reg.Ref("kit/app:other"))
	if err != nil {
		t.Fatal(err)
	}
	op1, _ := r.Op(res)
	op2, _ := r.Op(res2)
	plan, err := graph.NewPlan(graph.Env{Platform: "linux/amd64"}, graph.NewVertex(op1.Name(), op1), graph.NewVertex(op2.Name(), op2))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Nodes) != 1 {
		t.Errorf("%d nodes for one manifest", len(plan.Nodes))
	}
}

func BenchmarkFetchOp(b *testing.B) {
	ctx := context.Background()
	reg := registry.Start(b)
	img, err := imagegen.Big(imagegen.BigOptions{MB: 16, Layers: 4})
	if err != nil {
		b.Fatal(err)
	}
	reg.Push(b, "kit/big:1", img)
	b.SetBytes(16 << 20)
	for b.Loop() {
		store := newDirStore(b.TempDir())
		r := NewResolver(store, nil, Options{Keychain: keychain{}})
		res, err := r.Resolve(ctx, reg.Ref("kit/big:1"))
		if err != nil {
			b.Fatal(err)
		}
		op, _ := r.Op(res)
		if _, err := op.Exec(ctx, store, nil); err != nil {
			b.Fatal(err)
		}
	}
}
