package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

func TestVerify(t *testing.T) {
	scratch := t.TempDir()
	outside := t.TempDir()
	write := func(dir, name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const abcDigest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	a := write(scratch, "a", "abc")
	out := write(outside, "o", "abc")
	if err := os.Symlink(a, filepath.Join(scratch, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(scratch, "dir")); err != nil {
		t.Fatal(err)
	}
	comp := sdk.Component{Kind: sdk.KindFormat, Name: "f", Outputs: []sdk.Output{{Suffix: ".a", MediaType: "text/a"}}}
	art := func(sfx, path, digest string, size int64) *pluginv1.Artifact {
		return &pluginv1.Artifact{Suffix: sfx, Path: path, Digest: digest, Size: size, MediaType: "whatever"}
	}
	tests := []struct {
		name string
		got  []*pluginv1.Artifact
		err  string
	}{
		{"ok", []*pluginv1.Artifact{art(".a", a, abcDigest, 3)}, ""},
		{"undeclared suffix", []*pluginv1.Artifact{art(".a", a, abcDigest, 3), art(".b", a, abcDigest, 3)}, "not one the format declares"},
		{"twice", []*pluginv1.Artifact{art(".a", a, abcDigest, 3), art(".a", a, abcDigest, 3)}, "returned twice"},
		{"missing", nil, "declared output .a is missing"},
		{"relative path", []*pluginv1.Artifact{art(".a", "a", abcDigest, 3)}, "not inside the scratch dir"},
		{"outside", []*pluginv1.Artifact{art(".a", out, abcDigest, 3)}, "not inside the scratch dir"},
		{"dotdot", []*pluginv1.Artifact{art(".a", scratch+"/../"+filepath.Base(outside)+"/o", abcDigest, 3)}, "not inside the scratch dir"},
		{"symlinked dir", []*pluginv1.Artifact{art(".a", filepath.Join(scratch, "dir", "o"), abcDigest, 3)}, "resolves outside"},
		{"symlink", []*pluginv1.Artifact{art(".a", filepath.Join(scratch, "link"), abcDigest, 3)}, "not a regular file"},
		{"malformed digest", []*pluginv1.Artifact{art(".a", a, "md5:x", 3)}, "not sha256"},
		{"wrong digest", []*pluginv1.Artifact{art(".a", a, "sha256:"+strings.Repeat("0", 64), 3)}, "the plugin claimed sha256:0000"},
		{"wrong size", []*pluginv1.Artifact{art(".a", a, abcDigest, 4)}, "claimed 4 bytes, the file has 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts, err := verify(context.Background(), comp, scratch, tt.got)
			if tt.err != "" {
				if !errors.Is(err, ErrBadArtifact) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrBadArtifact with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Artifact{Suffix: ".a", Path: a, Digest: abcDigest, Size: 3, MediaType: "text/a"}
			if len(arts) != 1 || arts[0] != want {
				t.Fatalf("got %+v, want %+v", arts, want)
			}
		})
	}
}
