package checkers

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vipfarm/vipfarm/internal/nstest"
)

// TestDuplicateProbe puts the VIP on this side of a veth and on a host in
// another namespace at the far end: the ARP probe finds the other host.
// Without the other host, and with only this host's own interfaces on the
// link, there is no duplicate.
func TestDuplicateProbe(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		vipAddr := netip.MustParseAddr("198.18.70.100")
		nstest.AddAddr(t, p.A, "198.18.70.1/24")
		nstest.AddAddr(t, p.A, "198.18.70.100/24")
		// The far end is another interface of this host: it answers for
		// every local address, which is no duplicate.
		nstest.AddAddr(t, p.B, "198.18.70.2/24")
		if mac, dup := duplicate(vipAddr, 300*time.Millisecond); dup {
			t.Fatalf("own interface %s taken for a duplicate", mac)
		}
		// Move the far end to another host (namespace) that claims the VIP.
		here, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer here.Close()
		other, err := netns.New() // switches this thread to it
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := netns.Set(here); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetNsFd(p.B, int(other)); err != nil {
			t.Fatal(err)
		}
		if err := netns.Set(other); err != nil {
			t.Fatal(err)
		}
		b, err := netlink.LinkByName("vf-h6-b")
		if err == nil {
			nstest.AddAddr(t, b, "198.18.70.100/24")
			err = netlink.LinkSetUp(b)
		}
		if err2 := netns.Set(here); err2 != nil {
			t.Fatal(err2)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The moved link comes up asynchronously: wait for this side's
		// carrier, then give the probe a few tries, so a loaded machine
		// does not turn a slow link-up into a failure.
		waitOperUp(t, p.A.Attrs().Name)
		mac, dup := duplicate(vipAddr, time.Second)
		for try := 0; try < 4 && !dup; try++ {
			mac, dup = duplicate(vipAddr, time.Second)
		}
		if !dup || mac.String() != b.Attrs().HardwareAddr.String() {
			t.Fatalf("duplicate %v %s, want the other host's %s", dup, mac, b.Attrs().HardwareAddr)
		}
	})
}

// waitOperUp polls until the link's operational state is up (bounded).
func waitOperUp(t *testing.T, name string) {
	t.Helper()
	for range 100 {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("link %s never came up", name)
}
