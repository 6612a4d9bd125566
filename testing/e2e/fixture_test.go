package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

// fixture is a loopback registry holding the images of the test systems.
type fixture struct {
	reg    *registry.Registry
	kernel map[string][]byte // files of the kernel image
	images map[string]v1.Image
}

// standardImages are the images every fixture serves, by repository:tag
// relative to the registry.
func standardImages(t testing.TB) map[string]v1.Image {
	t.Helper()
	must := func(img v1.Image, err error) v1.Image {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	c := func(name string, cfg imagegen.Config) v1.Image { return must(imagegen.Container(name, cfg)) }
	return map[string]v1.Image{
		"e2e/kernel:1": must(imagegen.Kernel(imagegen.KernelOptions{UCode: true, SystemMap: true})),
		"e2e/init:1": must(imagegen.Init("init",
			imagegen.Exec("init", "#!/bin/sh\nexec /sbin/init\n"),
			imagegen.Reg("etc/motd", "from init\n"),
			imagegen.Reg("etc/init-release", "NAME=init\n"),
			imagegen.Reg("etc/hostname", "kit\n"),
		)),
		"e2e/runc:1": must(imagegen.Init("runc",
			imagegen.Exec("usr/bin/runc", "#!/bin/sh\necho runc\n"),
			imagegen.Reg("etc/motd", "from runc\n"),
		)),
		"e2e/containerd:1": must(imagegen.Init("containerd",
			imagegen.Exec("usr/bin/containerd", "#!/bin/sh\necho containerd\n"),
			imagegen.Symlink("usr/bin/ctr", "containerd"),
			imagegen.Dir("var/lib/containerd"),
		)),
		"e2e/sysctl:1": c("sysctl", imagegen.Config{Entrypoint: []string{"/bin/sysctl"}, Cmd: []string{"-p"}, Env: []string{"PATH=/bin"}}),
		"e2e/dhcpcd:1": c("dhcpcd", imagegen.Config{
			Cmd:        []string{"/bin/dhcpcd"},
			MobyConfig: `{"capabilities":["CAP_NET_ADMIN","CAP_NET_RAW"],"net":"host","binds":["/var:/var"]}`,
			Files:      []imagegen.File{imagegen.Reg(".dockerenv", ""), imagegen.Reg("Dockerfile", "FROM scratch\n")},
		}),
		"e2e/getty:1": c("getty", imagegen.Config{
			Cmd: []string{"/bin/getty"}, Env: []string{"INSECURE=false", "PATH=/bin"},
			MobyConfig: `{"pid":"host","capabilities":["CAP_SYS_TTY_CONFIG"]}`,
		}),
		"e2e/sshd:1": c("sshd", imagegen.Config{Entrypoint: []string{"/bin/sshd", "-D"}, WorkingDir: "/root"}),
		"e2e/redis:1": c("redis", imagegen.Config{
			Entrypoint: []string{"/bin/redis"}, Env: []string{"PATH=/bin"}, WorkingDir: "/data",
			MobyConfig: `{"capabilities":["CAP_NET_BIND_SERVICE"],"binds":["/var/lib/redis:/data"],"rlimits":["nofile,1024,4096"],"sysctl":{"net.core.somaxconn":"1024"},"env":["PATH=/bin","REDIS_LABEL=1"]}`,
			// In archive order: a hard link follows its target.
			Files: append(imagegen.WithParents(
				imagegen.Exec("usr/bin/redis-server", "#!/bin/sh\necho redis-server\n"),
				imagegen.Exec("usr/bin/ping", "ping").WithXattr("security.capability", "\x01\x00\x00\x02\x00\x20\x00\x00"),
				imagegen.Reg(longName, "a long name\n"),
				imagegen.Symlink("usr/bin/redis-cli", "/usr/bin/redis-server"),
			), imagegen.Hardlink("usr/bin/redis-check-aof", "usr/bin/redis-server")),
		}),
		"e2e/whiteouts:1": must(whiteouts()),
		"e2e/data:1":      must(imagegen.Init("data", imagegen.Reg("seed/data.txt", "seed\n"))),
	}
}

// longName is a path of more than 100 bytes (a PAX header in tar).
var longName = "usr/share/redis/" + strings.Repeat("long-directory-name/", 6) + "file-with-a-name-longer-than-the-ustar-limit.txt"

// whiteouts returns imagegen's three-layer whiteout image.
func whiteouts() (v1.Image, error) {
	img, _, err := imagegen.Whiteouts()
	return img, err
}

// newFixture starts a registry and pushes the standard images.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	kf, err := imagegen.KernelFiles(imagegen.KernelOptions{UCode: true, SystemMap: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{reg: registry.Start(t), kernel: kf, images: standardImages(t)}
	for ref, img := range f.images {
		f.reg.Push(t, ref, img)
	}
	f.reg.Reset()
	return f
}

