package imagegen

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/u-root/u-root/pkg/cpio"
)

type entry struct {
	typ  byte
	body string
	link string
	hdr  *tar.Header
}

func readTar(t *testing.T, r io.Reader) (map[string]entry, []string) {
	t.Helper()
	m := map[string]entry{}
	var order []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return m, order
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		m[h.Name] = entry{typ: h.Typeflag, body: string(b), link: h.Linkname, hdr: h}
		order = append(order, h.Name)
	}
}

func layerEntries(t *testing.T, img v1.Image, i int) (map[string]entry, []string) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[i].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return readTar(t, rc)
}

func digest(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeterministic(t *testing.T) {
	gens := map[string]func() (interface{ Digest() (v1.Hash, error) }, error){
		"kernel": func() (interface{ Digest() (v1.Hash, error) }, error) {
			return Kernel(KernelOptions{UCode: true, SystemMap: true})
		},
		"init": func() (interface{ Digest() (v1.Hash, error) }, error) { return Init("init") },
		"container": func() (interface{ Digest() (v1.Hash, error) }, error) {
			return Container("x", Config{Cmd: []string{"/bin/x"}})
		},
		"multiarch": func() (interface{ Digest() (v1.Hash, error) }, error) { return MultiArch("x", Config{}) },
		"zstd":      func() (interface{ Digest() (v1.Hash, error) }, error) { return Container("x", Config{Zstd: true}) },
		"big":       func() (interface{ Digest() (v1.Hash, error) }, error) { return Big(BigOptions{MB: 2, Layers: 2}) },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			a, err := gen()
			if err != nil {
				t.Fatal(err)
			}
			b, err := gen()
			if err != nil {
				t.Fatal(err)
			}
			if da, db := digest(t, a), digest(t, b); da != db {
				t.Errorf("digests differ: %s vs %s", da, db)
			}
		})
	}
	a, _ := Container("a", Config{})
	b, _ := Container("b", Config{})
	if digest(t, a) == digest(t, b) {
		t.Error("containers with different names have the same digest")
	}
}

