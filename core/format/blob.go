package format

import (
	"context"
	"fmt"
	"io"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/internal/ctxio"
)

// Media types of the outputs written by kit's formats.
const (
	MediaTypeTar    = "application/x-tar"
	MediaTypeBinary = "application/octet-stream"
	MediaTypeText   = "text/plain"
)

// WriteBlob creates a blob, lets write fill it and commits it as an output
// called name. The blob is discarded when write or the commit fails.
func WriteBlob(ctx context.Context, x graph.Exec, name, mediaType string, write func(w io.Writer) error) (graph.Output, error) {
	bw, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, fmt.Errorf("output %s: %w", name, err)
	}
	defer bw.Close()
	if err := write(bw); err != nil {
		return graph.Output{}, fmt.Errorf("output %s: %w", name, err)
	}
	out, err := bw.Commit(name, mediaType, "")
	if err != nil {
		return graph.Output{}, fmt.Errorf("output %s: %w", name, err)
	}
	return out, nil
}

// Rename returns a blob that is already in the store as an output called
// name, without copying it.
func Rename(o graph.Output, name, mediaType string) graph.Output {
	return graph.Output{Name: name, Digest: o.Digest, Size: o.Size, MediaType: mediaType}
}

// CopyBlob streams the blob of o into w and checks that its size is o.Size.
func CopyBlob(ctx context.Context, x graph.Exec, w io.Writer, o graph.Output) error {
	r, err := x.Open(ctx, o.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", o.Digest, err)
	}
	defer r.Close()
	n, err := io.Copy(w, ContextReader(ctx, r))
	if err != nil {
		return fmt.Errorf("copy %s (%s): %w", o.Name, o.Digest.Short(), err)
	}
	if n != o.Size {
		return fmt.Errorf("copy %s (%s): read %d bytes, expected %d", o.Name, o.Digest.Short(), n, o.Size)
	}
	return nil
}

// ReadSmallBlob returns the contents of a blob of at most max bytes (a
// command line, a config).
func ReadSmallBlob(ctx context.Context, x graph.Exec, o graph.Output, max int64) ([]byte, error) {
	if o.Size > max {
		return nil, fmt.Errorf("%s (%s): %d bytes, more than the %d allowed", o.Name, o.Digest.Short(), o.Size, max)
	}
	r, err := x.Open(ctx, o.Digest)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", o.Digest, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s (%s): %w", o.Name, o.Digest.Short(), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s (%s): more than the %d bytes allowed", o.Name, o.Digest.Short(), max)
	}
	return b, nil
}

// ContextReader returns a reader that fails with ctx.Err() once ctx is
// done, so long copies stop on cancellation.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return ctxio.Reader(ctx, r)
}
