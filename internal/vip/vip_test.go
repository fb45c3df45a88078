package vip

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/internal/nstest"
)

func vipConfig(addr string) *config.VIP {
	return &config.VIP{Interfaces: []config.Interface{{Addrs: []config.VirtualAddr{{Addr: netip.MustParseAddr(addr), Where: "alias"}}}}}
}

func addrsOf(t *testing.T, name string) string {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	return strings.Join(out, " ")
}

func TestOpenCloseXDPMode(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		nstest.AddAddr(t, p.A, "198.18.70.1/24")
		m, err := New(vipConfig("198.18.70.100"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Ifaces) != 1 || m.Ifaces[0].Name != "vf-h6-a" || m.Ifaces[0].Addrs[0].String() != "198.18.70.100/24" {
			t.Fatalf("resolved %+v", m.Ifaces)
		}
		if err := m.Open(true); err != nil {
			t.Fatal(err)
		}
		// The ARP holder carries the VIP on the interface (the others on lo:
		// TestNonHolderNeverSolicitsFromTheVIP).
		if got := addrsOf(t, "vf-h6-a"); !strings.Contains(got, "198.18.70.100/24") {
			t.Errorf("VIP not on the interface: %s", got)
		}
		for k, want := range map[string]string{"arp_ignore": "1", "arp_announce": "2"} {
			b, _ := os.ReadFile("/proc/sys/net/ipv4/conf/vf-h6-a/" + k)
			if strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, want %s", k, b, want)
			}
		}
		if ok, err := Present(netip.MustParseAddr("198.18.70.100")); !ok || err != nil {
			t.Errorf("Present: %v %v", ok, err)
		}
		if err := m.Open(true); err != nil {
			t.Errorf("opening twice: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if got := addrsOf(t, "vf-h6-a"); strings.Contains(got, "198.18.70.100") {
			t.Errorf("VIP left after close: %s", got)
		}
		if err := m.Close(); err != nil {
			t.Errorf("closing twice: %v", err)
		}
	})
}

func TestNoXDPParksNonHoldersOnLoopback(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		nstest.AddAddr(t, p.A, "198.18.70.1/24")
		m, err := New(vipConfig("198.18.70.100"))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Open(false); err != nil {
			t.Fatal(err)
		}
		if a, lo := addrsOf(t, "vf-h6-a"), addrsOf(t, "lo"); strings.Contains(a, "198.18.70.100") || !strings.Contains(lo, "198.18.70.100/32") {
			t.Errorf("non-holder: interface %s, lo %s", a, lo)
		}
		if err := m.SetHolder(true); err != nil {
			t.Fatal(err)
		}
		if a, lo := addrsOf(t, "vf-h6-a"), addrsOf(t, "lo"); !strings.Contains(a, "198.18.70.100/24") || strings.Contains(lo, "198.18.70.100") {
			t.Errorf("holder: interface %s, lo %s", a, lo)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if a, lo := addrsOf(t, "vf-h6-a"), addrsOf(t, "lo"); strings.Contains(a+lo, "198.18.70.100") {
			t.Errorf("after close: interface %s, lo %s", a, lo)
		}
	})
}

func TestUnresolvableInterface(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		if _, err := New(vipConfig("198.18.99.100")); err == nil || !strings.Contains(err.Error(), "198.18.99.100") {
			t.Errorf("no subnet: %v", err)
		}
		v := vipConfig("198.18.99.100")
		v.Interfaces[0].Name = "vf-h6-nope"
		if _, err := New(v); err == nil || !strings.Contains(err.Error(), "vf-h6-nope") {
			t.Errorf("unknown name: %v", err)
		}
	})
}

func TestIPv6VIP(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		nstest.AddAddr(t, p.A, "2001:db8:70::1/64")
		m, err := New(vipConfig("2001:db8:70::100"))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Ifaces[0].Addrs[0].String(); got != "2001:db8:70::100/64" || m.Ifaces[0].Name != "vf-h6-a" {
			t.Fatalf("resolved %s on %s", got, m.Ifaces[0].Name)
		}
		if err := m.Open(true); err != nil {
			t.Fatal(err)
		}
		// NODAD: usable at once, not tentative for a second.
		l, _ := netlink.LinkByName("vf-h6-a")
		as, _ := netlink.AddrList(l, netlink.FAMILY_V6)
		found := false
		for _, a := range as {
			if a.IP.String() == "2001:db8:70::100" {
				found = true
				if a.Flags&0x40 != 0 { // IFA_F_TENTATIVE
					t.Error("VIP is tentative (DAD running)")
				}
			}
		}
		if !found {
			t.Fatal("IPv6 VIP not added")
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if ok, _ := Present(netip.MustParseAddr("2001:db8:70::100")); ok {
			t.Error("IPv6 VIP left after close")
		}
	})
}
