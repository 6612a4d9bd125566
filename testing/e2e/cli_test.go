package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

const mergeA = `kernel:
  image: $REG/e2e/kernel:1
  cmdline: "console=ttyS0"
init:
  - $REG/e2e/init:1
services:
  - name: getty
    image: $REG/e2e/getty:1
volumes:
  - name: va
files:
  - path: etc/a
    contents: "a\n"
    uid: redis
`

const mergeB = `kernel:
  cmdline: "console=tty0 quiet"
  ucode: intel-ucode.cpio
init:
  - $REG/e2e/runc:1
services:
  - name: redis
    image: $REG/e2e/redis:1
volumes:
  - name: vb
files:
  - path: etc/b
    contents: "b\n"
`

// TestMerge builds two specs as one system: lists append in order, kernel
// fields are last-wins, the lock file and the default name follow the
// first spec.
func TestMerge(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	a := f.spec(t, dir, "a.yml", mergeA)
	b := f.spec(t, dir, "b.yml", mergeB)
	cache := filepath.Join(dir, "cache")

	for _, tc := range []struct {
		order    []string
		name     string
		cmdline  string
		motd     string
		services []string
		ucode    bool
		redisID  int
	}{
		{[]string{a, b}, "a", "console=tty0 quiet", "from runc\n", []string{"getty", "redis"}, true, 101},
		{[]string{b, a}, "b", "console=ttyS0", "from init\n", []string{"redis", "getty"}, true, 100},
	} {
		t.Run(tc.name+" first", func(t *testing.T) {
			out := filepath.Join(dir, "out-"+tc.name)
			mkdir(t, out)
			args := append([]string{"build", "--cache", cache, "-f", "tar", "-f", "kernel+initrd"}, tc.order...)
			// No -o: the outputs go to the working directory.
			r := kit(t, out, args...)
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
			got := digests(t, out)
			var names []string
			for n := range got {
				names = append(names, n)
			}
			sort.Strings(names)
			want := []string{tc.name + "-cmdline", tc.name + "-initrd.img", tc.name + "-kernel", tc.name + ".tar"}
			if !slices.Equal(names, want) {
				t.Fatalf("outputs %v, want %v", names, want)
			}
			m, _ := readTar(t, filepath.Join(out, tc.name+".tar"))
			body := func(n string) string {
				if e, ok := m[n]; ok {
					return string(e.body)
				}
				return "<missing>"
			}
			if got := body("boot/cmdline"); got != tc.cmdline {
				t.Errorf("cmdline %q, want %q (last wins)", got, tc.cmdline)
			}
			if got := body("etc/motd"); got != tc.motd {
				t.Errorf("etc/motd %q, want %q (init images in merged order)", got, tc.motd)
			}
			if body("etc/a") != "a\n" || body("etc/b") != "b\n" {
				t.Errorf("files of both specs: etc/a %q, etc/b %q", body("etc/a"), body("etc/b"))
			}
			for _, d := range []string{"containers/volumes/va", "containers/volumes/vb", "containers/services/getty", "containers/services/redis"} {
				if _, ok := m[d]; !ok {
					t.Errorf("%s is missing", d)
				}
			}
			// Ids follow the merged order of the services.
			if e := m["etc/a"]; e == nil || e.hdr.Uid != tc.redisID {
				t.Errorf("etc/a (uid: redis) is owned by %+v, want %d", e, tc.redisID)
			}
			for _, s := range tc.services {
				if _, ok := m["containers/services/"+s+"/config.json"]; !ok {
					t.Errorf("service %s has no config.json", s)
				}
			}
			if _, ok := m["boot/ucode.cpio"]; ok != tc.ucode {
				t.Errorf("boot/ucode.cpio present=%v, want %v (kernel fields merge field by field)", ok, tc.ucode)
			}
			initrd, _ := os.ReadFile(filepath.Join(out, tc.name+"-initrd.img"))
			if !bytes.HasPrefix(initrd, f.kernel["intel-ucode.cpio"]) {
				t.Error("the initrd does not start with the microcode")
			}
			if _, err := os.Stat(filepath.Join(dir, tc.name+".lock")); err != nil {
				t.Errorf("no lock file beside the first spec: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a.lock")); err != nil {
		t.Error(err)
	}

	// A name twice across the merged files is an error naming both places.
	r := kit(t, dir, "build", "--cache", cache, "-o", "dup", a, a)
	if r.code == 0 || !strings.Contains(r.message(), "duplicate") || !strings.Contains(r.message(), "a.yml:7:") {
		t.Errorf("merging a spec with itself: want a duplicate name error at a.yml:7\n%s", r)
	}
	noFiles(t, "output of the failed merge", filepath.Join(dir, "dup"))
}

// TestNaming checks -o, --name and the file names of every format, and that
// the formats agree with each other.
func TestNaming(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	out := filepath.Join(dir, "deep", "er", "out")
	r := mustKit(t, dir, "build", "--cache", filepath.Join(dir, "cache"), "-o", out, "--name", "N",
		"-f", "kernel+initrd", "-f", "tar", "-f", "tar-kernel-initrd", "-f", "docker", spec)
	got := digests(t, out)
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"N-cmdline", "N-initrd.img", "N-initrd.tar", "N-kernel", "N.docker", "N.tar"}
	if !slices.Equal(names, want) {
		t.Fatalf("outputs %v, want %v", names, want)
	}
	// stdout lists every artifact with its digest and size.
	listed := map[string]string{}
	for _, l := range lines([]byte(r.stdout)) {
		p := strings.Split(l, "\t")
		if len(p) != 3 {
			t.Fatalf("stdout line %q", l)
		}
		listed[filepath.Base(p[0])] = strings.TrimPrefix(p[1], "sha256:")
	}
	sameOutputs(t, "artifacts listed on stdout", listed, got)

	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// tar-kernel-initrd holds the same kernel, initrd (without microcode) and
	// command line.
	kit := map[string][]byte{}
	for _, n := range lines(tool(t, read("N-initrd.tar"), "tar", "-t")) {
		kit[n] = tool(t, read("N-initrd.tar"), "tar", "-xO", n)
	}
	var kn []string
	for n := range kit {
		kn = append(kn, n)
	}
	sort.Strings(kn)
	if want := []string{"cmdline", "initrd.img", "kernel", "ucode.cpio"}; !slices.Equal(kn, want) {
		t.Errorf("N-initrd.tar holds %v, want %v", kn, want)
	}
	ucode := f.kernel["intel-ucode.cpio"]
	if !bytes.Equal(kit["kernel"], read("N-kernel")) || !bytes.Equal(kit["cmdline"], read("N-cmdline")) ||
		!bytes.Equal(kit["ucode.cpio"], ucode) || !bytes.Equal(append(append([]byte{}, ucode...), kit["initrd.img"]...), read("N-initrd.img")) {
		t.Error("N-initrd.tar disagrees with N-kernel, N-cmdline and N-initrd.img")
	}
	// docker is the tar plus a Dockerfile.
	dockerNames := lines(tool(t, read("N.docker"), "tar", "-t"))
	tarNames := lines(tool(t, read("N.tar"), "tar", "-t"))
	i := slices.Index(dockerNames, "Dockerfile")
	if i < 0 {
		t.Fatalf("N.docker has no Dockerfile: %v", dockerNames[:min(5, len(dockerNames))])
	}
	if rest := slices.Delete(slices.Clone(dockerNames), i, i+1); !slices.Equal(rest, tarNames) {
		t.Errorf("N.docker without its Dockerfile differs from N.tar:\n%s", lineDiff(strings.Join(tarNames, "\n"), strings.Join(rest, "\n")))
	}
	if df := string(tool(t, read("N.docker"), "tar", "-xO", "Dockerfile")); !strings.Contains(df, "FROM scratch") {
		t.Errorf("Dockerfile = %q", df)
	}
}

// dryRun runs kit build --dry-run --progress=json and returns node →
// status and node → reasons.
func dryRun(t *testing.T, dir string, args ...string) (map[string]string, map[string]string) {
	t.Helper()
	r := mustKit(t, dir, append([]string{"build", "--dry-run", "--explain", "--progress=json"}, args...)...)
	var plan []struct {
		Node    string   `json:"node"`
		Kind    string   `json:"kind"`
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, r.stdout)
	}
	status, why := map[string]string{}, map[string]string{}
	for _, n := range plan {
		status[n.Node] = n.Status
		why[n.Node] = strings.Join(n.Reasons, "; ")
	}
	return status, why
}

// TestDryRunAndExplain checks that --dry-run prints the plan with what would
// run, builds nothing, and that --explain says why a node runs.
func TestDryRunAndExplain(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	cache := filepath.Join(dir, "cache")
	common := []string{"--cache", cache, "-f", "tar", "-o", filepath.Join(dir, "out")}

	status, _ := dryRun(t, dir, append(common, spec)...)
	if len(status) < 10 {
		t.Fatalf("the plan has %d nodes: %v", len(status), status)
	}
	for n, s := range status {
		if s != "run" {
			t.Errorf("fresh cache: %s is %q, want run", n, s)
		}
	}
	noFiles(t, "output directory of a dry run", filepath.Join(dir, "out"))
	noFiles(t, "action cache after a dry run", filepath.Join(cache, "actions"))
	text := mustKit(t, dir, append(append([]string{"build", "--dry-run"}, common...), spec)...)
	if !strings.Contains(text.stdout, "run   format    format tar") {
		t.Errorf("text plan:\n%s", text.stdout)
	}

	mustKit(t, dir, append(append([]string{"build"}, common...), spec)...)
	f.reg.Reset()
	status, _ = dryRun(t, dir, append(common, spec)...)
	if status["format tar"] != "hit" {
		t.Errorf("after a build, format tar is %q", status["format tar"])
	}
	for n, s := range status {
		if n != "format tar" && s != "skip" {
			t.Errorf("after a build, %s is %q, want skip", n, s)
		}
	}
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("a dry run of a locked, built spec made %d registry requests", n)
	}

	writeFile(t, spec, strings.Replace(strings.ReplaceAll(smallSpec, "$REG", f.reg.Host()), "    uid: redis\n", "    uid: redis\n    env: [\"MODE=changed\"]\n", 1))
	status, why := dryRun(t, dir, append(common, spec)...)
	for n, s := range status {
		want := "skip"
		switch {
		case n == "runtime services/redis" || n == "assemble" || n == "rootfs" || n == "format tar":
			want = "run"
		case strings.HasPrefix(n, "fetch "):
			want = "skip"
		case !strings.HasPrefix(n, "fetch "):
			want = "hit"
		}
		if s != want {
			t.Errorf("after changing redis's env, %s is %q, want %q", n, s, want)
		}
	}
	if w := why["runtime services/redis"]; !strings.Contains(w, "parameters changed") {
		t.Errorf("--explain for the changed service: %q", w)
	}
	if w := why["assemble"]; !strings.Contains(w, "input") {
		t.Errorf("--explain for assemble: %q", w)
	}
	r := mustKit(t, dir, append(append([]string{"build", "--explain", "--progress=plain"}, common...), spec)...)
	if !strings.Contains(r.stderr, "because: parameters changed") {
		t.Errorf("kit build --explain does not say why the service runs:\n%s", r.stderr)
	}
}

