package model

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var (
	vip4   = netip.MustParseAddr("198.18.0.100")
	vip6   = netip.MustParseAddr("2001:db8::100")
	macA   = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB   = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	macCli = [6]byte{0x02, 0, 0, 0, 0, 0xcc}
)

// twoNodes: node 0 (self) owns the even buckets, node 1 the odd ones.
func twoNodes(self uint8, holder bool) *Tables {
	var own [Buckets]uint8
	for b := range own {
		own[b] = uint8(b & 1)
	}
	return &Tables{
		Self: self, ARPHolder: holder, Mode: Alias,
		VIPs:   []netip.Addr{vip4, vip6},
		Rules:  []Rule{{Proto: ProtoTCP, Port: 9010, Filter: OnAddr}, {Proto: ProtoUDP, Filter: OnPort}},
		Owners: [][Buckets]uint8{own},
		MACs:   [][6]byte{macA, macB},
	}
}

func clientIn(bucketParity int, v6 bool) netip.Addr {
	for i := 1; ; i++ {
		var a netip.Addr
		if v6 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
		} else {
			a = netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		}
		if int(BucketOf(a, 0, OnAddr, false))&1 == bucketParity {
			return a
		}
	}
}

func TestModelHashVectors(t *testing.T) {
	// Reference values of the word-wise MurmurHash3 (docs/dataplane.md);
	// the C program is held to the same numbers by the differential tests.
	cases := []struct {
		src    string
		port   uint16
		filter Filter
		frag   bool
		want   uint32
	}{
		{"198.18.0.1", 0, OnAddr, false, 0x490f7190},
		{"198.18.0.1", 40000, OnPort, false, 0x18893fd3},
		{"198.18.0.1", 40000, OnPort, true, 0x490f7190},
		{"2001:db8::1", 40000, OnPort, false, 0x68163578},
	}
	seen := map[uint32]bool{}
	for _, c := range cases {
		h := Hash(netip.MustParseAddr(c.src), c.port, c.filter, c.frag)
		if h != c.want {
			t.Errorf("Hash(%s, %d, %v, frag=%v) = %#08x, want %#08x", c.src, c.port, c.filter, c.frag, h, c.want)
		}
		seen[h] = true
	}
	if len(seen) != 3 { // the fragmented on_port case equals on_addr
		t.Fatalf("expected 3 distinct hashes, got %d", len(seen))
	}
	a := netip.MustParseAddr("198.18.0.1")
	if Hash(a, 1, OnAddr, false) != Hash(a, 2, OnAddr, false) {
		t.Fatal("on_addr must ignore the port")
	}
	if got := murmurWord(0, 0); got != 0xe6546b64 {
		t.Fatalf("murmurWord(0,0) = %#x", got)
	}
	if got := fmix32(1); got != 0x514e28b7 {
		t.Fatalf("fmix32(1) = %#x, want 0x514e28b7 (MurmurHash3 reference)", got)
	}
}

// TestModelHashChiSquare checks the buckets are uniform for sequential and
// random clients, IPv4 and IPv6, on_addr and on_port.
func TestModelHashChiSquare(t *testing.T) {
	const n = 256 * 200 // distinct inputs: duplicates would inflate chi-square
	r := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func(i int) (netip.Addr, uint16, Filter){
		"v4-sequential": func(i int) (netip.Addr, uint16, Filter) {
			return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)}), 0, OnAddr
		},
		"v4-one-client-ports": func(i int) (netip.Addr, uint16, Filter) {
			return netip.AddrFrom4([4]byte{198, 18, 0, 7}), uint16(1024 + i), OnPort
		},
		"v6-random": func(i int) (netip.Addr, uint16, Filter) {
			var b [16]byte
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			return netip.AddrFrom16(b), uint16(r.Uint32()), OnPort
		},
		"v6-sequential": func(i int) (netip.Addr, uint16, Filter) {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}), 0, OnAddr
		},
	}
	for name, gen := range gens {
		var hist [Buckets]float64
		for i := 0; i < n; i++ {
			a, p, f := gen(i)
			hist[BucketOf(a, p, f, false)]++
		}
		exp := float64(n) / Buckets
		chi := 0.0
		for _, o := range hist {
			chi += (o - exp) * (o - exp) / exp
		}
		// 255 degrees of freedom: p = 0.001 critical value ≈ 330.5.
		t.Logf("%s: chi-square %.1f (255 dof)", name, chi)
		if chi > 330.5 || math.IsNaN(chi) {
			t.Errorf("%s: chi-square %.1f > 330.5: buckets not uniform", name, chi)
		}
	}
}

