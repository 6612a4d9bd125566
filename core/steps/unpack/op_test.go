package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

const testRef = "registry.test/app:1"

// run unpacks img with op and returns the output, checked to be a
// normalized tar.
func run(t *testing.T, op Op, img v1.Image) (graph.Output, *steptest.Exec, error) {
	t.Helper()
	x := steptest.NewExec(t)
	in := steptest.Fetch(t, x, img)
	outs, err := op.Exec(context.Background(), x, []graph.Result{in})
	if err != nil {
		return graph.Output{}, x, err
	}
	if len(outs) != 1 || outs[0].Name != "rootfs.tar" || outs[0].MediaType != "application/x-tar" {
		t.Fatalf("outputs %+v; want one rootfs.tar", outs)
	}
	if _, err := tarutil.Verify(bytes.NewReader(x.Read(outs[0])), op.SourceDateEpoch); err != nil {
		t.Fatalf("output is not normalized: %v", err)
	}
	return outs[0], x, nil
}

func lines(t *testing.T, x *steptest.Exec, o graph.Output) []string {
	var out []string
	for _, e := range steptest.Entries(t, x, o) {
		out = append(out, render(&e.Header, e.Data))
	}
	return out
}

func TestModes(t *testing.T) {
	img := steptest.Image(t,
		steptest.Layer(t,
			dir("bin", 0o755), file("bin/sh", "#!", 0o755),
			file(".dockerenv", "", 0o755), file("Dockerfile", "FROM x", 0o644),
			dir("dev", 0o755), device("dev/console", tar.TypeChar, 5, 1), device("dev/null", tar.TypeChar, 1, 3),
			dir("dev/pts", 0o755), device("dev/pts/ptmx", tar.TypeChar, 5, 2), dir("dev/shm", 0o1777),
			dir("etc", 0o755), file("etc/hostname", "builder", 0o644), file("etc/hosts", "10.0.0.1 evil", 0o644),
			symlink("etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf"), file("etc/os-release", "ID=test", 0o644),
			hardlink("etc/hostname2", "etc/hostname"),
			dir("proc", 0o555),
		),
	)
	hosts := `etc/hosts 644 "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"`
	tests := []struct {
		mode Mode
		want []string
	}{
		{Container, []string{
			`bin/ 755`, `bin/sh 755 "#!"`,
			`dev/ 755`, `dev/null chr 1:3`, `dev/pts/ 755`, `dev/shm/ 755`,
			`etc/ 755`, `etc/hostname2 644 "builder"`, hosts, `etc/mtab -> /proc/mounts`, `etc/os-release 644 "ID=test"`,
			`etc/resolv.conf 644 "\n# no resolv.conf configured\n"`,
			`proc/ 555`, `sys/ 755`,
		}},
		{Init, []string{
			`bin/ 755`, `bin/sh 755 "#!"`,
			`dev/ 755`, `dev/console chr 5:1`, `dev/null chr 1:3`, `dev/pts/ 755`, `dev/shm/ 755`,
			`etc/ 755`, `etc/hostname2 644 "builder"`, hosts, `etc/mtab -> /proc/mounts`, `etc/os-release 644 "ID=test"`,
			`etc/resolv.conf -> /run/resolvconf/resolv.conf`,
			`proc/ 555`, `sys/ 755`,
		}},
		{Volume, []string{
			`bin/ 755`, `bin/sh 755 "#!"`,
			`dev/ 755`, `dev/null chr 1:3`, `dev/pts/ 755`, `dev/shm/ 755`,
			`etc/ 755`, `etc/hostname2 644 "builder"`, hosts, `etc/mtab -> /proc/mounts`, `etc/os-release 644 "ID=test"`,
			`etc/resolv.conf -> /run/resolvconf/resolv.conf`,
			`proc/ 555`, `sys/ 755`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			o, x, err := run(t, Op{Mode: tt.mode, Image: testRef, SourceDateEpoch: 1.7e9}, img)
			if err != nil {
				t.Fatal(err)
			}
			if got := lines(t, x, o); !slices.Equal(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestModeEmptyImage(t *testing.T) {
	img := steptest.Image(t, steptest.Layer(t, file("app", "x", 0o755)))
	o, x, err := run(t, Op{Image: testRef, SourceDateEpoch: 42}, img)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`app 755 "x"`, `dev/ 755`, `dev/pts/ 755`, `dev/shm/ 755`, `etc/ 755`}
	got := lines(t, x, o)
	if !slices.Equal(got[:5], want) || len(got) != 10 {
		t.Errorf("got %q", got)
	}
	for _, e := range steptest.Entries(t, x, o) {
		if e.Header.Name != "app" && e.Header.ModTime.Unix() != 42 {
			t.Errorf("added entry %s has mtime %v; want SOURCE_DATE_EPOCH", e.Header.Name, e.Header.ModTime)
		}
	}
}

func TestModeKeepsImageEntries(t *testing.T) {
	img := steptest.Image(t, steptest.Layer(t, file("etc/mtab", "static", 0o600), dir("sys", 0o500)))
	o, x, err := run(t, Op{Image: testRef}, img)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(t, x, o)
	for _, w := range []string{`etc/mtab 600 "static"`, `sys/ 500`} {
		if !slices.Contains(got, w) {
			t.Errorf("%s missing from %q", w, got)
		}
	}
}

func TestModeRefusesNonDirectory(t *testing.T) {
	for _, name := range []string{"etc", "dev"} {
		img := steptest.Image(t, steptest.Layer(t, symlink(name, "/host/"+name)))
		_, _, err := run(t, Op{Image: testRef}, img)
		var ee *EntryError
		if !errors.As(err, &ee) || ee.Entry != name || !errors.Is(err, ErrNotDir) || !strings.Contains(err.Error(), testRef) {
			t.Errorf("%s as a symlink: err = %v; want an EntryError for it", name, err)
		}
	}
}

func TestExecRefusesHostileImage(t *testing.T) {
	img := steptest.Image(t,
		steptest.Layer(t, symlink("lib", "/")),
		steptest.Layer(t, file("lib/evil", "x", 0o644)),
	)
	_, _, err := run(t, Op{Image: testRef}, img)
	var ee *EntryError
	if !errors.As(err, &ee) || !errors.Is(err, ErrThroughSymlink) {
		t.Fatalf("err = %v; want ErrThroughSymlink", err)
	}
	if ee.Image != testRef || ee.Entry != "lib/evil" || !strings.HasPrefix(ee.Layer, "layer 1 (sha256:") {
		t.Errorf("error %+v does not name the image, layer 1 and the entry", ee)
	}
}

func TestParams(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{Op{}, `{"mode":"container","sourceDateEpoch":0}`},
		{Op{Mode: Init, Image: "a", SourceDateEpoch: 5}, `{"mode":"init","sourceDateEpoch":5}`},
		{Op{Mode: Volume, Image: "b"}, `{"mode":"volume","sourceDateEpoch":0}`},
	}
	for _, tt := range tests {
		got, err := tt.op.Params()
		if err != nil || string(got) != tt.want {
			t.Errorf("%+v: Params = %s, %v; want %s", tt.op, got, err, tt.want)
		}
	}
	if _, err := (Op{Mode: 7}).Params(); err == nil {
		t.Error("Params accepted an unknown mode")
	}
	if Op.Kind(Op{}) != "unpack" || (Op{}).Version() == "" {
		t.Error("kind or version")
	}
	for _, s := range []string{"container", "init", "volume"} {
		if m, err := ParseMode(s); err != nil || m.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("Container"); err == nil {
		t.Error("ParseMode accepted a wrong name")
	}
}

func compress(t testing.TB, kind string, b []byte) []byte {
	var buf bytes.Buffer
	switch kind {
	case "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(b)
		zw.Close()
	default:
		return b
	}
	return buf.Bytes()
}

// TestDeterminism: equal trees give equal bytes, whatever the entry order,
// the split into layers, the compression, the times after the epoch, the
// user names, or the run.
func TestDeterminism(t *testing.T) {
	late := func(e steptest.Entry) steptest.Entry {
		return withHeader(e, func(h *tar.Header) { h.ModTime = time.Unix(2e9, 0); h.Uname = "someone" })
	}
	a := steptest.Tar(t, dir("usr", 0o755), dir("usr/bin", 0o755), file("usr/bin/a", "aaa", 0o755), file("usr/bin/b", "bbb", 0o755), file("etc/x", "x", 0o644))
	b1 := steptest.Tar(t, late(file("etc/x", "x", 0o644)), late(file("usr/bin/b", "bbb", 0o755)), late(dir("usr/bin", 0o755)))
	b2 := steptest.Tar(t, file("usr/bin/a", "aaa", 0o755), dir("usr/", 0o755), file("./usr/bin/b", "old", 0o755), file("gone", "", 0o644))
	b3 := steptest.Tar(t, whiteout("gone"), file("usr/bin/b", "bbb", 0o755))
	images := map[string]v1.Image{
		"one layer, gzip":    steptest.Image(t, steptest.RawLayer(compress(t, "gzip", a), types.OCILayer)),
		"one layer, zstd":    steptest.Image(t, steptest.RawLayer(compress(t, "zstd", a), types.OCILayerZStd)),
		"one layer, plain":   steptest.Image(t, steptest.RawLayer(a, types.OCIUncompressedLayer)),
		"three layers mixed": steptest.Image(t, steptest.RawLayer(b2, types.OCIUncompressedLayer), steptest.RawLayer(compress(t, "zstd", b3), types.OCILayerZStd), steptest.RawLayer(compress(t, "gzip", b1), types.DockerLayer)),
	}
	var want graph.Digest
	for name, img := range images {
		for range 2 {
			o, _, err := run(t, Op{Image: testRef, SourceDateEpoch: 1.6e9}, img)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want == "" {
				want = o.Digest
			} else if o.Digest != want {
				t.Errorf("%s: digest %s; want %s", name, o.Digest, want)
			}
		}
	}
	// A different epoch changes the bytes (the added entries carry it).
	o, _, err := run(t, Op{Image: testRef, SourceDateEpoch: 1.6e9 + 1}, images["one layer, plain"])
	if err != nil || o.Digest == want {
		t.Errorf("another epoch gives %s, %v; want a different digest", o.Digest, err)
	}
}

func TestProgress(t *testing.T) {
	img := steptest.Image(t, steptest.Layer(t, file("a", strings.Repeat("x", 3<<20), 0o644)), steptest.Layer(t, file("b", "b", 0o644)))
	x := steptest.NewExec(t)
	in := steptest.Fetch(t, x, img)
	if _, err := (Op{}).Exec(context.Background(), x, []graph.Result{in}); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, o := range in.Outputs {
		if strings.HasPrefix(o.Name, "layer/") {
			total += o.Size
		}
	}
	if done, tot := x.LastProgress(); done != total || tot != total {
		t.Errorf("last progress %d/%d; want %d/%d", done, tot, total, total)
	}
}

func TestImageLayersChecks(t *testing.T) {
	img := steptest.Image(t, steptest.Layer(t, file("a", "a", 0o644)), steptest.Layer(t, file("b", "b", 0o644)))
	x := steptest.NewExec(t)
	in := steptest.Fetch(t, x, img)
	without := func(name string) graph.Result {
		var r graph.Result
		for _, o := range in.Outputs {
			if o.Name != name {
				r.Outputs = append(r.Outputs, o)
			}
		}
		return r
	}
	swapped := graph.Result{Outputs: slices.Clone(in.Outputs)}
	swapped.Outputs[2].Digest, swapped.Outputs[3].Digest = swapped.Outputs[3].Digest, swapped.Outputs[2].Digest
	extra := graph.Result{Outputs: append(slices.Clone(in.Outputs), graph.Output{Name: "layer/2", Digest: in.Outputs[2].Digest})}
	helm := steptest.Fetch(t, x, steptest.Image(t, steptest.RawLayer([]byte("chart"), "application/vnd.cncf.helm.chart.content.v1.tar+gzip"), steptest.RawLayer([]byte("{}"), "application/vnd.example.config+json")))
	tests := []struct {
		name string
		in   graph.Result
		msg  string
	}{
		{"no manifest", without("manifest"), "no manifest"},
		{"missing layer", without("layer/1"), "no output layer/1"},
		{"layers swapped", swapped, "the manifest lists"},
		{"extra layer", extra, "more layer outputs"},
		{"not a filesystem layer", helm, "not a filesystem layer"},
	}
	for _, tt := range tests {
		_, err := (Op{Image: testRef}).Exec(context.Background(), x, []graph.Result{tt.in})
		if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), testRef) {
			t.Errorf("%s: err = %v; want one naming %s and saying %q", tt.name, err, testRef, tt.msg)
		}
	}
	if _, err := (Op{}).Exec(context.Background(), x, nil); err == nil {
		t.Error("Exec without input succeeded")
	}
}
