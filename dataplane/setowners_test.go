package dataplane

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

func ownedBy(n uint8) [model.Buckets]uint8 {
	var o [model.Buckets]uint8
	for b := range o {
		o[b] = n
	}
	return o
}

// TestSetOwnersModelDrainState: moving buckets records the previous owner and
// a drain deadline, the program switches to the new table at once, and the
// program's verdicts follow the model fed with Tables().
func TestSetOwnersModelDrainState(t *testing.T) {
	d := loadDP(t)
	tb := drainTables(0, 0, model.NoOwner, vip4)
	tb.Prev, tb.DrainUntil = nil, nil
	if err := d.Configure(tb); err != nil {
		t.Fatal(err)
	}
	cli := netip.MustParseAddrPort("198.18.1.9:40000")
	ack := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA}, cli, netip.AddrPortFrom(vip4, 9010), model.FlagACK)
	b := int(model.BucketOf(cli.Addr(), 0, model.OnAddr, false))
	check := func(step string, want model.Verdict) {
		t.Helper()
		cur := d.Tables()
		md := model.Decide(ack, cur, model.Env{NowNs: MonotonicNs()})
		kv, out := runFrame(t, d.Program(), ack)
		if err := compareRun(ack, md, kv, out); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if kv != want {
			t.Fatalf("%s: verdict %v, want %v", step, kv, want)
		}
	}
	inFreshNetns(t, func() {
		check("owned", model.Pass)

		// Half the buckets move to node 1, with a 5 s drain.
		next := ownedBy(0)
		for i := range next {
			if i%2 == 1 || i == b {
				next[i] = 1
			}
		}
		before := MonotonicNs()
		if err := d.SetOwners(0, next, 5000); err != nil {
			t.Fatal(err)
		}
		cur := d.Tables()
		if cur.Prev[0][b] != 0 || cur.DrainUntil[0][b] < before+5e9 || cur.DrainUntil[0][b] > MonotonicNs()+5e9 {
			t.Fatalf("moved bucket %d: prev %d until %d (now %d)", b, cur.Prev[0][b], cur.DrainUntil[0][b], before)
		}
		if cur.Prev[0][0] != model.NoOwner || cur.DrainUntil[0][0] != 0 {
			t.Fatalf("unmoved bucket 0 got drain state %d/%d", cur.Prev[0][0], cur.DrainUntil[0][0])
		}
		// We are the previous owner, no socket: the ACK goes to the new owner.
		check("moved away", model.Tx)

		// Moving it back: we own it again, node 1 becomes the previous owner.
		if err := d.SetOwners(0, ownedBy(0), 0); err != nil {
			t.Fatal(err)
		}
		if cur := d.Tables(); cur.Prev[0][b] != 1 || cur.DrainUntil[0][b] != 0 {
			t.Fatalf("moved back without drain: prev %d until %d", cur.Prev[0][b], cur.DrainUntil[0][b])
		}
		check("moved back", model.Pass)

		// Nobody owns it.
		if err := d.SetOwners(0, ownedBy(model.NoOwner), 1000); err != nil {
			t.Fatal(err)
		}
		check("no owner", model.Drop)
	})

	bad := ownedBy(0)
	bad[3] = 77
	for _, e := range []struct {
		group int
		o     [model.Buckets]uint8
		want  string
	}{
		{1, ownedBy(0), "group 1 out of range"},
		{-1, ownedBy(0), "group -1 out of range"},
		{0, bad, "bucket 3 has node index 77"},
	} {
		if err := d.SetOwners(e.group, e.o, 0); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("SetOwners(%d): error %v, want %q", e.group, err, e.want)
		}
	}
}

func TestConfigureRefusesBadTables(t *testing.T) {
	d := loadDP(t)
	if err := d.SetOwners(0, ownedBy(0), 0); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("SetOwners before Configure: %v", err)
	}
	tb := drainTables(0, 0, model.NoOwner, vip4)
	tb.Rules = append(tb.Rules, model.Rule{Proto: 1})
	if err := d.Configure(tb); err == nil || !strings.Contains(err.Error(), "rule 1: protocol 1") {
		t.Fatalf("Configure with an ICMP rule: %v", err)
	}
	// Nothing was applied: frames still pass untouched.
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli}, netip.MustParseAddrPort("198.18.1.1:1"), netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	if v, _ := runFrame(t, d.Program(), f); v != model.Pass {
		t.Fatalf("after a refused Configure: %v", v)
	}
}

// TestReconfigureRemovesVIPsAndPeers: a second Configure drops VIPs and
// peer MACs that are gone.
func TestReconfigureRemovesVIPsAndPeers(t *testing.T) {
	d := loadDP(t)
	tb := drainTables(0, 1, model.NoOwner, vip4, vip6)
	if err := d.Configure(tb); err != nil {
		t.Fatal(err)
	}
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli}, netip.MustParseAddrPort("[2001:2::9]:1"), netip.AddrPortFrom(vip6, 9010), model.FlagSYN)
	if v, _ := runFrame(t, d.Program(), f); v != model.Tx {
		t.Fatalf("VIP6 before: %v", v)
	}
	tb2 := drainTables(0, 1, model.NoOwner, vip4)
	tb2.MACs = [][6]byte{macA, macC} // node 1's MAC changed from macB to macC
	if err := d.Configure(tb2); err != nil {
		t.Fatal(err)
	}
	if v, _ := runFrame(t, d.Program(), f); v != model.Pass {
		t.Fatalf("VIP6 after removal: %v", v)
	}
	for k := uint32(0); k < peerSlots; k++ {
		var ps vipfarmPeerSlot
		if err := d.objs.Peers.Lookup(k, &ps); err != nil {
			t.Fatal(err)
		}
		if ps.Valid != 0 && ps.Mac == macB {
			t.Fatalf("old peer MAC still present in slot %d", k)
		}
	}
	fromOld := model.TCPFrame(model.FrameOpts{SrcMAC: macB}, netip.MustParseAddrPort("198.18.1.1:1"), netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	if md := model.Decide(fromOld, tb2, model.Env{}); md.Verdict != model.Tx {
		t.Fatalf("model: %+v", md)
	}
	if v, _ := runFrame(t, d.Program(), fromOld); v != model.Tx {
		t.Fatalf("frame from a former peer MAC must be forwarded: %v", v)
	}
}
