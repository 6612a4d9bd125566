package runtime

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kitbuild/kit/core/spec"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// goldenSystem is the system the golden entries belong to; its container
// names are what uid/gid names resolve against.
var goldenSystem = &spec.System{
	Onboot:     []*spec.Image{{Name: "sysctl"}, {Name: "dhcpcd"}},
	Onshutdown: []*spec.Image{{Name: "shutdown"}},
	Services:   []*spec.Image{{Name: "getty"}, {Name: "sshd"}},
}

var goldenCases = []struct {
	name      string
	entry     *spec.Image
	image     ImageConfig
	placement *Placement
}{
	{
		name:  "minimal",
		entry: entry(nil),
		image: busybox,
	},
	{
		name: "readonly-own-root",
		entry: entry(func(e *spec.Image) {
			e.Readonly = ptr(true)
			e.Capabilities = strs("CAP_SYS_ADMIN", "CAP_NET_ADMIN")
		}),
		image:     busybox,
		placement: &Placement{Dir: "containers/onboot/000-test", Root: "containers/onboot/000-test/rootfs"},
	},
	{
		name: "writable-shared-root",
		entry: entry(func(e *spec.Image) {
			e.Net = "new"
			e.Runtime = &spec.Runtime{
				Mkdir:      strs("/var/lib/test"),
				Interfaces: &[]spec.Interface{{Name: "eth1", Add: "veth", Peer: "veth-test", CreateInRoot: true}},
				BindNS:     &spec.Namespaces{Net: ptr("/run/netns/test")},
			}
		}),
		image:     busybox,
		placement: &Placement{Dir: "containers/services/test", Root: "containers/onboot/001-dhcpcd/lower"},
	},
	{
		name: "all-caps",
		entry: entry(func(e *spec.Image) {
			e.Capabilities = strs("all")
			e.Pid = "host"
		}),
		image: busybox,
	},
	{
		name: "every-field",
		entry: entry(func(e *spec.Image) {
			e.Name = "sshd"
			e.Image = "linuxkit/sshd:v1.0.0"
			e.Capabilities = strs("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_SETUID")
			e.Ambient = strs("CAP_NET_BIND_SERVICE")
			e.Mounts = &[]spec.Mount{
				{Source: "mqueue"},
				{Destination: "/sys/fs/cgroup", Type: "cgroup", Options: []string{"rw", "nosuid"}},
				{Destination: "/dev", Options: []string{"nosuid", "mode=700"}},
			}
			e.Binds = strs("/var/run:/var/run", "/etc/ssh:/etc/ssh:ro")
			e.BindsAdd = strs("/ignored:/ignored") // Binds replaces the additions
			e.Tmpfs = strs("/tmp:size=10m,mode=1777", "/run")
			e.Command = strs("/usr/sbin/sshd", "-D", "-e")
			e.Env = strs("HOME=/root", "TERM=linux")
			e.Cwd = "/root"
			e.Net = "/run/netns/sshd"
			e.Ipc = "new"
			e.Uts = "new"
			e.Pid = "/proc/1/ns/pid"
			e.Userns = "new"
			e.Hostname = "sshd"
			e.Readonly = ptr(true)
			e.MaskedPaths = strs("/proc/kcore", "/proc/keys")
			e.ReadonlyPaths = strs("/proc/sys")
			e.UID = name("sshd")
			e.GID = name("getty")
			e.AdditionalGids = &[]spec.IDValue{*num(42), *name("root"), *name("sysctl")}
			e.NoNewPrivileges = ptr(true)
			e.OOMScoreAdj = ptr(-500)
			e.RootfsPropagation = ptr("rslave")
			e.CgroupsPath = ptr("/kit/sshd")
			e.Resources = &spec.Resources{
				Memory: &spec.Memory{Limit: ptr(int64(256 << 20)), DisableOOMKiller: ptr(true), KernelTCP: ptr(int64(1 << 20))},
				CPU:    &spec.CPU{Shares: ptr(uint64(512)), Cpus: "0-1"},
				Pids:   &spec.Pids{Limit: 100},
				BlockIO: &spec.BlockIO{
					Weight:                ptr(uint16(300)),
					ThrottleReadBpsDevice: []spec.ThrottleDevice{{Major: 8, Minor: 0, Rate: 1 << 20}},
				},
				HugepageLimits: []spec.HugepageLimit{{Pagesize: "2MB", Limit: 1 << 30}},
				Network:        &spec.Network{ClassID: ptr(uint32(7)), Priorities: []spec.InterfacePriority{{Name: "eth0", Priority: 5}}},
				Unified:        map[string]string{"memory.high": "200M"},
			}
			e.Sysctl = &map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000"}
			e.Rlimits = strs("nofile,1024,unlimited", "RLIMIT_CORE,0,0")
			e.UIDMappings = &[]spec.IDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			e.GIDMappings = &[]spec.IDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			e.Annotations = &map[string]string{"org.example/role": "ssh <server> & more"}
			e.Devices = &[]spec.Device{
				{Path: "/dev/console", Type: "c", Major: 5, Minor: 1, Mode: "0666"},
				{Path: "all", Type: "b"},
			}
			e.Runtime = &spec.Runtime{
				Cgroups:   strs("kit/sshd"),
				Mounts:    &[]spec.Mount{{Destination: "/var/lib/sshd", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}},
				Mkdir:     strs("/var/lib/sshd"),
				Namespace: ptr("services.linuxkit"),
				BindNS:    &spec.Namespaces{Net: ptr("/run/netns/sshd"), Uts: ptr("/run/utsns/sshd")},
			}
		}),
		image: ImageConfig{Entrypoint: []string{"/bin/ignored"}, Env: []string{"IGNORED=1"}, WorkingDir: "/ignored", User: "nobody"},
	},
}

func TestGolden(t *testing.T) {
	ids, err := AllocateIDs(goldenSystem)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.placement != nil {
				opts = append(opts, WithPlacement(*tc.placement))
			}
			oci, rt, err := Generate(tc.entry, tc.image, ids, opts...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(map[string]any{"config.json": oci, "runtime.json": rt})
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./core/steps/runtime -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the generated output (refresh with -update if intended):\n%s", file, got)
			}
		})
	}
}
