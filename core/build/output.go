package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/internal/ctxio"
)

// Artifact is a file kit wrote into the output directory.
type Artifact struct {
	Path   string       `json:"path"`
	Digest graph.Digest `json:"digest"`
	Size   int64        `json:"size"`
	Format string       `json:"format"`
}

type opener interface {
	Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error)
}

// writeOutputs copies outputs into dir as name+suffix, several at once.
// Every file is written to a temporary name first; only when all of them
// are complete are they renamed into place, so a failed or cancelled build
// leaves no partial artifact behind.
//
// An artifact already in place as kit left it (see outputRecords) is not
// written again; one with a Mirror is renamed from it instead of copied.
func writeOutputs(ctx context.Context, store opener, recs outputRecords, dir, name string, outs []formatOutput) ([]Artifact, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	type pending struct {
		tmp, final string
		art        Artifact
	}
	var done []pending
	cleanup := func() {
		for _, p := range done {
			os.Remove(p.tmp)
		}
	}
	var files []*os.File
	var kept []Artifact
	var copies []formatOutput
	var finals []string // of the copies
	for _, o := range outs {
		final := filepath.Join(dir, name+o.Output.Name)
		if recs.upToDate(final, o.Output.Digest, o.Output.Size) {
			kept = append(kept, Artifact{Path: final, Digest: o.Output.Digest, Size: o.Output.Size, Format: o.Format})
			continue
		}
		if o.Mirror != "" {
			// The format wrote it here already: it is only renamed.
			if err := os.Chmod(o.Mirror, 0o644); err == nil {
				done = append(done, pending{tmp: o.Mirror, final: final, art: Artifact{Path: final, Digest: o.Output.Digest, Size: o.Output.Size, Format: o.Format}})
				continue
			}
		}
		copies = append(copies, o)
		f, err := os.CreateTemp(dir, ".kit-"+filepath.Base(final)+"-*")
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			cleanup()
			return nil, fmt.Errorf("output %s: %w", final, err)
		}
		files = append(files, f)
		finals = append(finals, final)
		done = append(done, pending{tmp: f.Name(), final: final, art: Artifact{Path: final, Digest: o.Output.Digest, Size: o.Output.Size, Format: o.Format}})
	}
	// The copies are independent (copy_file_range into different files):
	// run them on every core.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, o := range copies {
		f := files[i]
		g.Go(func() error {
			err := copyBlob(gctx, store, o.Output.Digest, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Chmod(f.Name(), 0o644)
			}
			if err != nil {
				return fmt.Errorf("output %s: %w", finals[i], err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	// A cancelled build publishes nothing, even when every copy finished.
	if err := ctx.Err(); err != nil {
		cleanup()
		return nil, err
	}
	for i, p := range done {
		if err := os.Rename(p.tmp, p.final); err != nil {
			for _, q := range done[i:] {
				os.Remove(q.tmp)
			}
			return nil, fmt.Errorf("output %s: %w", p.final, err)
		}
		recs.record(p.final, p.art.Digest)
	}
	// In the order of outs.
	byPath := map[string]Artifact{}
	for _, a := range kept {
		byPath[a.Path] = a
	}
	for _, p := range done {
		byPath[p.art.Path] = p.art
	}
	arts := make([]Artifact, 0, len(outs))
	for _, o := range outs {
		arts = append(arts, byPath[filepath.Join(dir, name+o.Output.Name)])
	}
	return arts, nil
}

// copyChunk is how much copyBlob copies between checks of the context.
const copyChunk = 8 << 20

// sealer is implemented by stores that seal the blobs they verified
// (core/cache.Store): a blob that was not written since shows as sealed
// and is copied without hashing it again. See cache.Store.Sealed for what
// that trusts.
type sealer interface {
	Sealed(fi fs.FileInfo) bool
	Seal(f *os.File, before fs.FileInfo) error
}

// copyBlob copies the blob d into w and verifies it. A sealed blob (see
// sealer) is only copied. Any other is hashed on another goroutine, from its
// own reader, while it is copied, and sealed when it proves intact; when w
// is a file the kernel copies (copy_file_range), so the copy costs neither a
// pass through user space nor the time of the hash.
func copyBlob(ctx context.Context, store opener, d graph.Digest, w io.Writer) error {
	r, err := store.Open(ctx, d)
	if err != nil {
		return err
	}
	defer r.Close()
	seal, _ := store.(sealer)
	if f, ok := r.(*os.File); ok && seal != nil {
		if fi, err := f.Stat(); err == nil && seal.Sealed(fi) {
			n, err := copyChunks(ctx, w, r)
			if err == nil && n != fi.Size() {
				err = fmt.Errorf("cache blob %s: copied %d bytes of %d", d, n, fi.Size())
			}
			return err
		}
	}
	hr, err := store.Open(ctx, d)
	if err != nil {
		return err
	}
	defer hr.Close()
	hf, _ := hr.(*os.File)
	var before fs.FileInfo
	if hf != nil && seal != nil {
		before, _ = hf.Stat()
	}
	hashed := make(chan error, 1)
	go func() {
		dg := graph.NewDigester()
		_, err := io.Copy(dg, ctxio.Reader(ctx, hr))
		if err == nil && dg.Digest() != d {
			err = errors.New("cache blob " + string(d) + " is corrupt (read " + string(dg.Digest()) + ")")
		}
		hashed <- err
	}()
	_, err = copyChunks(ctx, w, r)
	if herr := <-hashed; herr != nil {
		return herr
	}
	if err != nil {
		return err
	}
	if before != nil {
		// Best effort: an unsealed blob is only hashed again next time.
		_ = seal.Seal(hf, before)
	}
	return nil
}

// copyChunks copies r into w in chunks of copyChunk, checking ctx between
// them (io.Copy hands a file to copy_file_range).
func copyChunks(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := io.CopyN(w, r, copyChunk)
		total += n
		if n < copyChunk {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
	}
}