func TestModelAliasDecisions(t *testing.T) {
	mine, theirs := clientIn(0, false), clientIn(1, false)
	cli := FrameOpts{SrcMAC: macCli, DstMAC: macA}
	holder := twoNodes(0, true)
	other := twoNodes(1, false)

	d := Decide(TCPFrame(cli, netip.AddrPortFrom(mine, 5000), netip.AddrPortFrom(vip4, 9010), FlagSYN), holder, Env{})
	if d.Verdict != Pass || d.Reason != Accepted || d.Group != 0 || d.Bucket&1 != 0 {
		t.Fatalf("own bucket: %+v", d)
	}
	f := TCPFrame(cli, netip.AddrPortFrom(theirs, 5000), netip.AddrPortFrom(vip4, 9010), FlagSYN)
	d = Decide(f, holder, Env{})
	if d.Verdict != Tx || d.Reason != Forwarded || d.Target != 1 || [6]byte(d.Out[0:6]) != macB || [6]byte(d.Out[6:12]) != macA {
		t.Fatalf("forward: %+v", d)
	}
	if string(d.Out[12:]) != string(f[12:]) {
		t.Fatal("forward must only rewrite the MACs")
	}
	// The owner receives the forwarded frame from a peer MAC and accepts it.
	if d2 := Decide(d.Out, other, Env{}); d2.Verdict != Pass || d2.Reason != Accepted {
		t.Fatalf("owner of forwarded frame: %+v", d2)
	}
	// A peer frame for a bucket the receiver does not own is never forwarded again.
	stale := twoNodes(1, false)
	stale.Owners[0][d.Bucket] = 0 // node 1 believes node 0 owns it
	if d2 := Decide(d.Out, stale, Env{}); d2.Verdict != Pass {
		t.Fatalf("peer frame must pass: %+v", d2)
	}
	// No rule (port 22): holder accepts, others drop.
	f = TCPFrame(cli, netip.AddrPortFrom(theirs, 5000), netip.AddrPortFrom(vip4, 22), FlagSYN)
	if d := Decide(f, holder, Env{}); d.Verdict != Pass || d.Group != -1 {
		t.Fatalf("no rule, holder: %+v", d)
	}
	if d := Decide(f, other, Env{}); d.Verdict != Drop || d.Reason != Dropped {
		t.Fatalf("no rule, other: %+v", d)
	}
	// ARP and NS for the VIP: holder only.
	arp := ARPRequest(cli, netip.MustParseAddr("198.18.0.5"), vip4)
	ns := NeighborSolicitation(cli, netip.MustParseAddr("2001:db8::5"), vip6)
	for _, fr := range [][]byte{arp, ns} {
		if d := Decide(fr, holder, Env{}); d.Verdict != Pass || d.Reason != Accepted {
			t.Fatalf("ARP/NS holder: %+v", d)
		}
		if d := Decide(fr, other, Env{}); d.Verdict != Drop {
			t.Fatalf("ARP/NS other: %+v", d)
		}
	}
	// Not to a VIP: untouched, uncounted.
	f = TCPFrame(cli, netip.AddrPortFrom(theirs, 5000), netip.AddrPortFrom(netip.MustParseAddr("198.18.0.11"), 9010), FlagSYN)
	if d := Decide(f, other, Env{}); d.Verdict != Pass || d.Reason != ReasonNone {
		t.Fatalf("not a VIP: %+v", d)
	}
	// No owner: drop.
	noOwner := twoNodes(0, true)
	for b := range noOwner.Owners[0] {
		noOwner.Owners[0][b] = NoOwner
	}
	f = TCPFrame(cli, netip.AddrPortFrom(theirs, 5000), netip.AddrPortFrom(vip4, 9010), FlagSYN)
	if d := Decide(f, noOwner, Env{}); d.Verdict != Drop || d.Reason != Dropped || d.Bucket < 0 {
		t.Fatalf("no owner: %+v", d)
	}
}

