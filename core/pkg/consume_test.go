package pkg

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	kitbuild "github.com/kitbuild/kit/core/build"
	"github.com/kitbuild/kit/core/pkg/pkgtest"
)

// TestKitBuildConsumesPackages builds a kernel, an init and a service
// package, pushes them to a loopback registry and builds a system from a
// spec that references them there, as docs/packages.md describes.
func TestKitBuildConsumesPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a whole system")
	}
	repo := pkgtest.NewRepo(t, pkgtest.Deb{Name: "linux-image-amd64", Version: "6.1", Files: []pkgtest.File{
		{Name: "./boot/vmlinuz-6.1.0-1-amd64", Body: "bzImage"},
		{Name: "./lib/modules/6.1.0-1-amd64/kernel/a.ko", Body: "module"},
	}})
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	store := newStore(t)
	pkgs := map[string]string{
		"kernel": "image: kit/kernel\nkernel: {debian: linux-image-amd64}\n",
		"init":   "image: kit/init\nfiles:\n  - {dest: /init, contents: \"#!/bin/sh\\n\", mode: \"0755\"}\n  - {dest: /etc/motd, contents: \"kit\\n\"}\n",
		"svc": "image: kit/svc\nfiles:\n  - {dest: /bin/svc, contents: x, mode: \"0755\"}\nconfig:\n  entrypoint: [/bin/svc]\n" +
			"  moby: {capabilities: [CAP_NET_BIND_SERVICE], net: host}\n",
	}
	refs := map[string]string{}
	for name, yml := range pkgs {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"pkg.yml": yml})
		b, err := build(t, dir, store, Options{Arch: "amd64", AptRoot: repo.Root})
		must(t, err)
		if _, err := Push(context.Background(), store, b.res.Digest, host+"/kit/"+name, b.res.Tag); err != nil {
			t.Fatal(err)
		}
		refs[name] = host + "/kit/" + name + ":" + b.res.Tag
	}
	work := t.TempDir()
	spec := "kernel:\n  image: " + refs["kernel"] + "\n  cmdline: console=ttyS0\ninit:\n  - " + refs["init"] +
		"\nservices:\n  - name: svc\n    image: " + refs["svc"] + "\n"
	writeFiles(t, work, map[string]string{"sys.yml": spec})
	_, err := kitbuild.Run(context.Background(), kitbuild.Options{
		Specs: []string{filepath.Join(work, "sys.yml")}, Formats: []string{"tar"}, OutDir: work,
		CacheDir: t.TempDir(), Arch: "amd64",
	})
	must(t, err)
	f, err := os.Open(filepath.Join(work, "sys.tar"))
	must(t, err)
	defer f.Close()
	files := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	for _, want := range []string{"init", "etc/motd", "boot/kernel", "containers/services/svc/config.json", "containers/services/svc/lower/bin/svc"} {
		if _, ok := files[want]; !ok {
			t.Errorf("system tar has no %s; it has %v", want, pkgtest.SortedKeys(files))
		}
	}
	cfg := files["containers/services/svc/config.json"]
	if !strings.Contains(cfg, "CAP_NET_BIND_SERVICE") || !strings.Contains(cfg, `"/bin/svc"`) {
		t.Errorf("the service's runtime config does not follow the package's label and entrypoint: %s", cfg)
	}
}