func TestKernel(t *testing.T) {
	for _, tc := range []struct {
		opts  KernelOptions
		files []string
	}{
		{KernelOptions{}, []string{"kernel", "kernel.tar"}},
		{KernelOptions{UCode: true, SystemMap: true, Size: 5000}, []string{"System.map", "intel-ucode.cpio", "kernel", "kernel.tar"}},
		{KernelOptions{Arch: "arm64", Version: "6.1.0"}, []string{"kernel", "kernel.tar"}},
	} {
		img, err := Kernel(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		m, order := layerEntries(t, img, 0)
		if strings.Join(order, ",") != strings.Join(tc.files, ",") {
			t.Errorf("%+v: entries %v, want %v", tc.opts, order, tc.files)
		}
		o := tc.opts.withDefaults()
		k := m["kernel"].body
		if len(k) != o.Size {
			t.Errorf("kernel size %d, want %d", len(k), o.Size)
		}
		if o.Arch == "amd64" && k[0x202:0x206] != "HdrS" {
			t.Error("no bzImage magic")
		}
		if o.Arch == "arm64" && k[0x38:0x3c] != "ARM\x64" {
			t.Error("no arm64 Image magic")
		}
		mods, _ := readTar(t, strings.NewReader(m["kernel.tar"].body))
		if _, ok := mods["lib/modules/"+o.Version+"/modules.dep"]; !ok {
			t.Errorf("kernel.tar lacks modules.dep for %s: %v", o.Version, mods)
		}
		if _, ok := mods["boot/dtb/"]; ok != (o.Arch == "arm64") {
			t.Errorf("boot/dtb present=%v for %s", ok, o.Arch)
		}
		if u, ok := m["intel-ucode.cpio"]; ok {
			recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(strings.NewReader(u.body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 4 || recs[3].Name != "kernel/x86/microcode/GenuineIntel.bin" {
				t.Errorf("ucode records: %v", recs)
			}
		}
		cf, _ := img.ConfigFile()
		if cf.Architecture != o.Arch || cf.OS != "linux" {
			t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
		}
	}
}

func TestContainerConfig(t *testing.T) {
	img, err := Container("redis", Config{
		Entrypoint: []string{"/bin/redis"}, Cmd: []string{"--port", "1"}, Env: []string{"A=1"},
		WorkingDir: "/data", MobyConfig: `{"pid":"host"}`, OCI: true,
		Files: []File{Reg("data/x", "x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	c := cf.Config
	if c.Entrypoint[0] != "/bin/redis" || c.Cmd[1] != "1" || c.Env[0] != "A=1" || c.WorkingDir != "/data" {
		t.Errorf("config %+v", c)
	}
	if c.Labels[MobyConfigLabel] != `{"pid":"host"}` {
		t.Errorf("labels %v", c.Labels)
	}
	if !cf.Created.Time.Equal(Created) {
		t.Errorf("created %v", cf.Created)
	}
	mt, _ := img.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s", mt)
	}
	ls, _ := img.Layers()
	if len(ls) != 2 {
		t.Fatalf("%d layers", len(ls))
	}
	m, order := layerEntries(t, img, 0)
	if order[0] != "bin/" || m["bin/redis"].hdr.Mode != 0o755 || !m["bin/redis"].hdr.ModTime.Equal(Created) {
		t.Errorf("layer 0: %v", order)
	}
}

// TestWhiteouts checks the expected result against go-containerregistry's
// own flattening (mutate.Extract).
func TestWhiteouts(t *testing.T) {
	img, want, err := Whiteouts()
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	got, _ := readTar(t, rc)
	flat := map[string]string{}
	for n, e := range got {
		n = strings.TrimSuffix(n, "/")
		if e.typ == tar.TypeDir {
			flat[n] = DirMarker
		} else {
			flat[n] = e.body
		}
	}
	for n, v := range want {
		if flat[n] != v {
			t.Errorf("%s = %q, want %q", n, flat[n], v)
		}
	}
	for n := range flat {
		if _, ok := want[n]; !ok {
			t.Errorf("unexpected %s", n)
		}
	}
}

func TestHostile(t *testing.T) {
	wants := map[HostileKind]map[string]byte{
		DotDot:          {"../escape": tar.TypeReg, "a/../../escape2": tar.TypeReg},
		Absolute:        {"/abs-escape": tar.TypeReg},
		SymlinkEscape:   {"escape": tar.TypeSymlink, "escape/kit-pwned": tar.TypeReg},
		SymlinkAbsolute: {"escape": tar.TypeSymlink, "escape/kit-pwned": tar.TypeReg},
		HardlinkOutside: {"passwd": tar.TypeLink, "shadow": tar.TypeLink},
		Device:          {"dev/mem": tar.TypeChar, "sda": tar.TypeBlock},
	}
	if len(wants) != len(HostileKinds) {
		t.Fatal("HostileKinds and the test disagree")
	}
	for _, k := range HostileKinds {
		img, err := Hostile(k)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := layerEntries(t, img, 0)
		if m["ok"].body != "ok" {
			t.Errorf("%s: no ok file", k)
		}
		for n, typ := range wants[k] {
			if e, ok := m[n]; !ok || e.typ != typ {
				t.Errorf("%s: entry %q type %q present=%v", k, n, e.typ, ok)
			}
		}
	}
	if _, err := Hostile("nope"); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestBig(t *testing.T) {
	incomp, err := Big(BigOptions{MB: 2})
	if err != nil {
		t.Fatal(err)
	}
	semi, err := Big(BigOptions{MB: 2, Semi: true})
	if err != nil {
		t.Fatal(err)
	}
	size := func(img v1.Image) int64 {
		ls, _ := img.Layers()
		s, err := ls[0].Size()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	si, ss := size(incomp), size(semi)
	if si < 2<<20 {
		t.Errorf("incompressible layer is %d bytes, want ≥ 2 MiB", si)
	}
	if ss > si*3/4 || ss < si/4 {
		t.Errorf("semi-compressible layer %d vs incompressible %d", ss, si)
	}
	m, _ := layerEntries(t, incomp, 0)
	if len(m["big/0/0001.bin"].body) != 1<<20 {
		t.Errorf("entries %d", len(m))
	}
	seeded, _ := Big(BigOptions{MB: 2, Seed: 7})
	if digest(t, seeded) == digest(t, incomp) {
		t.Error("seed does not change the data")
	}
}

func TestMultiArch(t *testing.T) {
	idx, err := MultiArch("getty", Config{})
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Platform.Architecture != "amd64" || im.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index %+v", im.Manifests)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := idx.Image(im.Manifests[i].Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := layerEntries(t, img, 1)
		if m["etc/arch"].body != arch+"\n" {
			t.Errorf("%s image holds %q", arch, m["etc/arch"].body)
		}
	}
}

func TestTarXattrsAndParents(t *testing.T) {
	b, err := Tar(WithParents(Reg("a/b/c", "x").WithXattr("user.k", "v").WithOwner(5, 6))...)
	if err != nil {
		t.Fatal(err)
	}
	m, order := readTar(t, bytes.NewReader(b))
	if strings.Join(order, ",") != "a/,a/b/,a/b/c" {
		t.Errorf("order %v", order)
	}
	h := m["a/b/c"].hdr
	if h.PAXRecords["SCHILY.xattr.user.k"] != "v" || h.Uid != 5 || h.Gid != 6 || h.Uname != "" {
		t.Errorf("header %+v", h)
	}
}

func TestDemo(t *testing.T) {
	imgs, idxs, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"linuxkit/kernel:demo", "linuxkit/init:demo", "library/redis:demo"} {
		if imgs[k] == nil {
			t.Errorf("no %s", k)
		}
	}
	if idxs["linuxkit/getty:demo"] == nil {
		t.Error("no getty index")
	}
	cf, _ := imgs["library/redis:demo"].ConfigFile()
	if !strings.Contains(cf.Config.Labels[MobyConfigLabel], "CAP_NET_BIND_SERVICE") {
		t.Errorf("redis labels %v", cf.Config.Labels)
	}
}