func TestModelVMACInvisible(t *testing.T) {
	mine, theirs := clientIn(0, true), clientIn(1, true)
	tb := twoNodes(0, false)
	tb.Mode = VMACInvisible
	cli := FrameOpts{SrcMAC: macCli, DstMAC: macA}
	if d := Decide(TCPFrame(cli, netip.AddrPortFrom(mine, 1), netip.AddrPortFrom(vip6, 9010), FlagSYN), tb, Env{}); d.Verdict != Pass {
		t.Fatalf("own: %+v", d)
	}
	if d := Decide(TCPFrame(cli, netip.AddrPortFrom(theirs, 1), netip.AddrPortFrom(vip6, 9010), FlagSYN), tb, Env{}); d.Verdict != Drop || d.Reason != NotOurs {
		t.Fatalf("other: %+v", d)
	}
}

func TestModelDrainRule(t *testing.T) {
	c := clientIn(1, false) // bucket moved from node 0 to node 1
	oldT, newT := twoNodes(0, true), twoNodes(1, false)
	for _, tb := range []*Tables{oldT, newT} {
		tb.Prev = [][Buckets]uint8{}
		var prev [Buckets]uint8
		var until [Buckets]uint64
		for b := range prev {
			prev[b], until[b] = NoOwner, 0
			if b&1 == 1 {
				prev[b], until[b] = 0, 1000
			}
		}
		tb.Prev, tb.DrainUntil = [][Buckets]uint8{prev}, [][Buckets]uint64{until}
	}
	cli := FrameOpts{SrcMAC: macCli, DstMAC: macA}
	ack := TCPFrame(cli, netip.AddrPortFrom(c, 7), netip.AddrPortFrom(vip4, 9010), FlagACK)
	syn := TCPFrame(cli, netip.AddrPortFrom(c, 7), netip.AddrPortFrom(vip4, 9010), FlagSYN)
	// Old owner (ARP holder) with the connection: keeps it.
	if d := Decide(ack, oldT, Env{NowNs: 10, SocketFound: true}); d.Verdict != Pass || !d.LookedUp {
		t.Fatalf("old owner with socket: %+v", d)
	}
	// Old owner without it: forwards to the new owner as usual.
	d := Decide(ack, oldT, Env{NowNs: 10})
	if d.Verdict != Tx || d.Target != 1 {
		t.Fatalf("old owner without socket: %+v", d)
	}
	// New owner without a socket, frame from the old owner: accepts (no ping-pong).
	if d2 := Decide(d.Out, newT, Env{NowNs: 10}); d2.Verdict != Pass {
		t.Fatalf("new owner, frame from previous owner: %+v", d2)
	}
	// New owner receiving directly from a client without a socket: hands it back.
	direct := TCPFrame(FrameOpts{SrcMAC: macCli, DstMAC: macB}, netip.AddrPortFrom(c, 7), netip.AddrPortFrom(vip4, 9010), FlagACK)
	if d2 := Decide(direct, newT, Env{NowNs: 10}); d2.Verdict != Tx || d2.Target != 0 {
		t.Fatalf("new owner should hand back: %+v", d2)
	}
	// SYN always to the new owner; after the deadline no drain.
	if d2 := Decide(syn, newT, Env{NowNs: 10}); d2.Verdict != Pass || d2.LookedUp {
		t.Fatalf("SYN: %+v", d2)
	}
	if d2 := Decide(direct, newT, Env{NowNs: 1000}); d2.Verdict != Pass || d2.LookedUp {
		t.Fatalf("after deadline: %+v", d2)
	}
	// Deliver through the farm: the client's established flow stays on node 0.
	farm := []*Tables{oldT, newT}
	got, path := Deliver(ack, farm, 0, func(n int) Env { return Env{NowNs: 10, SocketFound: n == 0} })
	if got != 0 || len(path) != 1 {
		t.Fatalf("Deliver: accepted by %d via %v", got, path)
	}
	got, path = Deliver(syn, farm, 0, func(int) Env { return Env{NowNs: 10} })
	if got != 1 || len(path) != 2 {
		t.Fatalf("Deliver SYN: accepted by %d via %v", got, path)
	}
}

