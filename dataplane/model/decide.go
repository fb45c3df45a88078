package model

import (
	"encoding/binary"
	"net/netip"
)

// Verdict is the XDP action, numbered as the kernel's enum xdp_action.
type Verdict uint8

const (
	Aborted Verdict = 0 // XDP_ABORTED: never chosen on purpose
	Drop    Verdict = 1 // XDP_DROP
	Pass    Verdict = 2 // XDP_PASS
	Tx      Verdict = 3 // XDP_TX: sent back out of the interface, MACs rewritten
)

func (v Verdict) String() string {
	switch v {
	case Aborted:
		return "ABORTED"
	case Drop:
		return "DROP"
	case Pass:
		return "PASS"
	case Tx:
		return "TX"
	}
	return "?"
}

// Reason names the counter a decision increments. Frames not addressed to a
// VIP (and ARP/NS not about one) count nowhere: ReasonNone.
type Reason uint8

const (
	ReasonNone Reason = iota
	Accepted          // XDP_PASS of VIP traffic (own bucket, peer frame, ARP holder duty)
	Forwarded         // XDP_TX to the bucket's owner (or previous owner under the drain rule)
	Dropped           // bucket without owner, not the ARP holder, malformed, owner MAC unknown
	NotOurs           // vmac_invisible: another node's bucket
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case Accepted:
		return "accepted"
	case Forwarded:
		return "forwarded"
	case Dropped:
		return "dropped"
	case NotOurs:
		return "not_ours"
	}
	return "?"
}

// Env is what the XDP program learns at run time rather than from its maps.
type Env struct {
	NowNs       uint64 // CLOCK_MONOTONIC (bpf_ktime_get_ns) in nanoseconds
	SocketFound bool   // bpf_skc_lookup_tcp found a non-LISTEN local socket for the packet's 4-tuple
}

// Decision is the outcome of one frame.
type Decision struct {
	Verdict Verdict
	Reason  Reason
	Group   int    // rule group, -1 when none (ARP/NS, no rule, malformed, not a VIP)
	Bucket  int    // -1 when none
	Out     []byte // the frame as transmitted, for Tx only
	// LookedUp tells whether the decision consulted Env.SocketFound (the
	// drain rule's socket lookup ran).
	LookedUp bool
	// Target is the node the frame is forwarded to (Tx only), else -1.
	Target int
}

// Ethernet and IP constants of the parser.
const (
	ethHdrLen    = 14
	vlanHdrLen   = 4
	ethPVLAN     = 0x8100
	ethPIPv4     = 0x0800
	ethPIPv6     = 0x86DD
	ethPARP      = 0x0806
	ipv4HdrLen   = 20
	ipv6HdrLen   = 40
	protoICMPv6  = 58
	icmp6NS      = 135
	nsLen        = 24 // type, code, checksum, reserved, target address
	tcpHdrLen    = 20
	udpHdrLen    = 8
	tcpFlagSYN   = 0x02
	tcpFlagACK   = 0x10
	MaxExtHdrs   = 8 // IPv6 extension headers walked before giving up (malformed)
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6AH       = 51
	ipv6DestOpts = 60
)

func pass() Decision { return Decision{Verdict: Pass, Group: -1, Bucket: -1, Target: -1} }

func global(v Verdict, r Reason) Decision {
	return Decision{Verdict: v, Reason: r, Group: -1, Bucket: -1, Target: -1}
}

// holderDuty is the verdict on ARP requests and neighbour solicitations for a
// VIP, and on VIP traffic matching no rule: only the ARP holder lets them in.
func holderDuty(t *Tables) Decision {
	if t.ARPHolder {
		return global(Pass, Accepted)
	}
	return global(Drop, Dropped)
}

// Decide is the XDP program's verdict on frame with tables t (nil: not
// configured, everything passes). It never panics on any frame.
func Decide(frame []byte, t *Tables, env Env) Decision {
	if t == nil || len(frame) < ethHdrLen {
		return pass()
	}
	l3 := ethHdrLen
	etype := binary.BigEndian.Uint16(frame[12:])
	if etype == ethPVLAN {
		if len(frame) < ethHdrLen+vlanHdrLen {
			return pass()
		}
		etype = binary.BigEndian.Uint16(frame[16:])
		l3 += vlanHdrLen
	}
	switch etype {
	case ethPARP:
		return decideARP(frame, l3, t)
	case ethPIPv4:
		return decideIPv4(frame, l3, t, env)
	case ethPIPv6:
		return decideIPv6(frame, l3, t, env)
	}
	return pass()
}

