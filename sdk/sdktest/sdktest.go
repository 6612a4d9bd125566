package sdktest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
)

// Serve serves p in process through the real client (gRPC over a local
// socket) and returns the connected client, closed when the test ends.
// Plugin logs go to t.Log unless opts has a WithLogger.
func Serve(t testing.TB, p sdk.Plugin, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithLogger(testLogger(t))}, opts...)
	c, err := client.StartInProcess(context.Background(), p, opts...)
	if err != nil {
		t.Fatalf("sdktest.Serve: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Start starts the plugin binary through the real client and returns it,
// closed when the test ends. Plugin logs go to t.Log unless opts has a
// WithLogger.
func Start(t testing.TB, binary string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithLogger(testLogger(t))}, opts...)
	c, err := client.Start(context.Background(), binary, opts...)
	if err != nil {
		t.Fatalf("sdktest.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testLogger(t testing.TB) client.LogFunc {
	return func(level, msg string, fields map[string]any) {
		t.Logf("plugin %s: %s %v", level, msg, fields)
	}
}

// Build builds the plugin main package in pkgDir (with the go command, in
// pkgDir, so pkgDir's own go.mod applies) into t.TempDir() and returns the
// binary's path. See BuildBinary for the binary's name.
func Build(t testing.TB, pkgDir string) string {
	t.Helper()
	bin, err := BuildBinary(context.Background(), pkgDir, t.TempDir())
	if err != nil {
		t.Fatalf("sdktest.Build: %v", err)
	}
	return bin
}

// BuildBinary builds the plugin main package in pkgDir into outDir, for
// callers without a testing.TB (a TestMain). The binary is named
// kit-plugin-NAME, NAME being pkgDir's base name without a leading
// "kit-plugin-" or "plugin-": examples/plugin-hello gives kit-plugin-hello.
func BuildBinary(ctx context.Context, pkgDir, outDir string) (string, error) {
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		return "", err
	}
	name := filepath.Base(abs)
	name = strings.TrimPrefix(name, client.BinaryPrefix)
	name = strings.TrimPrefix(name, "plugin-")
	bin := filepath.Join(outDir, client.BinaryPrefix+name)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = abs
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkgDir, err, out)
	}
	return bin, nil
}

// RunFormat is the conformance check every format plugin runs: it checks
// the component's description (a format with outputs, a config schema that
// is a JSON object or boolean, needs named), builds it twice into fresh
// scratch dirs (req.ScratchDir is ignored), checks that every artifact is
// a declared output whose file exists with the digest and size reported,
// and that both builds are byte-identical. It returns the first build's
// artifacts.
func RunFormat(t testing.TB, c *client.Client, component string, req client.BuildRequest) []client.Artifact {
	t.Helper()
	ctx := context.Background()
	desc, err := c.Describe(ctx)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	comp, ok := desc.Component(sdk.KindFormat, component)
	if !ok {
		t.Fatalf("plugin %s has no format %q", desc.Name, component)
	}
	checkComponent(t, comp)

	var runs [2][]client.Artifact
	for i := range runs {
		req.ScratchDir = t.TempDir()
		arts, err := c.BuildFormat(ctx, component, req)
		if err != nil {
			t.Fatalf("build %d: %v", i+1, err)
		}
		checkArtifacts(t, comp, req.ScratchDir, arts)
		runs[i] = arts
	}
	first, second := digests(runs[0]), digests(runs[1])
	for sfx, d := range first {
		if second[sfx] != d {
			t.Errorf("format %s is not reproducible: output %s is %s, then %s", component, sfx, d, second[sfx])
		}
	}
	return runs[0]
}

func checkComponent(t testing.TB, comp sdk.Component) {
	t.Helper()
	if comp.Version == "" {
		t.Errorf("format %s has no version", comp.Name)
	}
	if len(comp.Outputs) == 0 {
		t.Errorf("format %s declares no outputs", comp.Name)
	}
	for _, o := range comp.Outputs {
		if o.MediaType == "" {
			t.Errorf("format %s: output %s has no media type", comp.Name, o.Suffix)
		}
	}
	for _, n := range comp.Needs {
		if n == "" {
			t.Errorf("format %s: an empty need", comp.Name)
		}
	}
	if comp.ConfigSchema != nil {
		var v any
		if err := json.Unmarshal(comp.ConfigSchema, &v); err != nil {
			t.Errorf("format %s: config schema: %v", comp.Name, err)
		} else if _, obj := v.(map[string]any); !obj {
			if _, b := v.(bool); !b {
				t.Errorf("format %s: config schema is neither an object nor a boolean", comp.Name)
			}
		}
	}
}

func checkArtifacts(t testing.TB, comp sdk.Component, scratch string, arts []client.Artifact) {
	t.Helper()
	got := map[string]bool{}
	for _, a := range arts {
		got[a.Suffix] = true
		rel, err := filepath.Rel(scratch, a.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("output %s: %s is outside the scratch dir %s", a.Suffix, a.Path, scratch)
		}
		d := FileDigest(t, a.Path)
		if d != a.Digest {
			t.Errorf("output %s: digest %s, file has %s", a.Suffix, a.Digest, d)
		}
		if fi, err := os.Stat(a.Path); err != nil || fi.Size() != a.Size {
			t.Errorf("output %s: size %d, stat: %v %v", a.Suffix, a.Size, fi, err)
		}
	}
	for _, o := range comp.Outputs {
		if !got[o.Suffix] {
			t.Errorf("output %s missing", o.Suffix)
		}
	}
}

func digests(arts []client.Artifact) map[string]string {
	m := make(map[string]string, len(arts))
	for _, a := range arts {
		m[a.Suffix] = a.Digest
	}
	return m
}

// FileDigest returns "sha256:<hex>" of the file at path.
func FileDigest(t testing.TB, path string) string {
	t.Helper()
	sum, err := client.FileSHA256(context.Background(), path)
	if err != nil {
		t.Fatalf("digest %s: %v", path, err)
	}
	return fmt.Sprintf("sha256:%x", sum)
}

// Input returns the sdk.Input of the file at path, digest computed.
func Input(t testing.TB, path string) sdk.Input {
	t.Helper()
	return sdk.Input{Path: path, Digest: FileDigest(t, path)}
}

// WriteTar writes a tar archive of regular files (name → content; parent
// directories added) to t.TempDir(), deterministically (sorted, mode 0644,
// uid/gid 0, mtime 0), and returns it as an input. It makes a small
// rootfs.tar or image input for tests.
func WriteTar(t testing.TB, files map[string]string) sdk.Input {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	dirs := map[string]bool{}
	for n := range files {
		names = append(names, n)
		for d := filepath.Dir(n); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n, Mode: 0o755, Format: tar.FormatPAX})
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		body := files[n]
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(body)), Format: tar.FormatPAX})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Input(t, p)
}
