package dataplane

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	"pgregory.net/rapid"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// Random tables and frames for the differential tests. Frames are built to
// reach every branch of the decision — VIP or not, each protocol, IPv4
// options and fragments, IPv6 extension chains, VLAN tags, ARP, NS, peer and
// client MACs — then sometimes truncated or corrupted.

var vipPool = []netip.Addr{
	netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101"),
	netip.MustParseAddr("2001:2::100"), netip.MustParseAddr("2001:2::101"),
}

var portPool = []uint16{0, 80, 443, 9010, 53}

func genTables(t *rapid.T, baseNs uint64) *model.Tables {
	nodes := rapid.IntRange(1, 5).Draw(t, "nodes")
	tb := &model.Tables{
		Self:      uint8(rapid.IntRange(0, nodes-1).Draw(t, "self")),
		ARPHolder: rapid.Bool().Draw(t, "holder"),
		Mode:      model.Mode(rapid.IntRange(0, 1).Draw(t, "mode")),
	}
	for i := 0; i < nodes; i++ {
		m := [6]byte{0x02, 0x42, 0, 0, 1, byte(i)}
		if rapid.IntRange(0, 9).Draw(t, "macUnknown") == 0 {
			m = [6]byte{}
		}
		tb.MACs = append(tb.MACs, m)
	}
	// Usually one or two VIPs of each family, sometimes a single family.
	tb.VIPs = append(tb.VIPs, vipPool[0])
	if rapid.Bool().Draw(t, "vip4b") {
		tb.VIPs = append(tb.VIPs, vipPool[1])
	}
	if rapid.IntRange(0, 3).Draw(t, "v6") != 0 {
		tb.VIPs = append(tb.VIPs, vipPool[2])
		if rapid.Bool().Draw(t, "vip6b") {
			tb.VIPs = append(tb.VIPs, vipPool[3])
		}
	}
	groups := rapid.IntRange(1, 3).Draw(t, "groups")
	nrules := rapid.IntRange(1, 6).Draw(t, "rules")
	for i := 0; i < nrules; i++ {
		r := model.Rule{
			Proto:  rapid.SampledFrom([]uint8{model.ProtoTCP, model.ProtoUDP}).Draw(t, "proto"),
			Port:   rapid.SampledFrom(portPool).Draw(t, "port"),
			Filter: model.Filter(rapid.IntRange(0, 1).Draw(t, "filter")),
			Group:  uint8(rapid.IntRange(0, groups-1).Draw(t, "group")),
		}
		if rapid.Bool().Draw(t, "ruleVIP") {
			r.VIP = rapid.SampledFrom(tb.VIPs).Draw(t, "ruleVIPAddr")
		}
		tb.Rules = append(tb.Rules, r)
	}
	seed := rapid.Uint64().Draw(t, "tableSeed")
	r := rand.New(rand.NewPCG(seed, 7))
	noOwnerPct := rapid.SampledFrom([]int{0, 5, 50}).Draw(t, "noOwnerPct")
	drainPct := rapid.SampledFrom([]int{0, 30, 90}).Draw(t, "drainPct")
	for g := 0; g < groups; g++ {
		var own, prev [model.Buckets]uint8
		var until [model.Buckets]uint64
		for b := range own {
			own[b] = uint8(r.IntN(nodes))
			if r.IntN(100) < noOwnerPct {
				own[b] = model.NoOwner
			}
			prev[b] = model.NoOwner
			if r.IntN(100) < drainPct {
				prev[b] = uint8(r.IntN(nodes))
				switch r.IntN(3) {
				case 0:
					until[b] = 0
				case 1:
					until[b] = baseNs - 1e9 // expired
				default:
					until[b] = baseNs + 3600e9 // running
				}
			}
		}
		tb.Owners = append(tb.Owners, own)
		tb.Prev = append(tb.Prev, prev)
		tb.DrainUntil = append(tb.DrainUntil, until)
	}
	return tb
}

type frameGen struct {
	r  *rand.Rand
	tb *model.Tables
	// clean: only well-formed TCP/UDP to a VIP from clients, the bulk of real
	// traffic, so the owner/forward/drain paths get most of the frames.
	clean bool
}

func (g *frameGen) pick(n int) int { return g.r.IntN(n) }

func (g *frameGen) addr(v6 bool) netip.Addr {
	// Mostly VIPs of the right family, sometimes any address.
	if g.pick(8) != 0 {
		var fam []netip.Addr
		for _, v := range g.tb.VIPs {
			if v.Is6() == v6 {
				fam = append(fam, v)
			}
		}
		if len(fam) > 0 {
			return fam[g.pick(len(fam))]
		}
	}
	return g.client(v6)
}

func (g *frameGen) client(v6 bool) netip.Addr {
	if v6 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x00, 0x02
		for i := 8; i < 16; i++ {
			b[i] = byte(g.r.Uint32())
		}
		if g.pick(8) == 0 {
			b[0], b[1], b[10], b[11] = 0, 0, 0xff, 0xff // v4-mapped
		}
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{198, 18 + byte(g.pick(2)), byte(g.r.Uint32()), byte(g.r.Uint32())})
}

func (g *frameGen) srcMAC() [6]byte {
	if g.pick(3) == 0 && len(g.tb.MACs) > 0 {
		return g.tb.MACs[g.pick(len(g.tb.MACs))] // a peer (or ourselves)
	}
	if g.pick(20) == 0 {
		return [6]byte{}
	}
	return [6]byte{0x02, 0x42, 0xc0, byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32())}
}

