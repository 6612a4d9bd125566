package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kitbuild/kit/testing/imagegen"
)

// ids are the ids LinuxKit gives container names: one per entry, from 100
// in the order onboot, onshutdown, services.
var ids = map[string]int{"sysctl": 100, "dhcpcd": 101, "shutdown": 102, "getty": 103, "sshd": 104, "redis": 105}

// containers are the directories of the system's containers and whether
// each is read-only.
var containers = []struct {
	dir, name string
	readonly  bool
}{
	{"containers/onboot/000-sysctl", "sysctl", true},
	{"containers/onboot/001-dhcpcd", "dhcpcd", false},
	{"containers/onshutdown/000-shutdown", "shutdown", false},
	{"containers/services/getty", "getty", true},
	{"containers/services/sshd", "sshd", false},
	{"containers/services/redis", "redis", false},
}

// TestLayout builds the full system as a tar and as kernel+initrd and
// checks the root filesystem layout, every container's OCI config and
// runtime config, the kernel, the command line and the initrd.
func TestLayout(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	specPath := writeSystem(t, dir, "system.yml", "")
	r := mustKit(t, dir, "build", "--mirror", "docker.io="+f.reg.URL(), "--cache", filepath.Join(dir, "cache"),
		"-f", "tar", "-f", "kernel+initrd", "-o", "out", "--name", "sys", "--progress=json", specPath)
	out := filepath.Join(dir, "out")
	got := digests(t, out)
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"sys-cmdline", "sys-initrd.img", "sys-kernel", "sys.tar"}; !slices.Equal(names, want) {
		t.Fatalf("outputs %v, want %v\n%s", names, want, r)
	}

	m, order := readTar(t, filepath.Join(out, "sys.tar"))
	golden(t, "layout.txt", []byte(listing(m, order)))

	// GNU tar reads the same entries.
	tarNames := lines(tool(t, nil, "tar", "-tf", filepath.Join(out, "sys.tar")))
	for i := range tarNames {
		tarNames[i] = strings.TrimSuffix(tarNames[i], "/")
	}
	if !slices.Equal(tarNames, order) {
		t.Errorf("tar -t lists %d entries, archive/tar %d:\n%s", len(tarNames), len(order), lineDiff(strings.Join(order, "\n"), strings.Join(tarNames, "\n")))
	}

	t.Run("rootfs", func(t *testing.T) { checkRootfs(t, f, m) })
	t.Run("containers", func(t *testing.T) { checkContainers(t, m) })
	t.Run("kernel+initrd", func(t *testing.T) { checkKernelInitrd(t, f, out, order) })
}

