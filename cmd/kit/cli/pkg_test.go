package cli

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kitbuild/kit/core/pkg/pkgtest"
	"github.com/kitbuild/kit/core/steps/fetch"
)

func TestPkgCommands(t *testing.T) {
	dir := t.TempDir()
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pkg.yml"), []byte("image: kit/cli-test\nfiles:\n  - {dest: /etc/motd, contents: \"hi\\n\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		root := newRoot(&out, &errOut)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	tag, err := run("pkg", "show-tag", "--cache", cache, dir)
	if err != nil {
		t.Fatal(err)
	}
	tag = strings.TrimSpace(tag)
	if !strings.HasPrefix(tag, "kit/cli-test:") {
		t.Fatalf("show-tag printed %q", tag)
	}
	out, err := run("pkg", "build", "--cache", cache, "--progress", "plain", dir)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(strings.TrimSpace(out), "\t")
	if len(fields) != 3 || fields[0] != tag || !strings.HasPrefix(fields[1], "sha256:") {
		t.Fatalf("build printed %q, want %s<TAB>digest<TAB>size", out, tag)
	}
	// another epoch: another tag and digest
	out2, err := run("pkg", "build", "--cache", cache, "--progress", "plain", "--source-date-epoch", "86400", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Split(out2, "\t")[1] == fields[1] {
		t.Errorf("SOURCE_DATE_EPOCH did not change the digest")
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pkg", "build", "--source-date-epoch", "yesterday", dir}, `SOURCE_DATE_EPOCH "yesterday"`},
		{[]string{"pkg", "build", "--cache", cache, "--arch", "mips", dir}, `arch "mips": want amd64 or arm64`},
		{[]string{"pkg", "build", "--update-lock", "--locked", dir}, "contradict"},
		{[]string{"pkg", "build", "--cache", cache, filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"pkg", "build"}, "requires at least 1 arg"},
		{[]string{"pkg", "build", "--push", "127.0.0.1:1/x", dir, dir}, "--push names one image"},
		{[]string{"pkg", "build", "--push", "127.0.0.1:1/x", "--registry", "127.0.0.1:1", dir}, "not both"},
		{[]string{"pkg", "build", "--cache", cache, "--push", "127.0.0.1:1/kit/x", dir}, "push 127.0.0.1:1/kit/x:"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestPkgBuildRefusesTamperedDeb(t *testing.T) {
	repo := pkgtest.NewRepo(t, pkgtest.Deb{Name: "hello", Version: "1.0", Files: []pkgtest.File{{Name: "./usr/bin/hello", Body: "x"}}})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pkg.yml"), []byte("image: kit/hello\ndebian:\n  packages: [hello]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo.Tamper("hello")
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs([]string{"pkg", "build", "--cache", t.TempDir(), "--apt-root", repo.Root, "--progress", "plain", dir})
	err := root.Execute()
	if err == nil {
		t.Fatalf("a tampered .deb was accepted: %s", out.String())
	}
	for _, want := range []string{"package hello 1.0", "sha256 mismatch", "checksum mismatch", "/pool/main/hello_1.0_amd64.deb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("a failed build printed %q", out.String())
	}
}

func TestPkgBuildRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	var dirs []string
	for _, name := range []string{"a", "b"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pkg.yml"), []byte("image: kit/"+name+"\nfiles:\n  - {dest: /"+name+", contents: x}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(append([]string{"pkg", "build", "--cache", t.TempDir(), "--progress", "plain", "--registry", host}, dirs...))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("output %q", out.String())
	}
	for i, name := range []string{"a", "b"} {
		ref, digest, _ := strings.Cut(lines[2*i], "\t")
		digest, _, _ = strings.Cut(digest, "\t")
		if lines[2*i+1] != "pushed "+host+"/kit/"+name+"@"+digest {
			t.Errorf("line %q after %q", lines[2*i+1], lines[2*i])
		}
		r, err := fetch.ParseRef(host + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatalf("%s not in the registry: %v", r, err)
		}
		if desc.Digest.String() != digest {
			t.Errorf("%s: registry has %s, built %s", r, desc.Digest, digest)
		}
	}
}
