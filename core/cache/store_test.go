package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/cache/cachetest"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/solver"
)

var _ solver.Store = (*cache.Store)(nil)

func open(t testing.TB, dir string) *cache.Store {
	t.Helper()
	s, err := cache.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func newStore(t *testing.T) *cache.Store { return open(t, t.TempDir()) }

func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) solver.Store { return newStore(t) })
}

// TestConformanceSync runs the conformance tests on a store that syncs
// every blob and entry as it writes it (see cache's notes on durability).
func TestConformanceSync(t *testing.T) {
	t.Setenv("KIT_CACHE_SYNC", "1")
	cachetest.Run(t, func(t *testing.T) solver.Store { return newStore(t) })
	t.Run("deferred", TestConformanceDeferred)
}

// listDir returns the names under dir (relative to the store).
func listDir(t *testing.T, s *cache.Store, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(s.Dir(), dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestOpenLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "cache")
	s := open(t, dir)
	for _, name := range []string{"oci-layout", "index.json", "kit-cache-version", "blobs/sha256", "actions", "names", "locks", "tmp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("layout entry %s: %v", name, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if string(b) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", b)
	}
	// Reopening keeps what is there.
	o, err := s.PutBytes(context.Background(), []byte("keep me"), "")
	if err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir)
	if !s2.Has(o.Digest) {
		t.Fatal("reopen lost a blob")
	}
	if len(listDir(t, s2, "tmp")) != 0 {
		t.Fatalf("tmp/ not empty after open: %v", listDir(t, s2, "tmp"))
	}
}

