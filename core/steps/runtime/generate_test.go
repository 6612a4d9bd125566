package runtime

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kitbuild/kit/core/spec"
)

func mountAt(t *testing.T, oci *specs.Spec, dest string) specs.Mount {
	t.Helper()
	for _, m := range oci.Mounts {
		if m.Destination == dest {
			return m
		}
	}
	t.Fatalf("no mount at %s in %+v", dest, oci.Mounts)
	return specs.Mount{}
}

func hasMount(oci *specs.Spec, dest string) bool {
	return slices.ContainsFunc(oci.Mounts, func(m specs.Mount) bool { return m.Destination == dest })
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func nsList(oci *specs.Spec) map[specs.LinuxNamespaceType]string {
	m := map[specs.LinuxNamespaceType]string{}
	for _, ns := range oci.Linux.Namespaces {
		m[ns.Type] = ns.Path
	}
	return m
}

func TestGenerateRules(t *testing.T) {
	ids, err := AllocateIDs(&spec.System{
		Onboot:     []*spec.Image{{Name: "sysctl"}, {Name: "rngd"}},
		Onshutdown: []*spec.Image{{Name: "poweroff"}},
		Services:   []*spec.Image{{Name: "getty"}, {Name: "sshd"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defaultDests := []string{"/dev", "/dev/pts", "/proc", "/sys", "/sys/fs/cgroup"}

	cases := []struct {
		name  string
		mod   func(e *spec.Image)
		image *ImageConfig
		check func(t *testing.T, oci *specs.Spec, rt *Runtime)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, oci *specs.Spec, rt *Runtime) {
				eq(t, "args", oci.Process.Args, []string{"/bin/sh", "-c", "echo hello"})
				eq(t, "env", oci.Process.Env, busybox.Env)
				eq(t, "cwd", oci.Process.Cwd, "/work")
				eq(t, "terminal", oci.Process.Terminal, false)
				eq(t, "user", oci.Process.User, specs.User{})
				eq(t, "caps", *oci.Process.Capabilities, specs.LinuxCapabilities{})
				eq(t, "root", *oci.Root, specs.Root{Path: "rootfs"})
				eq(t, "ociVersion", oci.Version, specs.Version)
				var dests []string
				for _, m := range oci.Mounts {
					dests = append(dests, m.Destination)
				}
				eq(t, "mount destinations", dests, defaultDests)
				eq(t, "/dev", mountAt(t, oci, "/dev"), specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
					Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}})
				eq(t, "/sys/fs/cgroup options", mountAt(t, oci, "/sys/fs/cgroup").Options, []string{"nosuid", "noexec", "nodev", "relatime", "ro"})
				eq(t, "/sys options", mountAt(t, oci, "/sys").Options, []string{"nosuid", "noexec", "nodev"})
				eq(t, "namespaces", oci.Linux.Namespaces, []specs.LinuxNamespace{
					{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
				})
				eq(t, "resources", *oci.Linux.Resources, specs.LinuxResources{})
				eq(t, "runtime", *rt, Runtime{Cgroups: []string{}, Mounts: []specs.Mount{}, Mkdir: []string{}, Interfaces: []spec.Interface{}})
			},
		},
		{
			name:  "cwd defaults to / without an image WorkingDir",
			image: &ImageConfig{Cmd: []string{"/init"}},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "cwd", oci.Process.Cwd, "/")
				eq(t, "args", oci.Process.Args, []string{"/init"})
				eq(t, "env", oci.Process.Env, []string(nil))
			},
		},
		{
			name: "command env cwd override the image",
			mod: func(e *spec.Image) {
				e.Command = strs("/bin/true")
				e.Env = &[]string{}
				e.Cwd = "/tmp"
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "args", oci.Process.Args, []string{"/bin/true"})
				eq(t, "env length", len(oci.Process.Env), 0)
				eq(t, "cwd", oci.Process.Cwd, "/tmp")
			},
		},
		{
			name: "capabilities all",
			mod:  func(e *spec.Image) { e.Capabilities = strs("ALL") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				c := oci.Process.Capabilities
				eq(t, "effective", c.Effective, Capabilities())
				eq(t, "bounding", c.Bounding, Capabilities())
				eq(t, "count", len(c.Bounding), 41)
				eq(t, "ambient", c.Ambient, []string(nil))
			},
		},
		{
			name: "capabilities none",
			mod:  func(e *spec.Image) { e.Capabilities = strs("none"); e.CapabilitiesAdd = strs("CAP_KILL") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "caps", *oci.Process.Capabilities, specs.LinuxCapabilities{})
			},
		},
		{
			name: "capabilities.add alone is used when capabilities is unset",
			mod:  func(e *spec.Image) { e.CapabilitiesAdd = strs("CAP_SYS_ADMIN", "CAP_KILL") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "effective", oci.Process.Capabilities.Effective, []string{"CAP_KILL", "CAP_SYS_ADMIN"})
			},
		},
		{
			name: "capabilities replace and win over capabilities.add",
			mod:  func(e *spec.Image) { e.Capabilities = strs("CAP_NET_RAW"); e.CapabilitiesAdd = strs("CAP_KILL") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "effective", oci.Process.Capabilities.Effective, []string{"CAP_NET_RAW"})
				eq(t, "bounding", oci.Process.Capabilities.Bounding, []string{"CAP_NET_RAW"})
			},
		},
		{
			name: "ambient joins bounding permitted inheritable, not effective",
			mod: func(e *spec.Image) {
				e.Capabilities = strs("CAP_SYS_TIME", "CAP_CHOWN", "CAP_CHOWN")
				e.Ambient = strs("CAP_NET_BIND_SERVICE", "CAP_CHOWN")
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				c := oci.Process.Capabilities
				union := []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"}
				eq(t, "bounding", c.Bounding, union)
				eq(t, "permitted", c.Permitted, union)
				eq(t, "inheritable", c.Inheritable, union)
				eq(t, "effective", c.Effective, []string{"CAP_CHOWN", "CAP_SYS_TIME"})
				eq(t, "ambient", c.Ambient, []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"})
			},
		},
		{
			name: "binds: default options, explicit options get rbind",
			mod:  func(e *spec.Image) { e.Binds = strs("/var:/var", "/etc/resolv.conf:/etc/resolv.conf:ro,nosuid") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "/var", mountAt(t, oci, "/var"), specs.Mount{Destination: "/var", Type: "bind", Source: "/var", Options: []string{"rw", "rbind", "rshared"}})
				eq(t, "/etc/resolv.conf options", mountAt(t, oci, "/etc/resolv.conf").Options, []string{"ro", "nosuid", "rbind"})
			},
		},
		{
			name: "binds replace binds.add; binds.add alone is used",
			mod:  func(e *spec.Image) { e.BindsAdd = strs("/lib/modules:/lib/modules") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				if !hasMount(oci, "/lib/modules") {
					t.Error("binds.add not mounted")
				}
			},
		},
		{
			name: "binds replace binds.add",
			mod:  func(e *spec.Image) { e.Binds = strs("/a:/a"); e.BindsAdd = strs("/b:/b") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				if !hasMount(oci, "/a") || hasMount(oci, "/b") {
					t.Errorf("mounts %+v: want /a and not /b", oci.Mounts)
				}
			},
		},
		{
			name: "a bind replaces a default mount with the same destination",
			mod:  func(e *spec.Image) { e.Binds = strs("/dev:/dev") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "/dev type", mountAt(t, oci, "/dev").Type, "bind")
				eq(t, "mount count", len(oci.Mounts), 5)
			},
		},
		{
			name: "mounts: inferred types, defaults replaced, sorted",
			mod: func(e *spec.Image) {
				e.Mounts = &[]spec.Mount{
					{Destination: "/sys", Source: "sysfs", Options: []string{"rw"}},
					{Destination: "/dev"},
					{Source: "mqueue"},
					{Source: "cgroup"},
					{Destination: "/data", Type: "ext4", Source: "/dev/sda1"},
					{Destination: "/proc/", Source: "proc"},
				}
				e.Binds = strs("/data:/data") // mounts win over binds
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "/sys", mountAt(t, oci, "/sys"), specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"rw"}})
				eq(t, "/dev", mountAt(t, oci, "/dev"), specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"})
				eq(t, "/dev/mqueue", mountAt(t, oci, "/dev/mqueue"), specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"})
				eq(t, "/sys/fs/cgroup", mountAt(t, oci, "/sys/fs/cgroup"), specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"})
				eq(t, "/data type", mountAt(t, oci, "/data").Type, "ext4")
				eq(t, "/proc options", mountAt(t, oci, "/proc").Options, []string(nil))
				if !slices.IsSortedFunc(oci.Mounts, func(a, b specs.Mount) int { return strings.Compare(a.Destination, b.Destination) }) {
					t.Errorf("mounts not sorted: %+v", oci.Mounts)
				}
				eq(t, "mount count", len(oci.Mounts), 7)
			},
		},
		{
			name: "tmpfs with and without options",
			mod:  func(e *spec.Image) { e.Tmpfs = strs("/run", "/tmp:size=1m,mode=1777") },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "/run", mountAt(t, oci, "/run"), specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs"})
				eq(t, "/tmp", mountAt(t, oci, "/tmp"), specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1777"}})
			},
		},
		{
			name: "devices and all-device rules",
			mod: func(e *spec.Image) {
				e.Devices = &[]spec.Device{
					{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, Mode: "0600"},
					{Path: "all", Type: "b"},
					{Path: "all", Type: "a"},
				}
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				fm := os.FileMode(0o600)
				eq(t, "devices", oci.Linux.Devices, []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &fm}})
				ten, two29 := int64(10), int64(229)
				eq(t, "rules", oci.Linux.Resources.Devices, []specs.LinuxDeviceCgroup{
					{Allow: true, Type: "c", Major: &ten, Minor: &two29, Access: "rwm"},
					{Allow: true, Type: "b", Access: "rwm"},
					{Allow: true, Type: "a", Access: "rwm"},
				})
			},
		},
		{
			name: "device rules append to resources.devices",
			mod: func(e *spec.Image) {
				e.Resources = &spec.Resources{Devices: []spec.DeviceCgroup{{Allow: false, Access: "rwm"}}}
				e.Devices = &[]spec.Device{{Path: "all", Type: "c"}}
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "rules", oci.Linux.Resources.Devices, []specs.LinuxDeviceCgroup{{Access: "rwm"}, {Allow: true, Type: "c", Access: "rwm"}})
			},
		},
		{
			name: "namespaces: host, root, new, none, paths",
			mod: func(e *spec.Image) {
				e.Net = "none"
				e.Ipc = "/run/ipcns"
				e.Uts = "host"
				e.Pid = "root"
				e.Userns = "new"
				e.UIDMappings = &[]spec.IDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
				e.GIDMappings = &[]spec.IDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "namespaces", oci.Linux.Namespaces, []specs.LinuxNamespace{
					{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace, Path: "/run/ipcns"},
					{Type: specs.UserNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
				})
				eq(t, "uid mappings", oci.Linux.UIDMappings, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}})
			},
		},
		{
			name: "namespaces: new everywhere, pid new",
			mod:  func(e *spec.Image) { e.Net, e.Ipc, e.Uts, e.Pid = "new", "none", "new", "new" },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "namespaces", nsList(oci), map[specs.LinuxNamespaceType]string{
					specs.NetworkNamespace: "", specs.IPCNamespace: "", specs.UTSNamespace: "", specs.PIDNamespace: "",
					specs.MountNamespace: "", specs.CgroupNamespace: "",
				})
			},
		},
		{
			name: "pid host shares the host's",
			mod:  func(e *spec.Image) { e.Pid = "host"; e.Net = "/proc/1/ns/net" },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "namespaces", nsList(oci), map[specs.LinuxNamespaceType]string{
					specs.NetworkNamespace: "/proc/1/ns/net", specs.MountNamespace: "", specs.CgroupNamespace: "",
				})
			},
		},
		{
			name: "readonly root makes /dev and /sys read-only",
			mod:  func(e *spec.Image) { e.Readonly = ptr(true) },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "root", *oci.Root, specs.Root{Path: "rootfs", Readonly: true})
				eq(t, "/dev options", mountAt(t, oci, "/dev").Options, []string{"nosuid", "strictatime", "mode=755", "size=65536k", "ro"})
				eq(t, "/sys options", mountAt(t, oci, "/sys").Options, []string{"nosuid", "noexec", "nodev", "ro"})
				eq(t, "/proc options", mountAt(t, oci, "/proc").Options, []string{"nosuid", "nodev", "noexec", "relatime"})
			},
		},
		{
			name: "readonly false is writable",
			mod:  func(e *spec.Image) { e.Readonly = ptr(false) },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "root readonly", oci.Root.Readonly, false)
				if slices.Contains(mountAt(t, oci, "/dev").Options, "ro") {
					t.Error("/dev read-only")
				}
			},
		},
		{
			name: "uid gid additionalGids by name and number",
			mod: func(e *spec.Image) {
				e.UID = name("sshd")
				e.GID = name("poweroff")
				e.AdditionalGids = &[]spec.IDValue{*name("sysctl"), *num(7), *name("root"), *name(""), *name("1234")}
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "user", oci.Process.User, specs.User{UID: 104, GID: 102, AdditionalGids: []uint32{100, 7, 0, 0, 1234}})
			},
		},
		{
			name: "uid root and numbers",
			mod:  func(e *spec.Image) { e.UID = name("root"); e.GID = num(65534) },
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "user", oci.Process.User, specs.User{UID: 0, GID: 65534})
			},
		},
		{
			name: "rlimits",
			mod: func(e *spec.Image) {
				e.Rlimits = strs("nofile, 1024, unlimited", "RLIMIT_MEMLOCK,UNLIMITED,unlimited", "Core,0,0")
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "rlimits", oci.Process.Rlimits, []specs.POSIXRlimit{
					{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: math.MaxUint64},
					{Type: "RLIMIT_MEMLOCK", Soft: math.MaxUint64, Hard: math.MaxUint64},
					{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
				})
			},
		},
		{
			name: "pass-through fields",
			mod: func(e *spec.Image) {
				e.Sysctl = &map[string]string{"net.core.somaxconn": "1024"}
				e.Annotations = &map[string]string{"a": "b"}
				e.MaskedPaths = strs("/proc/kcore")
				e.ReadonlyPaths = strs("/proc/sys", "/proc/bus")
				e.NoNewPrivileges = ptr(true)
				e.Hostname = "box"
				e.Uts = "new"
				e.OOMScoreAdj = ptr(-1000)
				e.RootfsPropagation = ptr("shared")
				e.CgroupsPath = ptr("kit/box")
			},
			check: func(t *testing.T, oci *specs.Spec, _ *Runtime) {
				eq(t, "sysctl", oci.Linux.Sysctl, map[string]string{"net.core.somaxconn": "1024"})
				eq(t, "annotations", oci.Annotations, map[string]string{"a": "b"})
				eq(t, "maskedPaths", oci.Linux.MaskedPaths, []string{"/proc/kcore"})
				eq(t, "readonlyPaths", oci.Linux.ReadonlyPaths, []string{"/proc/sys", "/proc/bus"})
				eq(t, "noNewPrivileges", oci.Process.NoNewPrivileges, true)
				eq(t, "hostname", oci.Hostname, "box")
				eq(t, "oomScoreAdj", *oci.Process.OOMScoreAdj, -1000)
				eq(t, "rootfsPropagation", oci.Linux.RootfsPropagation, "shared")
				eq(t, "cgroupsPath", oci.Linux.CgroupsPath, "kit/box")
			},
		},
		{
			name: "runtime.json",
			mod: func(e *spec.Image) {
				e.Runtime = &spec.Runtime{
					Cgroups:    strs("a", "b"),
					Mounts:     &[]spec.Mount{{Destination: "/x", Type: "tmpfs", Source: "tmpfs"}},
					Mkdir:      strs("/var/x"),
					Interfaces: &[]spec.Interface{{Name: "wg0", Add: "wireguard"}},
					BindNS:     &spec.Namespaces{Cgroup: ptr("/c"), Ipc: ptr("/i"), Mnt: ptr("/m"), Net: ptr("/n"), Pid: ptr("/p"), User: ptr("/u"), Uts: ptr("/t")},
					Namespace:  ptr("ns"),
				}
			},
			check: func(t *testing.T, _ *specs.Spec, rt *Runtime) {
				eq(t, "runtime", *rt, Runtime{
					Cgroups:    []string{"a", "b"},
					Mounts:     []specs.Mount{{Destination: "/x", Type: "tmpfs", Source: "tmpfs"}},
					Mkdir:      []string{"/var/x"},
					Interfaces: []spec.Interface{{Name: "wg0", Add: "wireguard"}},
					BindNS:     BindNS{Cgroup: "/c", Ipc: "/i", Mnt: "/m", Net: "/n", Pid: "/p", User: "/u", Uts: "/t"},
					Namespace:  "ns",
				})
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := busybox
			if tc.image != nil {
				img = *tc.image
			}
			oci, rt, err := Generate(entry(tc.mod), img, ids)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, oci, rt)
		})
	}
}

