package deb

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
)

func openStore(t testing.TB) *cache.Store {
	t.Helper()
	s, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var basicDebs = []testDeb{
	{name: "app", version: "1.0-1", fields: "Depends: libfoo (>= 2), base-files\n"},
	{name: "libfoo", version: "2.1-1", fields: "Pre-Depends: libc6\n"},
	{name: "libfoo", version: "1.0-1"},
	{name: "libc6", version: "2.36-9", fields: "Multi-Arch: same\n"},
	{name: "base-files", version: "12.4", arch: "all", fields: "Essential: yes\n"},
	{name: "other", version: "1.0", arch: "arm64"},
}

func TestFetchRelease(t *testing.T) {
	key, stranger := newTestKey(t, "archive"), newTestKey(t, "stranger")
	now := time.Now()
	for _, tc := range []struct {
		name       string
		validUntil time.Time
		check      bool
		keyring    *testKey
		tamper     func([]byte) []byte
		wantErr    error
		wantMsg    string
	}{
		{name: "ok", keyring: key, check: true, validUntil: now.Add(time.Hour)},
		{name: "no valid-until", keyring: key, check: true},
		{name: "bad signature", keyring: key, check: true, tamper: func(b []byte) []byte {
			return bytes.Replace(b, []byte("Origin: Test"), []byte("Origin: Evil"), 1)
		}, wantErr: ErrSignature},
		{name: "unknown key", keyring: stranger, check: true, wantErr: ErrSignature, wantMsg: "signature verification failed"},
		{name: "expired", keyring: key, check: true, validUntil: now.Add(-time.Hour), wantErr: ErrExpired, wantMsg: "valid until"},
		{name: "expired, Check-Valid-Until false", keyring: key, check: false, validUntil: now.Add(-time.Hour)},
		{name: "unsigned trailer", keyring: key, check: true, tamper: func(b []byte) []byte {
			return append(b, []byte("SHA256:\n 00 1 evil\n")...)
		}, wantErr: ErrSignature, wantMsg: "unsigned data after the signature"},
		{name: "not clearsigned", keyring: key, check: true, tamper: func([]byte) []byte {
			return []byte("Origin: Test\nSHA256:\n")
		}, wantErr: ErrSignature, wantMsg: "not a clearsigned document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newTestRepo(t, key, basicDebs[:1], repoOptions{validUntil: tc.validUntil})
			if tc.tamper != nil {
				p := "dists/stable/InRelease"
				repo.set(p, tc.tamper(repo.get(p)))
			}
			c := NewClient(openStore(t))
			src := Source{Types: []string{"deb"}, URIs: []string{repo.URI()}, Suites: []string{"stable"}, Components: []string{"main"}, Pos: "test.sources: entry 1"}
			s, err := c.FetchRelease(context.Background(), src, "stable", tc.keyring.keyring(t), tc.check)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if s.Release.Origin != "Test" || len(s.Release.Files) != 1 || s.URI != repo.URI() {
					t.Errorf("release = %+v", s.Release)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "/debian/dists/stable/InRelease") || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %v: want the URL and %q", err, tc.wantMsg)
			}
		})
	}
}

func TestFetchReleaseMirrors(t *testing.T) {
	key := newTestKey(t, "archive")
	repo := newTestRepo(t, key, basicDebs[:1], repoOptions{})
	c := NewClient(openStore(t))
	src := Source{Types: []string{"deb"}, URIs: []string{repo.srv.URL + "/missing", repo.URI()}, Suites: []string{"stable"}, Components: []string{"main"}}
	s, err := c.FetchRelease(context.Background(), src, "stable", key.keyring(t), true)
	if err != nil {
		t.Fatal(err)
	}
	if s.URI != repo.URI() {
		t.Errorf("URI = %s, want the second mirror %s", s.URI, repo.URI())
	}
	src.URIs = src.URIs[:1]
	if _, err := c.FetchRelease(context.Background(), src, "stable", key.keyring(t), true); !errors.Is(err, ErrNotFound) {
		t.Errorf("only a missing mirror: err = %v, want ErrNotFound", err)
	}
}