// spec expands $REG in text to the registry's host and writes it to
// dir/name.
func (f *fixture) spec(t testing.TB, dir, name, text string) string {
	t.Helper()
	return writeFile(t, filepath.Join(dir, name), strings.ReplaceAll(text, "$REG", f.reg.Host()))
}

// systemSpec is the full system of the layout test. $P prefixes every image
// reference (the registry host and a slash, or nothing with a mirror).
const systemSpec = `kernel:
  image: $P/e2e/kernel:1
  cmdline: "console=ttyS0 quiet"
  ucode: intel-ucode.cpio
init:
  - $P/e2e/init:1
  - $P/e2e/runc:1
  - $P/e2e/containerd:1
onboot:
  - name: sysctl
    image: $P/e2e/sysctl:1
    readonly: true
    capabilities: [CAP_SYS_ADMIN]
    net: host
  - name: dhcpcd
    image: $P/e2e/dhcpcd:1
    command: ["/bin/dhcpcd", "--nobackground", "-1"]
    binds.add: ["/run:/run"]
onshutdown:
  - name: shutdown
    image: $P/e2e/whiteouts:1
    command: ["/bin/shutdown"]
    capabilities: [all]
services:
  - name: getty
    image: $P/e2e/getty:1
    readonly: true
    uid: getty
    gid: sshd
    env: ["INSECURE=true"]
  - name: sshd
    image: $P/e2e/sshd:1
    additionalGids: [redis, 42]
    capabilities: [CAP_SETUID, CAP_SETGID, CAP_CHOWN]
    ambient: [CAP_NET_BIND_SERVICE]
    binds: ["/root/.ssh:/root/.ssh:ro"]
    tmpfs: ["/tmp:size=1m"]
    net: host
    uts: new
    rlimits: ["nofile,unlimited,unlimited"]
  - name: redis
    image: $P/e2e/redis:1
    capabilities.add: [CAP_SYS_RESOURCE]
    binds.add: ["/etc/redis:/etc/redis:ro"]
    uid: redis
    gid: redis
    pid: host
    net: /run/netns/redis
    runtime:
      mkdir: ["/var/lib/redis"]
      bindNS:
        net: /run/netns/redis
      interfaces:
        - name: eth1
          add: veth
          peer: veth-redis
          createInRoot: true
files:
  - path: etc/kit/hello
    contents: "hello\n"
    mode: "0644"
  - path: etc/kit/empty.d
    directory: true
  - path: etc/kit/link
    symlink: hello
  - path: etc/kit/source.txt
    source: host.txt
  - path: etc/kit/owned
    contents: "secret\n"
    mode: "0640"
    uid: sshd
    gid: redis
  - path: etc/kit/meta.yml
    metadata: yaml
  - path: etc/kit/meta.json
    metadata: json
  - path: opt/app/conf/app.conf
    contents: "app\n"
    mode: "0640"
    uid: 5
    gid: 6
  - path: usr/local/bin/tool
    contents: "#!/bin/sh\n"
    mode: "0700"
    uid: 5
  - path: root/.ssh/authorized_keys
    source: ~/id.pub
  - path: etc/kit/not-there
    source: /nonexistent/kit-e2e/file
    optional: true
volumes:
  - name: data
    image: $P/e2e/data:1
  - name: scratch
    readonly: true
`

// hostFile is the content of host.txt, the source of a file entry; homeKey
// is that of ~/id.pub in kit's home directory (see kitCmd).
const (
	hostFile = "from the host\n"
	homeKey  = "ssh-ed25519 AAAA e2e@kit\n"
)

// writeSystem writes the system spec (with host.txt beside it) into dir
// with image references prefixed by prefix ("" for bare names).
func writeSystem(t testing.TB, dir, name, prefix string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "host.txt"), hostFile)
	writeFile(t, filepath.Join(dir, ".home", "id.pub"), homeKey)
	text := systemSpec
	if prefix == "" {
		text = strings.ReplaceAll(text, "$P/", "")
	} else {
		text = strings.ReplaceAll(text, "$P", prefix)
	}
	return writeFile(t, filepath.Join(dir, name), text)
}

// smallSpec is a quick system for the tests that build many times.
const smallSpec = `kernel:
  image: $REG/e2e/kernel:1
  cmdline: "console=ttyS0"
  ucode: intel-ucode.cpio
init:
  - $REG/e2e/init:1
  - $REG/e2e/runc:1
onboot:
  - name: sysctl
    image: $REG/e2e/sysctl:1
    readonly: true
services:
  - name: getty
    image: $REG/e2e/getty:1
  - name: redis
    image: $REG/e2e/redis:1
    uid: redis
files:
  - path: etc/kit/hello
    contents: "hello\n"
volumes:
  - name: data
    image: $REG/e2e/data:1
`

func mkdir(t testing.TB, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