// TestLockFile checks that the lock file pins tags: a tag moved in the
// registry is not picked up until --pull.
func TestLockFile(t *testing.T) {
	f := newFixture(t)
	v1img, err := imagegen.Container("moving", imagegen.Config{Cmd: []string{"/bin/moving"}, Files: []imagegen.File{imagegen.Reg("etc/version", "1\n")}})
	if err != nil {
		t.Fatal(err)
	}
	v2img, err := imagegen.Container("moving", imagegen.Config{Cmd: []string{"/bin/moving"}, Files: []imagegen.File{imagegen.Reg("etc/version", "2\n")}})
	if err != nil {
		t.Fatal(err)
	}
	d1 := f.reg.Push(t, "e2e/moving:1", v1img)
	dir := t.TempDir()
	// A service of the moving image, after smallSpec's services.
	spec := f.spec(t, dir, "sys.yml", strings.Replace(smallSpec, "files:\n", "  - name: moving\n    image: $REG/e2e/moving:1\nfiles:\n", 1))
	cache := filepath.Join(dir, "cache")
	build := func(out string, extra ...string) (map[string]string, string) {
		t.Helper()
		mustKit(t, dir, append(append([]string{"build", "--cache", cache, "-f", "tar", "-o", out}, extra...), spec)...)
		m, _ := readTar(t, filepath.Join(dir, out, "sys.tar"))
		e := m["containers/services/moving/lower/etc/version"]
		if e == nil {
			return digests(t, filepath.Join(dir, out)), ""
		}
		return digests(t, filepath.Join(dir, out)), string(e.body)
	}
	lockText := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "sys.lock"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	first, v := build("out1")
	if v != "1\n" {
		t.Fatalf("first build has version %q", v)
	}
	if !strings.Contains(lockText(), d1.DigestStr()) {
		t.Errorf("the lock file does not pin %s:\n%s", d1.DigestStr(), lockText())
	}
	d2 := f.reg.Push(t, "e2e/moving:1", v2img)
	f.reg.Reset()
	again, v := build("out2")
	if v != "1\n" {
		t.Errorf("without --pull the moved tag was picked up (version %q)", v)
	}
	sameOutputs(t, "rebuild after the tag moved", again, first)
	if n := f.reg.Count("", "/manifests/"); n != 0 {
		t.Errorf("without --pull kit asked the registry for %d manifests", n)
	}
	// --locked builds from the lock alone.
	mustKit(t, dir, "build", "--locked", "--cache", cache, "-f", "tar", "-o", "out-locked", spec)

	pulled, v := build("out3", "--pull")
	if v != "2\n" {
		t.Errorf("--pull did not pick up the moved tag (version %q)", v)
	}
	if pulled["sys.tar"] == first["sys.tar"] {
		t.Error("--pull gave the same tar")
	}
	if l := lockText(); !strings.Contains(l, d2.DigestStr()) || strings.Contains(l, d1.DigestStr()) {
		t.Errorf("after --pull the lock file does not pin %s alone:\n%s", d2.DigestStr(), l)
	}
	after, v := build("out4")
	if v != "2\n" {
		t.Errorf("the build after --pull went back to version %q", v)
	}
	sameOutputs(t, "build after --pull", after, pulled)

	// An image the spec no longer names leaves the lock file.
	writeFile(t, spec, strings.ReplaceAll(smallSpec, "$REG", f.reg.Host()))
	build("out5")
	if l := lockText(); strings.Contains(l, "e2e/moving") || !strings.Contains(l, "e2e/redis") {
		t.Errorf("after removing the moving service the lock file is:\n%s", l)
	}
}

