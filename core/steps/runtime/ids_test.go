package runtime

import (
	"errors"
	"testing"

	"github.com/kitbuild/kit/core/spec"
)

func TestAllocateIDs(t *testing.T) {
	s := &spec.System{
		Onboot:     []*spec.Image{{Name: "sysctl"}, {Name: "dhcpcd"}, {Name: "mount"}},
		Onshutdown: []*spec.Image{{Name: "shutdown"}},
		Services:   []*spec.Image{{Name: "getty"}, {Name: "dhcpcd"}, {Name: "sshd"}},
	}
	ids, err := AllocateIDs(s)
	if err != nil {
		t.Fatal(err)
	}
	// One number per entry, in order onboot, onshutdown, services; the
	// service dhcpcd (105) replaces the onboot one (101), which still used
	// up its number.
	eq(t, "ids", ids, IDs{"sysctl": 100, "mount": 102, "shutdown": 103, "getty": 104, "dhcpcd": 105, "sshd": 106})

	empty, err := AllocateIDs(&spec.System{})
	if err != nil || len(empty) != 0 {
		t.Errorf("empty system: %v, %v", empty, err)
	}
	if _, err := AllocateIDs(&spec.System{Services: []*spec.Image{{Name: "a"}, nil}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil entry: error %v", err)
	}
}

func TestResolve(t *testing.T) {
	ids := IDs{"sshd": 104, "7": 101}
	cases := []struct {
		v    *spec.IDValue
		want uint32
		err  error
	}{
		{nil, 0, nil},
		{&spec.IDValue{}, 0, nil},
		{name("root"), 0, nil},
		{num(0), 0, nil},
		{num(4242), 4242, nil},
		{name("sshd"), 104, nil},
		{name("1000"), 1000, nil},
		{name("7"), 101, nil}, // a container's name wins over the number
		{name("nobody"), 0, ErrUnknownID},
		{name("-1"), 0, ErrUnknownID},
		{name("4294967296"), 0, ErrUnknownID},
	}
	for _, tc := range cases {
		got, err := ids.Resolve(tc.v)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("Resolve(%+v): error %v, want %v", tc.v, err, tc.err)
		}
		if got != tc.want {
			t.Errorf("Resolve(%+v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