func isVIP(t *Tables, a [16]byte) bool {
	for _, v := range t.VIPs {
		if v.As16() == a {
			return true
		}
	}
	return false
}

func v4key(b []byte) [16]byte {
	return netip.AddrFrom4([4]byte(b)).As16()
}

func decideARP(frame []byte, l3 int, t *Tables) Decision {
	const arpLen = 28
	if len(frame) < l3+arpLen {
		return pass()
	}
	a := frame[l3:]
	// Ethernet/IPv4 ARP requests only: replies and other hardware types pass.
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != ethPIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:]) != 1 {
		return pass()
	}
	if !isVIP(t, v4key(a[24:28])) {
		return pass()
	}
	return holderDuty(t)
}

// l4info is what the transport step needs from the network layer.
type l4info struct {
	src        netip.Addr
	dst        [16]byte
	proto      uint8
	fragmented bool
	l4         int
}

func decideIPv4(frame []byte, l3 int, t *Tables, env Env) Decision {
	if len(frame) < l3+ipv4HdrLen {
		return pass()
	}
	ip := frame[l3:]
	if ip[0]>>4 != 4 {
		return pass()
	}
	dst := v4key(ip[16:20])
	if !isVIP(t, dst) {
		return pass()
	}
	ihl := int(ip[0]&0x0F) * 4
	if ihl < ipv4HdrLen || l3+ihl > len(frame) {
		return global(Drop, Dropped) // malformed VIP traffic
	}
	in := l4info{
		src:        netip.AddrFrom4([4]byte(ip[12:16])),
		dst:        dst,
		proto:      ip[9],
		fragmented: binary.BigEndian.Uint16(ip[6:])&0x3FFF != 0, // MF or offset
		l4:         l3 + ihl,
	}
	return decideTransport(frame, in, t, env)
}

func decideIPv6(frame []byte, l3 int, t *Tables, env Env) Decision {
	if len(frame) < l3+ipv6HdrLen {
		return pass()
	}
	ip := frame[l3:]
	if ip[0]>>4 != 6 {
		return pass()
	}
	nh := ip[6]
	dst := [16]byte(ip[24:40])
	if !isVIP(t, dst) {
		// A neighbour solicitation for a VIP goes to its solicited-node
		// multicast address, so it is recognised by its target. Only an NS
		// right after the fixed header is looked at (RFC 4861 NS carry no
		// extension headers).
		off := l3 + ipv6HdrLen
		if nh == protoICMPv6 && len(frame) >= off+nsLen && frame[off] == icmp6NS &&
			isVIP(t, [16]byte(frame[off+8:off+24])) {
			return holderDuty(t)
		}
		return pass()
	}
	in := l4info{src: netip.AddrFrom16([16]byte(ip[8:24])), dst: dst}
	off := l3 + ipv6HdrLen
	done := false
	for i := 0; i < MaxExtHdrs && !done; i++ {
		switch nh {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
			if len(frame) < off+8 {
				return global(Drop, Dropped)
			}
			nh, off = frame[off], off+(int(frame[off+1])+1)*8
		case ipv6AH:
			if len(frame) < off+8 {
				return global(Drop, Dropped)
			}
			nh, off = frame[off], off+(int(frame[off+1])+2)*4
		case ipv6Fragment:
			// The walk stops at the Fragment header: its next header is the
			// protocol of every fragment, the first as well as the others.
			if len(frame) < off+8 {
				return global(Drop, Dropped)
			}
			in.fragmented = true
			nh, off = frame[off], off+8
			done = true
		default:
			done = true
		}
	}
	if !done {
		return global(Drop, Dropped) // chain longer than MaxExtHdrs
	}
	in.proto, in.l4 = nh, off
	return decideTransport(frame, in, t, env)
}

