package build

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

// fileStore serves blobs from files, whatever their content.
type fileStore map[graph.Digest]string

func (s fileStore) Open(_ context.Context, d graph.Digest) (io.ReadCloser, error) {
	p, ok := s[d]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return os.Open(p)
}

func TestCopyBlob(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 2*copyChunk+12345)
	rand.NewChaCha8([32]byte{7}).Read(data)
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, data, 0o444); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, data[1:], 0o444); err != nil {
		t.Fatal(err)
	}
	d, dBad := graph.FromBytes(data), graph.FromBytes([]byte("other"))
	store := fileStore{d: good, dBad: bad}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		d       graph.Digest
		wantErr string // "" for success
	}{
		{"copy", context.Background(), d, ""},
		{"corrupt", context.Background(), dBad, "is corrupt"},
		{"missing", context.Background(), graph.FromBytes(nil), "not exist"},
		{"cancelled", cancelled, d, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = copyBlob(tt.ctx, store, tt.d, f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("copyBlob = %v, want an error containing %q", err, tt.wantErr)
				}
				if tt.ctx.Err() != nil && !errors.Is(err, context.Canceled) {
					t.Fatalf("copyBlob = %v, want context.Canceled", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("copy: %d bytes, %v; want the blob's %d bytes", len(got), err, len(data))
			}
		})
	}
}

// TestCopyBlobSealed copies blobs of a real cache: a blob the store sealed
// is copied without hashing; one written since is hashed, and its
// corruption found; an intact unsealed one is hashed and sealed.
func TestCopyBlobSealed(t *testing.T) {
	ctx := context.Background()
	store, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, copyChunk+4321)
	rand.NewChaCha8([32]byte{9}).Read(data)
	put := func(b []byte) (graph.Digest, string) {
		t.Helper()
		o, err := store.PutBytes(ctx, b, "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := store.Path(o.Digest)
		if err != nil {
			t.Fatal(err)
		}
		return o.Digest, p
	}
	sealed := func(p string) bool {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return store.Sealed(fi)
	}
	copyOut := func(d graph.Digest) ([]byte, error) {
		t.Helper()
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := copyBlob(ctx, store, d, f); err != nil {
			return nil, err
		}
		return os.ReadFile(f.Name())
	}
	// overwrite replaces the blob's first byte through the file system.
	overwrite := func(p string, b byte) {
		t.Helper()
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{b}, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	d, p := put(data)
	if !sealed(p) {
		t.Fatal("a committed blob is not sealed")
	}
	if got, err := copyOut(d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copy of a sealed blob: %d bytes, %v", len(got), err)
	}

	// A write moves the blob's mtime: it is hashed and found corrupt.
	overwrite(p, data[0]+1)
	if sealed(p) {
		t.Fatal("a blob written to is still sealed")
	}
	if _, err := copyOut(d); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Fatalf("copy of a blob written to = %v, want corruption found", err)
	}

	// Intact again but unsealed (as in a cache written by an older kit):
	// hashed, then sealed, since its last change is older than a clock
	// tick or two (racy changes are not sealed; see cache.Store.Seal).
	overwrite(p, data[0])
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the change time age
	if got, err := copyOut(d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copy of an unsealed intact blob: %d bytes, %v", len(got), err)
	}
	if !sealed(p) {
		t.Fatal("an intact blob was not sealed by its copy")
	}

	// What sealing trusts: a writer that puts the seal back goes unnoticed.
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	overwrite(p, data[0]+1)
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got, err := copyOut(d); err != nil || got[0] != data[0]+1 {
		t.Fatalf("copy of a resealed blob: %v; want the tampered bytes copied unhashed", err)
	}
}

// TestWriteOutputsMirror checks that an output with a mirror is renamed
// into place from it, not copied out of the store, beside outputs that
// are copied.
func TestWriteOutputsMirror(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(src, []byte("copied"), 0o444); err != nil {
		t.Fatal(err)
	}
	copied := graph.FromBytes([]byte("copied"))
	mirrored := graph.FromBytes([]byte("mirrored"))
	mirror := filepath.Join(dir, ".kit-mirror-1")
	if err := os.WriteFile(mirror, []byte("mirrored"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The store has only the copied blob: the mirrored one cannot be
	// copied.
	store := fileStore{copied: src}
	outs := []formatOutput{
		{Format: "f", Output: graph.Output{Name: "-a", Digest: copied, Size: 6}},
		{Format: "f", Output: graph.Output{Name: "-b", Digest: mirrored, Size: 8}, Mirror: mirror},
	}
	arts, err := writeOutputs(context.Background(), store, outputRecords{}, dir, "sys", outs)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 {
		t.Fatalf("artifacts %+v", arts)
	}
	for name, want := range map[string]string{"sys-a": "copied", "sys-b": "mirrored"} {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s holds %q (%v), want %q", name, b, err, want)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644", name, fi.Mode(), err)
		}
	}
	if _, err := os.Stat(mirror); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the mirror is still there: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("%s holds %d files, want the 2 artifacts", dir, len(ents))
	}
}

// TestMkdirAllRemoveMade checks that the output directories a build made
// go again when it fails, and only those, and only while empty.
func TestMkdirAllRemoveMade(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "c")
	made, err := mkdirAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 3 || made[0] != dir || made[2] != filepath.Join(root, "a") {
		t.Fatalf("made %q", made)
	}
	removeMade(made)
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a directory the build made is left: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("a directory that was there went: %v", err)
	}
	// A directory that is no longer empty stays, and so do its parents.
	made, err = mkdirAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	removeMade(made)
	if _, err := os.Stat(filepath.Join(dir, "f")); err != nil {
		t.Errorf("a file in the output directory went: %v", err)
	}
	if again, err := mkdirAll(dir); err != nil || len(again) != 0 {
		t.Errorf("mkdirAll of an existing directory made %q, %v", again, err)
	}
}
