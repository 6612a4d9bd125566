package client

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/internal/fsutil"
	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

// verify checks a build's answer against the component's declaration and
// the files on disk. Every error wraps ErrBadArtifact.
func verify(ctx context.Context, comp sdk.Component, scratch string, got []*pluginv1.Artifact) ([]Artifact, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadArtifact, fmt.Sprintf(format, args...))
	}
	realScratch, err := filepath.EvalSymlinks(scratch)
	if err != nil {
		return nil, fmt.Errorf("scratch dir: %w", err)
	}
	media := make(map[string]string, len(comp.Outputs))
	for _, o := range comp.Outputs {
		media[o.Suffix] = o.MediaType
	}
	seen := make(map[string]bool, len(got))
	arts := make([]Artifact, 0, len(got))
	for _, a := range got {
		sfx := a.GetSuffix()
		mt, ok := media[sfx]
		if !ok {
			return nil, bad("output suffix %q is not one the format declares", sfx)
		}
		if seen[sfx] {
			return nil, bad("output %s returned twice", sfx)
		}
		seen[sfx] = true
		p := a.GetPath()
		if !filepath.IsAbs(p) || !fsutil.Within(scratch, p) {
			return nil, bad("output %s: path %q is not inside the scratch dir %s", sfx, p, scratch)
		}
		p = filepath.Clean(p)
		// A symlinked directory inside scratch must not lead out of it.
		realDir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return nil, bad("output %s: %v", sfx, err)
		}
		if !fsutil.Within(realScratch, realDir) {
			return nil, bad("output %s: %s resolves outside the scratch dir", sfx, p)
		}
		claimed := a.GetDigest()
		if _, ok := hexDigest(claimed); !ok {
			return nil, bad("output %s: digest %q is not sha256:<64 hex>", sfx, claimed)
		}
		digest, size, err := fsutil.DigestFile(ctx, p)
		if err != nil {
			return nil, bad("output %s: %v", sfx, err)
		}
		if digest != claimed {
			return nil, bad("output %s (%s): the plugin claimed %s, the file has %s", sfx, p, claimed, digest)
		}
		if size != a.GetSize() {
			return nil, bad("output %s (%s): the plugin claimed %d bytes, the file has %d", sfx, p, a.GetSize(), size)
		}
		arts = append(arts, Artifact{Suffix: sfx, Path: p, Digest: digest, Size: size, MediaType: mt})
	}
	for _, o := range comp.Outputs {
		if !seen[o.Suffix] {
			return nil, bad("declared output %s is missing", o.Suffix)
		}
	}
	return arts, nil
}
