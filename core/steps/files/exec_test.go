package files

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// listing describes a tar one entry a line: name, type, mode, owner, and
// the contents or link target.
func listing(t testing.TB, x *steptest.Exec, out graph.Output) string {
	t.Helper()
	if _, err := tarutil.Verify(bytes.NewReader(x.Read(out)), 1<<40); err != nil {
		t.Errorf("%s: %v", out.Name, err)
	}
	var b strings.Builder
	tr := tar.NewReader(bytes.NewReader(x.Read(out)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatalf("%s: %v", out.Name, err)
		}
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: %s: names or times not normalized: %+v", out.Name, h.Name, h)
		}
		fmt.Fprintf(&b, "%s %c %04o %d:%d", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
		switch h.Typeflag {
		case tar.TypeSymlink:
			fmt.Fprintf(&b, " -> %s", h.Linkname)
		case tar.TypeReg:
			body, _ := io.ReadAll(tr)
			fmt.Fprintf(&b, " %q", body)
		}
		fmt.Fprintf(&b, " @%d\n", h.ModTime.Unix())
	}
}

// run executes op and returns its outputs by name.
func run(t testing.TB, x *steptest.Exec, op Op) (map[string]graph.Output, error) {
	t.Helper()
	if _, err := op.Params(); err != nil {
		return nil, err
	}
	outs, err := op.Exec(context.Background(), x, nil)
	if err != nil {
		return nil, err
	}
	m := map[string]graph.Output{}
	for _, o := range outs {
		m[o.Name] = o
	}
	return m, nil
}

func TestExecLayout(t *testing.T) {
	cases := []struct {
		name    string
		entries []Entry
		files   string
		parents string
		err     string
	}{
		{
			name: "parents take the owner and the mode plus execute bits",
			entries: []Entry{
				{Path: "etc/ssh/sshd_config", Kind: KindFile, Mode: 0o640, UID: 100, GID: 101, Contents: []byte("Port 22\n")},
				{Path: "etc/ssh/other", Kind: KindFile, Mode: 0o600, Contents: []byte("x")},
				{Path: "home/u/.k", Kind: KindFile, Mode: 0o604, UID: 7, GID: 8, Contents: []byte{}},
			},
			files: "etc/ssh/other 0 0600 0:0 \"x\" @10\n" +
				"etc/ssh/sshd_config 0 0640 100:101 \"Port 22\\n\" @10\n" +
				"home/u/.k 0 0604 7:8 \"\" @10\n",
			parents: "etc 5 0750 100:101 @10\n" +
				"etc/ssh 5 0750 100:101 @10\n" +
				"home 5 0705 7:8 @10\n" +
				"home/u 5 0705 7:8 @10\n",
		},
		{
			name: "an explicit directory wins over a parent, a later entry over an earlier one",
			entries: []Entry{
				{Path: "var/lib/x", Kind: KindFile, Mode: 0o600, Contents: []byte("old")},
				{Path: "var/lib", Kind: KindDir, Mode: 0o711, UID: 3},
				{Path: "var/lib/x", Kind: KindSymlink, Mode: 0o777, Target: "/run/x"},
			},
			files: "var/lib 5 0711 3:0 @10\n" +
				"var/lib/x 2 0777 0:0 -> /run/x @10\n",
			parents: "var 5 0711 3:0 @10\n",
		},
		{
			name:    "an entry beneath a file",
			entries: []Entry{{Path: "a", Kind: KindFile, Contents: []byte("f"), Origin: "files[0]"}, {Path: "a/b", Kind: KindDir, Origin: "files[1]"}},
			err:     "files[1] (a/b): invalid file entry: it lies beneath files[0] (a), which is not a directory",
		},
		{
			name:    "an unclean path",
			entries: []Entry{{Path: "a/../b", Kind: KindDir, Origin: "files[0]"}},
			err:     "files[0] (a/../b): invalid file entry: path must be a clean relative path",
		},
		{
			name:    "a mode beyond 07777",
			entries: []Entry{{Path: "a", Kind: KindDir, Mode: 0o17777}},
			err:     "mode 017777 has bits beyond 07777",
		},
		{
			name:    "a symlink without target",
			entries: []Entry{{Path: "a", Kind: KindSymlink}},
			err:     "symlink target is empty",
		},
		{
			name:    "no entries",
			files:   "",
			parents: "",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := steptest.NewExec(t)
			outs, err := run(t, x, Op{Entries: c.entries, SourceDateEpoch: 10})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v is not ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := listing(t, x, outs[FilesName]); got != c.files {
				t.Errorf("files.tar:\n%s\nwant:\n%s", got, c.files)
			}
			if got := listing(t, x, outs[ParentsName]); got != c.parents {
				t.Errorf("parents.tar:\n%s\nwant:\n%s", got, c.parents)
			}
		})
	}
}