// writeRepoConfig writes an apt configuration under a temp root pointing
// at repo, with the key stored as keyFile ("x.gpg", "x.asc" or "" for
// inline).
func writeRepoConfig(t *testing.T, repo *testRepo, keyFile, extra string) *Config {
	t.Helper()
	root := t.TempDir()
	signed := "Signed-By: /usr/share/keyrings/" + keyFile + "\n"
	switch {
	case keyFile == "":
		var sb strings.Builder
		sb.WriteString("Signed-By:\n")
		for _, l := range strings.Split(strings.TrimSpace(string(repo.key.armored)), "\n") {
			if l == "" {
				l = "."
			}
			sb.WriteString(" " + l + "\n")
		}
		signed = sb.String()
	case strings.HasSuffix(keyFile, ".asc"):
		writeFiles(t, root, map[string]string{"usr/share/keyrings/" + keyFile: string(repo.key.armored)})
	default:
		writeFiles(t, root, map[string]string{"usr/share/keyrings/" + keyFile: string(repo.key.binary)})
	}
	writeFiles(t, root, map[string]string{
		"etc/apt/sources.list.d/test.sources": "Types: deb\nURIs: " + repo.URI() + "\nSuites: stable\nComponents: main\n" + signed + extra,
	})
	cfg, err := LoadConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadIndex(t *testing.T) {
	key := newTestKey(t, "archive")
	for _, tc := range []struct{ keyFile, indexComp string }{
		{"test.gpg", ".xz"},
		{"test.asc", ".gz"},
		{"", "none"},
	} {
		t.Run(tc.keyFile+tc.indexComp, func(t *testing.T) {
			repo := newTestRepo(t, key, basicDebs, repoOptions{indexComp: tc.indexComp})
			cfg := writeRepoConfig(t, repo, tc.keyFile, "")
			store := openStore(t)
			logPath := filepath.Join(t.TempDir(), "deb", "fetched.json")
			c := NewClient(store, WithFetchLog(logPath))
			ix, err := c.LoadIndex(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := ix.Versions("libfoo"); strings.Join(got, " ") != "2.1-1 1.0-1" {
				t.Errorf("libfoo versions = %q", got)
			}
			if got := ix.Versions("other"); len(got) != 0 {
				t.Errorf("arm64 package indexed: %q", got)
			}
			log, err := ReadFetchLog(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(log.Records) != 2 {
				t.Fatalf("fetch log = %+v, want InRelease and Packages", log.Records)
			}
			for _, r := range log.Records {
				if !store.Has(r.Digest) || r.Fetched.IsZero() {
					t.Errorf("record %+v: blob missing or no time", r)
				}
			}
			// A second load uses the cached Packages index.
			if _, err := c.LoadIndex(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			for p, n := range repo.hits {
				if strings.Contains(p, "Packages") && n != 1 {
					t.Errorf("%s fetched %d times, want once", p, n)
				}
			}
		})
	}
}

func TestLoadIndexPackagesMismatch(t *testing.T) {
	key := newTestKey(t, "archive")
	for _, tc := range []struct {
		name    string
		tamper  func([]byte) []byte
		wantMsg string
	}{
		{"content", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 0xff; return c }, "sha256 mismatch: index says "},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, "size mismatch"},
		{"longer", func(b []byte) []byte { return append(bytes.Clone(b), 0) }, "size mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newTestRepo(t, key, basicDebs, repoOptions{})
			p := "dists/stable/main/binary-amd64/Packages.xz"
			repo.set(p, tc.tamper(repo.get(p)))
			cfg := writeRepoConfig(t, repo, "k.gpg", "")
			store := openStore(t)
			_, err := NewClient(store).LoadIndex(context.Background(), cfg)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), "Packages.xz") {
				t.Fatalf("err = %v, want ErrChecksum naming the index and %q", err, tc.wantMsg)
			}
		})
	}
}

func TestLoadIndexValidUntilConfig(t *testing.T) {
	key := newTestKey(t, "archive")
	repo := newTestRepo(t, key, basicDebs, repoOptions{validUntil: time.Now().Add(-24 * time.Hour)})
	cfg := writeRepoConfig(t, repo, "k.gpg", "")
	if _, err := NewClient(openStore(t)).LoadIndex(context.Background(), cfg); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired Release: err = %v, want ErrExpired", err)
	}
	cfg.CheckValidUntil = false // Acquire::Check-Valid-Until "false"
	if _, err := NewClient(openStore(t)).LoadIndex(context.Background(), cfg); err != nil {
		t.Fatalf("Check-Valid-Until false: %v", err)
	}
	cfg = writeRepoConfig(t, repo, "k.gpg", "Check-Valid-Until: no\n")
	if _, err := NewClient(openStore(t)).LoadIndex(context.Background(), cfg); err != nil {
		t.Fatalf("source Check-Valid-Until: no: %v", err)
	}
}

