package formattest

import (
	"bytes"
	"os"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
)

// Exec is a graph.Exec whose store is a directory, for tests: a
// steptest.Exec (which records progress and log lines, see LastProgress and
// Logs) whose Put and Read take the test to fail, and which can store a file
// by path.
type Exec struct {
	*steptest.Exec
}

var _ graph.Exec = (*Exec)(nil)

// NewExec returns an Exec storing into a temporary directory of t.
func NewExec(t testing.TB) *Exec {
	t.Helper()
	return &Exec{steptest.NewExec(t)}
}

// Put stores data as a blob and returns it as an output called name.
func (x *Exec) Put(t testing.TB, name string, data []byte) graph.Output {
	t.Helper()
	return x.PutReader(t, name, "", bytes.NewReader(data))
}

// PutFile stores the file at path as a blob (for inputs too big to hold in
// memory).
func (x *Exec) PutFile(t testing.TB, name, path string) graph.Output {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return x.PutReader(t, name, "", f)
}

// Read returns the contents of an output's blob.
func (x *Exec) Read(t testing.TB, o graph.Output) []byte {
	t.Helper()
	return x.ReadBlob(t, o)
}
