package files

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
)

func ptr[T any](v T) *T { return &v }

func num(n uint32) *spec.IDValue { return &spec.IDValue{Number: &n} }

func named(s string) *spec.IDValue { return &spec.IDValue{Name: s} }

func TestResolve(t *testing.T) {
	home := t.TempDir()
	base := t.TempDir()
	write := func(dir, name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	homeKey := write(home, ".ssh/id.pub", "ssh-ed25519 AAAA\n")
	baseConf := write(base, "conf/app.conf", "k=v\n")
	absFile := write(t.TempDir(), "abs", "abs\n")
	if err := os.Symlink(baseConf, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	src := func(p, body string) *Source {
		return &Source{Path: p, Digest: graph.FromBytes([]byte(body)), Size: int64(len(body))}
	}
	opts := ResolveOptions{
		Home:    home,
		BaseDir: base,
		Metadata: func(format string) ([]byte, error) {
			return []byte("meta as " + format), nil
		},
		IDs: func(name string) (uint32, error) {
			if name == "redis" {
				return 103, nil
			}
			return 0, fmt.Errorf("no container %q", name)
		},
	}
	cases := []struct {
		name string
		in   spec.File
		want *Entry // nil: left out
		err  string
	}{
		{
			name: "contents with the default mode",
			in:   spec.File{Path: "/etc/motd", Contents: ptr("hi\n")},
			want: &Entry{Path: "etc/motd", Kind: KindFile, Mode: 0o600, Contents: []byte("hi\n")},
		},
		{
			name: "empty contents",
			in:   spec.File{Path: "etc/empty", Contents: ptr("")},
			want: &Entry{Path: "etc/empty", Kind: KindFile, Mode: 0o600, Contents: []byte{}},
		},
		{
			name: "directory with the default mode",
			in:   spec.File{Path: "var/lib/app", Directory: true},
			want: &Entry{Path: "var/lib/app", Kind: KindDir, Mode: 0o700},
		},
		{
			name: "symlink, mode and numeric ids",
			in:   spec.File{Path: "etc/l", Symlink: ptr("/run/x"), Mode: ptr("0777"), UID: num(5), GID: num(6)},
			want: &Entry{Path: "etc/l", Kind: KindSymlink, Mode: 0o777, UID: 5, GID: 6, Target: "/run/x"},
		},
		{
			name: "id names",
			in:   spec.File{Path: "d", Directory: true, Mode: ptr("750"), UID: named("redis"), GID: named("root")},
			want: &Entry{Path: "d", Kind: KindDir, Mode: 0o750, UID: 103},
		},
		{
			name: "metadata",
			in:   spec.File{Path: "etc/linuxkit.yml", Metadata: ptr("yaml"), Mode: ptr("0644")},
			want: &Entry{Path: "etc/linuxkit.yml", Kind: KindFile, Mode: 0o644, Contents: []byte("meta as yaml")},
		},
		{
			name: "source under home",
			in:   spec.File{Path: "root/.ssh/authorized_keys", Source: ptr("~/.ssh/id.pub")},
			want: &Entry{Path: "root/.ssh/authorized_keys", Kind: KindFile, Mode: 0o600, Source: src(homeKey, "ssh-ed25519 AAAA\n")},
		},
		{
			name: "relative source",
			in:   spec.File{Path: "etc/app.conf", Source: ptr("conf/app.conf")},
			want: &Entry{Path: "etc/app.conf", Kind: KindFile, Mode: 0o600, Source: src(baseConf, "k=v\n")},
		},
		{
			name: "absolute source",
			in:   spec.File{Path: "abs", Source: ptr(absFile)},
			want: &Entry{Path: "abs", Kind: KindFile, Mode: 0o600, Source: src(absFile, "abs\n")},
		},
		{
			name: "symlinked source is followed",
			in:   spec.File{Path: "l", Source: ptr("link")},
			want: &Entry{Path: "l", Kind: KindFile, Mode: 0o600, Source: src(filepath.Join(base, "link"), "k=v\n")},
		},
		{
			name: "optional missing source is left out",
			in:   spec.File{Path: "etc/x", Source: ptr("nope"), Optional: true},
		},
		{
			name: "missing source",
			in:   spec.File{Path: "etc/x", Source: ptr("nope")},
			err:  "files[0] (etc/x): stat " + filepath.Join(base, "nope") + ": no such file or directory",
		},
		{
			name: "directory source",
			in:   spec.File{Path: "etc/x", Source: ptr("conf")},
			err:  "files[0] (etc/x): invalid file entry: source " + filepath.Join(base, "conf") + " is a directory, not a regular file",
		},
		{
			name: "two kinds",
			in:   spec.File{Path: "etc/x", Contents: ptr("a"), Source: ptr("conf/app.conf")},
			err:  "exactly one of directory, symlink, contents, source and metadata must be set, not 2",
		},
		{
			name: "no kind",
			in:   spec.File{Path: "etc/x"},
			err:  "not 0",
		},
		{
			name: "bad mode",
			in:   spec.File{Path: "etc/x", Contents: ptr(""), Mode: ptr("0o644")},
			err:  `files[0] (etc/x): invalid file entry: mode "0o644" is not an octal mode`,
		},
		{
			name: "mode too large",
			in:   spec.File{Path: "etc/x", Contents: ptr(""), Mode: ptr("17777")},
			err:  "is not an octal mode of at most 07777",
		},
		{
			name: "path outside the root",
			in:   spec.File{Path: "../etc/x", Contents: ptr("")},
			err:  `path "../etc/x" must name a clean path inside the root`,
		},
		{
			name: "root path",
			in:   spec.File{Path: "/", Directory: true},
			err:  `path "/" must name a clean path`,
		},
		{
			name: "unknown id name",
			in:   spec.File{Path: "x", Contents: ptr(""), UID: named("ghost")},
			err:  `files[0] (x): id "ghost": no container "ghost"`,
		},
		{
			name: "bad metadata format",
			in:   spec.File{Path: "x", Metadata: ptr("toml")},
			err:  `metadata format "toml" (want yaml or json)`,
		},
		{
			name: "empty symlink",
			in:   spec.File{Path: "x", Symlink: ptr("")},
			err:  "empty symlink target",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			got, err := Resolve([]*spec.File{&in}, opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				var se *spec.Error
				if !errors.As(err, &se) {
					t.Errorf("error %T is not a *spec.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %+v, want the entry left out", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d entries", len(got))
			}
			c.want.Origin = "files[0]"
			if !reflect.DeepEqual(got[0], *c.want) {
				t.Errorf("got  %+v\nwant %+v", got[0], *c.want)
			}
		})
	}
}

func TestResolveReportsEveryEntryWithItsLocation(t *testing.T) {
	var sm spec.SourceMap
	sm.Set("files[0]", spec.Pos{File: "sys.yml", Line: 10, Col: 5})
	sm.Set("files[0].mode", spec.Pos{File: "sys.yml", Line: 12, Col: 11})
	sm.Set("files[2]", spec.Pos{File: "sys.yml", Line: 20, Col: 5})
	entries := []*spec.File{
		{Path: "a", Contents: ptr(""), Mode: ptr("9")},
		{Path: "b", Contents: ptr("ok")},
		{Path: "c", Directory: true, UID: named("x")},
	}
	_, err := Resolve(entries, ResolveOptions{Sources: &sm})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`sys.yml:12:11: files[0] (a): invalid file entry: mode "9" is not an octal mode of at most 07777`,
		`sys.yml:20:5: files[2] (c): invalid file entry: id name "x" cannot be resolved here`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestResolvedOriginCarriesLocation(t *testing.T) {
	var sm spec.SourceMap
	sm.Set("files[0]", spec.Pos{File: "sys.yml", Line: 3, Col: 5})
	got, err := Resolve([]*spec.File{{Path: "a", Directory: true}}, ResolveOptions{Sources: &sm})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Origin != "sys.yml:3:5: files[0]" {
		t.Errorf("origin %q", got[0].Origin)
	}
}
