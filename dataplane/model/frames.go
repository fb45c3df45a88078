package model

import (
	"encoding/binary"
	"net/netip"
)

// Frame builders shared by the dataplane tests, the simulator and the lab:
// minimal, well-formed Ethernet frames whose checksums are not filled in (the
// XDP program never reads them).

// FrameOpts are the link-layer fields of a built frame.
type FrameOpts struct {
	SrcMAC, DstMAC [6]byte
	VLAN           uint16 // 802.1Q VLAN id; 0 = untagged
}

func ethHeader(o FrameOpts, etype uint16) []byte {
	b := make([]byte, 0, 128)
	b = append(b, o.DstMAC[:]...)
	b = append(b, o.SrcMAC[:]...)
	if o.VLAN != 0 {
		b = binary.BigEndian.AppendUint16(b, ethPVLAN)
		b = binary.BigEndian.AppendUint16(b, o.VLAN&0x0FFF)
	}
	return binary.BigEndian.AppendUint16(b, etype)
}

// IPFrame builds an Ethernet frame carrying an IPv4 or IPv6 packet (by the
// family of src; dst must match) with protocol proto and payload l4.
func IPFrame(o FrameOpts, src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	if src.Is4() {
		b := ethHeader(o, ethPIPv4)
		ip := make([]byte, ipv4HdrLen)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HdrLen+len(l4)))
		ip[8] = 64
		ip[9] = proto
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		return append(append(b, ip...), l4...)
	}
	b := ethHeader(o, ethPIPv6)
	ip := make([]byte, ipv6HdrLen)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	ip[6] = proto
	ip[7] = 64
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(append(b, ip...), l4...)
}

// TCPSegment is a 20-byte TCP header with the given ports and flags.
func TCPSegment(sport, dport uint16, flags uint8) []byte {
	h := make([]byte, tcpHdrLen)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	return h
}

// UDPDatagram is an 8-byte UDP header followed by payload.
func UDPDatagram(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, udpHdrLen, udpHdrLen+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(udpHdrLen+len(payload)))
	return append(h, payload...)
}

// TCP flag bits for TCPSegment.
const (
	FlagFIN = 0x01
	FlagSYN = tcpFlagSYN
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = tcpFlagACK
)

// TCPFrame is a TCP segment from src to dst (IPv4 or IPv6).
func TCPFrame(o FrameOpts, src, dst netip.AddrPort, flags uint8) []byte {
	return IPFrame(o, src.Addr(), dst.Addr(), ProtoTCP, TCPSegment(src.Port(), dst.Port(), flags))
}

// UDPFrame is a UDP datagram from src to dst (IPv4 or IPv6).
func UDPFrame(o FrameOpts, src, dst netip.AddrPort, payload []byte) []byte {
	return IPFrame(o, src.Addr(), dst.Addr(), ProtoUDP, UDPDatagram(src.Port(), dst.Port(), payload))
}

// ARPRequest is a broadcast "who has target, tell sender" request.
func ARPRequest(o FrameOpts, sender, target netip.Addr) []byte {
	o.DstMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	b := ethHeader(o, ethPARP)
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], ethPIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1)
	copy(a[8:14], o.SrcMAC[:])
	s, t := sender.As4(), target.As4()
	copy(a[14:18], s[:])
	copy(a[24:28], t[:])
	return append(b, a...)
}

// NeighborSolicitation is an ICMPv6 NS for target, sent to its
// solicited-node multicast address.
func NeighborSolicitation(o FrameOpts, sender, target netip.Addr) []byte {
	t := target.As16()
	dst := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	o.DstMAC = [6]byte{0x33, 0x33, 0xff, t[13], t[14], t[15]}
	ns := make([]byte, nsLen)
	ns[0] = icmp6NS
	copy(ns[8:], t[:])
	return IPFrame(o, sender, dst, protoICMPv6, ns)
}
