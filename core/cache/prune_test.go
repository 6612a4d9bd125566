package cache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

func put(t *testing.T, s *cache.Store, name string, b []byte) graph.Output {
	t.Helper()
	o, err := s.PutBytes(context.Background(), b, "")
	if err != nil {
		t.Fatal(err)
	}
	o.Name = name
	return o
}

// putImage stores a small OCI image (manifest, config, one layer) and
// records it under ref; it returns the digests of its three blobs.
func putImage(t *testing.T, s *cache.Store, ref string, seed byte) []graph.Digest {
	t.Helper()
	cfg := put(t, s, "config", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`+string(rune('a'+seed))))
	layer := put(t, s, "layer", bytes.Repeat([]byte{seed}, 300))
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.Digest, "size": cfg.Size},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.Digest, "size": layer.Size}},
	}
	b, _ := json.Marshal(m)
	man := put(t, s, "manifest", b)
	if err := s.AddImage(ref, man.Digest, ""); err != nil {
		t.Fatal(err)
	}
	return []graph.Digest{man.Digest, cfg.Digest, layer.Digest}
}

func TestPrune(t *testing.T) {
	type fixture struct {
		s       *cache.Store
		keys    map[string]graph.Key
		orphan  graph.Digest
		image   []graph.Digest
		outputs map[string][]graph.Output
	}
	setup := func(t *testing.T) fixture {
		s := newStore(t)
		f := fixture{s: s, keys: map[string]graph.Key{}, outputs: map[string][]graph.Output{}}
		shared := put(t, s, "shared", bytes.Repeat([]byte("S"), 500))
		f.outputs["a1"] = []graph.Output{put(t, s, "a", bytes.Repeat([]byte("A"), 1000))}
		f.outputs["a2"] = []graph.Output{put(t, s, "b", bytes.Repeat([]byte("B"), 1000))}
		f.outputs["a3"] = []graph.Output{put(t, s, "c", bytes.Repeat([]byte("C"), 1000)), shared}
		f.outputs["a4"] = []graph.Output{put(t, s, "d", bytes.Repeat([]byte("D"), 1000)), shared}
		f.orphan = put(t, s, "orphan", []byte("nobody refers to me")).Digest
		base := time.Now().Add(-24 * time.Hour)
		for i, name := range []string{"a1", "a2", "a3", "a4"} {
			key := graph.FromBytes([]byte(name))
			f.keys[name] = key
			if err := s.PutAction(&graph.Action{Key: key, Name: "node " + name, Outputs: f.outputs[name]}); err != nil {
				t.Fatal(err)
			}
			at := base.Add(time.Duration(i) * time.Hour)
			if err := os.Chtimes(filepath.Join(s.Dir(), "actions", key.Hex()+".json"), at, at); err != nil {
				t.Fatal(err)
			}
		}
		// A hit makes a1 the most recently used: order a1, a4, a3, a2.
		if a, err := s.GetAction(f.keys["a1"]); err != nil || a == nil {
			t.Fatalf("GetAction(a1) = %v, %v", a, err)
		}
		f.image = putImage(t, s, "kit.test/img:1", 1)
		return f
	}
	tests := []struct {
		name      string
		keep      int64
		opts      []cache.PruneOption
		wantKept  []string
		wantBytes int64
		keepImage bool
		keepNames bool
	}{
		{"everything fits", 1 << 40, nil, []string{"a1", "a2", "a3", "a4"}, 4500, true, true},
		{"exact fit after dropping the oldest", 3500, nil, []string{"a1", "a3", "a4"}, 3500, true, true},
		{"shared blob counted once", 2500, nil, []string{"a1", "a4"}, 2500, true, true},
		{"only the most recent", 1000, nil, []string{"a1"}, 1000, true, true},
		{"nothing fits", 999, nil, nil, 0, true, true},
		{"zero drops everything but images", 0, nil, nil, 0, true, false},
		{"zero with images", 0, []cache.PruneOption{cache.PruneImages()}, nil, 0, false, false},
		{"images dropped, actions kept", 1 << 40, []cache.PruneOption{cache.PruneImages()}, []string{"a1", "a2", "a3", "a4"}, 4500, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			s := f.s
			rep, err := s.Prune(context.Background(), tt.keep, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ActionsKept != len(tt.wantKept) || rep.ActionsRemoved != 4-len(tt.wantKept) || rep.KeptBytes != tt.wantBytes {
				t.Fatalf("report %+v, want %d kept with %d bytes", rep, len(tt.wantKept), tt.wantBytes)
			}
			wantBlobs := map[graph.Digest]bool{}
			for _, name := range []string{"a1", "a2", "a3", "a4"} {
				a, err := s.GetAction(f.keys[name])
				if err != nil {
					t.Fatal(err)
				}
				kept := slices.Contains(tt.wantKept, name)
				if (a != nil) != kept {
					t.Errorf("action %s kept = %v, want %v", name, a != nil, kept)
				}
				if kept {
					for _, o := range f.outputs[name] {
						wantBlobs[o.Digest] = true
					}
				}
				last, _ := s.LastAction("node " + name)
				if (last != nil) != tt.keepNames {
					t.Errorf("LastAction(%s) present = %v, want %v", name, last != nil, tt.keepNames)
				}
			}
			for _, d := range f.image {
				if tt.keepImage {
					wantBlobs[d] = true
				}
			}
			var got []graph.Digest
			for _, h := range listDir(t, s, "blobs/sha256") {
				got = append(got, graph.Digest("sha256:"+h))
			}
			if len(got) != len(wantBlobs) {
				t.Errorf("%d blobs left, want %d", len(got), len(wantBlobs))
			}
			for _, d := range got {
				if !wantBlobs[d] {
					t.Errorf("blob %s left behind", d)
				}
			}
			if s.Has(f.orphan) {
				t.Error("unreferenced blob survived")
			}
			images, err := s.Images()
			if err != nil {
				t.Fatal(err)
			}
			if (len(images) == 1) != tt.keepImage {
				t.Errorf("images after prune: %v", images)
			}
		})
	}
}

func TestPruneDropsIncompleteActions(t *testing.T) {
	s := newStore(t)
	o := put(t, s, "x", []byte("will vanish"))
	key := graph.FromBytes([]byte("k"))
	if err := s.PutAction(&graph.Action{Key: key, Name: "n", Outputs: []graph.Output{o}}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path(o.Digest)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if a, err := s.GetAction(key); a != nil || err != nil {
		t.Fatalf("GetAction with a missing output = %v, %v; want a miss", a, err)
	}
	list, err := s.List(context.Background())
	if err != nil || len(list) != 1 || list[0].Complete {
		t.Fatalf("List = %+v, %v; want one incomplete entry", list, err)
	}
	rep, err := s.Prune(context.Background(), 1<<40)
	if err != nil || rep.ActionsRemoved != 1 {
		t.Fatalf("Prune = %+v, %v; want the incomplete action removed", rep, err)
	}
}

func TestPruneTempAndLocks(t *testing.T) {
	s := newStore(t)
	old, err := s.TempDir("old-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "f"), make([]byte, 100), 0o444); err != nil {
		t.Fatal(err)
	}
	// An unpacked tree may hold read-only directories.
	if err := os.Mkdir(filepath.Join(old, "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "ro", "g"), make([]byte, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(old, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.TempDir("fresh-")
	if err != nil {
		t.Fatal(err)
	}
	idle := graph.FromBytes([]byte("idle"))
	held := graph.FromBytes([]byte("held"))
	u, err := s.Lock(context.Background(), idle)
	if err != nil {
		t.Fatal(err)
	}
	u()
	u, err = s.Lock(context.Background(), held)
	if err != nil {
		t.Fatal(err)
	}
	defer u()

	rep, err := s.Prune(context.Background(), 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TempRemoved != 1 || rep.FreedBytes != 110 {
		t.Fatalf("report %+v, want one temp dir of 110 bytes removed", rep)
	}
	if _, err := os.Stat(old); err == nil {
		t.Fatal("stale temp dir survived")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("fresh temp dir removed: %v", err)
	}
	locks := listDir(t, s, "locks")
	if slices.Contains(locks, idle.Hex()+".lock") || !slices.Contains(locks, held.Hex()+".lock") {
		t.Fatalf("locks/ after prune: %v; want the idle lock file gone and the held one kept", locks)
	}
	// The held lock still excludes after prune.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, held); err == nil {
		t.Fatal("a held lock was lost by prune")
	}
	// With a zero age every temp dir goes.
	rep, err = s.Prune(context.Background(), 1<<40, cache.PruneTempOlderThan(0))
	if err != nil || rep.TempRemoved != 1 {
		t.Fatalf("Prune(age 0) = %+v, %v", rep, err)
	}
}

func TestListAndDiskUsage(t *testing.T) {
	s := newStore(t)
	a := put(t, s, "a", bytes.Repeat([]byte("a"), 100))
	b := put(t, s, "b", bytes.Repeat([]byte("b"), 50))
	put(t, s, "orphan", bytes.Repeat([]byte("o"), 7))
	k1, k2 := graph.FromBytes([]byte("1")), graph.FromBytes([]byte("2"))
	if err := s.PutAction(&graph.Action{Key: k1, Name: "one", Components: graph.KeyComponents{Kind: "unpack"}, Outputs: []graph.Output{a, a}}); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(s.Dir(), "actions", k1.Hex()+".json"), past, past)
	if err := s.PutAction(&graph.Action{Key: k2, Name: "two", Outputs: []graph.Output{a, b}}); err != nil {
		t.Fatal(err)
	}
	img := putImage(t, s, "kit.test/x:1", 2)
	if _, err := s.TempDir("t-"); err != nil {
		t.Fatal(err)
	}

	list, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != k2 || list[1].Key != k1 {
		t.Fatalf("List order: %+v", list)
	}
	if list[0].Size != 150 || list[1].Size != 100 || list[1].Kind != "unpack" || list[1].Name != "one" || !list[0].Complete {
		t.Fatalf("List entries: %+v", list)
	}
	if !list[0].LastUsed.After(list[1].LastUsed) {
		t.Fatal("LastUsed does not follow use")
	}

	u, err := s.DiskUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var imgBytes int64
	for _, d := range img {
		n, _ := s.Stat(d)
		imgBytes += n
	}
	if u.Blobs != 6 || u.BlobBytes != 157+imgBytes || u.ReferencedBytes != 150+imgBytes {
		t.Fatalf("usage %+v; want 6 blobs, %d bytes, %d referenced", u, 157+imgBytes, 150+imgBytes)
	}
	if u.Actions != 2 || u.Images != 1 || u.Temp != 1 || u.ActionBytes == 0 {
		t.Fatalf("usage %+v", u)
	}
	if u.TotalBytes != u.BlobBytes+u.ActionBytes+u.TempBytes {
		t.Fatalf("usage total %+v", u)
	}
}
