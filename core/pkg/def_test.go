package pkg

import (
	"errors"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/spec"
)

func TestDecode(t *testing.T) {
	d, err := Decode("p/pkg.yml", []byte(testPkg))
	if err != nil {
		t.Fatal(err)
	}
	if d.Image != "kit/test" || d.Dir != "p" || len(d.Debian.Packages) != 1 || d.Debian.ExcludePaths[0] != "/usr/share/doc" {
		t.Errorf("decoded %+v", d)
	}
	if len(d.Go) != 1 || d.Go[0].Main != "./cmd/hello" || d.Go[0].Dest != "/usr/bin/hello" || d.Go[0].Pos.String() != "p/pkg.yml:6:5" {
		t.Errorf("go %+v", d.Go)
	}
	if len(d.Files) != 5 {
		t.Fatalf("files %+v", d.Files)
	}
	dir := d.Files[2]
	if dir.Kind != FileDir || dir.Dest != "/var/lib/x" || dir.UID != 100 || dir.GID != 101 || dir.Mode == nil || *dir.Mode != 0o700 {
		t.Errorf("dir entry %+v", dir)
	}
	if l := d.Files[3]; l.Kind != FileSymlink || l.Target != "busybox" {
		t.Errorf("symlink entry %+v", l)
	}
	if c := d.Files[4]; c.Contents == nil || *c.Contents != "inline\n" {
		t.Errorf("contents entry %+v", c)
	}
	if string(d.Config.Moby) != `{"capabilities":["CAP_NET_ADMIN"],"net":"host"}` || d.Config.Env[0] != "A=b" {
		t.Errorf("config %+v", d.Config)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "f.yml:1:1: empty package definition"},
		{"null", "~\n", "f.yml:1:1: empty package definition"},
		{"syntax", "image: [\n", "f.yml:1: invalid YAML"},
		{"two documents", "image: a\nfiles: [{dir: /x}]\n---\nimage: b\n", "f.yml:3:1: a package definition holds one YAML document"},
		{"not a mapping", "- a\n", "f.yml:1:1: package: want a mapping, got a list"},
		{"unknown key", "image: a\nfiles: [{dir: /x}]\nimages: b\n", "f.yml:3:1: package: unknown key \"images\""},
		{"duplicate key", "image: a\nimage: b\nfiles: [{dir: /x}]\n", "f.yml:2:1: package: duplicate key \"image\""},
		{"missing image", "files: [{dir: /x}]\n", "f.yml:1:1: package: missing `image`"},
		{"bad image", "image: Kit/Redis:1\nfiles: [{dir: /x}]\n", "f.yml:1:8: image: \"Kit/Redis:1\" is not a repository name"},
		{"no content", "image: a\n", "f.yml:1:1: package: no content"},
		{"image number", "image: 7\nfiles: [{dir: /x}]\n", "f.yml:1:8: image: want a string, got the number 7"},
		{"debian without packages", "image: a\ndebian: {exclude-paths: [/usr]}\n", "f.yml:2:1: debian: want at least one package"},
		{"debian bad package", "image: a\ndebian: {packages: [\"a | b\"]}\n", "f.yml:2:21: debian.packages[0]: \"a | b\" is not a package name"},
		{"debian unknown key", "image: a\ndebian: {packages: [a], exclude: [/x]}\n", "f.yml:2:25: debian: unknown key \"exclude\" (known: exclude-paths, packages)"},
		{"exclude relative", "image: a\ndebian: {packages: [a], exclude-paths: [usr/share]}\n", "f.yml:2:41: debian.exclude-paths[0]: want a clean absolute path"},
		{"kernel empty", "image: a\nkernel: {}\n", "f.yml:2:1: kernel: want the Debian kernel package"},
		{"go not a list", "image: a\ngo: {main: x}\n", "f.yml:2:5: go: want a list of {main, dest}"},
		{"go missing dest", "image: a\ngo: [{main: ./cmd/x}]\n", "f.yml:2:6: go[0]: want both main and dest"},
		{"go dest unclean", "image: a\ngo: [{main: ./x, dest: /bin/../x}]\n", "f.yml:2:24: go[0].dest: want a clean absolute path"},
		{"file two kinds", "image: a\nfiles: [{dest: /x, dir: /y}]\n", "f.yml:2:9: files[0]: want exactly one of dest (a file), dir or symlink"},
		{"file no source", "image: a\nfiles: [{dest: /x}]\n", "f.yml:2:9: files[0]: a file wants exactly one of src or contents"},
		{"file src outside", "image: a\nfiles: [{dest: /x, src: ../etc/passwd}]\n", "f.yml:2:25: files[0].src: \"../etc/passwd\" must be a path inside the package directory"},
		{"file src absolute", "image: a\nfiles: [{dest: /x, src: /etc/passwd}]\n", "must be a path inside the package directory"},
		{"mode unquoted", "image: a\nfiles: [{dir: /x, mode: 0755}]\n", "f.yml:2:25: files[0].mode: want a string, got the number 0755"},
		{"mode bad", "image: a\nfiles: [{dir: /x, mode: \"0999\"}]\n", "files[0].mode: mode \"0999\" is not an octal number"},
		{"uid string", "image: a\nfiles: [{dir: /x, uid: root}]\n", "f.yml:2:24: files[0].uid: want a number, got the string \"root\""},
		{"uid negative", "image: a\nfiles: [{dir: /x, uid: -1}]\n", "files[0].uid: want a number from 0 to 4294967295"},
		{"symlink without target", "image: a\nfiles: [{symlink: /x}]\n", "files[0]: a symlink wants a target"},
		{"dir with src", "image: a\nfiles: [{dir: /x, src: y}]\n", "files[0]: a dir entry takes only mode, uid and gid"},
		{"root dest", "image: a\nfiles: [{dir: /}]\n", "files[0].dir: want a clean absolute path below /"},
		{"duplicate dest", "image: a\nfiles: [{dir: /x}, {symlink: /x, target: y}]\n", "f.yml:2:20: /x is already given at f.yml:2:9"},
		{"go and file same dest", "image: a\ngo: [{main: ./m, dest: /init}]\nfiles: [{dest: /init, contents: x}]\n", "/init is already given at f.yml:2:6"},
		{"env without =", "image: a\nfiles: [{dir: /x}]\nconfig: {env: [FOO]}\n", "f.yml:3:16: config.env[0]: want KEY=value"},
		{"entrypoint string", "image: a\nfiles: [{dir: /x}]\nconfig: {entrypoint: /bin/sh}\n", "config.entrypoint: want a list of strings, got the string \"/bin/sh\""},
		{"labels moby key", "image: a\nfiles: [{dir: /x}]\nconfig: {labels: {org.mobyproject.config: x}}\n", "config.labels: set org.mobyproject.config with config.moby"},
		{"moby unknown key", "image: a\nfiles: [{dir: /x}]\nconfig:\n  moby: {capabilties: [all]}\n", "f.yml:4:9: config.moby:"},
		{"moby bad type", "image: a\nfiles: [{dir: /x}]\nconfig:\n  moby: {net: [host]}\n", "f.yml:4:9: config.moby:"},
		{"moby sets image", "image: a\nfiles: [{dir: /x}]\nconfig:\n  moby: {image: x}\n", "f.yml:4:9: config.moby:"},
		{"config unknown", "image: a\nfiles: [{dir: /x}]\nconfig: {cwd: /}\n", "config: unknown key \"cwd\""},
		{"alias loop", "image: a\nfiles: &x [*x]\n", "f.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("f.yml", []byte(tt.in))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			var list spec.Errors
			if !errors.As(err, &list) {
				t.Errorf("error is %T, want spec.Errors", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestDecodeAliases(t *testing.T) {
	in := "image: a\nx: &caps [CAP_A]\n"
	if _, err := Decode("f.yml", []byte(in)); err == nil {
		t.Error("an unknown top-level key used as an anchor holder was accepted")
	}
	in = "image: a\nfiles:\n  - &d {dir: /x}\n  - {symlink: /y, target: x}\nconfig: {entrypoint: &e [/init], cmd: *e}\n"
	d, err := Decode("f.yml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Config.Cmd, " ") != "/init" {
		t.Errorf("alias not followed: %+v", d.Config)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(testPkg))
	f.Add([]byte("image: a\nfiles: &x [*x]\n"))
	f.Add([]byte("image: a\nkernel: {debian: linux-image-amd64}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode("f.yml", b)
		if err == nil && (d.Image == "" || (d.Debian == nil && d.Kernel == nil && len(d.Go) == 0 && len(d.Files) == 0)) {
			t.Errorf("accepted a definition without image or content: %q", b)
		}
	})
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte(`{"version":1,"arch":{"amd64":{"debian":{"requests":["a"],"packages":[]}}}}`))
	f.Add([]byte(`{"version":1,"arch":{"amd64":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLock(b)
		if err != nil {
			return
		}
		out, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		l2, err := ParseLock(out)
		if err != nil {
			t.Fatalf("re-parsing the marshalled lock: %v", err)
		}
		out2, _ := l2.Marshal()
		if string(out) != string(out2) {
			t.Errorf("marshal is not stable")
		}
	})
}
