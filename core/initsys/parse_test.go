//go:build linux

package initsys

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		opts []string
		want MountOptions
	}{
		{nil, MountOptions{}},
		{[]string{"ro", "nosuid", "nodev", "noexec"}, MountOptions{Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}},
		{[]string{"ro", "rw"}, MountOptions{}},
		{[]string{"rw", "rbind", "rshared"}, MountOptions{Flags: unix.MS_BIND | unix.MS_REC, Propagation: unix.MS_SHARED | unix.MS_REC}},
		{[]string{"remount", "private"}, MountOptions{Flags: unix.MS_REMOUNT, Propagation: unix.MS_PRIVATE}},
		{[]string{"mode=755", "", "size=65536k", "strictatime"}, MountOptions{Flags: unix.MS_STRICTATIME, Data: "mode=755,size=65536k"}},
		{[]string{"lowerdir=/a:/b", "upperdir=/u", "workdir=/w"}, MountOptions{Data: "lowerdir=/a:/b,upperdir=/u,workdir=/w"}},
	}
	for _, tt := range tests {
		if got := ParseMountOptions(tt.opts); got != tt.want {
			t.Errorf("ParseMountOptions(%q) = %+v, want %+v", tt.opts, got, tt.want)
		}
	}
}

func TestOverlayDirs(t *testing.T) {
	got := overlayDirs("lowerdir=/l,upperdir=/u,workdir=/w,upperdir=")
	if !slices.Equal(got, []string{"/u", "/w"}) {
		t.Errorf("got %q", got)
	}
}

func FuzzParseMountOptions(f *testing.F) {
	f.Add("rw,rbind,rshared,mode=755")
	f.Add("remount,private")
	f.Fuzz(func(t *testing.T, s string) {
		m := ParseMountOptions(strings.Split(s, ","))
		if m.Propagation&^(unix.MS_PRIVATE|unix.MS_SHARED|unix.MS_SLAVE|unix.MS_UNBINDABLE|unix.MS_REC) != 0 {
			t.Errorf("propagation %#x has other flags", m.Propagation)
		}
		for _, d := range strings.Split(m.Data, ",") {
			if _, known := mountFlags[d]; known {
				t.Errorf("flag %q left in data", d)
			}
		}
	})
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"console=ttyS0 quiet kit.debug=/x.sh,a\n", map[string]string{"console": "ttyS0", "quiet": "", "kit.debug": "/x.sh,a"}},
		{`a="b c" d=1 d=2`, map[string]string{"a": "b c", "d": "2"}},
		{`  root=/dev/sda1   ro=`, map[string]string{"root": "/dev/sda1", "ro": ""}},
		{`x="unterminated y`, map[string]string{"x": "unterminated y"}},
		{`=v k`, map[string]string{"k": ""}},
	}
	for _, tt := range tests {
		if got := ParseCmdline(tt.in); !maps.Equal(got, tt.want) {
			t.Errorf("ParseCmdline(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add(`console=ttyS0 kit.debug="/a b" quiet`)
	f.Fuzz(func(t *testing.T, s string) {
		for k, v := range ParseCmdline(s) {
			if k == "" || strings.ContainsAny(k, "\"=") {
				t.Errorf("bad key %q", k)
			}
			if strings.Contains(v, `"`) {
				t.Errorf("quote left in value %q", v)
			}
		}
	})
}

func TestParseRuntimeConfig(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  bool
	}{
		{"empty object", `{}`, false},
		{"full", `{"cgroups":["a/b"],"mounts":[{"destination":"/x","type":"tmpfs"}],"mkdir":["/y"],"interfaces":[],"bindNS":{"net":"/run/netns/z"},"namespace":"ns"}`, false},
		{"not json", `{`, true},
		{"wrong type", `{"mkdir": "/y"}`, true},
		{"relative mount", `{"mounts":[{"destination":"x"}]}`, true},
		{"dotdot mkdir", `{"mkdir":["/a/../../etc"]}`, true},
		{"relative bindNS", `{"bindNS":{"pid":"run/pid"}}`, true},
		{"absolute cgroup", `{"cgroups":["/a"]}`, true},
		{"dotdot cgroup", `{"cgroups":["../a"]}`, true},
		{"empty cgroup", `{"cgroups":[""]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRuntimeConfig([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadRuntime) {
				t.Errorf("error %v is not ErrBadRuntime", err)
			}
		})
	}
}

// TestRuntimeConfigMatchesRuntimeStep decodes the runtime.json files that
// steps/runtime's golden tests hold, refusing unknown keys, so that a key
// the build writes and the init does not read fails here.
func TestRuntimeConfigMatchesRuntimeStep(t *testing.T) {
	files, err := filepath.Glob("../steps/runtime/testdata/*.golden.json")
	if err != nil || len(files) == 0 {
		t.Skipf("no golden files of steps/runtime (%v)", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var golden map[string]json.RawMessage
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		raw, ok := golden["runtime.json"]
		if !ok {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		var rc RuntimeConfig
		if err := dec.Decode(&rc); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		if _, err := ParseRuntimeConfig(raw); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

func FuzzParseRuntimeConfig(f *testing.F) {
	f.Add([]byte(`{"mounts":[{"destination":"/x","type":"overlay","options":["lowerdir=/a"]}],"bindNS":{"net":"/n"}}`))
	f.Add([]byte(`{"cgroups":["a"],"mkdir":["/b"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := ParseRuntimeConfig(b)
		if err != nil {
			return
		}
		for _, m := range rc.Mounts {
			if !strings.HasPrefix(m.Destination, "/") || slices.Contains(strings.Split(m.Destination, "/"), "..") {
				t.Errorf("accepted destination %q", m.Destination)
			}
		}
		for _, c := range rc.Cgroups {
			if filepath.IsAbs(c) || !filepath.IsLocal(c) && c != "" {
				t.Errorf("accepted cgroup %q", c)
			}
		}
	})
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 0:20 / / rw shared:1 - tmpfs tmpfs rw
23 22 0:21 / /proc rw,nosuid - proc proc rw
24 22 0:22 / /with\040space rw - tmpfs tmpfs rw
25 22 0:23 / /back\134slash rw - tmpfs tmpfs rw
short line
26 22 0:24 / /trailing\04 rw - tmpfs tmpfs rw
`
	want := []string{"/", "/proc", "/with space", `/back\slash`, `/trailing\04`}
	if got := ParseMountinfo([]byte(in)); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte("22 1 0:20 / /a\\040b rw - tmpfs tmpfs rw\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range ParseMountinfo(b) {
			if m == "" {
				t.Error("empty mount point")
			}
		}
	})
}

func TestUnmountOrder(t *testing.T) {
	mounts := []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/run", "/sys/fs/cgroup", "/run/netns/x", "/run/"}
	got := unmountOrder(mounts, []string{"/", "/proc", "/sys", "/dev"})
	want := []string{"/run/netns/x", "/sys/fs/cgroup", "/dev/pts", "/run"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
