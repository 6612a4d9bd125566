package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decodeAndValidate is what Load does for one file.
func decodeAndValidate(file, src string) error {
	s, err := Decode(file, []byte(src))
	if err != nil {
		return err
	}
	m, err := Merge(s)
	if err != nil {
		return err
	}
	return m.Validate()
}

const svc = "services:\n  - name: a\n    image: b\n"

func TestMalformed(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		prefix string // the first error's "file:line:col: "
		phrase string // a key phrase of its message
	}{
		// Structure and types.
		{"empty file", "", "t.yml:1:1: ", "empty document"},
		{"only comments", "# nothing here\n", "t.yml:1:1: ", "empty document"},
		{"explicit null document", "---\n~\n", "t.yml:2:1: ", "empty document"},
		{"top level list", "- kernel\n", "t.yml:1:1: ", "want a mapping of spec sections"},
		{"unknown top-level key", "kernal:\n  image: a\n", "t.yml:1:1: ", `unknown key "kernal" at the top level (did you mean "kernel"?)`},
		{"unknown key lists allowed", svc + "    frobnicate: 1\n", "t.yml:4:5: ", `unknown key "frobnicate" in services[0]; allowed: additionalGids, ambient, annotations,`},
		{"wrong case of OCI key", svc + "    uidMappings:\n      - {containerID: 0, hostid: 1000, size: 1}\n", "t.yml:5:26: ", `unknown key "hostid" in services[0].uidMappings[0] (did you mean "hostID"?)`},
		{"key typo in file", "files:\n  - path: a\n    contnets: x\n", "t.yml:3:5: ", `(did you mean "contents"?)`},
		{"list given a mapping", svc + "    capabilities:\n      add: CAP_SYS_ADMIN\n", "t.yml:5:7: ", "services[0].capabilities: want a list of strings, got a mapping"},
		{"init given a string", "init: linuxkit/init:v1\n", "t.yml:1:7: ", `init: want a list of strings, got the string "linuxkit/init:v1"`},
		{"unquoted octal mode", "files:\n  - path: a\n    contents: x\n    mode: 0644\n", "t.yml:4:11: ", `files[0].mode: want an octal string, got the number 0644 (YAML reads it as 420); quote it: "0644"`},
		{"unquoted device mode", svc + "    devices:\n      - {path: /dev/null, type: c, major: 1, minor: 3, mode: 0666}\n", "t.yml:5:62: ", `services[0].devices[0].mode: want an octal string, got the number 0666`},
		{"number in command", svc + "    command: [sleep, 10]\n", "t.yml:4:22: ", `services[0].command[1]: want a string, got the number 10; quote it: "10"`},
		{"boolean where a string goes", svc + "    net: true\n", "t.yml:4:10: ", `services[0].net: want a string, got the boolean true; quote it: "true"`},
		{"string where a boolean goes", svc + "    readonly: \"yes\"\n", "t.yml:4:15: ", `services[0].readonly: want true or false, got the string "yes"`},
		{"string where an integer goes", svc + "    oomScoreAdj: high\n", "t.yml:4:18: ", `services[0].oomScoreAdj: want an integer from -9223372036854775808 to 9223372036854775807, got the string "high"`},
		{"integer out of range", svc + "    resources:\n      blockIO:\n        weight: 70000\n", "t.yml:6:17: ", "services[0].resources.blockIO.weight: want an integer from 0 to 65535, got 70000"},
		{"negative uid", svc + "    uid: -1\n", "t.yml:4:10: ", "services[0].uid: want a number from 0 to 4294967295 or a name, got -1"},
		{"uid given a list", "files:\n  - path: a\n    contents: x\n    uid: [1]\n", "t.yml:4:10: ", "files[0].uid: want a number or a name, got a list"},
		{"null list item", "init:\n  - ~\n", "t.yml:2:5: ", "init[0]: want a string, got null"},
		{"duplicate key", "kernel:\n  image: a\n  image: b\n", "t.yml:3:3: ", `duplicate key "image" in kernel (first at line 2)`},
		{"non-string key", "1: a\n", "t.yml:1:1: ", "keys must be strings, got the number 1"},
		{"alias cycle", "init: &x [*x]\n", "t.yml:1:11: ", "alias *x refers to a node that contains it"},
		{"second document", "kernel:\n  image: a\n---\ninit: []\n", "t.yml:3:1: ", "found a second"},
		// Syntax errors, located by re-parsing prefixes.
		{"bad indentation", "kernel:\n  image: a\n cmdline: b\n", "t.yml:3:2: ", "invalid YAML: did not find expected key"},
		{"tab indentation", "kernel:\n\timage: a\n", "t.yml:2:1: ", "invalid YAML: found character that cannot start any token"},
		{"mapping in a plain scalar", "kernel:\n  cmdline: a: b\n", "t.yml:2:13: ", "invalid YAML: mapping values are not allowed in this context"},
		{"unclosed flow list", "kernel:\n  image: a\ninit: [a,\n", "t.yml:3:7: ", "invalid YAML: did not find expected node content"},
		{"unclosed quote", "kernel:\n  image: a\n  cmdline: 'quiet\n", "t.yml:3:12: ", "invalid YAML: found unexpected end of stream"},
		{"bad escape", "kernel:\n  cmdline: \"a\\qb\"\n", "t.yml:2:14: ", "invalid YAML: found unknown escape character"},
		{"invalid UTF-8", "kernel:\n  cmdline: \xff\n", "t.yml:2:12: ", "invalid YAML: invalid leading UTF-8 octet"},
		{"block sequence indentation", "services:\n  - name: a\n    image: b\n   net: host\n", "t.yml:4:4: ", "invalid YAML: did not find expected '-' indicator"},
		{"unknown anchor", "kernel:\n  image: a\ninit: *nope\n", "t.yml:3:7: ", "invalid YAML: unknown anchor 'nope' referenced"},
		// Validation.
		{"missing name", "services:\n  - image: b\n", "t.yml:2:5: ", "services[0]: name is required"},
		{"missing image", "onboot:\n  - name: a\n", "t.yml:2:5: ", "onboot[0]: image is required"},
		{"name with a slash", "onboot:\n  - name: a/b\n    image: b\n", "t.yml:2:11: ", `onboot[0].name: "a/b" cannot name a directory`},
		{"invalid reference", "services:\n  - name: a\n    image: Not/Valid\n", "t.yml:3:12: ", `services[0].image: invalid image reference "Not/Valid"`},
		{"kernel without image", "kernel:\n  cmdline: quiet\n", "t.yml:1:1: ", "kernel.image: required"},
		{"duplicate service", svc + "  - name: a\n    image: c\n", "t.yml:4:11: ", `services[1].name: duplicate service name "a" (also services[0] at t.yml:2:5)`},
		{"bad volume name", "volumes:\n  - name: Data\n", "t.yml:2:11: ", `volumes[0].name: "Data" may hold only a-z, 0-9, _ and -`},
		{"duplicate volume", "volumes:\n  - name: d\n  - name: d\n", "t.yml:3:11: ", `volumes[1].name: duplicate volume name "d"`},
		{"bad volume format", "volumes:\n  - name: d\n    format: squashfs\n", "t.yml:3:13: ", "volumes[0].format: want filesystem or oci"},
		{"two file sources", "files:\n  - path: a\n    contents: x\n    source: /etc/hosts\n", "t.yml:2:5: ", "files[0]: contents and source are set; a file entry takes exactly one of"},
		{"no file source", "files:\n  - path: a\n    mode: \"0644\"\n", "t.yml:2:5: ", "files[0]: needs one of directory, symlink, contents, source or metadata"},
		{"bad metadata", "files:\n  - path: a\n    metadata: xml\n", "t.yml:3:15: ", `files[0].metadata: want yaml or json, got "xml"`},
		{"mode not octal", "files:\n  - path: a\n    contents: x\n    mode: \"0999\"\n", "t.yml:4:11: ", `files[0].mode: mode "0999" is not an octal number`},
		{"mode too large", "files:\n  - path: a\n    directory: true\n    mode: \"17777\"\n", "t.yml:4:11: ", `mode "17777" is larger than 07777`},
		{"file escaping the root", "files:\n  - path: ../etc/passwd\n    contents: x\n", "t.yml:2:11: ", `files[0].path: "../etc/passwd" must name something below the root`},
		{"optional without source", "files:\n  - path: a\n    contents: x\n    optional: true\n", "t.yml:4:15: ", "files[0].optional: applies only to a source"},
		{"device type", svc + "    devices:\n      - {path: /dev/x, type: x, major: 1, minor: 1, mode: \"0600\"}\n", "t.yml:5:30: ", `services[0].devices[0].type: want b, c, u or p, got "x"`},
		{"device without mode", svc + "    devices:\n      - {path: /dev/x, type: c, major: 1, minor: 1}\n", "t.yml:5:9: ", `services[0].devices[0]: mode is required`},
		{"bind without destination", svc + "    binds:\n      - /var\n", "t.yml:5:9: ", `services[0].binds[0]: bind "/var": want source:destination[:options]`},
		{"bind.add relative destination", svc + "    binds.add:\n      - /var:var\n", "t.yml:5:9: ", `services[0].binds.add[0]: bind "/var:var": destination must be an absolute path`},
		{"tmpfs with two colons", svc + "    tmpfs:\n      - /run:size=1m:x\n", "t.yml:5:9: ", `services[0].tmpfs[0]: tmpfs "/run:size=1m:x": too many ':'`},
		{"unknown rlimit", svc + "    rlimits: [\"nofiles,1,2\"]\n", "t.yml:4:15: ", `services[0].rlimits[0]: rlimit "nofiles,1,2": unknown limit "nofiles"`},
		{"rlimit soft over hard", svc + "    rlimits: [\"nofile,10,1\"]\n", "t.yml:4:15: ", "soft limit exceeds hard limit"},
		{"rlimit not a number", svc + "    rlimits: [\"nofile,lots,unlimited\"]\n", "t.yml:4:15: ", `"lots" is neither a number nor "unlimited"`},
		{"unknown capability", svc + "    capabilities: [CAP_FLY]\n", "t.yml:4:20: ", `services[0].capabilities[0]: unknown capability "CAP_FLY"`},
		{"capability in lower case", svc + "    capabilities.add: [sys_admin]\n", "t.yml:4:24: ", `unknown capability "sys_admin" (did you mean "CAP_SYS_ADMIN"?)`},
		{"all not alone", svc + "    capabilities: [all, CAP_CHOWN]\n", "t.yml:4:20: ", `services[0].capabilities[0]: "all" must stand alone`},
		{"net namespace", svc + "    net: bridge\n", "t.yml:4:10: ", `services[0].net: want "host", "new", "none" or the absolute path`},
		{"pid none", svc + "    pid: none\n", "t.yml:4:10: ", `services[0].pid: want "host", "new" or the absolute path`},
		{"env without =", svc + "    env: [DEBUG]\n", "t.yml:4:11: ", `services[0].env[0]: want KEY=value, got "DEBUG"`},
		{"relative cwd", svc + "    cwd: tmp\n", "t.yml:4:10: ", `services[0].cwd: "tmp" must be an absolute path`},
		{"mount without type", svc + "    mounts:\n      - {destination: /mnt, source: /dev/sda1}\n", "t.yml:5:9: ", "services[0].mounts[0]: type is required"},
		{"oom score", svc + "    oomScoreAdj: 2000\n", "t.yml:4:18: ", "services[0].oomScoreAdj: 2000 is outside -1000..1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeAndValidate("t.yml", tt.src)
			if err == nil {
				t.Fatalf("no error for:\n%s", tt.src)
			}
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			first := list[0].Error()
			if !strings.HasPrefix(first, tt.prefix) {
				t.Errorf("error %q\nwant prefix %q", first, tt.prefix)
			}
			if !strings.Contains(first, tt.phrase) {
				t.Errorf("error %q\nwant phrase %q", first, tt.phrase)
			}
		})
	}
}

