package e2e

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kitbuild/kit/testing/imagegen"
)

// badCase is one row of TestBadInput: a build that must fail.
type badCase struct {
	name string
	// spec is the spec text ($REG is the registry host); empty means the
	// good spec.
	spec string
	// args are extra flags of kit build.
	args []string
	// own gives the row a registry of its own, prepared by setup.
	own   bool
	setup func(t *testing.T, f *fixture)
	// extra are more spec files, merged after spec.yml.
	extra []string
	// where is the expected location: "spec.yml:LINE:COL", an image
	// reference or a flag; phrase is a key phrase of the message. Both are
	// matched case-insensitively; $REG is expanded in both.
	where, phrase string
}

// goodSpec is what every row builds after its failure, on the same cache.
const goodSpec = smallSpec

// svc is a spec holding the good system's kernel and init plus one service
// entry (its lines start at line 6).
func svc(entry string) string {
	return `kernel:
  image: $REG/e2e/kernel:1
init:
  - $REG/e2e/init:1
services:
` + entry
}

func badImages(t testing.TB, f *fixture) {
	t.Helper()
	must := func(img v1.Image, err error) v1.Image {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	for _, k := range imagegen.HostileKinds {
		f.reg.Push(t, "e2e/hostile-"+string(k)+":1", must(imagegen.Hostile(k)))
	}
	f.reg.Push(t, "e2e/nokernel:1", must(imagegen.Init("nokernel")))
	f.reg.Push(t, "e2e/badlabel:1", must(imagegen.Container("badlabel", imagegen.Config{Cmd: []string{"/bin/badlabel"}, MobyConfig: `{"capabilities":["CAP_CHOWN"],"frobnicate":true}`})))
	f.reg.Push(t, "e2e/badjson:1", must(imagegen.Container("badjson", imagegen.Config{Cmd: []string{"/bin/badjson"}, MobyConfig: `{"capabilities":[`})))
	f.reg.Push(t, "e2e/uidlabel:1", must(imagegen.Container("uidlabel", imagegen.Config{Cmd: []string{"/bin/uidlabel"}, MobyConfig: `{"uid":"daemon"}`})))
	f.reg.Push(t, "e2e/namelabel:1", must(imagegen.Container("namelabel", imagegen.Config{Cmd: []string{"/bin/namelabel"}, MobyConfig: `{"name":"other"}`})))
	amd, err := imagegen.Index(must(imagegen.Container("amd64only", imagegen.Config{Cmd: []string{"/bin/x"}})))
	if err != nil {
		t.Fatal(err)
	}
	f.reg.PushIndex(t, "e2e/amd64only:1", amd)
	f.reg.Reset()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// layerOf returns the digest of layer i of the image ref in the fixture.
func layerOf(t testing.TB, f *fixture, ref string, i int) v1.Hash {
	t.Helper()
	ls, err := f.images[ref].Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func configOf(t testing.TB, f *fixture, ref string) v1.Hash {
	t.Helper()
	d, err := f.images[ref].ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func badCases(t *testing.T) []badCase {
	dead := closedPort(t)
	return []badCase{
		// The spec's syntax and structure.
		{name: "yaml syntax", spec: "kernel:\n  image: $REG/e2e/kernel:1\n  cmdline: [unclosed\ninit:\n  - x\n", where: "spec.yml:3:", phrase: "yaml"},
		{name: "empty spec", spec: "# nothing\n", where: "spec.yml:1:1", phrase: "empty"},
		{name: "two documents", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "---\ninit: []\n", where: "spec.yml:8:", phrase: "second"},
		{name: "unknown top-level key", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "kernal:\n  image: x\n", where: "spec.yml:8:1", phrase: "kernal"},
		{name: "unknown nested key", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    comand: [/bin/sh]\n"), where: "spec.yml:8:5", phrase: "comand"},
		{name: "unknown runtime key", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    runtime:\n      mkdirs: [/x]\n"), where: "spec.yml:9:7", phrase: "mkdirs"},
		{name: "wrong type list", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    command: /bin/sh -c true\n"), where: "spec.yml:8:14", phrase: "list"},
		{name: "wrong type bool", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    readonly: sometimes\n"), where: "spec.yml:8:15", phrase: "bool"},
		{name: "wrong type uid", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    uid: [1]\n"), where: "spec.yml:8:10", phrase: "uid"},
		{name: "missing image", spec: svc("  - name: a\n    readonly: true\n"), where: "spec.yml:6:5", phrase: "image"},
		{name: "missing name", spec: svc("  - image: $REG/e2e/getty:1\n"), where: "spec.yml:6:5", phrase: "name"},
		{name: "kernel without image", spec: "kernel:\n  cmdline: x\ninit:\n  - $REG/e2e/init:1\n", where: "spec.yml:1:1", phrase: "image"},
		{name: "duplicate service name", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n  - name: a\n    image: $REG/e2e/redis:1\n"), where: "spec.yml:8:", phrase: "duplicate"},
		{name: "duplicate volume name", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "volumes:\n  - name: v\n  - name: v\n", where: "spec.yml:10:", phrase: "duplicate"},
		{name: "bad volume name", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "volumes:\n  - name: Data!\n", where: "spec.yml:9:", phrase: "Data!"},
		{name: "two file sources", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    contents: x\n    symlink: y\n", where: "spec.yml:9:", phrase: "one of"},
		{name: "file without source", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    mode: \"0644\"\n", where: "spec.yml:9:", phrase: "one of"},
		{name: "unquoted octal mode", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    contents: x\n    mode: 0644\n", where: "spec.yml:11:11", phrase: "quote"},
		{name: "bad mode", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    contents: x\n    mode: \"0999\"\n", where: "spec.yml:11:11", phrase: "0999"},
		{name: "file path escapes", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: ../../etc/x\n    contents: x\n", where: "spec.yml:9:", phrase: "../../etc/x"},
		{name: "bad metadata format", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    metadata: xml\n", where: "spec.yml:10:", phrase: "xml"},
		{name: "bad namespace", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    net: sideways\n"), where: "spec.yml:8:10", phrase: "sideways"},
		{name: "bad volume format", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "volumes:\n  - name: v\n    format: squash\n", where: "spec.yml:10:13", phrase: "squash"},
		{name: "oci volume", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "volumes:\n  - name: v\n    image: $REG/e2e/data:1\n    format: oci\n", where: "spec.yml:9:", phrase: "oci"},
		{name: "missing second spec", extra: []string{"missing.yml"}, where: "missing.yml", phrase: "no such file"},
		{name: "bad capability", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    capabilities: [CAP_CHOWN, CAP_FLY]\n"), where: "spec.yml:8:", phrase: "CAP_FLY"},
		{name: "malformed bind", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    binds: [\"/only-source\"]\n"), where: "spec.yml:8:", phrase: "/only-source"},
		{name: "relative bind destination", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    binds.add: [\"/a:relative\"]\n"), where: "spec.yml:8:", phrase: "absolute"},
		{name: "bad tmpfs", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    tmpfs: [\"tmp:size=1m\"]\n"), where: "spec.yml:8:", phrase: "absolute"},
		{name: "bad rlimit", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    rlimits: [\"nofile,10\"]\n"), where: "spec.yml:8:", phrase: "nofile,10"},
		{name: "unknown rlimit", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    rlimits: [\"nofiles,1,2\"]\n"), where: "spec.yml:8:", phrase: "nofiles"},
		{name: "bad device mode", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    devices:\n      - {path: /dev/null, type: c, major: 1, minor: 3, mode: \"rw\"}\n"), where: "spec.yml:9:", phrase: "mode"},
		{name: "unknown uid name", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    uid: nobody\n"), where: "spec.yml:8:10", phrase: "nobody"},
		{name: "unknown additional gid", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n    additionalGids: [a, wheel]\n"), where: "spec.yml:8:", phrase: "wheel"},
		{name: "unknown uid name in a label", spec: svc("  - name: a\n    image: $REG/e2e/uidlabel:1\n"), where: "spec.yml:6:5", phrase: "daemon"},
		{name: "unknown gid name on a file", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    contents: x\n    gid: wheel\n", where: "spec.yml:11:10", phrase: "wheel"},
		{name: "missing source file", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "files:\n  - path: etc/x\n    source: no-such-file.txt\n", where: "spec.yml:10:", phrase: "no-such-file.txt"},
		{name: "bad image reference", spec: svc("  - name: a\n    image: \"$REG/E2E/Getty:1\"\n"), where: "spec.yml:7:", phrase: "E2E/Getty"},

		// Images.
		{name: "image not found", spec: svc("  - name: a\n    image: $REG/e2e/nope:1\n"), where: "spec.yml:7:12", phrase: "not found"},
		{name: "unreachable registry", spec: svc("  - name: a\n    image: " + dead + "/e2e/getty:1\n"), where: "spec.yml:7:12", phrase: "unreachable"},
		{name: "registry error", own: true, setup: func(t *testing.T, f *fixture) { f.reg.Fail(500) }, where: "spec.yml:2:10", phrase: "500"},
		{name: "corrupt layer", own: true, where: "$REG/e2e/redis", phrase: "digest mismatch",
			setup: func(t *testing.T, f *fixture) { f.reg.CorruptBlob(layerOf(t, f, "e2e/redis:1", 0), true) }},
		{name: "corrupt config", own: true, where: "$REG/e2e/getty", phrase: "digest mismatch",
			setup: func(t *testing.T, f *fixture) { f.reg.CorruptBlob(configOf(t, f, "e2e/getty:1"), true) }},
		{name: "platform not in index", spec: "services:\n  - name: a\n    image: $REG/e2e/amd64only:1\n", args: []string{"--arch", "arm64"}, where: "spec.yml:3:12", phrase: "no manifest for linux/arm64"},
		{name: "kernel image without kernel", spec: "kernel:\n  image: $REG/e2e/nokernel:1\ninit:\n  - $REG/e2e/init:1\n", where: "spec.yml:2:", phrase: `"kernel"`},
		{name: "kernel image without ucode", spec: "kernel:\n  image: $REG/e2e/kernel:1\n  ucode: amd-ucode.cpio\ninit:\n  - $REG/e2e/init:1\n", where: "spec.yml:2:", phrase: "amd-ucode.cpio"},
		{name: "label with an unknown key", spec: svc("  - name: a\n    image: $REG/e2e/badlabel:1\n"), where: "spec.yml:6:", phrase: "frobnicate"},
		{name: "label not JSON", spec: svc("  - name: a\n    image: $REG/e2e/badjson:1\n"), where: "spec.yml:6:", phrase: "$REG/e2e/badjson:1"},
		{name: "label sets the name", spec: svc("  - name: a\n    image: $REG/e2e/namelabel:1\n"), where: "spec.yml:6:", phrase: "name"},

		// Hostile layers: the message names the image and the entry.
		{name: "layer with ..", spec: svc("  - name: a\n    image: $REG/e2e/hostile-dotdot:1\n    command: [/ok]\n"), where: "$REG/e2e/hostile-dotdot:1", phrase: `"../escape"`},
		{name: "write through escaping symlink", spec: svc("  - name: a\n    image: $REG/e2e/hostile-symlink-escape:1\n    command: [/ok]\n"), where: "$REG/e2e/hostile-symlink-escape:1", phrase: `"escape/kit-pwned"`},
		{name: "write through absolute symlink", spec: "kernel:\n  image: $REG/e2e/kernel:1\ninit:\n  - $REG/e2e/hostile-symlink-absolute:1\n", where: "$REG/e2e/hostile-symlink-absolute:1", phrase: `"escape/kit-pwned"`},
		{name: "hard link outside", spec: svc("  - name: a\n    image: $REG/e2e/hostile-hardlink-outside:1\n    command: [/ok]\n"), where: "$REG/e2e/hostile-hardlink-outside:1", phrase: `"passwd"`},
		{name: "device node", spec: svc("  - name: a\n    image: $REG/e2e/hostile-device:1\n    command: [/ok]\n"), where: "$REG/e2e/hostile-device:1", phrase: `"dev/mem"`},
		{name: "device node in a volume", spec: svc("  - name: a\n    image: $REG/e2e/getty:1\n") + "volumes:\n  - name: v\n    image: $REG/e2e/hostile-device:1\n", where: "$REG/e2e/hostile-device:1", phrase: "device"},

		// Flags.
		{name: "unknown format", args: []string{"-f", "nope"}, where: "-f nope", phrase: "unknown output format"},
		{name: "bad arch", args: []string{"--arch", "sparc"}, where: "--arch", phrase: "sparc"},
		{name: "bad mirror", args: []string{"--mirror", "docker.io"}, where: "--mirror", phrase: "REGISTRY=URL"},
		{name: "bad mirror url", args: []string{"--mirror", "docker.io=ftp://x"}, where: "--mirror", phrase: "ftp://x"},
		{name: "bad source date epoch", args: []string{"--source-date-epoch", "yesterday"}, where: "SOURCE_DATE_EPOCH", phrase: "yesterday"},
		{name: "bad jobs", args: []string{"--jobs", "-3"}, where: "--jobs", phrase: "positive"},
		{name: "locked tag not in the lock file", args: []string{"--locked"}, where: "spec.yml:2:10", phrase: "lock"},
	}
}

// TestBadInput runs builds that must fail and checks each one's message,
// that it wrote no artifact and left no temporary file, and that the cache
// it used still builds the good spec byte for byte like a fresh cache.
func TestBadInput(t *testing.T) {
	shared := newFixture(t)
	badImages(t, shared)
	refDir := t.TempDir()
	ref := f2spec(t, shared, refDir)
	mustKit(t, refDir, "build", "--cache", filepath.Join(refDir, "cache"), "-f", "tar", "-f", "kernel+initrd", "-o", "out", "--name", "good", ref)
	want := digests(t, filepath.Join(refDir, "out"))

	cases := badCases(t)
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := shared
			if tc.own {
				f = newFixture(t)
			}
			dir := t.TempDir()
			cache := filepath.Join(dir, "cache")
			text := tc.spec
			if text == "" {
				text = goodSpec
			}
			spec := f.spec(t, dir, "spec.yml", text)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			args := append([]string{"build", "--cache", cache, "-f", "tar", "-f", "kernel+initrd", "-o", "out", "--progress=json"}, tc.args...)
			r := kit(t, dir, append(append(args, spec), tc.extra...)...)
			msg := r.message()
			t.Logf("kit says:\n%s", msg)
			if r.code == 0 {
				t.Fatalf("the build succeeded\n%s", r)
			}
			exp := func(s string) string { return strings.ReplaceAll(s, "$REG", f.reg.Host()) }
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(exp(tc.where))) {
				t.Errorf("the message does not name %q:\n%s", exp(tc.where), msg)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(exp(tc.phrase))) {
				t.Errorf("the message does not say %q:\n%s", exp(tc.phrase), msg)
			}
			if strings.Contains(tc.where, "spec.yml:") && !regexp.MustCompile(`spec\.yml:\d+:\d+: `).MatchString(msg) {
				t.Errorf("no spec.yml:LINE:COL location:\n%s", msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") > 20 {
				t.Errorf("a %d-line message:\n%s", strings.Count(msg, "\n"), msg)
			}
			noFiles(t, "output directory of the failed build", filepath.Join(dir, "out"))
			noFiles(t, "cache tmp after the failed build", filepath.Join(cache, "tmp"))

			// The same cache still builds the good spec exactly as a fresh
			// one does.
			if tc.setup != nil {
				f.reg.Fail(0)
				f.reg.CorruptBlob(layerOf(t, f, "e2e/redis:1", 0), false)
				f.reg.CorruptBlob(configOf(t, f, "e2e/getty:1"), false)
			}
			good := f2spec(t, f, dir)
			mustKit(t, dir, "build", "--cache", cache, "-f", "tar", "-f", "kernel+initrd", "-o", "good-out", "--name", "good", good)
			sameOutputs(t, "good build after the failure", digests(t, filepath.Join(dir, "good-out")), want)
		})
	}
}

// f2spec writes the good spec for fixture f into dir/good.yml.
func f2spec(t testing.TB, f *fixture, dir string) string {
	return f.spec(t, dir, "good.yml", goodSpec)
}

// TestAbsoluteEntryIsRooted: an absolute name in a layer is not an error
// but is rooted at the image's root, as container runtimes treat it
// (tarutil.CleanName): it lands inside the container, nowhere else.
func TestAbsoluteEntryIsRooted(t *testing.T) {
	f := newFixture(t)
	badImages(t, f)
	dir := t.TempDir()
	spec := f.spec(t, dir, "spec.yml", svc("  - name: a\n    image: $REG/e2e/hostile-absolute:1\n    command: [/ok]\n"))
	mustKit(t, dir, "build", "--cache", filepath.Join(dir, "cache"), "-f", "tar", "-o", "out", spec)
	m, order := readTar(t, filepath.Join(dir, "out", "spec.tar"))
	if e := m["containers/services/a/lower/abs-escape"]; e == nil || string(e.body) != "escaped" {
		t.Errorf("the absolute entry is not at containers/services/a/lower/abs-escape: %+v", e)
	}
	for _, n := range order {
		if strings.Contains(n, "abs-escape") && n != "containers/services/a/lower/abs-escape" {
			t.Errorf("the absolute entry also landed at %s", n)
		}
	}
}