// TestMirror builds a spec naming Docker Hub images (linuxkit/kernel:e2e,
// redis:e2e) through --mirror docker.io=URL of the loopback registry.
func TestMirror(t *testing.T) {
	f := newFixture(t)
	for ref, to := range map[string]string{
		"e2e/kernel:1": "linuxkit/kernel:e2e", "e2e/init:1": "linuxkit/init:e2e",
		"e2e/getty:1": "linuxkit/getty:e2e", "e2e/redis:1": "library/redis:e2e",
	} {
		f.reg.Push(t, to, f.images[ref])
	}
	const hub = `kernel:
  image: linuxkit/kernel:e2e
  cmdline: "console=ttyS0"
init:
  - linuxkit/init:e2e
services:
  - name: getty
    image: docker.io/linuxkit/getty:e2e
  - name: redis
    image: redis:e2e
`
	const direct = `kernel:
  image: $REG/e2e/kernel:1
  cmdline: "console=ttyS0"
init:
  - $REG/e2e/init:1
services:
  - name: getty
    image: $REG/e2e/getty:1
  - name: redis
    image: $REG/e2e/redis:1
`
	dir := t.TempDir()
	hubSpec := f.spec(t, dir, "hub.yml", hub)
	directSpec := f.spec(t, dir, "direct.yml", direct)
	f.reg.Reset()
	mustKit(t, dir, "build", "--mirror", "docker.io="+f.reg.URL(), "--cache", filepath.Join(dir, "c1"), "-f", "tar", "-f", "kernel+initrd", "-o", "out", "--name", "sys", hubSpec)
	for _, repo := range []string{"/v2/linuxkit/kernel/", "/v2/linuxkit/init/", "/v2/linuxkit/getty/", "/v2/library/redis/"} {
		if f.reg.Count("GET", repo) == 0 {
			t.Errorf("the mirror served nothing from %s", repo)
		}
	}
	lock, err := os.ReadFile(filepath.Join(dir, "hub.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(lock), "127.0.0.1") || !strings.Contains(string(lock), "library/redis:e2e") {
		t.Errorf("the lock file should name the canonical references, not the mirror:\n%s", lock)
	}
	mustKit(t, dir, "build", "--cache", filepath.Join(dir, "c2"), "-f", "tar", "-f", "kernel+initrd", "-o", "out2", "--name", "sys", directSpec)
	sameOutputs(t, "the same images through a mirror", digests(t, filepath.Join(dir, "out")), digests(t, filepath.Join(dir, "out2")))
}

// TestValidate checks kit validate on good, bad and partial specs; it never
// talks to a registry.
func TestValidate(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	good := f.spec(t, dir, "good.yml", smallSpec)
	a := f.spec(t, dir, "a.yml", mergeA)
	b := f.spec(t, dir, "b.yml", mergeB)
	bad := f.spec(t, dir, "bad.yml", svc("  - name: a\n    image: $REG/e2e/getty:1\n    capabilities: [CAP_FLY]\n  - name: b\n    image: $REG/e2e/getty:1\n    binds: [nowhere]\n"))
	typo := f.spec(t, dir, "typo.yml", svc("  - name: a\n    imag: x\n    comand: [x]\n"))
	f.reg.Reset()

	if r := kit(t, dir, "validate", good); r.code != 0 || strings.Contains(r.stderr, "error") {
		t.Errorf("a good spec:\n%s", r)
	}
	r := kit(t, dir, "validate", bad)
	if r.code == 0 {
		t.Fatalf("a bad spec validated:\n%s", r)
	}
	// Every problem is reported at once, each with its location.
	for _, want := range []string{"bad.yml:8:", "CAP_FLY", "bad.yml:11:", "nowhere"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("kit validate bad.yml does not say %q:\n%s", want, r.stderr)
		}
	}
	r = kit(t, dir, "validate", typo)
	for _, want := range []string{"typo.yml:7:5", "imag", "typo.yml:8:5", "comand"} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("kit validate typo.yml does not say %q:\n%s", want, r.stderr)
		}
	}
	r = kit(t, dir, "validate", good, bad)
	if r.code == 0 || strings.Contains(r.stderr, "good.yml") || !strings.Contains(r.stderr, "bad.yml") {
		t.Errorf("validate good.yml bad.yml:\n%s", r)
	}
	// b.yml alone has a kernel without an image; merged after a.yml it is fine.
	if r := kit(t, dir, "validate", b); r.code == 0 || !strings.Contains(r.stderr, "b.yml:1:1") {
		t.Errorf("validate b.yml alone:\n%s", r)
	}
	if r := kit(t, dir, "validate", "--merge", a, b); r.code != 0 {
		t.Errorf("validate --merge a.yml b.yml:\n%s", r)
	}
	if r := kit(t, dir, "validate", filepath.Join(dir, "absent.yml")); r.code == 0 || !strings.Contains(r.stderr, "absent.yml") {
		t.Errorf("validate of a missing file:\n%s", r)
	}
	// The obsolete trust section is accepted with a warning.
	trust := f.spec(t, dir, "trust.yml", smallSpec+"trust:\n  org: [linuxkit]\n")
	if r := kit(t, dir, "validate", trust); r.code != 0 || !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "trust.yml:") {
		t.Errorf("validate of a spec with trust:\n%s", r)
	}
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("kit validate made %d registry requests", n)
	}
	r = mustKit(t, dir, "build", "--cache", filepath.Join(dir, "cache"), "-f", "tar", "-o", "out", trust)
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "trust") {
		t.Errorf("kit build does not warn about trust:\n%s", r.stderr)
	}
}

