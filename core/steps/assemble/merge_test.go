package assemble

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
)

// logExec keeps the step's log lines.
type logExec struct {
	*steptest.Exec
	logs []string
}

func (x *logExec) Logf(format string, args ...any) {
	x.logs = append(x.logs, fmt.Sprintf(format, args...))
}

// tpart is a tar part of a rules case.
type tpart struct {
	name    string
	entries []steptest.Entry
	prefix  string
	fill    bool
	concat  bool
}

func es(e ...steptest.Entry) []steptest.Entry { return e }

func TestMergeRules(t *testing.T) {
	xattr := dir("etc")
	xattr.Header.PAXRecords = map[string]string{"SCHILY.xattr.user.k": "v", "LIBARCHIVE.other": "x"}
	xattr.Header.Uname, xattr.Header.Gname = "root", "wheel"
	early := file("early", "e")
	early.Header.ModTime = time.Unix(1000, 500)
	dev := steptest.Entry{Header: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: steptest.MTime}}
	fifo := steptest.Entry{Header: tar.Header{Name: "dev/pipe", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: steptest.MTime}}

	cases := []struct {
		name   string
		parts  []tpart
		concat []string
		want   string
		err    string
		log    string
	}{
		{
			name: "the later part wins; missing parents are made 0755 root in sorted position",
			parts: []tpart{
				{name: "p0", entries: es(owned(file("a-b", "0"), 0o600, 1, 1), file("a/c", "0"), file("z", "0"))},
				{name: "p1", entries: es(owned(file("a-b", "1"), 0o640, 2, 2), file("a/d/e", "1"))},
			},
			want: lines(
				`a d 0755 0:0`,
				`a-b f 0640 2:2 "1"`,
				`a/c f 0644 0:0 "0"`,
				`a/d d 0755 0:0`,
				`a/d/e f 0644 0:0 "1"`,
				`z f 0644 0:0 "0"`),
		},
		{
			name: "a directory's metadata comes from the last part that holds it",
			parts: []tpart{
				{name: "p0", entries: es(owned(dir("etc"), 0o700, 0, 0), file("etc/a", "a"))},
				{name: "p1", entries: es(owned(dir("etc"), 0o755, 3, 3), file("etc/b", "b"))},
				{name: "p2", entries: es(file("etc/c", "c"))},
			},
			want: lines(
				`etc d 0755 3:3`,
				`etc/a f 0644 0:0 "a"`,
				`etc/b f 0644 0:0 "b"`,
				`etc/c f 0644 0:0 "c"`),
		},
		{
			name: "a fill part only fills gaps, whatever its position",
			parts: []tpart{
				{name: "init", entries: es(dir("etc"))},
				{name: "parents", fill: true, entries: es(owned(dir("etc"), 0o700, 5, 5), owned(dir("home"), 0o700, 5, 5))},
				{name: "files", entries: es(file("etc/x", "x"), file("home/u/y", "y"))},
			},
			want: lines(
				`etc d 0755 0:0`,
				`etc/x f 0644 0:0 "x"`,
				`home d 0700 5:5`,
				`home/u d 0755 0:0`,
				`home/u/y f 0644 0:0 "y"`),
		},
		{
			name: "a non-directory that replaces a directory hides what earlier parts put beneath it",
			parts: []tpart{
				{name: "kernel", entries: es(dir("lib"), dir("lib/modules"), file("lib/modules/m.ko", "m"), file("lib0", "x"))},
				{name: "init[0]", entries: es(symlink("lib", "usr/lib"), file("lib-x", "y"))},
			},
			want: lines(
				`lib l 0777 0:0 -> usr/lib`,
				`lib-x f 0644 0:0 "y"`,
				`lib0 f 0644 0:0 "x"`),
			log: "init[0]: the symlink lib replaces a directory: 2 entries beneath it left out (the first from kernel)",
		},
		{
			name: "an entry beneath a non-directory of an earlier part cannot be laid out",
			parts: []tpart{
				{name: "init[0]", entries: es(dir("var"), symlink("var/run", "/run"))},
				{name: "files", entries: es(file("var/run/x", "x"))},
			},
			err: "files: entry var/run/x: it lies beneath var/run, which init[0] made a symlink",
		},
		{
			name: "hard links are placed under the prefix with their targets",
			parts: []tpart{
				{name: "onboot/000-a", prefix: "containers/onboot/000-a/rootfs", entries: es(dir("bin"), file("bin/busybox", "bb"), link("bin/sh", "bin/busybox"))},
			},
			want: lines(
				`containers d 0755 0:0`,
				`containers/onboot d 0755 0:0`,
				`containers/onboot/000-a d 0755 0:0`,
				`containers/onboot/000-a/rootfs d 0755 0:0`,
				`containers/onboot/000-a/rootfs/bin d 0755 0:0`,
				`containers/onboot/000-a/rootfs/bin/busybox f 0644 0:0 "bb"`,
				`containers/onboot/000-a/rootfs/bin/sh h 0644 0:0 -> containers/onboot/000-a/rootfs/bin/busybox`),
		},
		{
			name: "a hard link whose target lost its path becomes a copy of the old target; later links link to the copy",
			parts: []tpart{
				{name: "init[0]", entries: es(owned(file("a", "old"), 0o755, 1, 2), link("b", "a"), link("c", "a"), link("d", "c"))},
				{name: "init[1]", entries: es(file("a", "new"))},
			},
			want: lines(
				`a f 0644 0:0 "new"`,
				`b f 0755 1:2 "old"`,
				`c h 0644 0:0 -> b`,
				`d h 0644 0:0 -> c`),
		},
		{
			name: "a hard link whose target was itself an overridden link points to the link's target",
			parts: []tpart{
				{name: "init[0]", entries: es(file("a", "old"), link("b", "a"), link("c", "b"))},
				{name: "init[1]", entries: es(file("b", "new"))},
			},
			want: lines(
				`a f 0644 0:0 "old"`,
				`b f 0644 0:0 "new"`,
				`c h 0644 0:0 -> a`),
		},
		{
			name: "a hard link whose target was left out beneath a replaced directory becomes a copy",
			parts: []tpart{
				{name: "p0", entries: es(dir("d"), file("d/f", "data"), link("e", "d/f"))},
				{name: "p1", entries: es(file("d", "file now"))},
			},
			want: lines(
				`d f 0644 0:0 "file now"`,
				`e f 0644 0:0 "data"`),
			log: "p1: the regular file d replaces a directory: 1 entries beneath it left out",
		},
		{
			name: "concat paths are joined across the concat parts",
			parts: []tpart{
				{name: "kernel", entries: es(file("lib/apk/db/installed", "K"))},
				{name: "init[0]", concat: true, entries: es(file("lib/apk/db/installed", "P:a"), file("lib/other", "1"))},
				{name: "init[1]", concat: true, entries: es(file("lib/other", "2"))},
				{name: "init[2]", concat: true, entries: es(file("lib/apk/db/installed", "P:b"))},
			},
			concat: []string{"lib/apk/db/installed"},
			want: lines(
				`lib d 0755 0:0`,
				`lib/apk d 0755 0:0`,
				`lib/apk/db d 0755 0:0`,
				`lib/apk/db/installed f 0644 0:0 "P:a\n\nP:b\n\n"`,
				`lib/other f 0644 0:0 "2"`),
		},
		{
			name: "a concat path held by one concat part is left as it is",
			parts: []tpart{
				{name: "init[0]", concat: true, entries: es(file("db", "P:a"))},
			},
			concat: []string{"db"},
			want:   lines(`db f 0644 0:0 "P:a"`),
		},
		{
			name: "a later part without concat wins a concat path outright",
			parts: []tpart{
				{name: "init[0]", concat: true, entries: es(file("db", "P:a"))},
				{name: "init[1]", concat: true, entries: es(file("db", "P:b"))},
				{name: "files", entries: es(file("db", "mine"))},
			},
			concat: []string{"db"},
			want:   lines(`db f 0644 0:0 "mine"`),
		},
		{
			name: "headers are normalized: names, times, PAX records; xattrs and devices kept",
			parts: []tpart{
				{name: "p0", entries: es(dir("dev"), dev, fifo, early, xattr)},
			},
			want: lines(
				`dev d 0755 0:0`,
				`dev/null c 0666 0:0 1,3`,
				`dev/pipe p 0600 0:0`,
				`early f 0644 0:0 "e" @1000`,
				`etc d 0755 0:0 SCHILY.xattr.user.k=v`),
		},
		{
			name:  "entries out of order",
			parts: []tpart{{name: "init[1]", entries: es(file("b", ""), file("a", ""))}},
			err:   "init[1]: entry a: names are not sorted and unique (it follows b)",
		},
		{
			name:  "duplicate entries",
			parts: []tpart{{name: "init[1]", entries: es(file("a", ""), file("a", ""))}},
			err:   "init[1]: entry a: names are not sorted and unique",
		},
		{
			name:  "an unclean name",
			parts: []tpart{{name: "p", entries: es(file("./a", ""))}},
			err:   `p: entry ./a: name "./a" is not a clean relative path`,
		},
		{
			name:  "a hard link before its target",
			parts: []tpart{{name: "p", entries: es(link("a", "b"), file("b", ""))}},
			err:   "p: entry a: hard link target b does not precede the link",
		},
		{
			name:  "a hard link to a name the part does not hold",
			parts: []tpart{{name: "p", entries: es(file("a", ""), link("c", "b"))}},
			err:   "p: entry c: hard link to b, which the input does not hold before it",
		},
		{
			name:  "an entry beneath a file of the same part",
			parts: []tpart{{name: "p", entries: es(file("a", ""), file("a/b", ""))}},
			err:   "p: entry a/b: it lies beneath a, which is not a directory",
		},
		{
			name:  "an entry type a normalized tar cannot hold",
			parts: []tpart{{name: "p", entries: es(steptest.Entry{Header: tar.Header{Name: "x", Typeflag: tar.TypeXGlobalHeader}})}},
			err:   "entry type 'g' is not allowed in a normalized tar",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := &logExec{Exec: steptest.NewExec(t)}
			var inputs []graph.Result
			op := Op{Concat: c.concat, SourceDateEpoch: epoch}
			for i, p := range c.parts {
				if p.entries[0].Header.Typeflag == tar.TypeXGlobalHeader {
					p.entries[0].Header = tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}
				}
				inputs = append(inputs, result(t, x.Exec, tarOut(t, x.Exec, "rootfs.tar", p.entries...)))
				op.Parts = append(op.Parts, Part{Name: p.name, Input: i, Output: "rootfs.tar", Prefix: p.prefix, Fill: p.fill, Concat: p.concat})
			}
			outs, err := exec(t, x, op, inputs...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := listing(t, x.Read(outs[RootfsName])); got != c.want {
				t.Errorf("rootfs:\n%s\nwant:\n%s", got, c.want)
			}
			logs := strings.Join(x.logs, "\n")
			if c.log == "" && logs != "" || !strings.Contains(logs, c.log) {
				t.Errorf("log %q, want %q", logs, c.log)
			}
		})
	}
}

