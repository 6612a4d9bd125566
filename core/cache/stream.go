package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/kitbuild/kit/core/graph"
)

// Streams. A step that knows the digests of the blobs it is about to write
// (a fetch, from the manifest) announces them with Expect; a writer that
// says it writes one of them (StreamAs) lets Open of that digest, in this
// process, follow it while it is written: the reader is given the bytes as
// they reach the temporary file, waits for more, and sees the end only once
// the writer committed the blob, that is once its content was verified. A
// writer that gives up before that makes the reader wait for the next
// writer (a retried download), or fail with graph.ErrStreamRestarted when
// it had read part of the abandoned copy already; when every Expect of the
// digest is released without a commit, readers fail.
//
// Only this process sees streams: other processes see the blob once it is
// in blobs/, as before.

// stream is the state of one expected blob.
type stream struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	expects int           // Expect calls not yet released

	writer  *blobWriter // the writer being followed, if any
	gen     int         // incremented for every writer followed
	path    string      // the temporary file of gen's writer
	written int64       // bytes of gen on the file

	done    bool  // gen's writer committed: size bytes
	size    int64 // when done
	doneGen int   // the gen that committed (0: the blob came from elsewhere)
	err     error // failed: every Expect released without a commit
}

// notify wakes the readers waiting on st; st.mu is held.
func (st *stream) notify() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// streamSet holds the streams of a Store.
type streamSet struct {
	mu sync.Mutex
	m  map[graph.Digest]*stream
}

func (ss *streamSet) get(d graph.Digest) *stream {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.m[d]
}

// Expect announces that this process is about to write the blob d, so that
// Open of d follows its writer (see StreamAs) instead of failing while the
// blob is missing. release ends the announcement; err says why the blob
// was not written, when it was not (nil: a step that returned without
// writing it). It does nothing for a blob already present.
func (s *Store) Expect(d graph.Digest) (release func(err error)) {
	if s.Has(d) {
		return func(error) {}
	}
	s.streams.mu.Lock()
	st := s.streams.m[d]
	if st == nil {
		st = &stream{changed: make(chan struct{})}
		if s.streams.m == nil {
			s.streams.m = map[graph.Digest]*stream{}
		}
		s.streams.m[d] = st
	}
	st.mu.Lock()
	st.expects++
	st.mu.Unlock()
	s.streams.mu.Unlock()
	var once sync.Once
	return func(err error) {
		once.Do(func() { s.unexpect(d, st, err) })
	}
}

// unexpect releases one Expect of st; the last one removes it, failing its
// readers unless the blob was committed.
func (s *Store) unexpect(d graph.Digest, st *stream, err error) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expects--
	if st.expects > 0 {
		return
	}
	if s.streams.m[d] == st {
		delete(s.streams.m, d)
	}
	if st.done {
		return
	}
	if s.Has(d) {
		// Committed by a writer that was not followed.
		st.done, st.doneGen = true, 0
	} else {
		if err == nil {
			err = errors.New("its step ended without writing it")
		}
		st.err = fmt.Errorf("cache: blob %s was not written: %w", d, err)
	}
	st.notify()
}

// StreamAs implements graph.StreamingWriter: when d is expected and no
// other writer of it is followed, readers of d follow this one.
func (w *blobWriter) StreamAs(d graph.Digest) {
	st := w.s.streams.get(d)
	if st == nil || w.n > 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done || st.err != nil || st.writer != nil {
		return
	}
	st.writer = w
	st.gen++
	st.path, st.written = w.tmp, 0
	w.stream, w.streamGen = st, st.gen
	st.notify()
}

// advance tells the readers of st that the file of its writer w holds n
// bytes.
func (st *stream) advance(w *blobWriter, n int64) {
	st.mu.Lock()
	if st.writer == w {
		st.written = n
		st.notify()
	}
	st.mu.Unlock()
}