// TestCacheCommands is a smoke test of kit cache du, ls, export, import and
// prune on the cache of a real build.
func TestCacheCommands(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	spec := f.spec(t, dir, "small.yml", smallSpec)
	cache := filepath.Join(dir, "cache")
	b := mustKit(t, dir, "build", "--cache", cache, "-f", "tar", "-o", "out", "--progress=json", spec)
	want := digests(t, filepath.Join(dir, "out"))
	nodes := map[string]bool{}
	for _, e := range b.events {
		nodes[e.Key] = true
	}

	var du struct {
		Blobs, Actions, Images, Temp int
		TotalBytes                   int64
	}
	jsonOut(t, mustKit(t, dir, "cache", "du", "--json", "--cache", cache), &du)
	if du.Blobs == 0 || du.Actions != len(nodes) || du.Images != 7 || du.Temp != 0 || du.TotalBytes == 0 {
		t.Errorf("cache du: %+v; want %d actions, 7 images, no temp", du, len(nodes))
	}
	if r := mustKit(t, dir, "cache", "du", "--cache", cache); !strings.Contains(r.stdout, "blobs") {
		t.Errorf("cache du:\n%s", r.stdout)
	}
	var ls []struct {
		Key, Name, Kind string
		Size            int64
	}
	jsonOut(t, mustKit(t, dir, "cache", "ls", "--json", "--cache", cache), &ls)
	kinds := map[string]int{}
	for _, e := range ls {
		kinds[e.Kind]++
	}
	for _, k := range []string{"fetch", "unpack", "kernel", "runtime", "files", "assemble", "format"} {
		if kinds[k] == 0 {
			t.Errorf("cache ls has no %s entry: %v", k, kinds)
		}
	}
	if len(ls) != len(nodes) {
		t.Errorf("cache ls lists %d entries, the build had %d nodes", len(ls), len(nodes))
	}
	if r := mustKit(t, dir, "cache", "ls", "--cache", cache); !strings.Contains(r.stdout, "format tar") {
		t.Errorf("cache ls:\n%s", r.stdout)
	}

	// Export every image as an OCI layout that go-containerregistry reads.
	exp := filepath.Join(dir, "export")
	mustKit(t, dir, "cache", "export", "--format", "oci", "--cache", cache, exp)
	idx, err := layout.ImageIndexFromPath(exp)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 7 {
		t.Errorf("the export holds %d manifests, want 7", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Errorf("%s: %v", d.Digest, err)
			continue
		}
		if err := checkImage(img); err != nil {
			t.Errorf("exported image %s (%s): %v", d.Digest, d.Annotations["org.opencontainers.image.ref.name"], err)
		}
	}
	one := filepath.Join(dir, "export-one")
	mustKit(t, dir, "cache", "export", "--format", "oci", "--cache", cache, one, f.reg.Host()+"/e2e/redis:1")
	if oidx, err := layout.ImageIndexFromPath(one); err != nil {
		t.Error(err)
	} else if m, _ := oidx.IndexManifest(); m == nil || len(m.Manifests) != 1 {
		t.Errorf("exporting one image: %+v", m)
	}
	if r := kit(t, dir, "cache", "export", "--format", "docker", "--cache", cache, filepath.Join(dir, "x")); r.code == 0 {
		t.Error("cache export --format docker succeeded")
	}

	// Import into a fresh cache; the import is readable like the original.
	cache2 := filepath.Join(dir, "cache2")
	r := mustKit(t, dir, "cache", "import", "--cache", cache2, exp)
	if n := len(lines([]byte(r.stdout))); n != 7 {
		t.Errorf("cache import printed %d images:\n%s", n, r.stdout)
	}
	var du2 struct{ Images int }
	jsonOut(t, mustKit(t, dir, "cache", "du", "--json", "--cache", cache2), &du2)
	if du2.Images != 7 {
		t.Errorf("the imported cache holds %d images", du2.Images)
	}

	// Prune everything; the next build starts over and gives the same bytes.
	var pr struct{ ActionsRemoved, ActionsKept int }
	jsonOut(t, mustKit(t, dir, "cache", "prune", "--keep-bytes", "0", "--json", "--cache", cache), &pr)
	if pr.ActionsRemoved != len(nodes) || pr.ActionsKept != 0 {
		t.Errorf("cache prune: %+v", pr)
	}
	jsonOut(t, mustKit(t, dir, "cache", "ls", "--json", "--cache", cache), &ls)
	if len(ls) != 0 {
		t.Errorf("cache ls after prune lists %d entries", len(ls))
	}
	again := mustKit(t, dir, "build", "--cache", cache, "-f", "tar", "-o", "again", "--progress=json", spec)
	if len(again.started()) == 0 {
		t.Error("nothing ran after a prune")
	}
	sameOutputs(t, "build after prune", digests(t, filepath.Join(dir, "again")), want)
	if r := kit(t, dir, "cache", "prune", "--keep-bytes", "lots", "--cache", cache); r.code == 0 || !strings.Contains(r.stderr, "lots") {
		t.Errorf("cache prune --keep-bytes lots:\n%s", r)
	}

	// The imported images build the locked spec with the registry gone.
	f.reg.Close()
	r = kit(t, dir, "build", "--cache", cache2, "-f", "tar", "-o", "offline", spec)
	if r.code != 0 {
		t.Fatalf("offline build from imported images:\n%s", r)
	}
	sameOutputs(t, "offline build from imported images", digests(t, filepath.Join(dir, "offline")), want)
}

