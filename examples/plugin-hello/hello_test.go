package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
)

func request(t *testing.T) client.BuildRequest {
	rootfs := sdktest.WriteTar(t, map[string]string{
		"etc/hostname": "box\n",
		"bin/busybox":  "not really",
	})
	return client.BuildRequest{
		Inputs: map[string]sdk.Input{sdk.InputRootfs: rootfs},
		Config: json.RawMessage(`{"greeting":"hi"}`),
		Arch:   "amd64",
	}
}

const want = `hi from kit-plugin-hello
arch: amd64
entries: 4
d 0755        0 bin/
- 0644       10 bin/busybox
d 0755        0 etc/
- 0644        4 etc/hostname
`

// TestHelloInProcess runs the format in this process through kit's real
// client: fast, and what to run while developing.
func TestHelloInProcess(t *testing.T) {
	c := sdktest.Serve(t, sdk.Plugin{Name: "hello", Version: "test", Formats: []sdk.Format{hello{}}})
	check(t, sdktest.RunFormat(t, c, "hello", request(t)))
}

// TestHelloBinary builds the plugin binary and runs it as kit does: a
// child process, handshake, mTLS, gRPC.
func TestHelloBinary(t *testing.T) {
	bin := sdktest.Build(t, ".")
	c := sdktest.Start(t, bin)
	d, err := c.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "hello" || d.Version != "0.1.0" || len(d.Components) != 1 {
		t.Errorf("description %+v", d)
	}
	check(t, sdktest.RunFormat(t, c, "hello", request(t)))

	// A config the format does not know fails with a clear error.
	req := request(t)
	req.Config = json.RawMessage(`{"greting":"typo"}`)
	req.ScratchDir = t.TempDir()
	if _, err := c.BuildFormat(t.Context(), "hello", req); err == nil || !strings.Contains(err.Error(), `unknown field "greting"`) {
		t.Errorf("err = %v", err)
	}
}

func check(t *testing.T, arts []client.Artifact) {
	t.Helper()
	if len(arts) != 1 || arts[0].Suffix != "-hello.txt" {
		t.Fatalf("artifacts %+v", arts)
	}
	b, err := os.ReadFile(arts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}
