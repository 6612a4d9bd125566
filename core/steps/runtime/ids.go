package runtime

import (
	"fmt"
	"strconv"

	"github.com/kitbuild/kit/core/spec"
)

// firstID is the first id handed to a container name.
const firstID = 100

// IDs maps container names to the uid/gid numbers that spec entries may
// refer to by name (uid: sshd). Build it with AllocateIDs.
type IDs map[string]uint32

// AllocateIDs gives every container of s an id, as LinuxKit does
// (moby/build.Build): one id per container entry, counting from 100 in the
// order onboot, onshutdown, services, each list in spec order. The ids are
// global to the system, not per field: a container's name means the same
// number whether it appears as a uid, a gid or an additional gid, in any
// entry or file. An entry consumes a number even when its name repeats an
// earlier entry's; the name then means the later entry's number (the last
// assignment wins, as in LinuxKit).
func AllocateIDs(s *spec.System) (IDs, error) {
	ids := IDs{}
	if s == nil {
		return ids, nil
	}
	next := uint32(firstID)
	for _, sec := range []struct {
		name    string
		entries []*spec.Image
	}{{"onboot", s.Onboot}, {"onshutdown", s.Onshutdown}, {"services", s.Services}} {
		for i, e := range sec.entries {
			if e == nil {
				return nil, fmt.Errorf("%s[%d]: %w: empty entry", sec.name, i, ErrInvalid)
			}
			ids[e.Name] = next
			next++
		}
	}
	return ids, nil
}

// Resolve turns a uid or gid value into a number: an unset value, "" and
// "root" are 0, numbers pass through, a decimal string is that number
// unless a container bears it as its name, and any other name must be a
// container's name.
func (ids IDs) Resolve(v *spec.IDValue) (uint32, error) {
	switch {
	case v == nil:
		return 0, nil
	case v.Number != nil:
		return *v.Number, nil
	case v.Name == "" || v.Name == "root":
		return 0, nil
	}
	if id, ok := ids[v.Name]; ok {
		return id, nil
	}
	if n, err := strconv.ParseUint(v.Name, 10, 32); err == nil {
		return uint32(n), nil
	}
	return 0, errorf(ErrUnknownID, "%q is not the name of any onboot, onshutdown or service container", v.Name)
}
