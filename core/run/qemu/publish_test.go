package qemu

import (
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Port
		err  string
	}{
		{in: "8080:80", want: Port{8080, 80, "tcp"}},
		{in: "6379:6379/tcp", want: Port{6379, 6379, "tcp"}},
		{in: "5353:53/udp", want: Port{5353, 53, "udp"}},
		{in: "65535:1", want: Port{65535, 1, "tcp"}},
		{in: "80", err: "want HOST:GUEST"},
		{in: "80:80/sctp", err: `protocol "sctp"`},
		{in: "80:80/", err: `protocol ""`},
		{in: ":80", err: "host port"},
		{in: "80:", err: "guest port"},
		{in: "0:80", err: "1 to 65535"},
		{in: "65536:80", err: "1 to 65535"},
		{in: "-1:80", err: "not a port number"},
		{in: "+80:80", err: "not a port number"},
		{in: "127.0.0.1:80:80", err: "host port"},
		{in: "a:b", err: "not a port number"},
	} {
		got, err := ParsePublish(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParsePublish(%q) = %v, %v; want an error naming the input and containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePublish(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePublishes(t *testing.T) {
	ports, err := ParsePublishes([]string{"53:53/udp", "53:53", "8080:80"})
	if err != nil || len(ports) != 3 {
		t.Fatalf("ParsePublishes = %v, %v", ports, err)
	}
	if _, err := ParsePublishes([]string{"8080:80", "8080:81/tcp"}); err == nil || !strings.Contains(err.Error(), "already published") {
		t.Errorf("duplicate host port: error = %v", err)
	}
	if _, err := ParsePublishes([]string{"8080:80", "x"}); err == nil {
		t.Error("bad entry accepted")
	}
}

func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"8080:80", "53:53/udp", "1:65535/tcp", ":", "0:0", "80:80/", "99999:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublish(s)
		if err != nil {
			return
		}
		if p.Host == 0 || p.Guest == 0 || (p.Proto != "tcp" && p.Proto != "udp") {
			t.Fatalf("ParsePublish(%q) = %+v: invalid port accepted", s, p)
		}
		q, err := ParsePublish(p.String())
		if err != nil || q != p {
			t.Fatalf("round trip of %q: %v → %q → %v, %v", s, p, p.String(), q, err)
		}
		if strings.ContainsAny(p.hostfwd(), ", ") {
			t.Fatalf("hostfwd %q would break the -netdev option", p.hostfwd())
		}
	})
}