func TestSourceChanged(t *testing.T) {
	cases := []struct {
		name   string
		change string // new contents; "" leaves the file alone
		remove bool
		err    string
	}{
		{name: "unchanged"},
		{name: "same size, other bytes", change: "HELLO\n", err: "digest"},
		{name: "shorter", change: "hi\n", err: "it has 3 bytes, the plan had 6"},
		{name: "longer", change: "hello, world\n", err: "grew beyond the 6 bytes"},
		{name: "removed", remove: true, err: "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "motd")
			if err := os.WriteFile(src, []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			entries, err := Resolve([]*spec.File{{Path: "etc/motd", Source: ptr("motd"), Mode: ptr("0644")}}, ResolveOptions{BaseDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.remove:
				os.Remove(src)
			case c.change != "":
				if err := os.WriteFile(src, []byte(c.change), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			x := steptest.NewExec(t)
			outs, err := run(t, x, Op{Entries: entries})
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := listing(t, x, outs[FilesName]), "etc/motd 0 0644 0:0 \"hello\\n\" @0\n"; got != want {
					t.Errorf("files.tar:\n%s\nwant:\n%s", got, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "files[0] (etc/motd)") {
				t.Fatalf("error %v, want one naming files[0] (etc/motd) and containing %q", err, c.err)
			}
			if !c.remove && !errors.Is(err, ErrSourceChanged) {
				t.Errorf("error %v is not ErrSourceChanged", err)
			}
			left, _ := filepath.Glob(filepath.Join(x.Dir, "tmp", "*"))
			if len(left) != 0 {
				t.Errorf("discarded blobs left behind: %v", left)
			}
		})
	}
}

func TestParams(t *testing.T) {
	src := func(p string) Entry {
		return Entry{Path: "a", Kind: KindFile, Mode: 0o600, Source: &Source{Path: p, Digest: graph.FromBytes([]byte("x")), Size: 1}}
	}
	a, err := Op{Entries: []Entry{src("/home/one/x")}}.Params()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Op{Entries: []Entry{src("/home/two/x")}}.Params()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf("params depend on the host path of a source:\n%s\n%s", a, b)
	}
	want := `{"entries":[{"path":"a","kind":"file","mode":384,"uid":0,"gid":0,"source":{"digest":"` +
		string(graph.FromBytes([]byte("x"))) + `","size":1}}],"sourceDateEpoch":0}`
	if string(a) != want {
		t.Errorf("params\n%s\nwant\n%s", a, want)
	}
	c, _ := Op{Entries: []Entry{src("/home/one/x")}, SourceDateEpoch: 5}.Params()
	if string(c) == string(a) {
		t.Error("params do not depend on the epoch")
	}
	if _, err := (Op{Entries: []Entry{{Path: "/abs", Kind: KindDir}}}).Params(); !errors.Is(err, ErrInvalid) {
		t.Errorf("params of an invalid entry: %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	op := Op{SourceDateEpoch: 1700000000, Entries: []Entry{
		{Path: "z/y/x", Kind: KindFile, Mode: 0o644, Contents: []byte("1")},
		{Path: "a/" + strings.Repeat("long/", 40) + "f", Kind: KindFile, Mode: 0o600, Contents: []byte("2")},
		{Path: "m", Kind: KindSymlink, Mode: 0o777, Target: "z"},
	}}
	var first map[string]graph.Output
	for i := 0; i < 3; i++ {
		outs, err := run(t, steptest.NewExec(t), op)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = outs
			continue
		}
		for name, o := range outs {
			if o.Digest != first[name].Digest {
				t.Errorf("%s: run %d digest %s, first %s", name, i, o.Digest, first[name].Digest)
			}
		}
	}
}