func decideTransport(frame []byte, in l4info, t *Tables, env Env) Decision {
	var sport, dport uint16
	var flags uint8
	if in.proto != ProtoTCP && in.proto != ProtoUDP {
		return holderDuty(t) // ICMP, NS to the VIP itself, ...: no rule applies
	}
	if !in.fragmented {
		need := udpHdrLen
		if in.proto == ProtoTCP {
			need = tcpHdrLen
		}
		if in.l4+need > len(frame) {
			return global(Drop, Dropped)
		}
		l4 := frame[in.l4:]
		sport, dport = binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
		if in.proto == ProtoTCP {
			flags = l4[13]
		}
	}
	rule, ok := matchRule(t, in, dport)
	if !ok {
		return holderDuty(t)
	}
	g := int(rule.Group)
	if g >= len(t.Owners) {
		return global(Drop, Dropped) // tables that failed Validate: refuse, never panic
	}
	b := int(BucketOf(in.src, sport, rule.Filter, in.fragmented))
	d := Decision{Group: g, Bucket: b, Target: -1}
	owner := t.Owners[g][b]

	// The drain rule (docs/dataplane.md): during a bucket's drain window the
	// previous owner keeps the packets of its established connections and
	// the new owner hands unknown non-SYN segments back to it.
	syn := flags&(tcpFlagSYN|tcpFlagACK) == tcpFlagSYN
	if in.proto == ProtoTCP && !in.fragmented && !syn && g < len(t.Prev) && g < len(t.DrainUntil) {
		prev := t.Prev[g][b]
		if prev != NoOwner && prev != owner && env.NowNs < t.DrainUntil[g][b] &&
			(prev == t.Self || owner == t.Self) {
			d.LookedUp = true
			if prev == t.Self && env.SocketFound {
				d.Verdict, d.Reason = Pass, Accepted
				return d
			}
			if owner == t.Self && !env.SocketFound {
				if t.Mode == VMACInvisible {
					d.Verdict, d.Reason = Drop, NotOurs // the previous owner saw it too
					return d
				}
				if m := macOf(t, prev); m != ([6]byte{}) && m == [6]byte(frame[6:12]) {
					d.Verdict, d.Reason = Pass, Accepted // came from the previous owner: no ping-pong
					return d
				}
				return forward(frame, t, d, prev)
			}
		}
	}
	if owner == t.Self {
		d.Verdict, d.Reason = Pass, Accepted
		return d
	}
	if t.Mode == VMACInvisible {
		if owner == NoOwner {
			d.Verdict, d.Reason = Drop, Dropped
		} else {
			d.Verdict, d.Reason = Drop, NotOurs
		}
		return d
	}
	if isPeer(t, [6]byte(frame[6:12])) {
		d.Verdict, d.Reason = Pass, Accepted // already forwarded once: never again
		return d
	}
	if owner == NoOwner {
		d.Verdict, d.Reason = Drop, Dropped
		return d
	}
	return forward(frame, t, d, owner)
}

func matchRule(t *Tables, in l4info, dport uint16) (Rule, bool) {
	n := 0
	for _, r := range t.Rules {
		if !ruleAppliesTo(r, in.dst) {
			continue
		}
		if n++; n > MaxVIPRules {
			break
		}
		// A fragment's port is unknown after the first one, so fragments
		// match on protocol alone: all of a datagram's fragments agree.
		if r.Proto == in.proto && (in.fragmented || r.Port == 0 || r.Port == dport) {
			return r, true
		}
	}
	return Rule{}, false
}

func macOf(t *Tables, node uint8) [6]byte {
	if int(node) < len(t.MACs) {
		return t.MACs[node]
	}
	return [6]byte{}
}

func isPeer(t *Tables, src [6]byte) bool {
	if src == ([6]byte{}) {
		return false
	}
	for i, m := range t.MACs {
		if i != int(t.Self) && m == src {
			return true
		}
	}
	return false
}

// forward rewrites the MACs toward node to: destination its MAC, source
// ours (or the switch would learn the client's MAC on our port).
func forward(frame []byte, t *Tables, d Decision, to uint8) Decision {
	dst, src := macOf(t, to), macOf(t, t.Self)
	if dst == ([6]byte{}) || src == ([6]byte{}) {
		d.Verdict, d.Reason = Drop, Dropped
		return d
	}
	out := append([]byte(nil), frame...)
	copy(out[0:6], dst[:])
	copy(out[6:12], src[:])
	d.Verdict, d.Reason, d.Out, d.Target = Tx, Forwarded, out, int(to)
	return d
}