// TestSeveralErrors checks that Decode reports every problem, in order.
func TestSeveralErrors(t *testing.T) {
	src := `kernel:
  image: linuxkit/kernel:6.6
  cmdlin: quiet
services:
  - name: a
    image: b
    capabilities: CAP_SYS_ADMIN
    net: 1
files:
  - path: etc/x
    mode: 0600
`
	_, err := Decode("t.yml", []byte(src))
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want Errors", err)
	}
	want := []string{
		`t.yml:3:3: unknown key "cmdlin" in kernel (did you mean "cmdline"?)`,
		`t.yml:7:19: services[0].capabilities: want a list of strings, got the string "CAP_SYS_ADMIN"`,
		`t.yml:8:10: services[0].net: want a string, got the number 1; quote it: "1"`,
		`t.yml:11:11: files[0].mode: want an octal string, got the number 0600 (YAML reads it as 384); quote it: "0600"`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i := range want {
		if list[i].Error() != want[i] {
			t.Errorf("error %d:\n got %s\nwant %s", i, list[i], want[i])
		}
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Errors.Error() = %q", got)
	}
}

func TestDecodeSources(t *testing.T) {
	src := `kernel:
  image: linuxkit/kernel:6.6
  cmdline: quiet
init:
  - linuxkit/init:v1
services:
  - name: a
    image: b
  - name: c
    image: d
    capabilities:
      - CAP_NET_ADMIN
    sysctl:
      net.ipv4.ip_forward: "1"
files:
  - path: etc/x
    contents: hi
    mode: "0644"
`
	s, err := Decode("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"kernel":                                 "t.yml:1:1",
		"kernel.image":                           "t.yml:2:10",
		"init":                                   "t.yml:4:1",
		"init[0]":                                "t.yml:5:5",
		"services[1]":                            "t.yml:9:5",
		"services[1].name":                       "t.yml:9:11",
		"services[1].capabilities":               "t.yml:11:5",
		"services[1].capabilities[0]":            "t.yml:12:9",
		"services[1].sysctl.net.ipv4.ip_forward": "t.yml:14:7",
		"files[0].mode":                          "t.yml:18:11",
	} {
		if got := s.Sources.Get(path).String(); got != want {
			t.Errorf("Sources.Get(%q) = %q, want %q", path, got, want)
		}
	}
	if got := s.Sources.Nearest("services[1].capabilities[7]").String(); got != "t.yml:11:5" {
		t.Errorf("Nearest fell back to %q", got)
	}
}

