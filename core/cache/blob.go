package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/internal/freelist"
)

// ErrDigestMismatch is wrapped by the errors of a blob whose content does not
// match the digest or size it was expected to have.
var ErrDigestMismatch = errors.New("digest mismatch")

func (s *Store) blobPath(d graph.Digest) string {
	return s.path(blobsDir, d.Hex())
}

// Has reports whether the blob is present. Only verified content is ever
// placed under blobs/, so a present blob is a verified one. A blob of this
// Store that is pending (see CreateDeferred) is present.
func (s *Store) Has(d graph.Digest) bool {
	_, err := s.Stat(d)
	return err == nil
}

// Stat returns the size of a present blob; the error wraps fs.ErrNotExist
// when it is missing.
func (s *Store) Stat(d graph.Digest) (int64, error) {
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	// Pending first: a pending blob is linked before it stops being
	// pending, so one that is not pending any more is found below.
	if p := s.pend.get(d); p != nil {
		return p.size, nil
	}
	fi, err := os.Lstat(s.blobPath(d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("cache: blob %s: %w", d, fs.ErrNotExist)
		}
		return 0, fmt.Errorf("cache: blob %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("cache: blob %s: not a regular file: %w", d, fs.ErrNotExist)
	}
	return fi.Size(), nil
}

// Path returns the path of a present blob. The file is read-only and must
// stay so. The error wraps fs.ErrNotExist when the blob is missing. For a
// pending blob, Path waits until it is durable: Open does not.
func (s *Store) Path(d graph.Digest) (string, error) {
	if err := s.waitDurable(d); err != nil {
		return "", err
	}
	if _, err := s.Stat(d); err != nil {
		return "", err
	}
	return s.blobPath(d), nil
}

// Open opens a present blob for reading (an *os.File), or one that is
// being written and was announced with Expect (see Streams). The error
// wraps fs.ErrNotExist when it is missing.
func (s *Store) Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cache: open blob %s: %w", d, err)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	f, err := s.openBlob(d)
	if errors.Is(err, fs.ErrNotExist) {
		if r := s.openStream(ctx, d); r != nil {
			return r, nil
		}
		// Committed since the first try, or missing.
		f, err = s.openBlob(d)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openBlob opens a present or pending blob. The error wraps
// fs.ErrNotExist when it is neither.
func (s *Store) openBlob(d graph.Digest) (*os.File, error) {
	f, err := os.Open(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		if pf := s.openPending(d); pf != nil {
			return pf, nil
		}
		// Linked since the first try, or missing.
		f, err = os.Open(s.blobPath(d))
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cache: blob %s: %w", d, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("cache: open blob %s: %w", d, err)
	}
	return f, nil
}

// Create starts a new blob, written to a temporary file under tmp/ while it
// is hashed. Nothing becomes visible until Commit; Close without Commit
// discards it. Writes fail once ctx is done.
func (s *Store) Create(ctx context.Context) (graph.BlobWriter, error) {
	return s.create(ctx)
}

func (s *Store) create(ctx context.Context) (*blobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cache: create blob: %w", err)
	}
	f, err := s.createTemp("blob-")
	if err != nil {
		return nil, err
	}
	return &blobWriter{s: s, ctx: ctx, f: f, tmp: f.Name(), dg: graph.NewDigester()}, nil
}

// blobWriter implements graph.BlobWriter.
//
// The first headSize bytes of a blob are buffered: a small blob is written
// and hashed at Commit, with one write. Once a blob grows past headSize,
// writing to the file and hashing move to two goroutines of their own (see
// behind): the step producing the blob goes on computing while its previous
// output is written on one core and hashed on another, and the disk is
// given the data as it comes rather than all at once by the fsync of
// Commit. Either way writers need no buffering of their own.
type blobWriter struct {
	s    *Store
	ctx  context.Context
	f    *os.File
	tmp  string // name of f under tmp/
	dg   *graph.Digester
	n    int64
	err  error // sticky write error
	done bool  // committed or discarded
	// deferred leaves the fsync and link to a goroutine (CreateDeferred).
	deferred bool
	// trusted skips hashing: the writer's caller verifies the content
	// against the digest it commits with (TrustDigest).
	trusted bool

	// stream is the stream following this writer (StreamAs), until it
	// commits or is discarded; streamGen is its generation there.
	stream    *stream
	streamGen int

	head []byte  // the first bytes, while the blob is small
	bg   *behind // nil while the blob is small
	cur  *chunk  // the buffer being filled for bg

	// mirror receives a copy of every byte (Mirror); mirrorErr is the
	// first error writing it, mirrored the digest once committed.
	mirror    *os.File
	mirrorErr error
	mirrored  graph.Digest
}

var (
	_ graph.BlobWriter      = (*blobWriter)(nil)
	_ graph.MirroringWriter = (*blobWriter)(nil)
)

// Write-behind parameters: the size up to which a blob is buffered and
// written at Commit (headSize) and past which it is written behind, the
// buffers in flight (memory per large blob being written: at most
// behindBuffers × behindBufSize, made only while the disk falls behind),
// and how often writeback to the disk is started.
const (
	headSize       = 64 << 10
	behindBufSize  = 1 << 20
	behindBuffers  = 6
	writebackChunk = 8 << 20
)

// chunk is a buffer handed to the writer and the hasher; the last of them
// to finish with it returns it to the free list.
type chunk struct {
	b    []byte
	refs atomic.Int32
}

// behind writes the chunks sent on write to the file and hashes the chunks
// sent on hash, each in order on a goroutine of its own (and copies those
// sent on mirror to the mirror, on a third), and returns every chunk on
// free once all are done with it. After a write error the writer only
// returns chunks.
type behind struct {
	write  chan *chunk
	hash   chan *chunk
	mirror chan *chunk // nil without a mirror
	free   chan *chunk
	made   int            // buffers allocated so far, at most behindBuffers
	done   sync.WaitGroup // the goroutines
	err    atomic.Pointer[error]
	// mirrorErr is the first error writing the mirror, read once the
	// goroutines are done.
	mirrorErr error
}

// failed returns the first write error, if any.
func (b *behind) failed() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// release returns c to the free list when the other goroutines are done
// with it too.
func (b *behind) release(c *chunk) {
	if c.refs.Add(-1) == 0 && cap(c.b) == behindBufSize {
		c.b = c.b[:0]
		b.free <- c
	}
}

// next returns a free buffer: one the goroutines are done with, else a
// new one while fewer than behindBuffers were made, else the first one
// they are done with. A writer that the disk keeps up with makes one or
// two.
func (b *behind) next() *chunk {
	select {
	case c := <-b.free:
		return c
	default:
	}
	if b.made < behindBuffers {
		b.made++
		return behindBufs.Get()
	}
	return <-b.free
}

// behindBufs keeps write-behind buffers from one blob to the next: a build
// writes dozens of large blobs, and a fresh buffer costs a page fault for
// every 4 KiB of it.
var behindBufs = freelist.New(2*behindBuffers, func() *chunk {
	return &chunk{b: make([]byte, 0, behindBufSize)}
})

func (w *blobWriter) startBehind() {
	b := &behind{
		write: make(chan *chunk, behindBuffers),
		hash:  make(chan *chunk, behindBuffers),
		free:  make(chan *chunk, behindBuffers),
	}
	f, dg, off := w.f, w.dg, int64(0)
	st := w.stream
	writeback := w.s.sync() // nothing waits for the disk otherwise
	// An artifact (mirrored) that no step streams is not read again: see
	// directAfter.
	direct := w.mirror != nil && st == nil
	fw := newFileWriter(f, direct)
	b.done.Add(2)
	go func() {
		defer b.done.Done()
		started := off // writeback has been started below this offset
		for c := range b.write {
			if b.failed() == nil {
				if _, err := fw.write(c.b, len(b.write) >= behindBuffers-1); err != nil {
					b.err.Store(&err)
				} else {
					off += int64(len(c.b))
					if st != nil {
						st.advance(w, off)
					}
				}
				if writeback && off-started >= writebackChunk {
					startWriteback(f, started, off-started)
					started = off
				}
			}
			b.release(c)
		}
	}()
	go func() {
		defer b.done.Done()
		for c := range b.hash {
			dg.Write(c.b)
			b.release(c)
		}
	}()
	if m := w.mirror; m != nil {
		mw := newFileWriter(m, direct)
		b.mirror = make(chan *chunk, behindBuffers)
		b.done.Add(1)
		go func() {
			defer b.done.Done()
			for c := range b.mirror {
				if b.mirrorErr == nil {
					_, b.mirrorErr = mw.write(c.b, len(b.mirror) >= behindBuffers-1)
				}
				b.release(c)
			}
		}()
	}
	w.bg = b
	switch {
	case len(w.head) > 0 && direct:
		// Into a whole buffer: direct writes need every chunk but the
		// last to be full (aligned).
		w.cur = b.next()
		w.cur.b = append(w.cur.b, w.head...)
		w.head = nil
	case len(w.head) > 0:
		w.cur, w.head = &chunk{b: w.head}, nil
		w.send()
	}
}

// send hands the current chunk to the writer, the hasher and the mirror.
func (w *blobWriter) send() {
	c := w.cur
	w.cur = nil
	refs := int32(1)
	if !w.trusted {
		refs++
	}
	if w.bg.mirror != nil {
		refs++
	}
	c.refs.Store(refs)
	w.bg.write <- c
	if !w.trusted {
		w.bg.hash <- c
	}
	if w.bg.mirror != nil {
		w.bg.mirror <- c
	}
}

// Mirror implements graph.MirroringWriter: every byte written is written to
// f as well, on a goroutine of its own once the blob is large. A failure to
// write f does not fail the blob: Mirrored reports it.
func (w *blobWriter) Mirror(f *os.File) {
	if w.n == 0 && w.bg == nil {
		w.mirror = f
	}
}

// Mirrored implements graph.MirroringWriter.
func (w *blobWriter) Mirrored() (graph.Digest, bool) {
	return w.mirrored, w.mirrored != "" && w.mirrorErr == nil
}

// TrustDigest implements graph.TrustingWriter: the blob is not hashed, and
// Commit takes its want digest (which it then requires) as the content's.
// It must be called before the first Write.
func (w *blobWriter) TrustDigest() {
	if w.n == 0 {
		w.trusted = true
	}
}

// flush writes and hashes what is buffered: the head of a small blob, or
// the buffers of a large one (stopBehind).
func (w *blobWriter) flush() error {
	if w.bg != nil {
		return w.stopBehind()
	}
	if len(w.head) == 0 {
		return nil
	}
	head := w.head
	w.head = nil
	if !w.trusted {
		w.dg.Write(head)
	}
	if w.mirror != nil && w.mirrorErr == nil {
		_, w.mirrorErr = w.mirror.Write(head)
	}
	n, err := w.f.Write(head)
	if w.stream != nil && err == nil {
		w.stream.advance(w, int64(n))
	}
	return err
}

// stopBehind waits for every buffer to be written and hashed and returns
// the first write error.
func (w *blobWriter) stopBehind() error {
	b := w.bg
	if b == nil {
		return nil
	}
	if w.cur != nil && len(w.cur.b) > 0 {
		w.send()
	}
	if c := w.cur; c != nil && cap(c.b) == behindBufSize {
		behindBufs.Put(c) // empty: never sent
	}
	w.bg, w.cur = nil, nil
	close(b.write)
	close(b.hash)
	if b.mirror != nil {
		close(b.mirror)
	}
	b.done.Wait()
	if w.mirrorErr == nil {
		w.mirrorErr = b.mirrorErr
	}
	// Every chunk sent is back on the free list, and nothing sends to it
	// any more.
	for len(b.free) > 0 {
		behindBufs.Put(<-b.free)
	}
	return b.failed()
}

func (w *blobWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("cache: write to blob %s after commit or close", w.tmp)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("cache: write blob: %w", err)
		return 0, w.err
	}
	if w.bg == nil {
		if len(w.head)+len(p) <= headSize {
			if w.head == nil {
				w.head = make([]byte, 0, headSize)
			}
			w.head = append(w.head, p...)
			w.n += int64(len(p))
			return len(p), nil
		}
		w.startBehind()
	} else if err := w.bg.failed(); err != nil {
		w.err = fmt.Errorf("cache: write blob %s: %w", w.tmp, err)
		return 0, w.err
	}
	for rest := p; len(rest) > 0; {
		if w.cur == nil {
			w.cur = w.bg.next()
		}
		b := w.cur.b
		k := copy(b[len(b):cap(b)], rest)
		w.cur.b = b[:len(b)+k]
		rest = rest[k:]
		if len(w.cur.b) == cap(w.cur.b) {
			w.send()
		}
	}
	// A write error shows at the next Write or at Commit; the blob is
	// never committed after one.
	w.n += int64(len(p))
	return len(p), nil
}

