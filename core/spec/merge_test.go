package spec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustDecode(t *testing.T, file, src string) *System {
	t.Helper()
	s, err := Decode(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMerge(t *testing.T) {
	a := mustDecode(t, "a.yml", `kernel:
  image: linuxkit/kernel:6.6
  cmdline: console=ttyS0
  tar: none
init: [linuxkit/init:v1]
onboot:
  - name: dhcpcd
    image: linuxkit/dhcpcd:v1
services:
  - name: getty
    image: linuxkit/getty:v1
volumes:
  - name: data
trust:
  org: [linuxkit]
`)
	b := mustDecode(t, "b.yml", `kernel:
  cmdline: quiet
  ucode: intel-ucode.cpio
init: [linuxkit/runc:v1]
onboot:
  - name: format
    image: linuxkit/format:v1
services:
  - name: sshd
    image: linuxkit/sshd:v1
    capabilities: [all]
files:
  - path: etc/motd
    contents: hi
trust:
  image: [alpine]
`)
	c := mustDecode(t, "c.yml", `kernel:
  image: linuxkit/kernel:6.12
volumes:
  - name: logs
`)
	aBefore, bBefore := len(a.Services), len(b.Init)

	m, err := Merge(a, nil, b, c)
	if err != nil {
		t.Fatal(err)
	}
	wantKernel := Kernel{Image: "linuxkit/kernel:6.12", Cmdline: "quiet", Tar: ptr("none"), UCode: ptr("intel-ucode.cpio")}
	if !reflect.DeepEqual(*m.Kernel, wantKernel) {
		t.Errorf("kernel = %+v, want %+v", *m.Kernel, wantKernel)
	}
	if got := strings.Join(m.Init, " "); got != "linuxkit/init:v1 linuxkit/runc:v1" {
		t.Errorf("init = %s", got)
	}
	if names(m.Onboot) != "dhcpcd format" || names(m.Services) != "getty sshd" {
		t.Errorf("onboot %s, services %s", names(m.Onboot), names(m.Services))
	}
	if len(m.Files) != 1 || len(m.Volumes) != 2 || m.Volumes[1].Name != "logs" {
		t.Errorf("files %d, volumes %+v", len(m.Files), m.Volumes)
	}
	if !reflect.DeepEqual(m.Trust, &Trust{Org: []string{"linuxkit"}, Image: []string{"alpine"}}) {
		t.Errorf("trust = %+v", m.Trust)
	}
	for path, want := range map[string]string{
		"kernel":                   "c.yml:1:1",
		"kernel.image":             "c.yml:2:10",
		"kernel.cmdline":           "b.yml:2:12",
		"kernel.tar":               "a.yml:4:8",
		"kernel.ucode":             "b.yml:3:10",
		"init[1]":                  "b.yml:4:8",
		"onboot[1].name":           "b.yml:6:11",
		"services[0]":              "a.yml:10:5",
		"services[1].capabilities": "b.yml:11:5",
		"files[0].path":            "b.yml:13:11",
		"volumes[1]":               "c.yml:4:5",
		"services":                 "a.yml:9:1",
		"trust.image[0]":           "b.yml:16:11",
	} {
		if got := m.Sources.Get(path).String(); got != want {
			t.Errorf("Sources.Get(%q) = %q, want %q", path, got, want)
		}
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// The parts are unchanged, and the result does not share list storage
	// with them.
	if len(a.Services) != aBefore || len(b.Init) != bBefore || a.Kernel.Image != "linuxkit/kernel:6.6" || a.Kernel.Cmdline != "console=ttyS0" {
		t.Error("Merge modified its inputs")
	}
	m.Init[0] = "changed"
	if a.Init[0] != "linuxkit/init:v1" {
		t.Error("merged list shares storage with an input")
	}
	if got := a.Sources.Get("services[0]").String(); got != "a.yml:10:5" {
		t.Errorf("input Sources changed: %q", got)
	}
}

func TestMergeDuplicates(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{
			"service",
			"services:\n  - name: sshd\n    image: a\n",
			"services:\n  - name: getty\n    image: b\n  - name: sshd\n    image: c\n",
			`b.yml:4:11: services[2].name: duplicate service name "sshd" (also services[0] at a.yml:2:5)`,
		},
		{
			"volume",
			"volumes:\n  - name: data\n",
			"volumes:\n  - name: data\n    readonly: true\n",
			`b.yml:2:11: volumes[1].name: duplicate volume name "data" (also volumes[0] at a.yml:2:5)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(mustDecode(t, "a.yml", tt.a), mustDecode(t, "b.yml", tt.b))
			var list Errors
			if !errors.As(err, &list) || len(list) != 1 || list[0].Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
	// Onboot names may repeat: their directories are numbered.
	s := "onboot:\n  - name: x\n    image: a\n"
	if _, err := Merge(mustDecode(t, "a.yml", s), mustDecode(t, "b.yml", s)); err != nil {
		t.Errorf("repeated onboot name: %v", err)
	}
}

func TestMergeNothing(t *testing.T) {
	m, err := Merge()
	if err != nil || m.Kernel != nil || m.Sources == nil || m.Sources.Len() != 0 {
		t.Errorf("Merge() = %+v, %v", m, err)
	}
}

func TestShiftPath(t *testing.T) {
	offsets := map[string]int{"services": 3, "trust.org": 2, "init": 0}
	for in, want := range map[string]string{
		"services[1].name":             "services[4].name",
		"services[0].binds[2]":         "services[3].binds[2]",
		"trust.org[0]":                 "trust.org[2]",
		"init[5]":                      "init[5]",
		"services":                     "services",
		"services[x]":                  "services[x]",
		"files[2].contents":            "files[2].contents",
		"services[1].sysctl.a[0].b[1]": "services[4].sysctl.a[0].b[1]",
	} {
		if got := shiftPath(in, offsets); got != want {
			t.Errorf("shiftPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func names(imgs []*Image) string {
	var n []string
	for _, i := range imgs {
		n = append(n, i.Name)
	}
	return strings.Join(n, " ")
}
