//go:build linux

package initsys

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// attrs decodes route attributes after an ifinfomsg.
func attrs(t *testing.T, b []byte) map[uint16][]byte {
	t.Helper()
	m := &syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWLINK}, Data: b}
	list, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint16][]byte{}
	for _, a := range list {
		out[a.Attr.Type&^unix.NLA_F_NESTED] = a.Value
	}
	return out
}

// nested decodes nested attributes.
func nested(t *testing.T, b []byte) map[uint16][]byte {
	t.Helper()
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ unix.NLA_F_NESTED
		if l < 4 || l > len(b) {
			t.Fatalf("bad attribute length %d", l)
		}
		out[typ] = b[4:l]
		b = b[min((l+3)&^3, len(b)):]
	}
	return out
}

func TestCreateLinkRequest(t *testing.T) {
	req := createLinkRequest(7, "eth1", "veth", "veth-x", 42)
	msgs, err := syscall.ParseNetlinkMessage(req)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	h := msgs[0].Header
	if h.Type != unix.RTM_NEWLINK || h.Seq != 7 || int(h.Len) != len(req) ||
		h.Flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL {
		t.Errorf("header %+v", h)
	}
	a := attrs(t, msgs[0].Data)
	if string(a[unix.IFLA_IFNAME]) != "eth1\x00" || binary.NativeEndian.Uint32(a[unix.IFLA_NET_NS_PID]) != 42 {
		t.Errorf("attributes %v", a)
	}
	info := nested(t, a[unix.IFLA_LINKINFO])
	if string(info[unix.IFLA_INFO_KIND]) != "veth\x00" {
		t.Errorf("kind %q", info[unix.IFLA_INFO_KIND])
	}
	peer := nested(t, info[unix.IFLA_INFO_DATA])[vethInfoPeer]
	if len(peer) < unix.SizeofIfInfomsg {
		t.Fatalf("peer %q", peer)
	}
	if name := nested(t, peer[unix.SizeofIfInfomsg:])[unix.IFLA_IFNAME]; string(name) != "veth-x\x00" {
		t.Errorf("peer name %q", name)
	}

	move := moveLinkRequest(8, "eth0", 43)
	msgs, err = syscall.ParseNetlinkMessage(move)
	if err != nil || len(msgs) != 1 || msgs[0].Header.Flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK {
		t.Fatalf("move: %+v, %v", msgs, err)
	}
	a = attrs(t, msgs[0].Data)
	if string(a[unix.IFLA_IFNAME]) != "eth0\x00" || binary.NativeEndian.Uint32(a[unix.IFLA_NET_NS_PID]) != 43 || a[unix.IFLA_LINKINFO] != nil {
		t.Errorf("move attributes %v", a)
	}
}

// errMessage is an NLMSG_ERROR reply to seq with errno code.
func errMessage(seq uint32, code int32) []byte {
	b := binary.NativeEndian.AppendUint32(nil, 36)
	b = binary.NativeEndian.AppendUint16(b, unix.NLMSG_ERROR)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint32(b, uint32(code))
	return append(b, make([]byte, 16)...)
}

func TestNetlinkAck(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		done bool
		err  error
	}{
		{"ack", errMessage(3, 0), true, nil},
		{"error", errMessage(3, -int32(unix.EEXIST)), true, unix.EEXIST},
		{"other seq", errMessage(4, 0), false, nil},
		{"after another", append(errMessage(2, 0), errMessage(3, -int32(unix.EPERM))...), true, unix.EPERM},
		{"empty", nil, false, nil},
	}
	for _, tt := range tests {
		done, err := netlinkAck(tt.b, 3)
		if done != tt.done || !errors.Is(err, tt.err) && (err != nil || tt.err != nil) {
			t.Errorf("%s: %v, %v; want %v, %v", tt.name, done, err, tt.done, tt.err)
		}
	}
	if done, err := netlinkAck([]byte{200, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0}, 3); !done || err == nil {
		t.Error("a message longer than the buffer was accepted")
	}
}

func FuzzNetlinkAck(f *testing.F) {
	f.Add(errMessage(3, 0))
	f.Add(append(errMessage(2, 0), errMessage(3, -1)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = netlinkAck(b, 3)
	})
}
