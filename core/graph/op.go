package graph

import (
	"context"
	"errors"
	"io"
	"os"
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

// MirroringWriter is implemented by blob writers that can copy what they
// write into a file as well, off the writer's goroutine (the engine mirrors
// the blobs of a build's artifacts into the output directory as they are
// made, instead of copying them there once the build is done). Call Mirror
// before the first Write. Once the blob is committed, Mirrored returns its
// digest and whether f holds exactly its content.
type MirroringWriter interface {
	BlobWriter
	Mirror(f *os.File)
	Mirrored() (Digest, bool)
}

// NetworkOp is implemented by ops that mostly wait for the network (a
// fetch): the engine bounds them apart from the ops that keep CPUs busy, so
// that a slow download does not hold up the steps that could run
// meanwhile.
type NetworkOp interface {
	Op
	UsesNetwork() bool
}

// WeightedOp is implemented by ops that can estimate their work before
// they run: a fetch knows the size of what it downloads. When steps wait
// for a slot, the engine runs first the one behind the heaviest chain of
// inputs (its own weight plus its heaviest input's), so that the image
// that takes longest to download and unpack does not start last.
type WeightedOp interface {
	Op
	// Weight is the estimated work, in bytes read or written.
	Weight() int64
}

// Streaming. An op may let its users start before it returns: it
// announces its outputs as soon as it knows them (Announcer), writes the
// blobs it has yet to write through writers that say which blob they are
// (StreamingWriter), and users that opted in (StreamingOp) read those blobs
// through Exec.Open while they are written. A read waits for bytes still
// to come and ends only once the blob is committed, that is verified; it
// fails when the producer fails. The engine records a user only after its
// inputs completed, so nothing built from bytes that failed verification is
// ever kept.

// Announcer is implemented by the Exec of a running op whose users may
// start early.
type Announcer interface {
	// Announce publishes the outputs the op will return, before it returns.
	// Every announced blob not yet in the store must be written by the op
	// through a StreamingWriter. Call it at most once.
	Announce(outs []Output) error
}

// StreamingWriter is implemented by blob writers whose content readers of
// the same process may follow while it is written.
type StreamingWriter interface {
	BlobWriter
	// StreamAs says the blob will be committed as d: Exec.Open of d, for a
	// blob the op announced, follows this writer. Call it before the first
	// Write.
	StreamAs(d Digest)
}

// StreamingOp is implemented by ops that can start on the announced
// outputs of their inputs: they read input blobs only through Exec.Open
// (never Path), and tolerate reads that wait.
type StreamingOp interface {
	Op
	StreamsInputs() bool
}

// ErrStreamRestarted is wrapped by the error of a read of a streamed blob
// whose producer started the blob over (a retried download) after the
// reader had read part of it: the engine runs the reading op again once
// its inputs are complete.
var ErrStreamRestarted = errors.New("streamed input started over")
