package solver

import (
	"context"
	"io"

	"github.com/kitbuild/kit/core/graph"
)

// Store is what the solver needs of a cache: a content-addressed blob store,
// an action cache and per-key locks. core/cache.Store implements it.
type Store interface {
	// Has reports whether the blob is present (and verified).
	Has(d graph.Digest) bool
	// Path returns the path of a present blob (read-only); the error wraps
	// fs.ErrNotExist when it is missing.
	Path(d graph.Digest) (string, error)
	// Open opens a present blob.
	Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error)
	// Create starts a new blob (see graph.BlobWriter).
	Create(ctx context.Context) (graph.BlobWriter, error)
	// TempDir makes a scratch directory on the store's file system; the
	// caller removes it.
	TempDir(prefix string) (string, error)
	// GetAction returns the action cached under key, or nil (and no error)
	// on a miss. An entry whose output blobs are not all present is a miss.
	GetAction(key graph.Key) (*graph.Action, error)
	// PutAction records an action atomically; it also becomes the last
	// action recorded for a.Name.
	PutAction(a *graph.Action) error
	// LastAction returns the last action recorded for a node name, or nil.
	LastAction(name string) (*graph.Action, error)
	// Lock takes the per-key lock shared by every process using the store;
	// it waits until the lock is free or ctx is done.
	Lock(ctx context.Context, key graph.Key) (unlock func(), err error)
}