func checkRootfs(t *testing.T, f *fixture, m map[string]*entry) {
	body := func(name string) string {
		e, ok := m[name]
		if !ok {
			return "<missing>"
		}
		return string(e.body)
	}
	for name, want := range map[string]string{
		"boot/kernel":     string(f.kernel["kernel"]),
		"boot/cmdline":    "console=ttyS0 quiet",
		"boot/ucode.cpio": string(f.kernel["intel-ucode.cpio"]),
		// init images in order: the later one wins.
		"etc/motd":         "from runc\n",
		"etc/init-release": "NAME=init\n",
		"lib/modules/6.6.13-linuxkit/modules.dep":     "kernel/drivers/net/dummy.ko:\nkernel/fs/kitfs.ko:\n",
		"containers/volumes/data/lower/seed/data.txt": "seed\n",
		"etc/kit/hello":             "hello\n",
		"etc/kit/source.txt":        hostFile,
		"etc/kit/owned":             "secret\n",
		"root/.ssh/authorized_keys": homeKey,
		"opt/app/conf/app.conf":     "app\n",
	} {
		if got := body(name); got != want {
			t.Errorf("%s = %.80q, want %.80q", name, got, want)
		}
	}
	for _, gone := range []string{"etc/hostname", "System.map", "etc/kit/not-there", "boot/System.map", "kernel.tar",
		"containers/onboot/001-dhcpcd/lower/.dockerenv", "containers/onboot/001-dhcpcd/lower/Dockerfile",
		"containers/onboot/001-dhcpcd/lower/etc/hostname"} {
		if _, ok := m[gone]; ok {
			t.Errorf("%s is in the root filesystem", gone)
		}
	}
	type want struct {
		typ      byte
		mode     int64
		uid, gid int
		link     string
	}
	for name, w := range map[string]want{
		"etc/kit/hello":                  {tar.TypeReg, 0o644, 0, 0, ""},
		"etc/kit/empty.d":                {tar.TypeDir, 0o700, 0, 0, ""},
		"etc/kit/link":                   {tar.TypeSymlink, 0o600, 0, 0, "hello"},
		"etc/kit/source.txt":             {tar.TypeReg, 0o600, 0, 0, ""},
		"etc/kit/owned":                  {tar.TypeReg, 0o640, ids["sshd"], ids["redis"], ""},
		"etc/resolv.conf":                {tar.TypeSymlink, 0o777, 0, 0, "/run/resolvconf/resolv.conf"},
		"usr/bin/ctr":                    {tar.TypeSymlink, 0o777, 0, 0, "containerd"},
		"containers/volumes/scratch/tmp": {tar.TypeDir, 0o755, 0, 0, ""},
		// Missing parents take the entry's owner and its mode plus x bits;
		// existing ones (usr from an init image) are kept.
		"opt":                       {tar.TypeDir, 0o750, 5, 6, ""},
		"opt/app/conf":              {tar.TypeDir, 0o750, 5, 6, ""},
		"opt/app/conf/app.conf":     {tar.TypeReg, 0o640, 5, 6, ""},
		"usr":                       {tar.TypeDir, 0o755, 0, 0, ""},
		"usr/local":                 {tar.TypeDir, 0o700, 5, 0, ""},
		"usr/local/bin/tool":        {tar.TypeReg, 0o700, 5, 0, ""},
		"root":                      {tar.TypeDir, 0o700, 0, 0, ""},
		"root/.ssh/authorized_keys": {tar.TypeReg, 0o600, 0, 0, ""},
	} {
		e, ok := m[name]
		if !ok {
			t.Errorf("%s is missing", name)
			continue
		}
		h := e.hdr
		if h.Typeflag != w.typ || h.Mode&0o7777 != w.mode || h.Uid != w.uid || h.Gid != w.gid || h.Linkname != w.link {
			t.Errorf("%s: type %q mode %04o owner %d:%d link %q; want %q %04o %d:%d %q", name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, w.typ, w.mode, w.uid, w.gid, w.link)
		}
	}
	// The whiteout image flattens as go-containerregistry flattens it.
	_, wantWh, _ := imagegen.Whiteouts()
	const wroot = "containers/onshutdown/000-shutdown/lower/"
	for n, w := range wantWh {
		e, ok := m[wroot+n]
		switch {
		case !ok:
			t.Errorf("%s%s is missing", wroot, n)
		case w == imagegen.DirMarker && e.hdr.Typeflag != tar.TypeDir, w != imagegen.DirMarker && string(e.body) != w:
			t.Errorf("%s%s = %q (type %q), want %q", wroot, n, e.body, e.hdr.Typeflag, w)
		}
	}
	for _, gone := range []string{"keep", "opt/x", "opt/sub", "opt/sub/y", "etc/.wh.a", ".wh.keep", "opt/.wh..wh..opq"} {
		if _, ok := m[wroot+gone]; ok {
			t.Errorf("%s%s survived its whiteout", wroot, gone)
		}
	}
	// Hard links point at the prefixed target, which precedes them; xattrs,
	// long names and absolute symlinks survive.
	const rroot = "containers/services/redis/lower/"
	// (The data goes with whichever name sorts first.)
	if data, link := m[rroot+"usr/bin/redis-check-aof"], m[rroot+"usr/bin/redis-server"]; data == nil || link == nil ||
		data.hdr.Typeflag != tar.TypeReg || string(data.body) != "#!/bin/sh\necho redis-server\n" ||
		link.hdr.Typeflag != tar.TypeLink || link.hdr.Linkname != rroot+"usr/bin/redis-check-aof" {
		t.Errorf("redis-server and its hard link redis-check-aof: %+v, %+v", data, link)
	}
	if e := m[rroot+"usr/bin/ping"]; e == nil || e.hdr.PAXRecords["SCHILY.xattr.security.capability"] != "\x01\x00\x00\x02\x00\x20\x00\x00" {
		t.Errorf("usr/bin/ping lost its security.capability xattr: %+v", e)
	}
	if e := m[rroot+longName]; e == nil || string(e.body) != "a long name\n" {
		t.Errorf("the long name %s is missing", longName)
	}
	if e := m[rroot+"usr/bin/redis-cli"]; e == nil || e.hdr.Linkname != "/usr/bin/redis-server" {
		t.Errorf("redis-cli: %+v, want a symlink to /usr/bin/redis-server", e)
	}

	// The metadata files hold the resolved spec: both say the same.
	var meta, metaJSON map[string]any
	if err := yaml.Unmarshal(m["etc/kit/meta.yml"].body, &meta); err != nil {
		t.Errorf("etc/kit/meta.yml: %v", err)
	} else if k, _ := meta["kernel"].(map[string]any); k == nil || k["image"] != "e2e/kernel:1" {
		t.Errorf("etc/kit/meta.yml: kernel %v", meta["kernel"])
	}
	if err := json.Unmarshal(m["etc/kit/meta.json"].body, &metaJSON); err != nil {
		t.Errorf("etc/kit/meta.json: %v", err)
	} else if a, b := fmt.Sprint(meta), fmt.Sprint(metaJSON); a != b {
		t.Errorf("meta.yml and meta.json differ:\n%s\n%s", a, b)
	}

	// The containers, volumes and nothing else under containers/.
	var top []string
	for n := range m {
		if p := strings.Split(n, "/"); len(p) == 3 && p[0] == "containers" {
			top = append(top, n)
		}
	}
	slices.Sort(top)
	wantTop := []string{"containers/onboot/000-sysctl", "containers/onboot/001-dhcpcd", "containers/onshutdown/000-shutdown", "containers/services/getty",
		"containers/services/redis", "containers/services/sshd", "containers/volumes/data", "containers/volumes/scratch"}
	if !slices.Equal(top, wantTop) {
		t.Errorf("containers/*/* = %v, want %v", top, wantTop)
	}
	for _, v := range []string{"data", "scratch"} {
		for _, sub := range []string{"lower", "tmp", "merged"} {
			if e, ok := m["containers/volumes/"+v+"/"+sub]; !ok || e.hdr.Typeflag != tar.TypeDir {
				t.Errorf("volume %s has no %s/ directory", v, sub)
			}
		}
	}
	for _, c := range containers {
		children := map[string]bool{}
		var rootfsKids int
		for n := range m {
			rest, ok := strings.CutPrefix(n, c.dir+"/")
			if !ok {
				continue
			}
			first, _, deeper := strings.Cut(rest, "/")
			if !deeper {
				children[first] = true
			}
			if first == "rootfs" && deeper {
				rootfsKids++
			}
		}
		var got []string
		for k := range children {
			got = append(got, k)
		}
		slices.Sort(got)
		want := []string{"config.json", "lower", "rootfs", "runtime.json", "tmp"}
		tree := "lower"
		if c.readonly {
			want = []string{"config.json", "rootfs", "runtime.json"}
			tree = "rootfs"
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", c.dir, got, want)
		}
		if !c.readonly && rootfsKids != 0 {
			t.Errorf("%s/rootfs (the overlay mount point) holds %d entries", c.dir, rootfsKids)
		}
		if e, ok := m[c.dir+"/"+tree+"/bin/"+c.name]; c.name != "shutdown" && (!ok || e.hdr.Mode&0o111 == 0) {
			t.Errorf("%s/%s/bin/%s is missing or not executable", c.dir, tree, c.name)
		}
		if body := string(m[c.dir+"/"+tree+"/etc/hosts"].body); !strings.HasPrefix(body, "127.0.0.1") {
			t.Errorf("%s/%s/etc/hosts = %q, want the fixed localhost file", c.dir, tree, body)
		}
		for _, d := range []string{"dev", "dev/pts", "dev/shm", "proc", "sys"} {
			if e, ok := m[c.dir+"/"+tree+"/"+d]; !ok || e.hdr.Typeflag != tar.TypeDir {
				t.Errorf("%s/%s/%s is not a directory", c.dir, tree, d)
			}
		}
	}
}

