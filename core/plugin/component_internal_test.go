package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/sdk/client"
)

// TestMoveIn checks the host's own verification of an artifact on its way
// into the store (the SDK client checked it before; the file may have
// changed since).
func TestMoveIn(t *testing.T) {
	x := steptest.NewExec(t)
	scratch := t.TempDir()
	content := []byte("artifact\n")
	p := filepath.Join(scratch, "a.img")
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "b.img")
	os.WriteFile(outside, content, 0o644)
	link := filepath.Join(scratch, "link.img")
	os.Symlink(p, link)
	good := graph.FromBytes(content)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		art  client.Artifact
		want string
	}{
		{"ok", client.Artifact{Suffix: ".img", Path: p, Digest: string(good), Size: int64(len(content))}, ""},
		{"digest", client.Artifact{Suffix: ".img", Path: p, Digest: string(graph.FromBytes([]byte("other"))), Size: int64(len(content))}, "digest"},
		{"size", client.Artifact{Suffix: ".img", Path: p, Digest: string(good), Size: 3}, "the plugin reported 3"},
		{"outside", client.Artifact{Suffix: ".img", Path: outside, Digest: string(good), Size: int64(len(content))}, "outside the scratch directory"},
		{"scratch itself", client.Artifact{Suffix: ".img", Path: scratch, Digest: string(good)}, "outside the scratch directory"},
		{"symlink", client.Artifact{Suffix: ".img", Path: link, Digest: string(good), Size: int64(len(content))}, "symbolic link"},
		{"bad digest", client.Artifact{Suffix: ".img", Path: p, Digest: "md5:x"}, "only sha256"},
	} {
		out, err := moveIn(ctx, x, scratch, tc.art)
		if tc.want == "" {
			if err != nil || out.Digest != good || !x.Has(good) {
				t.Errorf("%s: %+v, %v", tc.name, out, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
