package dataplane

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// collidingVIPs returns n IPv4 addresses in 198.18.0.0/15 whose first probe
// slot is the same.
func collidingVIPs(n int) []netip.Addr {
	var out []netip.Addr
	var want uint32
	for i := 1; len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)})
		s := vipSlotOf(a.As16())
		if len(out) == 0 {
			want = s
		}
		if s == want {
			out = append(out, a)
		}
	}
	return out
}

// TestVIPProbeChainModel: VIPs sharing one first slot are all found by the
// program along the probe chain (as the model says), a ninth is refused.
func TestVIPProbeChainModel(t *testing.T) {
	d := loadDP(t)
	vips := collidingVIPs(vipProbes + 1)
	tb := drainTables(0, 1, model.NoOwner, vips[:vipProbes]...)
	tb.ARPHolder = true
	if err := d.Configure(tb); err != nil {
		t.Fatal(err)
	}
	for _, v := range vips {
		for _, f := range [][]byte{
			model.TCPFrame(model.FrameOpts{SrcMAC: macCli}, netip.MustParseAddrPort("198.18.1.1:1000"), netip.AddrPortFrom(v, 9010), model.FlagSYN),
			model.ARPRequest(model.FrameOpts{SrcMAC: macCli}, netip.MustParseAddr("198.18.1.1"), v),
		} {
			md := model.Decide(f, tb, model.Env{})
			kv, out := runFrame(t, d.Program(), f)
			if err := compareRun(f, md, kv, out); err != nil {
				t.Errorf("VIP %s: %v", v, err)
			}
		}
	}
	tb.VIPs = vips
	if err := d.Configure(tb); err == nil || !strings.Contains(err.Error(), "probe slots") {
		t.Fatalf("ninth colliding VIP: %v", err)
	}
}

// TestPeerProbeChainModel: peer MACs sharing one first slot are all
// recognised along the probe chain, as the model says; a ninth is refused.
func TestPeerProbeChainModel(t *testing.T) {
	d := loadDP(t)
	var macs [][6]byte
	var first uint32
	for i := 0; len(macs) < peerProbes+1; i++ {
		m := [6]byte{0x02, 0x42, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		if len(macs) == 0 {
			first = peerSlotOf(m)
		}
		if peerSlotOf(m) == first {
			macs = append(macs, m)
		}
	}
	tb := drainTables(0, 1, model.NoOwner, vip4) // node 1 owns everything: forward unless from a peer
	tb.MACs = append([][6]byte{macA}, macs[:peerProbes]...)
	if err := d.Configure(tb); err != nil {
		t.Fatal(err)
	}
	for i, m := range append(macs, macCli) {
		f := model.TCPFrame(model.FrameOpts{SrcMAC: m, DstMAC: macA}, netip.MustParseAddrPort("198.18.1.1:1000"), netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
		md := model.Decide(f, tb, model.Env{})
		wantPeer := i < peerProbes
		if (md.Verdict == model.Pass) != wantPeer {
			t.Fatalf("model, MAC %x: %v (peer %v)", m, md.Verdict, wantPeer)
		}
		kv, out := runFrame(t, d.Program(), f)
		if err := compareRun(f, md, kv, out); err != nil {
			t.Errorf("MAC %x: %v", m, err)
		}
	}
	tb.MACs = append([][6]byte{macA}, macs...)
	if err := d.Configure(tb); err == nil || !strings.Contains(err.Error(), "probe slots") {
		t.Fatalf("ninth colliding MAC: %v", err)
	}
}