// checkImage reads every blob of an image and checks it against its
// digest, and each layer's content against the config's diff id.
func checkImage(img v1.Image) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	if h, _, _ := v1.SHA256(bytes.NewReader(raw)); h != m.Config.Digest {
		return fmt.Errorf("config digest %s, manifest says %s", h, m.Config.Digest)
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	if len(ls) != len(cf.RootFS.DiffIDs) || len(ls) != len(m.Layers) {
		return fmt.Errorf("%d layers, %d diff ids, %d manifest layers", len(ls), len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	for i, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		h, n, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != m.Layers[i].Digest || n != m.Layers[i].Size {
			return fmt.Errorf("layer %d: %s (%d bytes), %v; manifest says %s (%d bytes)", i, h, n, err, m.Layers[i].Digest, m.Layers[i].Size)
		}
		rc, err = l.Uncompressed()
		if err != nil {
			return err
		}
		h, _, err = v1.SHA256(rc)
		rc.Close()
		if err != nil || h != cf.RootFS.DiffIDs[i] {
			return fmt.Errorf("layer %d: diff id %s, %v; config says %s", i, h, err, cf.RootFS.DiffIDs[i])
		}
	}
	return nil
}

func jsonOut(t *testing.T, r *run, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("kit %s: JSON: %v\n%s", strings.Join(r.args, " "), err, r.stdout)
	}
}