func TestOpenVersion(t *testing.T) {
	tests := []struct {
		content string
		wantErr error // nil: opens
		errText string
	}{
		{"1\n", nil, ""},
		{"1", nil, ""},
		{"2\n", cache.ErrNewerLayout, "layout version 2"},
		{"999\n", cache.ErrNewerLayout, "supports up to 1"},
		{"one\n", nil, "invalid layout version"},
		{"", nil, "invalid layout version"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.content), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "kit-cache-version"), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := cache.Open(dir)
			if tt.errText == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("Open = %v, want an error containing %q", err, tt.errText)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %v, want errors.Is %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				// A newer layout is not modified.
				if _, err := os.Stat(filepath.Join(dir, "index.json")); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Open of a newer layout created index.json (%v)", err)
				}
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name, kitCache, xdg, want string
	}{
		{"KIT_CACHE wins", "/srv/kit", "/xdg", "/srv/kit"},
		{"XDG_CACHE_HOME", "", "/xdg", "/xdg/kit"},
		{"relative XDG ignored", "", "rel", filepath.Join(home, ".cache", "kit")},
		{"home", "", "", filepath.Join(home, ".cache", "kit")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("KIT_CACHE", tt.kitCache)
			t.Setenv("XDG_CACHE_HOME", tt.xdg)
			if got := cache.DefaultDir(); got != tt.want {
				t.Fatalf("DefaultDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBlobFilesAreReadOnly(t *testing.T) {
	s := newStore(t)
	o, err := s.PutBytes(context.Background(), []byte("ro"), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Path(o.Digest)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Fatalf("blob mode %v, want 0444", fi.Mode().Perm())
	}
	if want := filepath.Join(s.Dir(), "blobs", "sha256", o.Digest.Hex()); p != want {
		t.Fatalf("Path = %s, want %s", p, want)
	}
	if n, err := s.Stat(o.Digest); err != nil || n != 2 {
		t.Fatalf("Stat = %d, %v", n, err)
	}
}

func TestMismatchLeavesNothing(t *testing.T) {
	s := newStore(t)
	content := []byte("actual")
	wrong := graph.FromBytes([]byte("expected"))
	_, err := s.PutBytes(context.Background(), content, wrong)
	if !errors.Is(err, cache.ErrDigestMismatch) {
		t.Fatalf("PutBytes with a wrong digest: %v, want ErrDigestMismatch", err)
	}
	for _, d := range []graph.Digest{wrong, graph.FromBytes(content)} {
		if !strings.Contains(err.Error(), string(d)) {
			t.Errorf("error %q does not name %s", err, d)
		}
	}
	if got := listDir(t, s, "blobs/sha256"); len(got) != 0 {
		t.Fatalf("blobs after a mismatch: %v", got)
	}
	if got := listDir(t, s, "tmp"); len(got) != 0 {
		t.Fatalf("tmp after a mismatch: %v", got)
	}
	// Size is checked too.
	_, err = s.Put(context.Background(), bytes.NewReader(content), graph.FromBytes(content), 99)
	if !errors.Is(err, cache.ErrDigestMismatch) {
		t.Fatalf("Put with a wrong size: %v", err)
	}
	if s.Has(graph.FromBytes(content)) {
		t.Fatal("a blob with the wrong size became visible")
	}
}

func TestCloseWithoutCommitLeavesNothing(t *testing.T) {
	s := newStore(t)
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte{1}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, s, "tmp"); len(got) != 1 {
		t.Fatalf("tmp/ while writing: %v, want one temp file", got)
	}
	w.Close()
	for _, d := range []string{"tmp", "blobs/sha256"} {
		if got := listDir(t, s, d); len(got) != 0 {
			t.Fatalf("%s after Close without Commit: %v", d, got)
		}
	}
}

func TestPutFileAndMoveFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		move     bool
		inStore  bool // source file in a TempDir of the store
		wrong    bool
		wantGone bool
	}{
		{"copy", false, false, false, false},
		{"move same fs", true, true, false, true},
		{"move other dir", true, false, false, true},
		{"move wrong digest", true, true, true, true},
		{"copy wrong digest", false, false, true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			content := bytes.Repeat([]byte{byte(i)}, 100000+i)
			dir := t.TempDir()
			if tt.inStore {
				var err error
				if dir, err = s.TempDir("plugin-"); err != nil {
					t.Fatal(err)
				}
			}
			src := filepath.Join(dir, "disk.img")
			if err := os.WriteFile(src, content, 0o644); err != nil {
				t.Fatal(err)
			}
			want := graph.FromBytes(content)
			if tt.wrong {
				want = graph.FromBytes([]byte("other"))
			}
			put := s.PutFile
			if tt.move {
				put = s.MoveFile
			}
			o, err := put(ctx, src, want)
			_, statErr := os.Stat(src)
			if gone := errors.Is(statErr, fs.ErrNotExist); gone != tt.wantGone {
				t.Errorf("source gone = %v, want %v", gone, tt.wantGone)
			}
			if tt.wrong {
				if !errors.Is(err, cache.ErrDigestMismatch) {
					t.Fatalf("err = %v, want ErrDigestMismatch", err)
				}
				if s.Has(graph.FromBytes(content)) {
					t.Fatal("unverified content became visible")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Digest != want || o.Size != int64(len(content)) {
				t.Fatalf("output %+v", o)
			}
			p, _ := s.Path(o.Digest)
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("blob content differs (%v)", err)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o444 {
				t.Fatalf("blob mode %v", fi.Mode().Perm())
			}
			if got := listDir(t, s, "tmp"); len(got) > 1 || len(got) == 1 && !tt.inStore {
				t.Fatalf("tmp/ after put: %v", got)
			}
		})
	}
}

func TestActionNames(t *testing.T) {
	s := newStore(t)
	o, err := s.PutBytes(context.Background(), []byte("x"), "")
	if err != nil {
		t.Fatal(err)
	}
	key := graph.FromBytes([]byte("k"))
	if err := s.PutAction(&graph.Action{Key: key, Name: "unpack redis", Outputs: []graph.Output{o}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "actions", key.Hex()+".json")); err != nil {
		t.Fatalf("action file: %v", err)
	}
	nameFile := filepath.Join(s.Dir(), "names", graph.FromBytes([]byte("unpack redis")).Hex()+".json")
	if _, err := os.Stat(nameFile); err != nil {
		t.Fatalf("name file: %v", err)
	}
	a, err := s.GetAction(key)
	if err != nil || a == nil || a.Created.IsZero() {
		t.Fatalf("GetAction = %+v, %v; want a hit with a creation time", a, err)
	}
	// A damaged entry is a miss, not an error.
	if err := os.WriteFile(filepath.Join(s.Dir(), "actions", key.Hex()+".json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a, err := s.GetAction(key); a != nil || err != nil {
		t.Fatalf("GetAction of a damaged entry = %v, %v", a, err)
	}
	// PutAction refuses outputs that are not in the store, naming them.
	ghost := graph.FromBytes([]byte("ghost"))
	err = s.PutAction(&graph.Action{Key: key, Name: "n", Outputs: []graph.Output{{Name: "g", Digest: ghost, Size: 5}}})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), string(ghost)) {
		t.Fatalf("PutAction with a missing output: %v", err)
	}
	// A blob whose size differs from the output's makes the entry a miss.
	if err := s.PutAction(&graph.Action{Key: key, Name: "n", Outputs: []graph.Output{{Name: "x", Digest: o.Digest, Size: 7}}}); err == nil {
		t.Fatal("PutAction accepted a wrong output size")
	}
}

func TestActionParamsKeptByteForByte(t *testing.T) {
	s := newStore(t)
	o, err := s.PutBytes(context.Background(), []byte("x"), "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params []byte
	}{
		{"compact json", []byte(`{"a":1,"b":["x"]}`)},
		{"spaced json", []byte(`{"a": 1, "b": [ "x" ]}`)},
		{"not json", []byte("mode=container\x00\xff")},
		{"empty", nil},
		{"html chars", []byte(`{"a":"<&>"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := graph.FromBytes([]byte(tt.name))
			a := &graph.Action{Key: key, Name: tt.name, Components: graph.KeyComponents{Kind: "k", Params: tt.params}, Outputs: []graph.Output{o}}
			if err := s.PutAction(a); err != nil {
				t.Fatal(err)
			}
			for _, get := range []func() (*graph.Action, error){
				func() (*graph.Action, error) { return s.GetAction(key) },
				func() (*graph.Action, error) { return s.LastAction(tt.name) },
			} {
				got, err := get()
				if err != nil || got == nil {
					t.Fatalf("get = %v, %v", got, err)
				}
				if !bytes.Equal(got.Components.Params, tt.params) {
					t.Fatalf("params %q came back as %q", tt.params, got.Components.Params)
				}
				if got.Components.Sum() != a.Components.Sum() {
					t.Fatal("components changed their key")
				}
			}
		})
	}
}
