package runtime

import (
	"errors"
	"fmt"
)

// Errors that Generate wraps, so callers can tell kinds of bad input apart
// with errors.Is.
var (
	// ErrUnknownCapability is a capability name the kernel does not define.
	ErrUnknownCapability = errors.New("unknown capability")
	// ErrUnknownID is a uid or gid name that is not the name of any
	// onboot, onshutdown or service container.
	ErrUnknownID = errors.New("unknown id name")
	// ErrInvalid is any other malformed value (a bind, tmpfs, rlimit,
	// device, namespace or mount that cannot be used).
	ErrInvalid = errors.New("invalid value")
)

// Error is a problem with one container entry. It names the container and
// the field at fault ("binds[1]", "rlimits[0]", ...), so a caller holding
// the spec's source map can point at the line.
type Error struct {
	// Container is the entry's name.
	Container string
	// Image is the entry's image reference.
	Image string
	// Field is the entry field at fault, with an index for list fields.
	Field string
	// Err is the problem; it wraps one of the Err* values above.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("container %q", e.Container)
	if e.Image != "" {
		s += " (" + e.Image + ")"
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// errorf wraps kind with a formatted detail: "<kind>: <detail>".
func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
