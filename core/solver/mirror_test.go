package solver_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/solver"
	"github.com/kitbuild/kit/core/solver/solvertest"
)

// TestMirror checks that the blobs of the nodes WithMirror names are
// mirrored into their directory as written, handed over once by
// TakeMirror, and removed when their op fails or when no one takes them.
func TestMirror(t *testing.T) {
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.WaitDurable() })
	dir := t.TempDir()
	runs := &solvertest.Counter{}
	a := vx(runs, "a")
	b := vx(runs, "b", a)
	p := plan(t, b)
	bKey := p.Targets[0].Key
	mirrorB := solver.WithMirror(func(n *graph.Node) string {
		if n.Key == bKey {
			return dir
		}
		return ""
	})
	left := func() []string {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	s := solver.New(st, mirrorB)
	res, err := s.Solve(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := res[bKey].Get("out")
	path, ok := s.TakeMirror(bKey, out.Digest)
	if !ok {
		t.Fatalf("no mirror of b's output; %s holds %v", dir, left())
	}
	if filepath.Dir(path) != dir {
		t.Errorf("mirror %s is not in %s", path, dir)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "b(a)" {
		t.Errorf("mirror holds %q (%v), want %q", got, err, "b(a)")
	}
	if _, ok := s.TakeMirror(bKey, out.Digest); ok {
		t.Error("a mirror was handed over twice")
	}
	aKey, _ := nodeKey(p, "a")
	aOut, _ := res[aKey].Get("out")
	if _, ok := s.TakeMirror(aKey, aOut.Digest); ok {
		t.Error("a node not to mirror was mirrored")
	}
	if n := len(left()); n != 1 {
		t.Errorf("%s holds %v, want only the mirror taken", dir, left())
	}
	// A mirror handed over stays locked until DropMirrors: a sweep leaves
	// it.
	solver.SweepMirrors(dir)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a sweep removed a live mirror: %v", err)
	}
	s.DropMirrors()
	os.Remove(path)

	// A mirror no one takes goes with DropMirrors.
	c := vx(runs, "c")
	pc := plan(t, c)
	cKey := pc.Targets[0].Key
	s2 := solver.New(st, solver.WithMirror(func(n *graph.Node) string {
		if n.Key == cKey {
			return dir
		}
		return ""
	}))
	if _, err := s2.Solve(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	if n := len(left()); n != 1 {
		t.Fatalf("%s holds %v, want c's mirror", dir, left())
	}
	s2.DropMirrors()
	if n := len(left()); n != 0 {
		t.Errorf("DropMirrors left %v", left())
	}

	// An op that fails after writing a blob leaves no mirror.
	fail := hooked(runs, "fail", func(ctx context.Context, x graph.Exec) error {
		w, err := x.Create(ctx)
		if err != nil {
			return err
		}
		defer w.Close()
		io.WriteString(w, "half")
		if _, err := w.Commit("half", "", ""); err != nil {
			return err
		}
		return errors.New("boom")
	})
	pf := plan(t, fail)
	s3 := solver.New(st, solver.WithMirror(func(*graph.Node) string { return dir }))
	if _, err := s3.Solve(context.Background(), pf); err == nil {
		t.Fatal("the failing op succeeded")
	}
	if n := len(left()); n != 0 {
		t.Errorf("a failed op left %v", left())
	}
}

// TestSweepMirrors checks that a sweep removes the mirrors of a killed
// build (no process holds their lock) and only those.
func TestSweepMirrors(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".kit-mirror-1", "x-initrd.img", ".kit-x-initrd.img-2"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.WaitDurable() })
	// A live mirror: the solver holds it until DropMirrors.
	p := plan(t, vx(&solvertest.Counter{}, "live"))
	s := solver.New(st, solver.WithMirror(func(*graph.Node) string { return dir }))
	if _, err := s.Solve(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	defer s.DropMirrors()
	solver.SweepMirrors(dir)
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 3 || names[0] == ".kit-mirror-1" || names[1] != ".kit-x-initrd.img-2" || names[2] != "x-initrd.img" ||
		!strings.HasPrefix(names[0], ".kit-mirror-") {
		t.Errorf("after the sweep %s holds %q; want the live mirror, .kit-x-initrd.img-2 and x-initrd.img", dir, names)
	}
}
