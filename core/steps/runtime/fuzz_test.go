package runtime

import (
	"errors"
	"testing"

	"github.com/kitbuild/kit/core/spec"
)

// FuzzGenerate feeds arbitrary strings to the parsers of bind, tmpfs,
// rlimit, capability, device mode and namespace values. Generate must never
// panic, must fail only with a *Error, and must keep its invariants when it
// succeeds.
func FuzzGenerate(f *testing.F) {
	f.Add("/a:/b", "/tmp:size=1m", "nofile,1,unlimited", "CAP_KILL", "0666", "new")
	f.Add("/a:/b:ro,nosuid", "/run", "core,0,0", "all", "0600", "/proc/1/ns/net")
	f.Add("::", ":", ",,", "none", "9", "host")
	f.Add("/x:/dev", "/dev/:mode=1", "RLIMIT_AS,unlimited,unlimited", "net_admin", "", "")
	f.Fuzz(func(t *testing.T, bind, tmpfs, rlimit, capability, mode, ns string) {
		e := entry(func(e *spec.Image) {
			e.Binds = &[]string{bind}
			e.Tmpfs = &[]string{tmpfs}
			e.Rlimits = &[]string{rlimit}
			e.Capabilities = &[]string{capability}
			e.Ambient = &[]string{capability}
			e.Devices = &[]spec.Device{{Path: "/dev/x", Type: "c", Mode: mode}}
			e.Net = ns
			e.Pid = ns
		})
		oci, rt, err := Generate(e, busybox, IDs{})
		if err != nil {
			var ee *Error
			if !errors.As(err, &ee) || ee.Container != "test" || ee.Field == "" {
				t.Fatalf("error %q is not a *Error naming the container and field", err)
			}
			return
		}
		for i := 1; i < len(oci.Mounts); i++ {
			if oci.Mounts[i-1].Destination >= oci.Mounts[i].Destination {
				t.Fatalf("mounts not sorted and unique: %+v", oci.Mounts)
			}
		}
		for _, c := range oci.Process.Capabilities.Bounding {
			if !knownCapabilities[c] {
				t.Fatalf("unknown capability %q in the output", c)
			}
		}
		for _, r := range oci.Process.Rlimits {
			if r.Soft > r.Hard || !rlimitNames[r.Type] {
				t.Fatalf("bad rlimit %+v", r)
			}
		}
		if _, err := Marshal(oci); err != nil {
			t.Fatal(err)
		}
		if _, err := Marshal(rt); err != nil {
			t.Fatal(err)
		}
	})
}