// ReadFrom implements io.ReaderFrom: a large blob is read straight into the
// buffers that are written behind, without the copy Write makes (io.Copy
// into a blob writer uses it).
func (w *blobWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if w.done {
			return total, fmt.Errorf("cache: write to blob %s after commit or close", w.tmp)
		}
		if w.err != nil {
			return total, w.err
		}
		if err := w.ctx.Err(); err != nil {
			w.err = fmt.Errorf("cache: write blob: %w", err)
			return total, w.err
		}
		var buf *[]byte
		if w.bg == nil {
			if w.head == nil {
				w.head = make([]byte, 0, headSize)
			}
			if len(w.head) == cap(w.head) {
				w.startBehind()
				continue
			}
			buf = &w.head
		} else {
			if err := w.bg.failed(); err != nil {
				w.err = fmt.Errorf("cache: write blob %s: %w", w.tmp, err)
				return total, w.err
			}
			if w.cur == nil {
				w.cur = w.bg.next()
			}
			buf = &w.cur.b
		}
		b := *buf
		n, err := r.Read(b[len(b):cap(b)])
		*buf = b[:len(b)+n]
		w.n += int64(n)
		total += int64(n)
		if w.bg != nil && len(w.cur.b) == cap(w.cur.b) {
			w.send()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Commit verifies the content against want (unless want is empty), makes
// the blob read-only, syncs it and links it into blobs/. When the blob is
// already present the new copy is discarded. On any error nothing becomes
// visible.
func (w *blobWriter) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	return w.commit(name, mediaType, want, -1, true)
}

// commit verifies and commits the blob; seal marks it as unchanged since
// verification (see Sealed) and is only set when every byte of the file
// went through w.
func (w *blobWriter) commit(name, mediaType string, want graph.Digest, wantSize int64, seal bool) (out graph.Output, err error) {
	if w.done {
		return graph.Output{}, fmt.Errorf("cache: commit of blob %q after commit or close", name)
	}
	defer func() {
		if err != nil {
			w.discard()
		} else if w.mirror != nil {
			w.mirrored = out.Digest
		}
	}()
	if err := w.flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("cache: write blob %s: %w", w.tmp, err)
	}
	if w.err != nil {
		return graph.Output{}, w.err
	}
	if err := w.ctx.Err(); err != nil {
		return graph.Output{}, fmt.Errorf("cache: commit blob %q: %w", name, err)
	}
	got := w.dg.Digest()
	if w.trusted {
		if want == "" {
			return graph.Output{}, fmt.Errorf("cache: commit blob %q: a trusted blob needs the digest its content was verified against", name)
		}
		got = want
	}
	if want != "" {
		if err := want.Validate(); err != nil {
			return graph.Output{}, fmt.Errorf("cache: commit blob %q: %w", name, err)
		}
		if got != want {
			return graph.Output{}, fmt.Errorf("cache: blob %q: want %s, got %s (%d bytes): %w", name, want, got, w.n, ErrDigestMismatch)
		}
	}
	if wantSize >= 0 && wantSize != w.n {
		return graph.Output{}, fmt.Errorf("cache: blob %s: want %d bytes, got %d: %w", got, wantSize, w.n, ErrDigestMismatch)
	}
	out = graph.Output{Name: name, Digest: got, Size: w.n, MediaType: mediaType}
	if fi, err := os.Lstat(w.s.blobPath(got)); err == nil && fi.Mode().IsRegular() || w.s.pend.get(got) != nil {
		w.streamEnd(true, w.n) // the file holds the verified content too
		w.discard()
		return out, nil
	}
	if err := w.f.Chmod(0o444); err != nil {
		return graph.Output{}, fmt.Errorf("cache: blob %s: chmod: %w", got, err)
	}
	if seal {
		if err := setSeal(w.f); err != nil && err != errNoSeal {
			return graph.Output{}, fmt.Errorf("cache: blob %s: seal: %w", got, err)
		}
	}
	if w.deferred {
		n := w.n
		out, err := w.s.commitLater(w, got, out)
		if err == nil {
			w.streamEnd(true, n)
		}
		return out, err
	}
	if err := w.s.fsync(w.f); err != nil {
		return graph.Output{}, fmt.Errorf("cache: blob %s: sync: %w", got, err)
	}
	if err := w.s.link(w.tmp, got); err != nil {
		return graph.Output{}, fmt.Errorf("cache: blob %s: %w", got, err)
	}
	w.streamEnd(true, w.n)
	w.discard()
	return out, nil
}

