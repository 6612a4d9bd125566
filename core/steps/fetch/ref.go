package fetch

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ParseRef parses an image reference with Docker's normalisation: a missing
// registry is Docker Hub ("redis:7" → "index.docker.io/library/redis:7"), a
// missing tag is "latest". References to loopback registries (127.0.0.0/8,
// localhost, ::1) use plain HTTP. The canonical form, used as the key of the
// lock file, is the reference's Name().
func ParseRef(s string) (name.Reference, error) {
	if s == "" {
		return nil, fmt.Errorf("image reference is empty")
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", s, err)
	}
	if isLoopback(ref.Context().RegistryStr()) {
		if ref, err = name.ParseReference(s, name.Insecure); err != nil {
			return nil, fmt.Errorf("image reference %q: %w", s, err)
		}
	}
	return ref, nil
}

// Canonical returns the canonical form of an image reference, as written in
// the lock file.
func Canonical(s string) (string, error) {
	ref, err := ParseRef(s)
	if err != nil {
		return "", err
	}
	return ref.Name(), nil
}

// isLoopback reports whether a registry host[:port] is on the loopback
// interface.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// registryKey normalises a registry name given in options ("docker.io" →
// "index.docker.io").
func registryKey(s string) (string, error) {
	r, err := name.NewRegistry(s)
	if err != nil {
		return "", err
	}
	return r.RegistryStr(), nil
}

// mirror is a parsed Options.Mirrors entry.
type mirror struct {
	host     string
	prefix   string // repository prefix (path of the mirror URL)
	insecure bool
}

func parseMirror(raw string) (mirror, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return mirror{}, fmt.Errorf("mirror %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return mirror{}, fmt.Errorf("mirror %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return mirror{}, fmt.Errorf("mirror %q: want [http[s]://]host[:port][/prefix]", raw)
	}
	m := mirror{host: u.Host, prefix: strings.Trim(u.Path, "/"), insecure: u.Scheme == "http"}
	if _, err := name.NewRegistry(m.host); err != nil {
		return mirror{}, fmt.Errorf("mirror %q: %w", raw, err)
	}
	return m, nil
}