func TestParams(t *testing.T) {
	good := Op{Parts: []Part{
		{Input: 1, Output: "rootfs.tar", Prefix: "a"},
		{Name: "cfg", Input: 2, Output: "config.json", As: "a/config.json"},
		{Name: "dirs", Input: 7, Dirs: []string{"tmp"}},
	}}
	p, err := good.Params()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"parts":[{"name":"parts[0]","input":1,"output":"rootfs.tar","prefix":"a"},` +
		`{"name":"cfg","input":2,"output":"config.json","as":"a/config.json","mode":420},` +
		`{"name":"dirs","input":0,"dirs":["tmp"]}],"sourceDateEpoch":0}`
	if string(p) != want {
		t.Errorf("params\n%s\nwant\n%s", p, want)
	}
	bad := []struct {
		part Part
		err  string
	}{
		{Part{Name: "x", Output: "o", Prefix: "/abs"}, `x: prefix "/abs" is not a clean relative path`},
		{Part{Name: "x", Output: "o", As: "a/../b"}, `x: path "a/../b" is not a clean relative path`},
		{Part{Name: "x", Output: "o", As: "a", Prefix: "p"}, "x: a file part has no prefix or dirs"},
		{Part{Name: "x", Output: "o", As: "a", Mode: 0o10000}, "x: mode 010000 has bits beyond 07777"},
		{Part{Name: "x", Output: "o", Dirs: []string{"d"}}, "x: a tar part has no dirs, mode or owner"},
		{Part{Name: "x"}, "x: a part needs an output or dirs"},
		{Part{Name: "x", Dirs: []string{"../d"}}, `x: dir "../d" is not a clean relative path`},
		{Part{Name: "x", Output: "o", Input: -1}, "x: input -1"},
	}
	for _, b := range bad {
		_, err := Op{Parts: []Part{b.part}}.Params()
		if err == nil || !strings.Contains(err.Error(), b.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: error %v, want ErrInvalid containing %q", b.part, err, b.err)
		}
	}
	if _, err := (Op{Concat: []string{"/x"}}).Params(); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad concat path: %v", err)
	}
}

func TestExecInputErrors(t *testing.T) {
	x := steptest.NewExec(t)
	in := result(t, x, tarOut(t, x, "rootfs.tar", file("a", "")))
	cases := []struct {
		op  Op
		err string
	}{
		{Op{Parts: []Part{{Name: "services/redis", Input: 3, Output: "rootfs.tar"}}}, "services/redis: invalid assemble op: input 3 of 1"},
		{Op{Parts: []Part{{Name: "services/redis", Input: 0, Output: "config.json", As: "c"}}}, `services/redis: invalid assemble op: input 0 has no output "config.json"`},
		{Op{Kernel: &Kernel{Input: 0}}, `kernel: invalid assemble op: input 0 has no output "kernel"`},
	}
	for _, c := range cases {
		_, err := exec(t, x, c.op, in)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("error %v, want one containing %q", err, c.err)
		}
	}
}

func TestCanceled(t *testing.T) {
	x := steptest.NewExec(t)
	in := result(t, x, tarOut(t, x, "rootfs.tar", file("a", "a"), file("b", "b")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	op := Op{Parts: []Part{{Name: "init[0]", Input: 0, Output: "rootfs.tar"}}}
	if _, err := op.Exec(ctx, x, []graph.Result{in}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	left, _ := filepath.Glob(filepath.Join(x.Dir, "tmp", "*"))
	if len(left) != 0 {
		t.Errorf("a canceled run left %v", left)
	}
}
