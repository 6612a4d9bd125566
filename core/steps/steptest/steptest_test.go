package steptest

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

func TestFetch(t *testing.T) {
	x := NewExec(t)
	img := Image(t,
		Layer(t, Dir("etc/", 0o755), File("etc/a", "one", 0o644)),
		Layer(t, Whiteout("etc/a"), Symlink("b", "/etc")),
	)
	res := Fetch(t, x, img)
	var names []string
	for _, o := range res.Outputs {
		names = append(names, o.Name)
		if got := graph.FromBytes(x.Read(o)); got != o.Digest {
			t.Errorf("%s: stored digest %s, content %s", o.Name, o.Digest, got)
		}
	}
	want := []string{"manifest", "config", "layer/0", "layer/1"}
	if len(names) != len(want) {
		t.Fatalf("outputs %v; want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("outputs %v; want %v", names, want)
		}
	}
	m, _ := res.Get("manifest")
	var mf struct {
		Layers []struct{ Digest graph.Digest }
	}
	if err := json.Unmarshal(x.Read(m), &mf); err != nil {
		t.Fatal(err)
	}
	l1, _ := res.Get("layer/1")
	if len(mf.Layers) != 2 || mf.Layers[1].Digest != l1.Digest {
		t.Errorf("manifest layers %v do not match output %s", mf.Layers, l1.Digest)
	}
}

func TestBlobWriter(t *testing.T) {
	x := NewExec(t)
	w, err := x.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "abc")
	if _, err := w.Commit("x", "text/plain", graph.FromBytes([]byte("abd"))); err == nil {
		t.Fatal("commit with a wrong digest succeeded")
	}
	if _, err := x.Path(graph.FromBytes([]byte("abc"))); err == nil {
		t.Fatal("a refused blob became visible")
	}
	o := x.Put("y", "text/plain", []byte("abc"))
	if string(x.Read(o)) != "abc" || o.Size != 3 {
		t.Fatalf("Put/Read round trip: %+v", o)
	}
}

func TestEntries(t *testing.T) {
	x := NewExec(t)
	o := x.Put("t", "application/x-tar", Tar(t, File("a", "hello", 0o600), Hardlink("b", "a")))
	es := Entries(t, x, o)
	if len(es) != 2 || string(es[0].Data) != "hello" || es[1].Header.Typeflag != tar.TypeLink {
		t.Fatalf("entries %+v", es)
	}
}

func TestLogsAndPutReader(t *testing.T) {
	x := NewExec(t)
	x.Logf("a %d", 1)
	x.Logf("b")
	if got := x.Logs(); len(got) != 2 || got[0] != "a 1" || got[1] != "b" {
		t.Fatalf("logs %q", got)
	}
	t.Run("sub", func(t *testing.T) {
		o := x.PutReader(t, "r", "text/plain", strings.NewReader("xyz"))
		if o.Name != "r" || o.MediaType != "text/plain" || o.Size != 3 || string(x.ReadBlob(t, o)) != "xyz" {
			t.Fatalf("PutReader/ReadBlob round trip: %+v", o)
		}
	})
}