// streamEnd ends w's part in its stream: committed (size bytes, the file
// verified) or abandoned.
func (w *blobWriter) streamEnd(committed bool, size int64) {
	st := w.stream
	if st == nil {
		return
	}
	w.stream = nil
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.writer != w {
		return
	}
	st.writer = nil
	if committed {
		st.done, st.size, st.doneGen = true, size, w.streamGen
	}
	st.notify()
}

// openStream returns a reader following the stream of d, or nil when d is
// not expected.
func (s *Store) openStream(ctx context.Context, d graph.Digest) io.ReadCloser {
	st := s.streams.get(d)
	if st == nil {
		return nil
	}
	return &streamReader{s: s, ctx: ctx, d: d, st: st}
}

// streamReader reads a blob through its stream.
type streamReader struct {
	s   *Store
	ctx context.Context
	d   graph.Digest
	st  *stream
	f   *os.File // the file being read: gen's temporary file, or the blob
	gen int      // the gen f belongs to; -1: f is the committed blob
	off int64
}

func (r *streamReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		limit, end, wait, err := r.next()
		if err != nil {
			return 0, err
		}
		if r.off < limit {
			n, err := r.f.ReadAt(p[:min(int64(len(p)), limit-r.off)], r.off)
			r.off += int64(n)
			if err == io.EOF && n > 0 {
				err = nil
			}
			if err != nil {
				err = fmt.Errorf("cache: read blob %s: %w", r.d, err)
			}
			return n, err
		}
		if end {
			return 0, io.EOF
		}
		select {
		case <-wait:
		case <-r.ctx.Done():
			return 0, fmt.Errorf("cache: read blob %s: %w", r.d, r.ctx.Err())
		}
	}
}

// next brings r up to date with its stream: it returns how far r may read
// (limit), whether limit is the end of the blob, and what to wait on for
// more.
func (r *streamReader) next() (limit int64, end bool, wait <-chan struct{}, err error) {
	st := r.st
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case r.gen < 0:
		return st.size, true, nil, nil
	case st.done:
		if r.f != nil && r.gen == st.doneGen {
			return st.size, true, nil, nil
		}
		if r.off > 0 {
			return 0, false, nil, fmt.Errorf("cache: read blob %s: %w", r.d, graph.ErrStreamRestarted)
		}
		if r.f != nil {
			r.f.Close()
			r.f = nil
		}
		f, err := r.s.openBlob(r.d)
		if err != nil {
			return 0, false, nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return 0, false, nil, fmt.Errorf("cache: read blob %s: %w", r.d, err)
		}
		r.f, r.gen, st.size = f, -1, fi.Size()
		return fi.Size(), true, nil, nil
	case st.err != nil:
		return 0, false, nil, st.err
	}
	if r.f != nil && r.gen != st.gen {
		// The writer r followed gave up; another (or none yet) took over.
		if r.off > 0 {
			return 0, false, nil, fmt.Errorf("cache: read blob %s: %w", r.d, graph.ErrStreamRestarted)
		}
		r.f.Close()
		r.f = nil
	}
	if r.f == nil && st.writer != nil {
		f, err := os.Open(st.path)
		if err == nil {
			r.f, r.gen = f, st.gen
		}
		// Otherwise the writer gave up and removed its file already: wait.
	}
	if r.f != nil && r.gen == st.gen && st.writer != nil {
		limit = st.written
	}
	return limit, false, st.changed, nil
}

// StreamIntact reports whether every byte r returned belongs to the blob
// as committed: r returned none, or all from the copy that was committed.
// A reader that read part of a copy its writer abandoned (a download that
// failed verification, then retried) is not intact even when it stopped
// reading before it could notice; what was made from it must be made
// again.
func (r *streamReader) StreamIntact() bool {
	st := r.st
	st.mu.Lock()
	defer st.mu.Unlock()
	return r.off == 0 || r.gen < 0 || st.done && r.gen == st.doneGen
}

func (r *streamReader) Close() error {
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}
