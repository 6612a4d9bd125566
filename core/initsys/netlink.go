//go:build linux

package initsys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// vethInfoPeer is VETH_INFO_PEER of linux/veth.h.
const vethInfoPeer = 1

// nlAttr is a netlink route attribute: data, or nested attributes.
type nlAttr struct {
	typ    uint16
	data   []byte
	nested []nlAttr
}

func attrString(typ uint16, s string) nlAttr { return nlAttr{typ: typ, data: append([]byte(s), 0)} }

func attrUint32(typ uint16, v uint32) nlAttr {
	return nlAttr{typ: typ, data: binary.NativeEndian.AppendUint32(nil, v)}
}

// encode returns the attribute, padded to 4 bytes.
func (a nlAttr) encode() []byte {
	payload := a.data
	for _, n := range a.nested {
		payload = append(payload, n.encode()...)
	}
	typ := a.typ
	if a.nested != nil {
		typ |= unix.NLA_F_NESTED
	}
	b := binary.NativeEndian.AppendUint16(nil, uint16(unix.SizeofRtAttr+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ifInfomsg is an empty struct ifinfomsg (AF_UNSPEC, no index).
func ifInfomsg() []byte { return make([]byte, unix.SizeofIfInfomsg) }

// newLinkRequest is an RTM_NEWLINK message with the given extra flags.
func newLinkRequest(seq uint32, flags uint16, attrs ...nlAttr) []byte {
	body := ifInfomsg()
	for _, a := range attrs {
		body = append(body, a.encode()...)
	}
	b := binary.NativeEndian.AppendUint32(nil, uint32(unix.SizeofNlMsghdr+len(body)))
	b = binary.NativeEndian.AppendUint16(b, unix.RTM_NEWLINK)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	return append(b, body...)
}

// createLinkRequest creates link name of kind (with a veth peer left in
// the caller's namespace), in the network namespace of nsPid when it is
// not 0.
func createLinkRequest(seq uint32, name, kind, peer string, nsPid int) []byte {
	attrs := []nlAttr{attrString(unix.IFLA_IFNAME, name)}
	if nsPid > 0 {
		attrs = append(attrs, attrUint32(unix.IFLA_NET_NS_PID, uint32(nsPid)))
	}
	info := nlAttr{typ: unix.IFLA_LINKINFO, nested: []nlAttr{attrString(unix.IFLA_INFO_KIND, kind)}}
	if peer != "" {
		peerInfo := nlAttr{typ: vethInfoPeer, data: append(ifInfomsg(), attrString(unix.IFLA_IFNAME, peer).encode()...)}
		info.nested = append(info.nested, nlAttr{typ: unix.IFLA_INFO_DATA, nested: []nlAttr{peerInfo}})
	}
	attrs = append(attrs, info)
	return newLinkRequest(seq, unix.NLM_F_CREATE|unix.NLM_F_EXCL, attrs...)
}

// moveLinkRequest moves link name into the network namespace of nsPid.
func moveLinkRequest(seq uint32, name string, nsPid int) []byte {
	return newLinkRequest(seq, 0, attrString(unix.IFLA_IFNAME, name), attrUint32(unix.IFLA_NET_NS_PID, uint32(nsPid)))
}

var netlinkSeq atomic.Uint32

// netlinkDo sends one request on a new rtnetlink socket and waits for its
// acknowledgement.
func netlinkDo(req []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	seq := binary.NativeEndian.Uint32(req[8:12])
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		done, err := netlinkAck(buf[:n], seq)
		if done {
			return err
		}
	}
}

// netlinkAck looks for the NLMSG_ERROR reply to seq in the messages of b:
// done tells whether it was there, err is its error (nil for an ack).
func netlinkAck(b []byte, seq uint32) (done bool, err error) {
	for len(b) >= unix.SizeofNlMsghdr {
		l := binary.NativeEndian.Uint32(b[0:4])
		typ := binary.NativeEndian.Uint16(b[4:6])
		s := binary.NativeEndian.Uint32(b[8:12])
		if l < unix.SizeofNlMsghdr || int(l) > len(b) {
			return true, errors.New("netlink reply: bad message length")
		}
		if s == seq && typ == unix.NLMSG_ERROR {
			if l < unix.SizeofNlMsghdr+4 {
				return true, errors.New("netlink reply: short error message")
			}
			if code := int32(binary.NativeEndian.Uint32(b[16:20])); code != 0 {
				return true, unix.Errno(-code)
			}
			return true, nil
		}
		b = b[min(int((l+3)&^3), len(b)):]
	}
	return false, nil
}
