package sdktest

import (
	"testing"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
)

// Serve serves p in process and returns a client connected to it; both are
// stopped when the test ends.
func Serve(t testing.TB, p sdk.Plugin, opts ...client.Option) *client.Client {
	t.Helper()
	t.Fatal("sdktest.Serve: not implemented")
	return nil
}

// Build builds the plugin main package in pkgDir into t.TempDir() and
// returns the binary's path.
func Build(t testing.TB, pkgDir string) string {
	t.Helper()
	t.Fatal("sdktest.Build: not implemented")
	return ""
}

// RunFormat runs the format component through c and checks the result.
func RunFormat(t testing.TB, c *client.Client, component string, req client.BuildRequest) []client.Artifact {
	t.Helper()
	t.Fatal("sdktest.RunFormat: not implemented")
	return nil
}
