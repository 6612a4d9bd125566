package build

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
)

// TestOutputRecords checks when writeOutputs leaves an artifact in place:
// only when the file is the one it wrote (or verified), untouched since.
func TestOutputRecords(t *testing.T) {
	ctx := context.Background()
	store, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o, err := store.PutBytes(ctx, []byte("initrd contents"), "")
	if err != nil {
		t.Fatal(err)
	}
	o.Name = "-initrd.img"
	outs := []formatOutput{{Format: "kernel+initrd", Output: o}}
	recs := outputRecords{dir: filepath.Join(t.TempDir(), "outputs")}
	dir := t.TempDir()
	file := filepath.Join(dir, "sys-initrd.img")
	ino := func() uint64 {
		t.Helper()
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	write := func(what string) []Artifact {
		t.Helper()
		arts, err := writeOutputs(ctx, store, recs, dir, "sys", outs)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(arts) != 1 || arts[0].Path != file || arts[0].Digest != o.Digest {
			t.Fatalf("%s: artifacts %+v", what, arts)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != "initrd contents" {
			t.Fatalf("%s: %q, %v", what, b, err)
		}
		return arts
	}

	write("first")
	first := ino()
	// Right after the write the record is racy: the file is hashed, found
	// right, and recorded again (not rewritten).
	time.Sleep(2 * recordRacyAge)
	write("racy")
	if ino() != first {
		t.Error("a file found intact was rewritten")
	}
	write("trusted")
	if ino() != first {
		t.Error("a file recorded as intact was rewritten")
	}

	// Changed in place (same size), and touched back to the old mtime:
	// the change time tells, and the file is rewritten.
	fi, _ := os.Stat(file)
	if err := os.WriteFile(file, []byte("INITRD CONTENTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	write("changed")
	if ino() == first {
		t.Error("a changed file was left in place")
	}

	// Replaced by another file, and removed.
	time.Sleep(2 * recordRacyAge)
	write("settle")
	if err := os.WriteFile(file+".x", []byte("initrd contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".x", file); err != nil {
		t.Fatal(err)
	}
	replaced := ino()
	write("replaced")
	if ino() == replaced {
		t.Error("a file kit did not write was trusted")
	}
	os.Remove(file)
	write("removed")

	// Another digest for the same path is written.
	o2, err := store.PutBytes(ctx, []byte("other contents!"), "")
	if err != nil {
		t.Fatal(err)
	}
	o2.Name = "-initrd.img"
	before := ino()
	if _, err := writeOutputs(ctx, store, recs, dir, "sys", []formatOutput{{Format: "kernel+initrd", Output: o2}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "other contents!" || ino() == before {
		t.Errorf("new digest: file holds %q", b)
	}

	// Without records, every build writes.
	before = ino()
	if _, err := writeOutputs(ctx, store, outputRecords{}, dir, "sys", []formatOutput{{Format: "kernel+initrd", Output: o2}}); err != nil {
		t.Fatal(err)
	}
	if ino() == before {
		t.Error("no records, yet the file was left in place")
	}
}