func TestDecodeValues(t *testing.T) {
	src := `kernel:
  image: linuxkit/kernel:6.6
  tar: none
base: &base
  name: x
services:
  - name: getty
    image: linuxkit/getty:v1
    uid: 1000
    gid: nogroup
    additionalGids: [10, wheel]
    capabilities: []
    readonly: true
    oomScoreAdj: -500
    resources:
      memory:
        limit: 0x100000
`
	// "base" is not a spec key; drop it and use merge keys instead.
	src = strings.Replace(src, "base: &base\n  name: x\n", "", 1)
	s, err := Decode("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Services[0]
	if g.UID == nil || g.UID.Number == nil || *g.UID.Number != 1000 {
		t.Errorf("uid = %+v", g.UID)
	}
	if g.GID == nil || g.GID.Name != "nogroup" || g.GID.Number != nil {
		t.Errorf("gid = %+v", g.GID)
	}
	if got := (*g.AdditionalGids)[0].String() + "," + (*g.AdditionalGids)[1].String(); got != "10,wheel" {
		t.Errorf("additionalGids = %s", got)
	}
	if g.Capabilities == nil || len(*g.Capabilities) != 0 {
		t.Errorf("capabilities: [] must decode as set and empty, got %v", g.Capabilities)
	}
	if g.Readonly == nil || !*g.Readonly || *g.OOMScoreAdj != -500 {
		t.Errorf("readonly/oomScoreAdj = %v/%v", g.Readonly, g.OOMScoreAdj)
	}
	if *g.Resources.Memory.Limit != 0x100000 {
		t.Errorf("memory limit = %d", *g.Resources.Memory.Limit)
	}
	if s.Kernel.Tar == nil || *s.Kernel.Tar != "none" || s.Kernel.Binary != nil {
		t.Errorf("kernel = %+v", s.Kernel)
	}
}

func TestDecodeAliasesAndMerges(t *testing.T) {
	src := `onboot:
  - &base
    name: one
    image: alpine:3
    net: host
  - <<: *base
    name: two
services:
  - <<: [*base]
    name: three
    capabilities: &caps [CAP_NET_ADMIN]
    ambient: *caps
`
	s, err := Decode("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Onboot[1].Name != "two" || s.Onboot[1].Image != "alpine:3" || s.Onboot[1].Net != "host" {
		t.Errorf("merge key: %+v", s.Onboot[1])
	}
	if s.Services[0].Name != "three" || s.Services[0].Image != "alpine:3" {
		t.Errorf("merge list: %+v", s.Services[0])
	}
	if !reflect.DeepEqual(*s.Services[0].Ambient, []string{"CAP_NET_ADMIN"}) {
		t.Errorf("alias: %v", *s.Services[0].Ambient)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestAliasBomb(t *testing.T) {
	// Each alias expands to a thousand-item list: about 300k nodes from a
	// 6kB file. The node budget must stop it.
	var b strings.Builder
	b.WriteString("services:\n  - &s {name: s, image: i, env: [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("A=1")
	}
	b.WriteString("]}\n")
	for range 300 {
		b.WriteString("  - *s\n")
	}
	_, err := Decode("bomb.yml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("got %v, want the node budget error", err)
	}
}

func TestLoadMergesFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yml")
	b := filepath.Join(dir, "b.yml")
	if err := os.WriteFile(a, []byte("kernel:\n  image: linuxkit/kernel:6.6\n  cmdline: console=ttyS0\nservices:\n  - name: getty\n    image: linuxkit/getty:v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("kernel:\n  cmdline: quiet\nservices:\n  - name: sshd\n    image: linuxkit/sshd:v1\n    capabilities: [CAP_FLY]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(a, b)
	if err == nil || !strings.HasPrefix(err.Error(), b+":6:20: services[1].capabilities[0]: unknown capability") {
		t.Fatalf("Load error = %v", err)
	}
	if err := os.WriteFile(b, []byte("kernel:\n  cmdline: quiet\nservices:\n  - name: sshd\n    image: linuxkit/sshd:v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel.Image != "linuxkit/kernel:6.6" || s.Kernel.Cmdline != "quiet" || len(s.Services) != 2 {
		t.Errorf("merged: kernel %+v, %d services", s.Kernel, len(s.Services))
	}
	if got := s.Sources.Get("services[1].name").String(); got != b+":4:11" {
		t.Errorf("services[1].name at %q", got)
	}
	if got := s.Sources.Get("kernel.cmdline").String(); got != b+":2:12" {
		t.Errorf("kernel.cmdline at %q", got)
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Problems in several files are reported together.
	if err := os.WriteFile(a, []byte("kernal: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("init: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(a, b)
	var list Errors
	if !errors.As(err, &list) || len(list) != 2 || list[0].Pos.File != a || list[1].Pos.File != b {
		t.Errorf("Load of two bad files: %v", err)
	}
}
