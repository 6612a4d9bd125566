package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is a guest port published on the host's loopback interface.
type Port struct {
	Host, Guest uint16
	Proto       string // "tcp" or "udp"
}

// String returns the port in --publish syntax, HOST:GUEST/PROTO.
func (p Port) String() string { return fmt.Sprintf("%d:%d/%s", p.Host, p.Guest, p.Proto) }

// hostfwd returns the port as a QEMU user-mode networking forward rule,
// bound to 127.0.0.1 so the guest is not exposed to the network.
func (p Port) hostfwd() string {
	return fmt.Sprintf("hostfwd=%s:127.0.0.1:%d-:%d", p.Proto, p.Host, p.Guest)
}

// ParsePublish parses HOST:GUEST[/tcp|/udp] (tcp by default).
func ParsePublish(s string) (Port, error) {
	spec, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return Port{}, fmt.Errorf("publish %q: protocol %q: want tcp or udp", s, proto)
	}
	hs, gs, ok := strings.Cut(spec, ":")
	if !ok {
		return Port{}, fmt.Errorf("publish %q: want HOST:GUEST[/tcp|udp]", s)
	}
	h, err := parsePort(hs)
	if err != nil {
		return Port{}, fmt.Errorf("publish %q: host port: %w", s, err)
	}
	g, err := parsePort(gs)
	if err != nil {
		return Port{}, fmt.Errorf("publish %q: guest port: %w", s, err)
	}
	return Port{Host: h, Guest: g, Proto: proto}, nil
}

// ParsePublishes parses each of list and refuses a host port published
// twice for the same protocol.
func ParsePublishes(list []string) ([]Port, error) {
	var ports []Port
	seen := map[string]string{}
	for _, s := range list {
		p, err := ParsePublish(s)
		if err != nil {
			return nil, err
		}
		k := fmt.Sprintf("%s/%d", p.Proto, p.Host)
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("publish %q: host port %d/%s is already published by %q", s, p.Host, p.Proto, prev)
		}
		seen[k] = s
		ports = append(ports, p)
	}
	return ports, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q: want a port from 1 to 65535", s)
	}
	return uint16(n), nil
}