// discard closes and removes the temporary file.
func (w *blobWriter) discard() {
	if w.done {
		return
	}
	w.done = true
	w.stopBehind()
	w.streamEnd(false, 0)
	w.f.Close()
	os.Remove(w.tmp)
}

// Close discards the blob unless it was committed. It is safe to call after
// Commit.
func (w *blobWriter) Close() error {
	w.discard()
	return nil
}

// Put stores the content read from r as a blob, verifying it against want
// and size when they are given (empty want, negative size: not checked).
// The returned output has no name.
func (s *Store) Put(ctx context.Context, r io.Reader, want graph.Digest, size int64) (graph.Output, error) {
	if want != "" && size >= 0 && s.Has(want) {
		if n, err := s.Stat(want); err == nil && n == size {
			return graph.Output{Digest: want, Size: size}, nil
		}
	}
	w, err := s.create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return graph.Output{}, fmt.Errorf("cache: put blob %s: %w", want, err)
	}
	return w.commit("", "", want, size, true)
}

// PutBytes stores b as a blob, verified against want unless it is empty.
func (s *Store) PutBytes(ctx context.Context, b []byte, want graph.Digest) (graph.Output, error) {
	w, err := s.create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return graph.Output{}, err
	}
	return w.commit("", "", want, -1, true)
}

