package cache_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

func lazyAction(t *testing.T, s *cache.Store, label string, outs ...graph.Output) graph.Key {
	t.Helper()
	key := graph.Key(graph.FromBytes([]byte(label)))
	a := &graph.Action{Key: key, Name: label, Outputs: outs}
	if err := s.PutAction(a); err != nil {
		t.Fatal(err)
	}
	return key
}

// damagedBlob opens a store in dir, puts a blob of content repeated, and
// damages it (see damage); it returns the blob's digest.
func damagedBlob(t *testing.T, dir, content string) graph.Digest {
	t.Helper()
	s, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.PutBytes(context.Background(), bytes.Repeat([]byte(content), 1000), "")
	if err != nil {
		t.Fatal(err)
	}
	damage(t, s, o.Digest)
	return o.Digest
}

// damage overwrites the blob's bytes in place, as a crash that lost them
// would leave it: same size, same (sealed) modification time.
func damage(t *testing.T, s *cache.Store, d graph.Digest) {
	t.Helper()
	p, err := s.Path(d)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, fi.Size()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestLazyDurabilityRecovery checks that a store opened under a new boot
// removes the blobs changed since the last checkpoint of the old boot whose
// bytes are not their digest's, and the action entries it cannot decode,
// and keeps the rest.
func TestLazyDurabilityRecovery(t *testing.T) {
	dir := t.TempDir()
	restore := cache.SetBootID("m1", "boot-a")
	defer restore()
	s, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "boots", "m1_boot-a")); err != nil {
		t.Fatalf("no note of the boot: %v", err)
	}
	ctx := context.Background()
	good, err := s.PutBytes(ctx, bytes.Repeat([]byte("good "), 1000), "")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := s.PutBytes(ctx, bytes.Repeat([]byte("lost "), 100000), "")
	if err != nil {
		t.Fatal(err)
	}
	keep := lazyAction(t, s, "keep", good)
	lose := lazyAction(t, s, "lose", bad)
	torn := lazyAction(t, s, "torn", good)
	damage(t, s, bad.Digest)
	if err := os.WriteFile(filepath.Join(dir, "actions", torn.Hex()+".json"), []byte(`{"key":`), 0o644); err != nil {
		t.Fatal(err)
	}

	cache.SetBootID("m1", "boot-b")
	s2, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Has(bad.Digest) {
		t.Error("the damaged blob is still in the store")
	}
	if !s2.Has(good.Digest) {
		t.Error("the sound blob was removed")
	}
	if a, err := s2.GetAction(lose); err != nil || a != nil {
		t.Errorf("action of the damaged blob: %v, %v; want a miss", a, err)
	}
	if a, err := s2.GetAction(keep); err != nil || a == nil {
		t.Errorf("sound action: %v, %v; want a hit", a, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "actions", torn.Hex()+".json")); !os.IsNotExist(err) {
		t.Errorf("undecodable action entry left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "boots", "m1_boot-a")); !os.IsNotExist(err) {
		t.Errorf("the old boot is still noted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "boots", "m1_boot-b")); err != nil {
		t.Errorf("no note of the new boot: %v", err)
	}
}

// TestLazyDurabilityCheckpoint checks that recovery hashes only what
// changed after the old boot's checkpoint: what was synced before it is
// trusted.
func TestLazyDurabilityCheckpoint(t *testing.T) {
	dir := t.TempDir()
	restore := cache.SetBootID("m1", "boot-a")
	defer restore()
	d := damagedBlob(t, dir, "synced ")
	// As if a syncfs had run after every write above.
	later := time.Now().Add(time.Hour).UnixNano()
	if err := os.WriteFile(filepath.Join(dir, "boots", "m1_boot-a"), []byte(strconv.FormatInt(later, 10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache.SetBootID("m1", "boot-b")
	s2, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Has(d) {
		t.Fatal("a blob older than the checkpoint was checked")
	}
}

// TestSyncDurability checks that $KIT_CACHE_SYNC=1 keeps the store from
// writing lazily: no boot is noted, so none is recovered from.
func TestSyncDurability(t *testing.T) {
	t.Setenv("KIT_CACHE_SYNC", "1")
	restore := cache.SetBootID("m1", "boot-a")
	defer restore()
	dir := t.TempDir()
	if _, err := cache.Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "boots", "m1_boot-a")); !os.IsNotExist(err) {
		t.Fatalf("a synced store noted its boot: %v", err)
	}
}

// TestLazyDurabilityOtherMachine checks that the boots of another machine
// sharing the cache are left to it.
func TestLazyDurabilityOtherMachine(t *testing.T) {
	dir := t.TempDir()
	restore := cache.SetBootID("m1", "boot-a")
	defer restore()
	d := damagedBlob(t, dir, "m1 ")
	cache.SetBootID("m2", "boot-b")
	s2, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Has(d) {
		t.Fatal("another machine recovered from m1's boot")
	}
	for _, n := range []string{"m1_boot-a", "m2_boot-b"} {
		if _, err := os.Stat(filepath.Join(dir, "boots", n)); err != nil {
			t.Errorf("boot note %s: %v", n, err)
		}
	}
}

// TestLazyDurabilityIndex checks that recovery empties an index.json that a
// crash left unreadable.
func TestLazyDurabilityIndex(t *testing.T) {
	dir := t.TempDir()
	restore := cache.SetBootID("m1", "boot-a")
	defer restore()
	if _, err := cache.Open(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":`), 0o644); err != nil {
		t.Fatal(err)
	}
	cache.SetBootID("m1", "boot-b")
	s, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if imgs, err := s.Images(); err != nil || len(imgs) != 0 {
		t.Fatalf("images after recovery: %v, %v", imgs, err)
	}
}