// TestMirrorServesCorruptLayers builds through a mirror that serves corrupt
// copies of the kernel's and redis's layers. Unpacking starts while a layer
// downloads (docs/engine.md, Streaming), so the kernel and unpack steps
// read part of the corrupt copies before the digest check fails and kit
// falls back to the registry: they must run again on the right bytes, and
// the outputs must be those of a build without the mirror.
func TestMirrorServesCorruptLayers(t *testing.T) {
	f := newFixture(t)
	var corrupt []registry.Option
	for _, ref := range []string{"e2e/kernel:1", "e2e/redis:1"} {
		ls, err := f.images[ref].Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				t.Fatal(err)
			}
			corrupt = append(corrupt, registry.WithCorruptBlob(d))
		}
	}
	mirror := registry.Start(t, corrupt...)
	for ref, img := range f.images {
		mirror.Push(t, ref, img)
	}
	const text = `kernel:
  image: $REG/e2e/kernel:1
  cmdline: "console=ttyS0"
init:
  - $REG/e2e/init:1
services:
  - name: redis
    image: $REG/e2e/redis:1
`
	dir := t.TempDir()
	spec := f.spec(t, dir, "sys.yml", text)
	mustKit(t, dir, "build", "--cache", filepath.Join(dir, "c1"), "-f", "tar", "-f", "kernel+initrd", "-o", "direct", "--name", "sys", spec)
	mirror.Reset()
	r := mustKit(t, dir, "build", "--mirror", f.reg.Host()+"="+mirror.URL(), "--cache", filepath.Join(dir, "c2"),
		"--progress", "plain", "-f", "tar", "-f", "kernel+initrd", "-o", "mirrored", "--name", "sys", spec)
	// Whether a step read part of a corrupt copy depends on timing: say so.
	t.Logf("steps started over: %d", strings.Count(r.stderr, "starting over"))
	if mirror.Count("GET", "/blobs/") == 0 {
		t.Fatal("the mirror served no blob")
	}
	sameOutputs(t, "a build through a mirror serving corrupt layers", digests(t, filepath.Join(dir, "mirrored")), digests(t, filepath.Join(dir, "direct")))
}