// PutFile copies the file at path into the store as a blob, verified against
// want unless it is empty. The file is left in place.
func (s *Store) PutFile(ctx context.Context, path string, want graph.Digest) (graph.Output, error) {
	f, err := os.Open(path)
	if err != nil {
		return graph.Output{}, fmt.Errorf("cache: put file: %w", err)
	}
	defer f.Close()
	out, err := s.Put(ctx, f, want, -1)
	if err != nil {
		return graph.Output{}, fmt.Errorf("cache: put file %s: %w", path, err)
	}
	return out, nil
}

// MoveFile moves the file at path into the store as a blob, verified against
// want unless it is empty; it avoids a copy when path is on the store's file
// system (a plugin's scratch directory from TempDir, for example). The file
// is gone from path afterwards, also when verification fails (its content
// cannot be trusted then); it is copied and removed when it is on another
// file system.
func (s *Store) MoveFile(ctx context.Context, path string, want graph.Digest) (graph.Output, error) {
	if err := ctx.Err(); err != nil {
		return graph.Output{}, fmt.Errorf("cache: move file %s: %w", path, err)
	}
	src, err := os.Open(path)
	if err != nil {
		return graph.Output{}, fmt.Errorf("cache: move file: %w", err)
	}
	fi, err := src.Stat()
	if err != nil {
		src.Close()
		return graph.Output{}, fmt.Errorf("cache: move file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		src.Close()
		return graph.Output{}, fmt.Errorf("cache: move file %s: not a regular file", path)
	}
	// Lock the file before it appears under tmp/, so that the temp sweeper
	// never takes it for the leftover of a dead process.
	if err := unix.Flock(int(src.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		src.Close()
		return graph.Output{}, fmt.Errorf("cache: move file %s: locked by another process: %w", path, err)
	}
	tmp := s.path(tmpDir, "move-"+randomHex())
	if err := os.Rename(path, tmp); err != nil {
		// Another file system, most likely: copy.
		defer src.Close()
		out, err := s.Put(ctx, src, want, -1)
		if err != nil {
			return graph.Output{}, fmt.Errorf("cache: move file %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return graph.Output{}, fmt.Errorf("cache: move file: %w", err)
		}
		return out, nil
	}
	w := &blobWriter{s: s, ctx: ctx, f: src, tmp: tmp, dg: graph.NewDigester()}
	defer w.Close()
	n, err := io.Copy(w.dg, src)
	if err != nil {
		return graph.Output{}, fmt.Errorf("cache: move file %s: read: %w", path, err)
	}
	w.n = n
	// Not sealed: whoever wrote the file may still hold it open, and a
	// write that raced with the hashing above would go unnoticed. Reading
	// it whole later (Seal, after a verified copy) seals it.
	out, err := w.commit("", "", want, -1, false)
	if err != nil {
		return graph.Output{}, fmt.Errorf("cache: move file %s: %w", path, err)
	}
	return out, nil
}

func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
