package sim

import (
	"fmt"
	"net/netip"

	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/dataplane/model"
)

// flowsPerClient is how many source ports each synthetic client uses: with
// on_addr they must all land on one node (affinity), with on_port they spread.
const flowsPerClient = 3

// trafficGen holds the synthetic client packets of `traffic:` (built once,
// from the traffic sub-seed) and the configuration part of every node's
// dataplane tables.
type trafficGen struct {
	base    model.Tables
	frames  [][]byte
	clients []string // per frame: the client address
	onAddr  bool
	macs    [][6]byte
}

func nodeMAC(i int) [6]byte { return [6]byte{0x02, 0x00, 0x5e, 0x00, 0x00, byte(i + 1)} }

var clientMAC = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x01, 0x01}

func newTrafficGen(t *Traffic, m *config.Module, nodes int, seed uint64) (*trafficGen, error) {
	base, err := model.FromModule(m)
	if err != nil {
		return nil, err
	}
	if len(base.VIPs) == 0 || len(base.Rules) == 0 {
		return nil, fmt.Errorf("the module has no VIP or no load-balancing rule to send traffic to")
	}
	g := &trafficGen{base: base}
	for i := 0; i < nodes; i++ {
		g.macs = append(g.macs, nodeMAC(i))
	}
	// Traffic goes to the first rule: its VIP (or the first VIP), protocol and port.
	r := base.Rules[0]
	vip := base.VIPs[0]
	if r.VIP.IsValid() {
		vip = r.VIP
	}
	port := r.Port
	if port == 0 {
		port = inlinePort
	}
	g.onAddr = r.Filter == model.OnAddr
	rnd := newRNG(seed)
	seen := map[netip.Addr]bool{}
	for len(seen) < t.Clients {
		var src netip.Addr
		if vip.Is4() {
			// 198.19.0.0/16: the benchmarking range, away from the nodes' 198.18.x.
			src = netip.AddrFrom4([4]byte{198, 19, byte(rnd.intn(256)), byte(1 + rnd.intn(254))})
		} else {
			var a [16]byte
			copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xc1})
			for i := 8; i < 16; i++ {
				a[i] = byte(rnd.intn(256))
			}
			src = netip.AddrFrom16(a)
		}
		if seen[src] {
			continue
		}
		seen[src] = true
		for f := 0; f < flowsPerClient; f++ {
			sp := uint16(1024 + rnd.intn(64511))
			o := model.FrameOpts{SrcMAC: clientMAC}
			from, to := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(vip, port)
			var fr []byte
			if r.Proto == model.ProtoUDP {
				fr = model.UDPFrame(o, from, to, []byte("vipfarm"))
			} else {
				fr = model.TCPFrame(o, from, to, model.FlagSYN)
			}
			g.frames = append(g.frames, fr)
			g.clients = append(g.clients, src.String())
		}
	}
	return g, nil
}

// sendTraffic sends every synthetic packet through the dataplane model of
// the nodes, with each node's own tables, and reports where each landed.
// In alias mode the packet enters at the ARP holder (the latest to take the
// duty, as the clients' ARP caches would say); in vmac_invisible mode every
// running node sees it. Skipped while the running nodes are split: clients
// would then reach only one side, which INV-8 does not describe.
func (s *Sim) sendTraffic() {
	g := s.traffic
	up := 0
	for _, n := range s.nodes {
		if n.up && n.state.String() == "UP" {
			up++
		}
	}
	if up == 0 || len(s.comps) != 1 {
		return
	}
	tables := make([]*model.Tables, len(s.nodes))
	entry := -1
	for i, n := range s.nodes {
		if !n.up {
			continue
		}
		t := g.base
		t.Self = uint8(i)
		t.ARPHolder = n.arp
		t.MACs = g.macs
		t.Owners = make([][model.Buckets]uint8, len(g.base.Owners))
		for gi := range t.Owners {
			if gi < len(n.owners) {
				t.Owners[gi] = n.owners[gi]
			}
		}
		tables[i] = &t
		if n.arp && (entry < 0 || n.arpMs > s.nodes[entry].arpMs) {
			entry = i
		}
	}
	env := func(int) model.Env { return model.Env{NowNs: uint64(s.nowMs) * 1e6} }
	var acc []int
	per := make([]int, len(s.nodes))
	lost, multi := 0, 0
	for fi, fr := range g.frames {
		acc = acc[:0]
		if g.base.Mode == model.VMACInvisible {
			for i, t := range tables {
				if t != nil && model.Decide(fr, t, env(i)).Verdict == model.Pass {
					acc = append(acc, i)
				}
			}
		} else if entry >= 0 {
			f := withDstMAC(fr, g.macs[entry])
			if node, _ := model.Deliver(f, tables, entry, env); node >= 0 {
				acc = append(acc, node)
			}
		}
		s.chk.Packet(s.nowMs, g.clients[fi], g.onAddr, acc)
		switch len(acc) {
		case 0:
			lost++
		case 1:
			per[acc[0]]++
		default:
			multi++
		}
	}
	if s.tr.tw != nil {
		line := fmt.Sprintf("%d packets:", len(g.frames))
		for i, n := range s.nodes {
			if per[i] > 0 {
				line += fmt.Sprintf(" %s %d", n.name, per[i])
			}
		}
		if lost+multi > 0 {
			line += fmt.Sprintf(", %d accepted by none, %d by several", lost, multi)
		}
		s.tr.timeline(s.nowMs, "traffic", "%s", line)
	}
}

func withDstMAC(fr []byte, mac [6]byte) []byte {
	out := append([]byte(nil), fr...)
	copy(out[0:6], mac[:])
	return out
}
