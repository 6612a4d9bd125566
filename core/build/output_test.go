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