func TestModelValidate(t *testing.T) {
	tb := twoNodes(0, true)
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := twoNodes(0, true)
	bad.Rules = append(bad.Rules, Rule{Proto: ProtoTCP, Group: 3})
	if err := bad.Validate(); err == nil {
		t.Fatal("rule with unknown group accepted")
	}
	bad = twoNodes(0, true)
	bad.Owners[0][7] = 99
	if err := bad.Validate(); err == nil {
		t.Fatal("owner index 99 accepted")
	}
	bad = twoNodes(0, true)
	bad.MACs[1] = macA
	if err := bad.Validate(); err == nil {
		t.Fatal("duplicate MAC accepted")
	}
}

// FuzzModelDecide: no frame makes Decide panic, and Tx only rewrites MACs.
func FuzzModelDecide(f *testing.F) {
	f.Add(TCPFrame(FrameOpts{SrcMAC: macCli}, netip.AddrPortFrom(clientIn(1, false), 1), netip.AddrPortFrom(vip4, 9010), FlagSYN))
	f.Add(NeighborSolicitation(FrameOpts{SrcMAC: macCli}, netip.MustParseAddr("2001:db8::5"), vip6))
	tb := twoNodes(0, true)
	f.Fuzz(func(t *testing.T, frame []byte) {
		d := Decide(frame, tb, Env{})
		if d.Verdict == Tx && string(d.Out[12:]) != string(frame[12:]) {
			t.Fatal("Tx changed more than the MACs")
		}
	})
}

// TestModelDrainThreeNodes: the ARP holder is neither the new nor the old
// owner; an established flow's segment goes holder → new owner → previous
// owner (two hops), a new flow's SYN stops at the new owner.
func TestModelDrainThreeNodes(t *testing.T) {
	macs := [][6]byte{macA, macB, {0x02, 0, 0, 0, 0, 0x0c}}
	mk := func(self uint8) *Tables {
		var own, prev [Buckets]uint8
		var until [Buckets]uint64
		for b := range own {
			own[b], prev[b], until[b] = 1, 2, 1000 // moved from node 2 to node 1
		}
		return &Tables{Self: self, ARPHolder: self == 0, VIPs: []netip.Addr{vip4},
			Rules:  []Rule{{Proto: ProtoTCP, Port: 9010}},
			Owners: [][Buckets]uint8{own}, Prev: [][Buckets]uint8{prev}, DrainUntil: [][Buckets]uint64{until}, MACs: macs}
	}
	farm := []*Tables{mk(0), mk(1), mk(2)}
	c := netip.AddrPortFrom(netip.MustParseAddr("198.18.1.1"), 5555)
	cli := FrameOpts{SrcMAC: macCli, DstMAC: macA}
	ack := TCPFrame(cli, c, netip.AddrPortFrom(vip4, 9010), FlagACK)
	node, path := Deliver(ack, farm, 0, func(n int) Env { return Env{NowNs: 10, SocketFound: n == 2} })
	if node != 2 || len(path) != 3 {
		t.Fatalf("established ACK accepted by %d via %v, want 2 via [0 1 2]", node, path)
	}
	// Unknown everywhere: the previous owner takes it (its kernel answers RST).
	node, path = Deliver(ack, farm, 0, func(int) Env { return Env{NowNs: 10} })
	if node != 2 || len(path) != 3 {
		t.Fatalf("unknown ACK accepted by %d via %v", node, path)
	}
	syn := TCPFrame(cli, c, netip.AddrPortFrom(vip4, 9010), FlagSYN)
	node, path = Deliver(syn, farm, 0, func(int) Env { return Env{NowNs: 10} })
	if node != 1 || len(path) != 2 {
		t.Fatalf("SYN accepted by %d via %v, want 1 via [0 1]", node, path)
	}
	// After the drain window, the ACK stops at the new owner.
	node, _ = Deliver(ack, farm, 0, func(n int) Env { return Env{NowNs: 1000, SocketFound: n == 2} })
	if node != 1 {
		t.Fatalf("after the window: accepted by %d", node)
	}
}
