package announce

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"

	"github.com/vipfarm/vipfarm/internal/nstest"
)

func TestGratuitousARP(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		nstest.AddAddr(t, p.A, "198.18.70.1/24")
		nstest.AddAddr(t, p.B, "198.18.70.2/24")
		ifb, err := net.InterfaceByName("vf-h6-b")
		if err != nil {
			t.Fatal(err)
		}
		listener, err := arp.Dial(ifb)
		if err != nil {
			t.Fatal(err)
		}
		defer listener.Close()
		vip := netip.MustParseAddr("198.18.70.100")
		a := &Announcer{Ifname: "vf-h6-a", VIPs: []netip.Addr{vip}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if err := a.Once(); err != nil {
			t.Fatal(err)
		}
		mac := p.A.Attrs().HardwareAddr.String()
		ops := map[arp.Operation]bool{}
		listener.SetReadDeadline(time.Now().Add(3 * time.Second))
		for len(ops) < 2 {
			pkt, _, err := listener.Read()
			if err != nil {
				t.Fatalf("gratuitous ARP not seen on the peer (got %v): %v", ops, err)
			}
			if pkt.SenderIP == vip && pkt.TargetIP == vip && pkt.SenderHardwareAddr.String() == mac {
				ops[pkt.Operation] = true
			}
		}
	})
}

func TestOnceNamesTheInterface(t *testing.T) {
	a := &Announcer{Ifname: "vf-h6-none", VIPs: []netip.Addr{netip.MustParseAddr("198.18.70.100")}}
	if err := a.Once(); err == nil {
		t.Fatal("no error for a missing interface")
	}
}

func TestBurstThenStop(t *testing.T) {
	// Without an interface every round fails, but the schedule still runs:
	// a burst of Burst rounds, then nothing until Stop.
	a := &Announcer{Ifname: "vf-h6-none", VIPs: []netip.Addr{netip.MustParseAddr("198.18.70.100")},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.Start()
	a.Start() // idempotent
	time.Sleep(50 * time.Millisecond)
	if n := a.Rounds(); n != 1 {
		t.Fatalf("%d rounds right after start, want 1", n)
	}
	a.Stop()
	a.Stop()
	if n := a.Rounds(); n != 1 {
		t.Fatalf("%d rounds after stop", n)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		nstest.AddAddr(t, p.A, "2001:db8:70::1/64")
		vip := netip.MustParseAddr("2001:db8:70::100")
		ifb, err := net.InterfaceByName("vf-h6-b")
		if err != nil {
			t.Fatal(err)
		}
		// Both ends need their link-local address out of DAD.
		var listener *ndp.Conn
		deadline := time.Now().Add(5 * time.Second)
		for {
			if listener, _, err = ndp.Listen(ifb, ndp.LinkLocal); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Skipf("no link-local address on the veth: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		defer listener.Close()
		a := &Announcer{Ifname: "vf-h6-a", VIPs: []netip.Addr{vip}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for {
			if err = a.Once(); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		listener.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			msg, _, from, err := listener.ReadFrom()
			if err != nil {
				t.Fatalf("no unsolicited NA for %s: %v", vip, err)
			}
			na, ok := msg.(*ndp.NeighborAdvertisement)
			if !ok || na.TargetAddress != vip {
				continue
			}
			if !na.Override || na.Solicited {
				t.Errorf("NA flags: override %v solicited %v", na.Override, na.Solicited)
			}
			var lla *ndp.LinkLayerAddress
			for _, o := range na.Options {
				if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
					lla = l
				}
			}
			if lla == nil || lla.Addr.String() != p.A.Attrs().HardwareAddr.String() {
				t.Errorf("target link-layer address %v, want %s (from %s)", lla, p.A.Attrs().HardwareAddr, from)
			}
			return
		}
	})
}
