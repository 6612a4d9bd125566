package graph

import (
	"context"
	"io"
)

// Output is one file a step produced. Its bytes live in the content-addressed
// store under Digest; Name says what the file is within the step's result
// ("rootfs.tar", "kernel", "layer/0", ...).
type Output struct {
	Name      string `json:"name"`
	Digest    Digest `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType,omitempty"`
}

// Result is what a vertex produced: its cache key and its outputs, in the
// order the op returned them.
type Result struct {
	Key     Key      `json:"key"`
	Outputs []Output `json:"outputs"`
}

// Get returns the output called name.
func (r Result) Get(name string) (Output, bool) {
	for _, o := range r.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return Output{}, false
}

// Op is the work of one vertex, in two phases (as BuildKit's CacheMap and
// Exec): the identity methods describe the work cheaply and without I/O so
// that its cache key can be computed before anything runs; Exec does it.
//
// An Op must be immutable: Exec may run concurrently with the identity
// methods of the same value.
type Op interface {
	// Kind names the step kind: "fetch", "unpack", "assemble", ...
	Kind() string
	// Version is the implementation version of the step. Change it whenever
	// the step's output for the same params and inputs changes.
	Version() string
	// Params returns the canonical encoding (normally JSON with defaults
	// applied and fields in a fixed order) of everything besides the inputs
	// that determines the output.
	Params() ([]byte, error)
	// Exec does the work. inputs are the results of the vertex's inputs, in
	// order. Outputs are written through x and returned in a fixed order.
	Exec(ctx context.Context, x Exec, inputs []Result) ([]Output, error)
}

// PluginOp is implemented by ops that run inside a plugin; the plugin's
// binary digest and negotiated protocol version then enter the cache key.
type PluginOp interface {
	Op
	Plugin() (binaryDigest Digest, protocol int)
}

// Exec is what a running Op may do besides computing: read its inputs from
// the store, write its outputs into it, and report progress. The solver
// implements it on top of core/cache.
type Exec interface {
	// Open opens a blob of the store for reading.
	Open(ctx context.Context, d Digest) (io.ReadCloser, error)
	// Path returns the path of a blob of the store. The file must be treated
	// as read-only.
	Path(d Digest) (string, error)
	// Create starts a new blob. Nothing becomes visible in the store until
	// Commit; Close without Commit discards it.
	Create(ctx context.Context) (BlobWriter, error)
	// TempDir returns a scratch directory private to this execution, removed
	// when Exec returns.
	TempDir() (string, error)
	// Progress reports done out of total units (bytes, normally); total may be
	// zero when unknown.
	Progress(done, total int64)
	// Logf writes a line to the step's log.
	Logf(format string, args ...any)
}

// BlobWriter streams a new blob into the store while digesting it.
type BlobWriter interface {
	io.Writer
	// Commit verifies the content (against want, unless want is empty),
	// makes the blob visible atomically and returns it as an Output named
	// name.
	Commit(name, mediaType string, want Digest) (Output, error)
	// Close discards the blob unless it was committed. It is safe to call
	// after Commit.
	Close() error
}

// TrustingWriter is implemented by blob writers that can skip hashing
// the content, for a caller that verifies it against a known digest by
// other means as it writes it (a registry blob read to its end through a
// verifying reader): after TrustDigest, Commit takes its want digest as the
// content's. Call it before the first Write, and commit only once the
// verification succeeded.
type TrustingWriter interface {
	BlobWriter
	TrustDigest()
}