func TestFetchLogFallback(t *testing.T) {
	key := newTestKey(t, "archive")
	repo := newTestRepo(t, key, basicDebs, repoOptions{})
	cfg := writeRepoConfig(t, repo, "k.gpg", "")
	store := openStore(t)
	logPath := filepath.Join(t.TempDir(), "fetched.json")
	var logged []string
	c := NewClient(store, WithFetchLog(logPath), WithLogf(func(f string, a ...any) { logged = append(logged, f) }))
	if _, err := c.LoadIndex(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	repo.set("dists/stable/InRelease", nil)
	if _, err := c.LoadIndex(context.Background(), cfg); err != nil {
		t.Fatalf("with a cached InRelease: %v", err)
	}
	if !strings.Contains(strings.Join(logged, "\n"), "using the copy fetched") {
		t.Errorf("fallback not logged: %q", logged)
	}
	if _, err := NewClient(openStore(t)).LoadIndex(context.Background(), cfg); !errors.Is(err, ErrNotFound) {
		t.Errorf("without a fetch log: err = %v, want ErrNotFound", err)
	}
}

func TestDownload(t *testing.T) {
	key := newTestKey(t, "archive")
	repo := newTestRepo(t, key, basicDebs, repoOptions{})
	cfg := writeRepoConfig(t, repo, "k.gpg", "")
	store := openStore(t)
	c := NewClient(store)
	ctx := context.Background()
	ix, err := c.LoadIndex(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ix.Resolve([]Request{{Name: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	lock := NewLock(pkgs)
	outs, err := c.FetchLock(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 4 {
		t.Fatalf("outputs = %+v", outs)
	}
	for i, o := range outs {
		rc, err := store.Open(ctx, o.Digest)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		l := lock.Packages[i]
		if !bytes.Equal(got, repo.debs[l.Name+"="+l.Version]) {
			t.Errorf("%s: stored bytes differ from the served .deb", l.Name)
		}
	}

	// Tampered .deb on the mirror: refused, nothing stored.
	app := lock.Packages[0]
	if app.Name != "app" {
		t.Fatalf("lock not sorted: %+v", lock.Packages)
	}
	tampered := bytes.Clone(repo.get(app.Filename))
	tampered[len(tampered)-10] ^= 0x01
	repo.set(app.Filename, tampered)
	fresh := NewClient(openStore(t))
	_, err = fresh.Download(ctx, app)
	want := "package app 1.0-1: sha256 mismatch: index says " + app.SHA256 + ", got " + sha256Hex(tampered)
	if !errors.Is(err, ErrChecksum) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("tampered .deb: err = %v\nwant prefix %q", err, want)
	}
	if _, err := NewClient(openStore(t)).FetchLock(ctx, lock); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "package app 1.0-1: sha256 mismatch") {
		t.Fatalf("FetchLock with a tampered .deb: err = %v", err)
	}
	// Already verified bytes in the store are used without a request.
	before := repo.hit(app.Filename)
	if _, err := c.Download(ctx, app); err != nil {
		t.Fatalf("cached .deb: %v", err)
	}
	if repo.hit(app.Filename) != before {
		t.Error("cached .deb downloaded again")
	}
	// A mirror that no longer serves the file.
	repo.set(app.Filename, nil)
	_, err = fresh.Download(ctx, app)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "package app 1.0-1") || !strings.Contains(err.Error(), app.Filename) {
		t.Fatalf("missing .deb: err = %v", err)
	}
}

func TestUnpackDownloaded(t *testing.T) {
	key := newTestKey(t, "archive")
	repo := newTestRepo(t, key, []testDeb{{name: "tool", version: "3.0", comp: ".zst", conffiles: "/etc/tool.conf\n",
		files: []tarEntry{{name: "./", typ: tar.TypeDir}, {name: "./etc/", typ: tar.TypeDir}, {name: "./etc/tool.conf", body: "x=1\n"}}}}, repoOptions{})
	cfg := writeRepoConfig(t, repo, "k.gpg", "")
	store := openStore(t)
	c := NewClient(store)
	ctx := context.Background()
	ix, err := c.LoadIndex(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ix.Resolve([]Request{{Name: "tool", Version: "3.0"}})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := c.FetchLock(ctx, NewLock(pkgs))
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Path(outs[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := OpenDeb(f)
	if err != nil {
		t.Fatal(err)
	}
	if d.Control.Value("Package") != "tool" || strings.Join(d.Conffiles, ",") != "/etc/tool.conf" {
		t.Errorf("control = %v, conffiles = %q", d.Control.Fields(), d.Conffiles)
	}
	var names []string
	if err := d.WalkData(ctx, func(h *tar.Header, r io.Reader) error {
		names = append(names, h.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "etc/ etc/tool.conf" {
		t.Errorf("entries = %q", got)
	}
}

func TestKeyringSelection(t *testing.T) {
	key, stranger := newTestKey(t, "archive"), newTestKey(t, "stranger")
	repo := newTestRepo(t, key, basicDebs, repoOptions{})
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"etc/apt/trusted.gpg.d/other.gpg":   string(stranger.binary),
		"etc/apt/trusted.gpg.d/archive.asc": string(key.armored),
		"etc/apt/sources.list":              "deb " + repo.URI() + " stable main\n",
	})
	cfg, err := LoadConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := NewClient(openStore(t)).LoadIndex(ctx, cfg); err != nil {
		t.Fatalf("trusted.gpg.d keyrings: %v", err)
	}
	for _, tc := range []struct {
		name string
		src  string
		want string
	}{
		{"missing Signed-By file", "deb [signed-by=/usr/share/keyrings/nope.gpg] " + repo.URI() + " stable main\n", "keyrings/nope.gpg: no such file"},
		{"garbage keyring", "deb [signed-by=/etc/apt/sources.list] " + repo.URI() + " stable main\n", "keyring " + root},
		{"other key", "deb [signed-by=/etc/apt/trusted.gpg.d/other.gpg] " + repo.URI() + " stable main\n", "signature verification failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFiles(t, root, map[string]string{"etc/apt/sources.list": tc.src})
			cfg, err := LoadConfig(root)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewClient(openStore(t)).LoadIndex(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// No Signed-By and no trusted keyrings.
	cfg.TrustedKeyrings = nil
	cfg.Sources = []Source{{Types: []string{"deb"}, URIs: []string{repo.URI()}, Suites: []string{"stable"}, Components: []string{"main"}, Pos: "x.list:1"}}
	if _, err := NewClient(openStore(t)).LoadIndex(ctx, cfg); err == nil || !strings.Contains(err.Error(), "x.list:1: no Signed-By and no trusted keyrings") {
		t.Errorf("no keyring: err = %v", err)
	}
	// Sources for other architectures and deb-src entries are not fetched.
	cfg.Sources[0].Architectures = []string{"arm64"}
	cfg.Sources = append(cfg.Sources, Source{Types: []string{"deb-src"}, URIs: []string{"http://127.0.0.1:1/x"}, Suites: []string{"s"}, Components: []string{"main"}})
	ix, err := NewClient(openStore(t)).LoadIndex(ctx, cfg)
	if err != nil || len(ix.Versions("app")) != 0 {
		t.Errorf("arm64-only source fetched: %v, %v", ix, err)
	}
}

func TestClockAndArch(t *testing.T) {
	key := newTestKey(t, "archive")
	repo := newTestRepo(t, key, basicDebs, repoOptions{validUntil: time.Now().Add(48 * time.Hour)})
	cfg := writeRepoConfig(t, repo, "k.gpg", "")
	ctx := context.Background()
	late := func() time.Time { return time.Now().Add(72 * time.Hour) }
	if _, err := NewClient(openStore(t), WithClock(late)).LoadIndex(ctx, cfg); !errors.Is(err, ErrExpired) {
		t.Errorf("clock past Valid-Until: err = %v, want ErrExpired", err)
	}
	c := NewClient(openStore(t), WithArch("arm64"), WithHTTPClient(repo.srv.Client()))
	if _, err := c.LoadIndex(ctx, cfg); err == nil || !strings.Contains(err.Error(), "no main/binary-arm64/Packages index") {
		t.Errorf("arm64: err = %v", err)
	}
}

func TestParseReleaseErrors(t *testing.T) {
	sum := strings.Repeat("0", 64)
	for _, tc := range []struct{ in, want string }{
		{"Origin: x\n", "no SHA256 field"},
		{"SHA256:\n " + sum + " 1\n", "malformed line"},
		{"SHA256:\n " + sum + " -1 a\n", "invalid size"},
		{"SHA256:\n xyz 1 a\n", "malformed line"},
		{"Date: yesterday\nSHA256:\n", "Date: invalid date"},
		{"A: 1\n\nB: 2\n", "want one paragraph, have 2"},
	} {
		if _, err := ParseRelease([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
	rel, err := ParseRelease([]byte("Valid-Until: Sat, 06 Dec 2025 08:13:45 UTC\nSHA256:\n " + sum + " 12 main/binary-amd64/Packages\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rel.ValidUntil.Unix() != 1765008825 || rel.Files["main/binary-amd64/Packages"].Size != 12 {
		t.Errorf("release = %+v", rel)
	}
}
