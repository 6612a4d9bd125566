package e2eboot

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/pkg"
)

var update = flag.Bool("update", false, "rewrite the package tags of examples/*.yml")

// localRef matches a reference to one of the repository's packages in an
// example spec: 127.0.0.1:5000/kit/NAME:TAG, NAME a directory of
// examples/packages.
var localRef = regexp.MustCompile(`\b127\.0\.0\.1:5000/kit/([a-z0-9][a-z0-9._-]*):([0-9a-f]+)\b`)

// TestExampleTags fails when an example spec names a package of
// examples/packages by a tag other than its current content tag (what
// `kit pkg show-tag` prints). Refresh with:
//
//	go test ./testing/e2e-boot -run TestExampleTags -update
func TestExampleTags(t *testing.T) {
	specs, err := filepath.Glob("../../examples/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{} // package name → current tag
	tagOf := func(name string) string {
		if tag, ok := tags[name]; ok {
			return tag
		}
		dir := filepath.Join("../../examples/packages", name)
		// amd64 and epoch 0: what the demo and the boot test build.
		tag, err := pkg.ShowTag(context.Background(), dir, pkg.Options{Arch: "amd64", Store: store, Locked: true})
		if err != nil {
			t.Fatalf("package %s: %v", dir, err)
		}
		tags[name] = tag
		return tag
	}
	refs := 0
	for _, file := range specs {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		stale := false
		out := localRef.ReplaceAllStringFunc(string(data), func(ref string) string {
			m := localRef.FindStringSubmatch(ref)
			refs++
			want := tagOf(m[1])
			if m[2] == want {
				return ref
			}
			stale = true
			if !*update {
				t.Errorf("%s: %s is stale: the package's tag is now %s; refresh with: go test ./testing/e2e-boot -run TestExampleTags -update", file, ref, want)
			}
			return "127.0.0.1:5000/kit/" + m[1] + ":" + want
		})
		if stale && *update {
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: tags updated", file)
		}
	}
	if refs == 0 {
		t.Fatal("no example spec names a package of examples/packages (127.0.0.1:5000/kit/NAME:TAG)")
	}
}
