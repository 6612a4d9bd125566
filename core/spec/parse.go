package spec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The parsers below read the small string formats inside a spec. Validate
// uses them, and so can the steps that act on the values.

// ParseMode parses an octal permission string such as "0644" (at most
// 07777; the schema's pattern ^0*[0-7]{1,4}$ accepts the same strings).
func ParseMode(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty mode")
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, fmt.Errorf("mode %q is not an octal number such as \"0644\"", s)
		}
	}
	digits := strings.TrimLeft(s, "0")
	m, err := strconv.ParseUint("0"+digits, 8, 32)
	if err != nil || len(digits) > 4 || m > 0o7777 {
		return 0, fmt.Errorf("mode %q is larger than 07777", s)
	}
	return uint32(m), nil
}

// Bind is a parsed "src:dst[:opts]" bind mount.
type Bind struct {
	Source      string
	Destination string
	// Options are the options as written (nil when none were given).
	Options []string
}

// MountOptions are the OCI mount options of the bind: "rw,rbind,rshared"
// when none were given, else the given ones with "rbind" appended.
func (b Bind) MountOptions() []string {
	if b.Options == nil {
		return []string{"rw", "rbind", "rshared"}
	}
	return append(append([]string(nil), b.Options...), "rbind")
}

// ParseBind parses a "src:dst[:opts]" bind mount; dst must be absolute.
func ParseBind(s string) (Bind, error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) < 2:
		return Bind{}, fmt.Errorf("bind %q: want source:destination[:options]", s)
	case len(parts) > 3:
		return Bind{}, fmt.Errorf("bind %q: too many ':' (want source:destination[:options])", s)
	case parts[0] == "":
		return Bind{}, fmt.Errorf("bind %q: empty source", s)
	case !strings.HasPrefix(parts[1], "/"):
		return Bind{}, fmt.Errorf("bind %q: destination must be an absolute path", s)
	}
	b := Bind{Source: parts[0], Destination: parts[1]}
	if len(parts) == 3 {
		opts, err := splitOptions(parts[2])
		if err != nil {
			return Bind{}, fmt.Errorf("bind %q: %w", s, err)
		}
		b.Options = opts
	}
	return b, nil
}

// Tmpfs is a parsed "dst[:opts]" tmpfs mount.
type Tmpfs struct {
	Destination string
	Options     []string
}

// ParseTmpfs parses a "dst[:opts]" tmpfs mount; dst must be absolute.
func ParseTmpfs(s string) (Tmpfs, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return Tmpfs{}, fmt.Errorf("tmpfs %q: too many ':' (want destination[:options])", s)
	}
	if !strings.HasPrefix(parts[0], "/") {
		return Tmpfs{}, fmt.Errorf("tmpfs %q: destination must be an absolute path", s)
	}
	t := Tmpfs{Destination: parts[0]}
	if len(parts) == 2 {
		opts, err := splitOptions(parts[1])
		if err != nil {
			return Tmpfs{}, fmt.Errorf("tmpfs %q: %w", s, err)
		}
		t.Options = opts
	}
	return t, nil
}

func splitOptions(s string) ([]string, error) {
	opts := strings.Split(s, ",")
	for _, o := range opts {
		if o == "" {
			return nil, errors.New("empty mount option")
		}
	}
	return opts, nil
}

// Unlimited is the value of an "unlimited" rlimit.
const Unlimited = math.MaxUint64

// Rlimit is a parsed "name,soft,hard" resource limit.
type Rlimit struct {
	Type string // e.g. "RLIMIT_NOFILE"
	Soft uint64 // Unlimited for "unlimited"
	Hard uint64
}

// ParseRlimit parses "name,soft,hard": the name with or without its RLIMIT_
// prefix, in any case; the limits are numbers or "unlimited"; soft must not
// exceed hard.
func ParseRlimit(s string) (Rlimit, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return Rlimit{}, fmt.Errorf("rlimit %q: want name,soft,hard", s)
	}
	name := strings.ToUpper(strings.TrimSpace(parts[0]))
	if !strings.HasPrefix(name, "RLIMIT_") {
		name = "RLIMIT_" + name
	}
	if !rlimitNames[name] {
		return Rlimit{}, fmt.Errorf("rlimit %q: unknown limit %q", s, strings.TrimSpace(parts[0]))
	}
	r := Rlimit{Type: name}
	for i, dst := range []*uint64{&r.Soft, &r.Hard} {
		v := strings.TrimSpace(parts[i+1])
		if strings.EqualFold(v, "unlimited") {
			*dst = Unlimited
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Rlimit{}, fmt.Errorf("rlimit %q: %q is neither a number nor \"unlimited\"", s, v)
		}
		*dst = n
	}
	if r.Soft > r.Hard {
		return Rlimit{}, fmt.Errorf("rlimit %q: soft limit exceeds hard limit", s)
	}
	return r, nil
}
