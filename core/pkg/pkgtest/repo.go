package pkgtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// File is an entry of a fake package's data.tar.
type File struct {
	Name, Body, Link string
	Type             byte
	Mode             int64
}

// Deb is a synthetic binary package.
type Deb struct {
	Name, Version, Depends string
	Files                  []File
}

// HexSum returns the hex SHA256 of b.
func HexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (d Deb) control() string {
	s := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: test\n", d.Name, d.Version)
	if d.Depends != "" {
		s += "Depends: " + d.Depends + "\n"
	}
	return s
}

func tarOf(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Link, Uname: "root", Gname: "root", ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.Body))
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func (d Deb) build(t testing.TB) []byte {
	t.Helper()
	ctl := tarOf(t, []File{{Name: "./", Type: tar.TypeDir, Mode: 0o755}, {Name: "./control", Body: d.control() + "Description: test\n"}, {Name: "./postinst", Body: "#!/bin/sh\nexit 1\n", Mode: 0o755}})
	var buf bytes.Buffer
	buf.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", gz(ctl)}, {"data.tar.gz", gz(tarOf(t, d.Files))}} {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.name, 1700000000, 0, 0, 0o100644, len(m.data))
		buf.Write(m.data)
		if len(m.data)%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// Repo is a signed apt repository on 127.0.0.1 and an apt root whose
// configuration points at it.
type Repo struct {
	srv *httptest.Server
	// Root is an apt root (for --apt-root, Options.AptRoot) whose only
	// source is the repository, signed by a key of its own.
	Root  string
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

// NewRepo serves debs as a signed apt repository on 127.0.0.1 until the
// test ends.
func NewRepo(t testing.TB, debs ...Deb) *Repo {
	t.Helper()
	e, err := openpgp.NewEntity("test", "", "test@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var arm bytes.Buffer
	aw, _ := armor.Encode(&arm, openpgp.PublicKeyType, nil)
	e.Serialize(aw)
	aw.Close()
	r := &Repo{files: map[string][]byte{}, hits: map[string]int{}}
	var pk strings.Builder
	for _, d := range debs {
		b := d.build(t)
		fn := fmt.Sprintf("pool/main/%s_%s_amd64.deb", d.Name, d.Version)
		r.files[fn] = b
		fmt.Fprintf(&pk, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", d.control(), fn, len(b), HexSum(b))
	}
	idx := []byte(pk.String())
	r.files["dists/test/main/binary-amd64/Packages"] = idx
	rel := fmt.Sprintf("Origin: Test\nSuite: test\nCodename: test\nDate: %s\nArchitectures: amd64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages\n",
		time.Now().UTC().Format(time.RFC1123), HexSum(idx), len(idx))
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(rel))
	w.Close()
	r.files["dists/test/InRelease"] = signed.Bytes()
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
	}))
	t.Cleanup(r.srv.Close)
	r.Root = t.TempDir()
	must(t, os.MkdirAll(filepath.Join(r.Root, "etc/apt/sources.list.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(r.Root, "key.asc"), arm.Bytes(), 0o644))
	must(t, os.WriteFile(filepath.Join(r.Root, "etc/apt/sources.list.d/test.sources"),
		[]byte("Types: deb\nURIs: "+r.srv.URL+"/debian\nSuites: test\nComponents: main\nSigned-By: /key.asc\n"), 0o644))
	return r
}

// Tamper replaces the bytes served for the .deb of name with other bytes
// of the same size.
func (r *Repo) Tamper(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, b := range r.files {
		if strings.HasPrefix(p, "pool/main/"+name+"_") {
			c := bytes.Clone(b)
			c[len(c)-1] ^= 0xff
			r.files[p] = c
		}
	}
}

// IndexHits counts the requests for repository indexes.
func (r *Repo) IndexHits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p, c := range r.hits {
		if strings.HasPrefix(p, "dists/") {
			n += c
		}
	}
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
