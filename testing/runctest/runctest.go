package runctest

import (
	"os"
	"os/exec"
	"testing"
)

// Need skips t under -short and where runc, root or the go tool is
// missing; it returns the path of runc.
func Need(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("running containers needs root")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not installed")
	}
	return runc
}

// BuildStatic builds the Go main package pkg (a path relative to the test's
// directory, such as "./testdata/probe") into out with CGO_ENABLED=0, so it
// runs in a container with nothing else in it.
func BuildStatic(t testing.TB, pkg, out string) {
	t.Helper()
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
}
