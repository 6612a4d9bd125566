package pkg

import (
	"archive/tar"
	"context"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// LayerName is the output of the layer steps: a normalized, uncompressed tar.
const LayerName = "layer.tar"

// writeTar streams the normalized tar written by fill into a new blob named
// name.
func writeTar(ctx context.Context, x graph.Exec, name string, epoch int64, fill func(*tarutil.Writer) error) (graph.Output, error) {
	return tarutil.WriteBlob(ctx, x, name, epoch, fill)
}

// parentDirs returns the missing parent directories of the clean names in
// have (root-owned, 0755), so that a tar of them and the names is complete.
func parentDirs(have map[string]bool, names []string) []*tar.Header {
	var out []*tar.Header
	for _, n := range names {
		for p := tarutil.Parent(n); p != ""; p = tarutil.Parent(p) {
			if have[p] {
				break
			}
			have[p] = true
			out = append(out, &tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755})
		}
	}
	return out
}
