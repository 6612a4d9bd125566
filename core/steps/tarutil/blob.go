package tarutil

import (
	"bufio"
	"context"
	"fmt"

	"github.com/kitbuild/kit/core/graph"
)

// WriteBlob streams the normalized tar that fill writes into a new blob of
// the store, committed as an output called name.
func WriteBlob(ctx context.Context, x graph.Exec, name string, epoch int64, fill func(*Writer) error) (graph.Output, error) {
	bw, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, fmt.Errorf("creating %s: %w", name, err)
	}
	defer bw.Close()
	buf := bufio.NewWriterSize(bw, 1<<16)
	tw := NewWriter(buf, epoch)
	if err := fill(tw); err != nil {
		return graph.Output{}, err
	}
	if err := tw.Close(); err != nil {
		return graph.Output{}, fmt.Errorf("writing %s: %w", name, err)
	}
	if err := buf.Flush(); err != nil {
		return graph.Output{}, fmt.Errorf("writing %s: %w", name, err)
	}
	out, err := bw.Commit(name, MediaType, "")
	if err != nil {
		return graph.Output{}, fmt.Errorf("committing %s: %w", name, err)
	}
	return out, nil
}
