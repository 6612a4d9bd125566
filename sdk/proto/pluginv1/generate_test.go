package pluginv1_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestGeneratedUpToDate fails when the checked-in Go code differs from what
// sdk/proto/generate.sh makes of plugin.proto. It needs protoc (Debian:
// protobuf-compiler) and the Go module proxy; without protoc it skips,
// unless CI=true.
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("protoc not found (apt-get install protobuf-compiler)")
		}
		t.Skip("protoc not found")
	}
	// Read the inputs here so go test's cache keys on them (the script's
	// own reads are invisible to it).
	for _, f := range []string{"../generate.sh", "../kit/plugin/v1/plugin.proto", "plugin.pb.go", "plugin_grpc.pb.go"} {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("bash", "../generate.sh", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("generate.sh --check: %v\n%s", err, out)
	}
}
