package format

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

var (
	mu       sync.RWMutex
	registry = map[string]Format{}
)

// ErrUnknown is wrapped by the errors for a format name nobody registered.
var ErrUnknown = errors.New("unknown output format")

// Register makes f available under f.Name(). It fails when the name is
// empty, is already taken, or f lists no outputs or a duplicate suffix.
// It is safe for concurrent use (plugins register at run time).
func Register(f Format) error {
	name := f.Name()
	if name == "" || strings.TrimSpace(name) != name {
		return fmt.Errorf("register format %q: invalid name", name)
	}
	outs := f.Outputs()
	if len(outs) == 0 {
		return fmt.Errorf("register format %s: it lists no outputs", name)
	}
	seen := map[string]bool{}
	for _, o := range outs {
		if o == "" || strings.ContainsAny(o, "/\\") || seen[o] {
			return fmt.Errorf("register format %s: invalid or duplicate output suffix %q", name, o)
		}
		seen[o] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		return fmt.Errorf("register format %s: already registered", name)
	}
	registry[name] = f
	return nil
}

// MustRegister is Register for package init functions: it panics on error,
// which is always a programming mistake there.
func MustRegister(f Format) {
	if err := Register(f); err != nil {
		panic(err)
	}
}

// Lookup returns the format registered under name.
func Lookup(name string) (Format, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := registry[name]
	return f, ok
}

// Get is Lookup with an error that lists the known formats.
func Get(name string) (Format, error) {
	if f, ok := Lookup(name); ok {
		return f, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Names returns the registered format names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