func TestGenerateDoesNotAliasInput(t *testing.T) {
	e := entry(func(e *spec.Image) {
		e.Command = strs("/a")
		e.Mounts = &[]spec.Mount{{Destination: "/m", Type: "tmpfs", Options: []string{"x"}}}
	})
	img := ImageConfig{Env: []string{"A=1"}}
	oci, _, err := Generate(e, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	oci.Process.Args[0] = "changed"
	mountAt(t, oci, "/m").Options[0] = "changed"
	if (*e.Command)[0] != "/a" || (*e.Mounts)[0].Options[0] != "x" {
		t.Error("Generate's result shares memory with the entry")
	}
	// A second call still sees the pristine defaults.
	oci2, _, _ := Generate(entry(func(e *spec.Image) { e.Readonly = ptr(true) }), busybox, nil)
	mountAt(t, oci2, "/dev").Options[0] = "changed"
	oci3, _, _ := Generate(entry(nil), busybox, nil)
	eq(t, "/dev options", mountAt(t, oci3, "/dev").Options[0], "nosuid")
}

// fill sets every settable field reachable from v to a non-zero value.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), n)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	}
}

// TestResourcesNothingDropped fills every field of the spec's resources
// (camelCase keys such as disableOOMKiller, kernelTCP, hcaHandles included)
// and checks that config.json carries each of them.
func TestResourcesNothingDropped(t *testing.T) {
	var r spec.Resources
	n := 0
	fill(reflect.ValueOf(&r).Elem(), &n)
	oci, _, err := Generate(entry(func(e *spec.Image) { e.Resources = &r }), busybox, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(r)
	got, _ := json.Marshal(oci.Linux.Resources)
	var wm, gm any
	if err := json.Unmarshal(want, &wm); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &gm); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wm, gm) {
		t.Errorf("resources changed on the way to config.json:\nspec: %s\noci:  %s", want, got)
	}
	for _, key := range []string{`"disableOOMKiller":true`, `"kernelTCP":`, `"hcaHandles":`, `"throttleWriteIOPSDevice":`, `"realtimeRuntime":`, `"pageSize":`, `"classID":`, `"checkBeforeUpdate":true`} {
		if !strings.Contains(string(got), key) {
			t.Errorf("config.json resources lack %s: %s", key, got)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	ids := IDs{"sshd": 100}
	cases := []struct {
		name  string
		mod   func(e *spec.Image)
		image *ImageConfig
		kind  error
		field string
		msg   string
	}{
		{"unknown capability", func(e *spec.Image) { e.Capabilities = strs("CAP_CHOWN", "CAP_FLY") }, nil, ErrUnknownCapability, "capabilities", `"CAP_FLY"`},
		{"capability near miss", func(e *spec.Image) { e.Capabilities = strs("net_admin") }, nil, ErrUnknownCapability, "capabilities", `did you mean "CAP_NET_ADMIN"`},
		{"all not alone", func(e *spec.Image) { e.Capabilities = strs("all", "CAP_KILL") }, nil, ErrUnknownCapability, "capabilities", "stand alone"},
		{"unknown capability.add", func(e *spec.Image) { e.CapabilitiesAdd = strs("CAP_X") }, nil, ErrUnknownCapability, "capabilities.add", `"CAP_X"`},
		{"unknown ambient", func(e *spec.Image) { e.Ambient = strs("CAP_X") }, nil, ErrUnknownCapability, "ambient", `"CAP_X"`},
		{"bind without colon", func(e *spec.Image) { e.Binds = strs("/a:/a", "/var") }, nil, ErrInvalid, "binds[1]", "missing ':'"},
		{"bind with too many colons", func(e *spec.Image) { e.BindsAdd = strs("/a:/b:ro:x") }, nil, ErrInvalid, "binds.add[0]", "too many ':'"},
		{"bind with empty source", func(e *spec.Image) { e.Binds = strs(":/b") }, nil, ErrInvalid, "binds[0]", "empty source"},
		{"bind with relative destination", func(e *spec.Image) { e.Binds = strs("/a:b") }, nil, ErrInvalid, "binds[0]", "not an absolute path"},
		{"tmpfs with too many colons", func(e *spec.Image) { e.Tmpfs = strs("/t:a:b") }, nil, ErrInvalid, "tmpfs[0]", "too many ':'"},
		{"tmpfs without destination", func(e *spec.Image) { e.Tmpfs = strs(":size=1m") }, nil, ErrInvalid, "tmpfs[0]", "empty destination"},
		{"mount without type", func(e *spec.Image) { e.Mounts = &[]spec.Mount{{Destination: "/x", Source: "/y"}} }, nil, ErrInvalid, "mounts[0]", "no type"},
		{"mount without destination", func(e *spec.Image) { e.Mounts = &[]spec.Mount{{Type: "tmpfs"}} }, nil, ErrInvalid, "mounts[0]", "no destination"},
		{"rlimit unknown", func(e *spec.Image) { e.Rlimits = strs("nofile,1,1", "flying,1,2") }, nil, ErrInvalid, "rlimits[1]", `unknown limit "flying"`},
		{"rlimit not a number", func(e *spec.Image) { e.Rlimits = strs("nofile,lots,2") }, nil, ErrInvalid, "rlimits[0]", `"lots"`},
		{"rlimit two fields", func(e *spec.Image) { e.Rlimits = strs("nofile,2") }, nil, ErrInvalid, "rlimits[0]", "name,soft,hard"},
		{"rlimit soft above hard", func(e *spec.Image) { e.Rlimits = strs("nofile,unlimited,10") }, nil, ErrInvalid, "rlimits[0]", "soft limit above hard"},
		{"rlimit twice", func(e *spec.Image) { e.Rlimits = strs("nofile,1,1", "RLIMIT_NOFILE,2,2") }, nil, ErrInvalid, "rlimits[1]", "twice"},
		{"unknown uid name", func(e *spec.Image) { e.UID = name("nobody") }, nil, ErrUnknownID, "uid", `"nobody"`},
		{"unknown gid name", func(e *spec.Image) { e.GID = name("wheel") }, nil, ErrUnknownID, "gid", `"wheel"`},
		{"unknown additional gid", func(e *spec.Image) { e.AdditionalGids = &[]spec.IDValue{*name("sshd"), *name("x")} }, nil, ErrUnknownID, "additionalGids[1]", `"x"`},
		{"device mode not octal", func(e *spec.Image) { e.Devices = &[]spec.Device{{Path: "/dev/x", Type: "c", Mode: "0999"}} }, nil, ErrInvalid, "devices[0]", "octal"},
		{"device mode missing", func(e *spec.Image) { e.Devices = &[]spec.Device{{Path: "/dev/x", Type: "c"}} }, nil, ErrInvalid, "devices[0]", "octal"},
		{"device type", func(e *spec.Image) { e.Devices = &[]spec.Device{{Path: "/dev/x", Type: "q", Mode: "0600"}} }, nil, ErrInvalid, "devices[0]", `type "q"`},
		{"all devices type", func(e *spec.Image) { e.Devices = &[]spec.Device{{Path: "all", Type: "p"}} }, nil, ErrInvalid, "devices[0]", "type a, b or c"},
		{"device relative path", func(e *spec.Image) { e.Devices = &[]spec.Device{{Path: "dev/x", Type: "c", Mode: "0600"}} }, nil, ErrInvalid, "devices[0]", "absolute"},
		{"namespace value", func(e *spec.Image) { e.Net = "private" }, nil, ErrInvalid, "net", `"private"`},
		{"pid namespace value", func(e *spec.Image) { e.Pid = "shared" }, nil, ErrInvalid, "pid", `"shared"`},
		{"hostname without uts", func(e *spec.Image) { e.Hostname = "h" }, nil, ErrInvalid, "hostname", "UTS"},
		{"userns without mappings", func(e *spec.Image) { e.Userns = "new" }, nil, ErrInvalid, "userns", "uidMappings"},
		{"no command", nil, &ImageConfig{Env: []string{"A=1"}}, ErrInvalid, "command", "no command"},
		{"relative cwd", func(e *spec.Image) { e.Cwd = "work" }, nil, ErrInvalid, "cwd", "absolute"},
		{"rootfs propagation", func(e *spec.Image) { e.RootfsPropagation = ptr("rshared,rw") }, nil, ErrInvalid, "rootfsPropagation", "rshared,rw"},
		{"interface without name", func(e *spec.Image) { e.Runtime = &spec.Runtime{Interfaces: &[]spec.Interface{{Add: "veth"}}} }, nil, ErrInvalid, "runtime.interfaces[0]", "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := busybox
			if tc.image != nil {
				img = *tc.image
			}
			e := entry(tc.mod)
			e.Name = "web"
			_, _, err := Generate(e, img, ids)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("error %q is not a *Error", err)
			}
			eq(t, "container", ee.Container, "web")
			eq(t, "field", ee.Field, tc.field)
			for _, s := range []string{`container "web"`, tc.field + ":", tc.msg} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestPlacementErrors(t *testing.T) {
	for _, p := range []Placement{
		{Dir: "", Root: "a/rootfs"},
		{Dir: "/containers/x", Root: "containers/x/rootfs"},
		{Dir: "containers/x", Root: "../etc"},
		{Dir: "containers//x", Root: "containers/x/rootfs"},
	} {
		_, _, err := Generate(entry(nil), busybox, nil, WithPlacement(p))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "placement") {
			t.Errorf("placement %+v: error %v", p, err)
		}
	}
	if _, _, err := Generate(nil, busybox, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil entry: error %v", err)
	}
}