func checkContainers(t *testing.T, m map[string]*entry) {
	docs := map[string]any{}
	for _, c := range containers {
		for _, f := range []string{"config.json", "runtime.json"} {
			e, ok := m[c.dir+"/"+f]
			if !ok {
				t.Errorf("%s/%s is missing", c.dir, f)
				continue
			}
			goldenJSON(t, "containers/"+strings.TrimPrefix(c.dir, "containers/")+"/"+f, e.body)
			doc, err := decodeJSON(e.body)
			if err != nil {
				t.Errorf("%s/%s: %v", c.dir, f, err)
				continue
			}
			docs[c.name+"/"+f] = doc
		}
	}
	// The facts behind the golden files, so that a wrong golden file cannot
	// hide them.
	for _, tc := range []struct{ doc, path, want string }{
		{"sysctl/config.json", "root.readonly", `true`},
		{"sysctl/config.json", "process.args", `["/bin/sysctl","-p"]`},
		{"sysctl/config.json", "process.capabilities.effective", `["CAP_SYS_ADMIN"]`},
		{"sysctl/config.json", "process.cwd", `"/"`},
		{"dhcpcd/config.json", "root.readonly", `<missing>`},
		{"dhcpcd/config.json", "process.args", `["/bin/dhcpcd","--nobackground","-1"]`},
		// label capabilities; label binds plus the spec's binds.add.
		{"dhcpcd/config.json", "process.capabilities.bounding", `["CAP_NET_ADMIN","CAP_NET_RAW"]`},
		{"getty/config.json", "process.user", `{"gid":104,"uid":103}`},
		{"getty/config.json", "process.env", `["INSECURE=true"]`},
		{"getty/config.json", "process.capabilities.permitted", `["CAP_SYS_TTY_CONFIG"]`},
		{"sshd/config.json", "process.user", `{"additionalGids":[105,42],"gid":0,"uid":0}`},
		{"sshd/config.json", "process.args", `["/bin/sshd","-D"]`},
		{"sshd/config.json", "process.cwd", `"/root"`},
		{"sshd/config.json", "process.capabilities", `{"ambient":["CAP_NET_BIND_SERVICE"],"bounding":["CAP_CHOWN","CAP_NET_BIND_SERVICE","CAP_SETGID","CAP_SETUID"],"effective":["CAP_CHOWN","CAP_SETGID","CAP_SETUID"],"inheritable":["CAP_CHOWN","CAP_NET_BIND_SERVICE","CAP_SETGID","CAP_SETUID"],"permitted":["CAP_CHOWN","CAP_NET_BIND_SERVICE","CAP_SETGID","CAP_SETUID"]}`},
		{"sshd/config.json", "process.rlimits", `[{"hard":18446744073709551615,"soft":18446744073709551615,"type":"RLIMIT_NOFILE"}]`},
		{"redis/config.json", "process.user", `{"gid":105,"uid":105}`},
		{"shutdown/config.json", "process.args", `["/bin/shutdown"]`},
		{"shutdown/config.json", "process.capabilities.effective.0", `"CAP_AUDIT_CONTROL"`},
		{"redis/config.json", "process.env", `["PATH=/bin","REDIS_LABEL=1"]`},
		{"redis/config.json", "process.cwd", `"/data"`},
		{"redis/config.json", "process.capabilities.effective", `["CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"]`},
		{"redis/config.json", "process.rlimits", `[{"hard":4096,"soft":1024,"type":"RLIMIT_NOFILE"}]`},
		{"redis/config.json", "linux.sysctl", `{"net.core.somaxconn":"1024"}`},
		{"redis/runtime.json", "mkdir", `["/var/lib/redis"]`},
		{"redis/runtime.json", "bindNS.net", `"/run/netns/redis"`},
		{"redis/runtime.json", "interfaces", `[{"add":"veth","createInRoot":true,"name":"eth1","peer":"veth-redis"}]`},
	} {
		if got := jstr(docs[tc.doc], tc.path); got != tc.want {
			t.Errorf("%s: %s = %s, want %s", tc.doc, tc.path, got, tc.want)
		}
	}
	mounts := func(c string) map[string]string {
		out := map[string]string{}
		v, _ := jget(docs[c+"/config.json"], "mounts")
		list, _ := v.([]any)
		var dests []string
		for _, x := range list {
			mm := x.(map[string]any)
			d := mm["destination"].(string)
			dests = append(dests, d)
			b, _ := json.Marshal(map[string]any{"type": mm["type"], "source": mm["source"], "options": mm["options"]})
			out[d] = string(b)
		}
		if !slices.IsSorted(dests) {
			t.Errorf("%s: mounts not sorted by destination: %v", c, dests)
		}
		return out
	}
	for _, tc := range []struct{ c, dest, want string }{
		{"dhcpcd", "/var", `{"options":["rw","rbind","rshared"],"source":"/var","type":"bind"}`},
		{"dhcpcd", "/run", `{"options":["rw","rbind","rshared"],"source":"/run","type":"bind"}`},
		{"sshd", "/root/.ssh", `{"options":["ro","rbind"],"source":"/root/.ssh","type":"bind"}`},
		{"redis", "/data", `{"options":["rw","rbind","rshared"],"source":"/var/lib/redis","type":"bind"}`},
		{"redis", "/etc/redis", `{"options":["ro","rbind"],"source":"/etc/redis","type":"bind"}`},
		{"getty", "/proc", `{"options":["nosuid","nodev","noexec","relatime"],"source":"proc","type":"proc"}`},
		// readonly also makes /dev and /sys read-only.
		{"getty", "/sys", `{"options":["nosuid","noexec","nodev","ro"],"source":"sysfs","type":"sysfs"}`},
		{"sysctl", "/dev", `{"options":["nosuid","strictatime","mode=755","size=65536k","ro"],"source":"tmpfs","type":"tmpfs"}`},
		{"dhcpcd", "/sys", `{"options":["nosuid","noexec","nodev"],"source":"sysfs","type":"sysfs"}`},
		{"dhcpcd", "/dev", `{"options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"}`},
	} {
		if got := mounts(tc.c)[tc.dest]; got != tc.want {
			t.Errorf("%s: mount %s = %s, want %s", tc.c, tc.dest, got, tc.want)
		}
	}
	if got := mounts("sshd")["/tmp"]; !strings.Contains(got, `"type":"tmpfs"`) || !strings.Contains(got, "size=1m") {
		t.Errorf("sshd: mount /tmp = %s, want a tmpfs with size=1m", got)
	}
	if _, ok := mounts("getty")["/var"]; ok {
		t.Errorf("getty has dhcpcd's bind")
	}
	namespaces := func(c string) string {
		v, _ := jget(docs[c+"/config.json"], "linux.namespaces")
		list, _ := v.([]any)
		var out []string
		for _, x := range list {
			mm := x.(map[string]any)
			s := mm["type"].(string)
			if p, _ := mm["path"].(string); p != "" {
				s += "=" + p
			}
			out = append(out, s)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	for c, want := range map[string]string{
		"sysctl": "cgroup,mount,pid",                      // net: host
		"dhcpcd": "cgroup,mount,pid",                      // net: host from the label
		"getty":  "cgroup,mount",                          // pid: host from the label
		"sshd":   "cgroup,mount,pid,uts",                  // uts: new
		"redis":  "cgroup,mount,network=/run/netns/redis", // pid: host, net: a path
	} {
		if got := namespaces(c); got != want {
			t.Errorf("%s: namespaces %s, want %s", c, got, want)
		}
	}
}

func checkKernelInitrd(t *testing.T, f *fixture, out string, tarOrder []string) {
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read("sys-kernel"), f.kernel["kernel"]) {
		t.Error("sys-kernel differs from the kernel image's kernel")
	}
	if got := string(read("sys-cmdline")); got != "console=ttyS0 quiet" {
		t.Errorf("sys-cmdline = %q", got)
	}
	initrd := read("sys-initrd.img")
	ucode := f.kernel["intel-ucode.cpio"]
	if !bytes.HasPrefix(initrd, ucode) {
		t.Fatalf("the initrd does not start with the microcode cpio (%d bytes)", len(ucode))
	}
	rest := initrd[len(ucode):]
	newc := tool(t, rest, "gzip", "-dc")
	if !bytes.HasPrefix(newc, []byte("070701")) {
		t.Fatalf("the gunzipped initrd starts with %q, want a newc archive", newc[:min(6, len(newc))])
	}
	cpioNames := lines(tool(t, newc, "cpio", "-t", "--quiet"))
	var want []string
	for _, n := range tarOrder {
		if !strings.HasPrefix(n, "boot/") {
			want = append(want, n)
		}
	}
	slices.Sort(cpioNames)
	if !slices.Equal(cpioNames, want) {
		t.Errorf("cpio -t lists %d entries, the tar minus boot/* %d:\n%s", len(cpioNames), len(want), lineDiff(strings.Join(want, "\n"), strings.Join(cpioNames, "\n")))
	}
	// A file's contents survive the conversion.
	motd := tool(t, newc, "cpio", "-i", "--quiet", "--to-stdout", "etc/motd")
	if string(motd) != "from runc\n" {
		t.Errorf("etc/motd in the initrd = %q", motd)
	}

	// GNU tar and GNU cpio extract the same tree (boot/ aside), hard links
	// included.
	fromTar, fromCpio := t.TempDir(), t.TempDir()
	tool(t, nil, "tar", "-x", "--numeric-owner", "-C", fromTar, "-f", filepath.Join(out, "sys.tar"))
	cmd := exec.Command("cpio", "-i", "-d", "-m", "--quiet", "--no-absolute-filenames")
	cmd.Dir, cmd.Stdin = fromCpio, bytes.NewReader(newc)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, b)
	}
	a, b := tree(t, fromTar), tree(t, fromCpio)
	for n := range a {
		if strings.HasPrefix(n, "boot/") {
			delete(a, n)
		}
	}
	var diffs []string
	for n, x := range a {
		if b[n] != x {
			diffs = append(diffs, fmt.Sprintf("%s: tar %s, cpio %s", n, x, b[n]))
		}
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			diffs = append(diffs, "only in the initrd: "+n)
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("the extracted tar and initrd differ:\n  %s", strings.Join(diffs[:min(20, len(diffs))], "\n  "))
	}
	if len(a) < 100 {
		t.Errorf("only %d entries extracted", len(a))
	}
	const r = "containers/services/redis/lower/usr/bin/"
	for _, dir := range []string{fromTar, fromCpio} {
		x, err1 := os.Stat(filepath.Join(dir, r+"redis-server"))
		y, err2 := os.Stat(filepath.Join(dir, r+"redis-check-aof"))
		if err1 != nil || err2 != nil || !os.SameFile(x, y) {
			t.Errorf("%s: redis-server and redis-check-aof are not one file (%v, %v)", dir, err1, err2)
		}
	}
}

// tree describes every entry under root: type, permissions, owner, and
// contents or link target.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