func (g *frameGen) port() uint16 {
	if g.pick(4) != 0 {
		return portPool[g.pick(len(portPool))]
	}
	return uint16(g.r.Uint32())
}

func (g *frameGen) l4(proto uint8) []byte {
	switch proto {
	case model.ProtoTCP:
		flags := []uint8{model.FlagSYN, model.FlagACK, model.FlagSYN | model.FlagACK, model.FlagFIN | model.FlagACK, model.FlagRST, uint8(g.r.Uint32())}
		return model.TCPSegment(uint16(g.r.Uint32()), g.port(), flags[g.pick(len(flags))])
	case model.ProtoUDP:
		return model.UDPDatagram(uint16(g.r.Uint32()), g.port(), []byte("hello"))
	}
	b := make([]byte, 8+g.pick(32))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *frameGen) proto() uint8 {
	ps := []uint8{model.ProtoTCP, model.ProtoTCP, model.ProtoTCP, model.ProtoUDP, model.ProtoUDP, model.ProtoUDP, 1, 58, 132, uint8(g.r.Uint32())}
	return ps[g.pick(len(ps))]
}

// frame draws one frame, at least 14 bytes (the kernel's minimum for XDP test runs).
func (g *frameGen) frame() []byte {
	o := model.FrameOpts{SrcMAC: g.srcMAC(), DstMAC: [6]byte{0x02, 0x42, 0, 0, 1, 0}}
	if g.pick(5) == 0 {
		o.VLAN = uint16(1 + g.pick(4094))
	}
	if g.clean {
		o.SrcMAC = [6]byte{0x02, 0x42, 0xc0, 0, byte(g.r.Uint32()), byte(g.r.Uint32())}
		v := g.tb.VIPs[g.pick(len(g.tb.VIPs))]
		proto := []uint8{model.ProtoTCP, model.ProtoUDP}[g.pick(2)]
		return model.IPFrame(o, g.client(v.Is6()), v, proto, g.l4(proto))
	}
	var f []byte
	switch k := g.pick(20); {
	case k < 8:
		f = g.ipv4(o)
	case k < 15:
		f = g.ipv6(o)
	case k < 17:
		f = model.ARPRequest(o, g.client(false), g.addr(false))
		if g.pick(4) == 0 { // other op / hardware type
			f[len(f)-28+g.pick(8)] ^= byte(1 + g.pick(255))
		}
	case k < 19:
		f = model.NeighborSolicitation(o, g.client(true), g.addr(true))
	default:
		f = make([]byte, 14+g.pick(100))
		for i := range f {
			f[i] = byte(g.r.Uint32())
		}
	}
	switch g.pick(10) {
	case 0: // truncate
		if len(f) > 14 {
			f = f[:14+g.pick(len(f)-14)]
		}
	case 1: // flip a byte
		f[g.pick(len(f))] ^= byte(1 + g.pick(255))
	case 2: // second VLAN tag or odd ethertype
		binary.BigEndian.PutUint16(f[12:], []uint16{0x8100, 0x88a8, 0x86dd, 0x0800}[g.pick(4)])
	}
	return f
}

func (g *frameGen) ipv4(o model.FrameOpts) []byte {
	proto := g.proto()
	f := model.IPFrame(o, g.client(false), g.addr(false), proto, g.l4(proto))
	l3 := 14
	if o.VLAN != 0 {
		l3 = 18
	}
	if g.pick(4) == 0 { // options (or a lying IHL)
		words := g.pick(11)
		opts := make([]byte, words*4)
		for i := range opts {
			opts[i] = 1 // NOP
		}
		f = append(f[:l3+20], append(opts, f[l3+20:]...)...)
		ihl := 5 + words
		if g.pick(5) == 0 {
			ihl = g.pick(16)
		}
		f[l3] = 0x40 | byte(ihl)
	}
	if g.pick(5) == 0 { // fragments: MF, an offset, or both
		v := []uint16{0x2000, 0x0010, 0x2010, 0x4000, uint16(g.r.Uint32())}[g.pick(5)]
		binary.BigEndian.PutUint16(f[l3+6:], v)
	}
	return f
}

func (g *frameGen) ipv6(o model.FrameOpts) []byte {
	proto := g.proto()
	payload := g.l4(proto)
	next := proto
	// Build an extension chain back to front.
	n := 0
	if g.pick(3) == 0 {
		n = g.pick(10)
	}
	for i := 0; i < n; i++ {
		var h []byte
		switch t := []uint8{0, 43, 60, 51, 44}[g.pick(5)]; t {
		case 51:
			l := g.pick(3)
			h = make([]byte, (l+2)*4)
			h[1] = byte(l)
			h[0] = next
			next = t
		case 44:
			h = make([]byte, 8)
			h[0] = next
			binary.BigEndian.PutUint16(h[2:], []uint16{0, 1, 0x0008, 0x0009}[g.pick(4)])
			next = t
		default:
			l := g.pick(3)
			h = make([]byte, (l+1)*8)
			h[1] = byte(l)
			h[0] = next
			next = t
		}
		payload = append(h, payload...)
	}
	return model.IPFrame(o, g.client(true), g.addr(true), next, payload)
}
