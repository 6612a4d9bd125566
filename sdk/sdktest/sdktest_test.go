package sdktest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

type copyFormat struct{}

func (copyFormat) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name: "copy", Version: "1",
		Outputs: []sdk.Output{{Suffix: ".txt", MediaType: "text/plain"}},
		Needs:   []string{sdk.InputRootfs},
	}
}

func (copyFormat) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	r, err := sdk.TarFile(ctx, req.Inputs[sdk.InputRootfs].Path, "etc/motd")
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	f, err := os.Create(filepath.Join(req.ScratchDir, "motd.txt"))
	if err != nil {
		return nil, err
	}
	if _, err := f.ReadFrom(r); err != nil {
		_ = f.Close()
		return nil, err
	}
	return []sdk.File{{Suffix: ".txt", Path: f.Name()}}, f.Close()
}

func TestServeRunFormat(t *testing.T) {
	c := sdktest.Serve(t, sdk.Plugin{Name: "copy", Version: "1", Formats: []sdk.Format{copyFormat{}}})
	in := sdktest.WriteTar(t, map[string]string{"etc/motd": "welcome\n"})
	arts := sdktest.RunFormat(t, c, "copy", client.BuildRequest{Inputs: map[string]sdk.Input{sdk.InputRootfs: in}})
	b, err := os.ReadFile(arts[0].Path)
	if err != nil || string(b) != "welcome\n" {
		t.Fatalf("%q %v", b, err)
	}
}

func TestWriteTarDeterministic(t *testing.T) {
	files := map[string]string{"a/b/c": "1", "a/d": "2", "e": ""}
	if x, y := sdktest.WriteTar(t, files), sdktest.WriteTar(t, files); x.Digest != y.Digest {
		t.Fatalf("two tars of the same files differ: %s %s", x.Digest, y.Digest)
	}
}
