package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// testKey is an OpenPGP key generated in-process.
type testKey struct {
	entity  *openpgp.Entity
	binary  []byte // public keyring, binary (.gpg)
	armored []byte // public keyring, armored (.asc)
}

func newTestKey(t testing.TB, name string) *testKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var bin, arm bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	aw, err := armor.Encode(&arm, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	return &testKey{entity: e, binary: bin.Bytes(), armored: arm.Bytes()}
}

func (k *testKey) keyring(t testing.TB) openpgp.EntityList {
	t.Helper()
	el, err := ParseKeyring(k.binary)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func clearsignText(t testing.TB, k *testKey, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, k.entity.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarEntry is one entry of a synthetic tar.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func buildTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Uname: "root", Gname: "root", ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t testing.TB, kind string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "":
		return b
	case ".gz":
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case ".xz":
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	case ".zst":
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
	default:
		t.Fatalf("compression %q", kind)
	}
	return buf.Bytes()
}

type arMember struct {
	name string
	data []byte
}

func buildAr(members ...arMember) []byte {
	var buf bytes.Buffer
	buf.WriteString(arMagic)
	for _, m := range members {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.name, 1700000000, 0, 0, 0o100644, len(m.data))
		buf.Write(m.data)
		if len(m.data)%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// testDeb describes a synthetic binary package.
type testDeb struct {
	name, version, arch string
	fields              string // extra control lines ("Depends: x\n")
	files               []tarEntry
	conffiles           string
	comp                string // data.tar compression
}

func (d testDeb) control() string {
	arch := d.arch
	if arch == "" {
		arch = "amd64"
	}
	return fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: test\n%sDescription: test package\n long\n", d.name, d.version, arch, d.fields)
}

func (d testDeb) build(t testing.TB) []byte {
	t.Helper()
	ctl := []tarEntry{{name: "./", typ: tar.TypeDir, mode: 0o755}, {name: "./control", body: d.control()}, {name: "./postinst", body: "#!/bin/sh\nexit 1\n", mode: 0o755}}
	if d.conffiles != "" {
		ctl = append(ctl, tarEntry{name: "./conffiles", body: d.conffiles})
	}
	files := d.files
	if files == nil {
		files = []tarEntry{{name: "./", typ: tar.TypeDir, mode: 0o755}, {name: "./usr/", typ: tar.TypeDir, mode: 0o755}, {name: "./usr/share/", typ: tar.TypeDir, mode: 0o755},
			{name: "./usr/share/" + d.name, body: d.name + " " + d.version + "\n"}}
	}
	return buildAr(
		arMember{"debian-binary", []byte("2.0\n")},
		arMember{"control.tar.gz", compress(t, ".gz", buildTar(t, ctl))},
		arMember{"data.tar" + d.comp, compress(t, d.comp, buildTar(t, files))},
	)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// testRepo is a signed apt repository served over HTTP on 127.0.0.1.
type testRepo struct {
	srv   *httptest.Server
	key   *testKey
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	debs  map[string][]byte // name → .deb bytes
}

type repoOptions struct {
	suite      string
	validUntil time.Time
	indexComp  string // ".xz" (default), ".gz", "none"
}

func newTestRepo(t testing.TB, key *testKey, debs []testDeb, opt repoOptions) *testRepo {
	t.Helper()
	if opt.suite == "" {
		opt.suite = "stable"
	}
	if opt.indexComp == "" {
		opt.indexComp = ".xz"
	}
	r := &testRepo{key: key, files: map[string][]byte{}, hits: map[string]int{}, debs: map[string][]byte{}}
	var pk strings.Builder
	for _, d := range debs {
		b := d.build(t)
		arch := d.arch
		if arch == "" {
			arch = "amd64"
		}
		fn := fmt.Sprintf("pool/main/%c/%s/%s_%s_%s.deb", d.name[0], d.name, d.name, d.version, arch)
		r.files[fn] = b
		r.debs[d.name+"="+d.version] = b
		fmt.Fprintf(&pk, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", strings.TrimSuffix(d.control(), "Description: test package\n long\n"), fn, len(b), sha256Hex(b))
	}
	plain := []byte(pk.String())
	dir := "dists/" + opt.suite + "/"
	index := map[string][]byte{}
	if opt.indexComp == "none" {
		index["main/binary-amd64/Packages"] = plain
	} else {
		index["main/binary-amd64/Packages"+opt.indexComp] = compress(t, opt.indexComp, plain)
	}
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: Test\nSuite: %s\nCodename: %s\nDate: %s\n", opt.suite, opt.suite, time.Now().UTC().Format(time.RFC1123))
	if !opt.validUntil.IsZero() {
		fmt.Fprintf(&rel, "Valid-Until: %s\n", opt.validUntil.UTC().Format(time.RFC1123))
	}
	rel.WriteString("Architectures: amd64\nComponents: main\nSHA256:\n")
	var names []string
	for n := range index {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&rel, " %s %d %s\n", sha256Hex(index[n]), len(index[n]), n)
		r.files[dir+n] = index[n]
	}
	r.files[dir+"InRelease"] = clearsignText(t, key, rel.String())
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testRepo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	p := strings.TrimPrefix(req.URL.Path, "/debian/")
	b, ok := r.files[p]
	r.hits[p]++
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Write(b)
}

// URI is the repository's base URI.
func (r *testRepo) URI() string { return r.srv.URL + "/debian" }

func (r *testRepo) set(path string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b == nil {
		delete(r.files, path)
		return
	}
	r.files[path] = b
}

func (r *testRepo) get(path string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[path]
}

func (r *testRepo) hit(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}
