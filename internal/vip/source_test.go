package vip

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/internal/nstest"
)

// These tests watch, from a client namespace, the ARP requests and
// neighbour solicitations a node sends to resolve the client after it
// answered the client from a VIP: a non-holder must never name a VIP as
// their sender, or the client points the VIP at the non-holder.

var (
	srcNode4   = netip.MustParseAddr("198.18.110.1")
	srcClient4 = netip.MustParseAddr("198.18.110.201")
	srcVIP4    = netip.MustParseAddr("198.18.110.100")
	srcNode6   = netip.MustParseAddr("fd00:198:18::1")
	srcClient6 = netip.MustParseAddr("fd00:198:18::201")
	srcVIP6    = netip.MustParseAddr("fd00:198:18::100")
)

const clientNS = "vf-h10-ts-vc"

// twoHosts runs f with the test's namespace as the node (veth end a, the
// node's own addresses) and a second namespace as the client (end b);
// inClient runs code in the client's namespace.
func twoHosts(t *testing.T, f func(p nstest.Pair, inClient func(func() error) error)) {
	nstest.Run(t, func(p nstest.Pair) {
		node, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()
		netns.DeleteNamed(clientNS)
		cli, err := netns.NewNamed(clientNS) // switches this thread into it
		if err != nil {
			t.Fatalf("client namespace: %v", err)
		}
		defer cli.Close()
		defer netns.DeleteNamed(clientNS)
		if err := netns.Set(node); err != nil {
			t.Fatal(err)
		}
		inClient := func(fn func() error) error {
			if err := netns.Set(cli); err != nil {
				return err
			}
			defer netns.Set(node)
			return fn()
		}
		if err := netlink.LinkSetNsFd(p.B, int(cli)); err != nil {
			t.Fatalf("move %s: %v", p.B.Attrs().Name, err)
		}
		nodeMAC := p.A.Attrs().HardwareAddr
		nstest.AddAddr(t, p.A, "198.18.110.1/24")
		nodad(t, p.A, "fd00:198:18::1/64")
		err = inClient(func() error {
			lo, _ := netlink.LinkByName("lo")
			netlink.LinkSetUp(lo)
			b, err := netlink.LinkByName(p.B.Attrs().Name)
			if err != nil {
				return err
			}
			nstest.AddAddr(t, b, "198.18.110.201/24")
			nodad(t, b, "fd00:198:18::201/64")
			if err := netlink.LinkSetUp(b); err != nil {
				return err
			}
			// The client sends to the VIP straight to this node, as the
			// holder's XDP forward would deliver it: a static entry, so
			// the client never solicits the VIP itself.
			for _, v := range []netip.Addr{srcVIP4, srcVIP6} {
				if err := netlink.NeighAdd(&netlink.Neigh{LinkIndex: b.Attrs().Index, State: netlink.NUD_PERMANENT,
					IP: v.AsSlice(), HardwareAddr: nodeMAC}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("client setup: %v", err)
		}
		waitLinkLocal(t, p.A)
		f(p, inClient)
	})
}

func nodad(t *testing.T, l netlink.Link, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags = unix.IFA_F_NODAD
	if err := netlink.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", cidr, l.Attrs().Name, err)
	}
}

// waitLinkLocal waits for l's link-local address to finish DAD: the kernel
// sends no NS from a tentative one.
func waitLinkLocal(t *testing.T, l netlink.Link) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		as, _ := netlink.AddrList(l, netlink.FAMILY_V6)
		for _, a := range as {
			if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no usable link-local address", l.Attrs().Name)
}

// resolution is how the node asked for the client's MAC.
type resolution struct {
	arpSender netip.Addr // sender IP of the node's ARP request for the client
	nsSource  netip.Addr // IPv6 source of the node's NS for the client
}

// provoke makes the node answer the client from each VIP (a TCP reset: the
// port is closed) with an empty neighbour table, and returns the
// resolutions the client saw.
func provoke(t *testing.T, p nstest.Pair, inClient func(func() error) error) resolution {
	t.Helper()
	if err := netlink.NeighDel(&netlink.Neigh{LinkIndex: p.A.Attrs().Index, IP: srcClient4.AsSlice()}); err != nil && !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("forget client: %v", err)
	}
	if err := netlink.NeighDel(&netlink.Neigh{LinkIndex: p.A.Attrs().Index, IP: srcClient6.AsSlice()}); err != nil && !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("forget client: %v", err)
	}
	var got resolution
	err := inClient(func() error {
		b, err := netlink.LinkByName(p.B.Attrs().Name)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: b.Attrs().Index}); err != nil {
			return err
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
		for _, pair := range [][2]netip.Addr{{srcClient4, srcVIP4}, {srcClient6, srcVIP6}} {
			d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: pair[0].AsSlice()}}
			c, err := d.Dial("tcp", netip.AddrPortFrom(pair[1], 9).String())
			if err == nil {
				c.Close()
				return errors.New("port 9 is open on the node")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return err // the node never answered from the VIP
			}
		}
		buf := make([]byte, 2048)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) && (!got.arpSender.IsValid() || !got.nsSource.IsValid()) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			parseResolution(buf[:n], &got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client talking to the VIPs: %v", err)
	}
	if !got.arpSender.IsValid() || !got.nsSource.IsValid() {
		t.Fatalf("the node's ARP request / NS for the client not seen: %+v", got)
	}
	return got
}

// parseResolution records an ARP request or NS for the client in frame.
func parseResolution(frame []byte, got *resolution) {
	if len(frame) < 14 {
		return
	}
	switch binary.BigEndian.Uint16(frame[12:]) {
	case unix.ETH_P_ARP:
		a := frame[14:]
		if len(a) >= 28 && binary.BigEndian.Uint16(a[6:]) == 1 && netip.AddrFrom4([4]byte(a[24:28])) == srcClient4 {
			got.arpSender = netip.AddrFrom4([4]byte(a[14:18]))
		}
	case unix.ETH_P_IPV6:
		ip := frame[14:]
		if len(ip) >= 40+24 && ip[6] == unix.IPPROTO_ICMPV6 && ip[40] == 135 && netip.AddrFrom16([16]byte(ip[48:64])) == srcClient6 {
			got.nsSource = netip.AddrFrom16([16]byte(ip[8:24]))
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func bothVIPs() *config.VIP {
	return &config.VIP{Interfaces: []config.Interface{{Addrs: []config.VirtualAddr{
		{Addr: srcVIP4, Where: "alias"}, {Addr: srcVIP6, Where: "alias"}}}}}
}

// TestNonHolderNeverSolicitsFromTheVIP: a non-holder (XDP mode) that
// answers a client from the VIP resolves the client from its own
// addresses; the holder, whose VIP is on the interface, may use the VIP as
// the NS source (it names the holder's MAC, which is right) — that control
// shows the capture would see a VIP source.
func TestNonHolderNeverSolicitsFromTheVIP(t *testing.T) {
	twoHosts(t, func(p nstest.Pair, inClient func(func() error) error) {
		m, err := New(bothVIPs())
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.Open(false); err != nil {
			t.Fatal(err)
		}
		if a, lo := addrsOf(t, p.A.Attrs().Name), addrsOf(t, "lo"); strings.Contains(a, "198.18.110.100") || strings.Contains(a, "fd00:198:18::100") ||
			!strings.Contains(lo, "198.18.110.100/32") || !strings.Contains(lo, "fd00:198:18::100/128") {
			t.Fatalf("non-holder: interface %s, lo %s", a, lo)
		}
		got := provoke(t, p, inClient)
		if got.arpSender != srcNode4 {
			t.Errorf("non-holder's ARP request for the client from %s, want its own %s", got.arpSender, srcNode4)
		}
		if got.nsSource == srcVIP6 || !(got.nsSource.IsLinkLocalUnicast() || got.nsSource == srcNode6) {
			t.Errorf("non-holder's NS for the client from %s, want its own address", got.nsSource)
		}

		if err := m.SetHolder(true); err != nil {
			t.Fatal(err)
		}
		if a, lo := addrsOf(t, p.A.Attrs().Name), addrsOf(t, "lo"); !strings.Contains(a, "198.18.110.100/24") || !strings.Contains(a, "fd00:198:18::100/64") ||
			strings.Contains(lo, "198.18.110.100") || strings.Contains(lo, "fd00:198:18::100") {
			t.Fatalf("holder: interface %s, lo %s", a, lo)
		}
		got = provoke(t, p, inClient)
		if got.arpSender != srcNode4 {
			t.Errorf("holder's ARP request for the client from %s, want %s (arp_announce=2)", got.arpSender, srcNode4)
		}
		if got.nsSource != srcVIP6 {
			t.Errorf("control: the holder's NS came from %s; Linux uses the triggering packet's source (the VIP) when it is an address of the device — is the capture blind?", got.nsSource)
		}

		// Back to non-holder: the VIPs return to lo, still answering.
		if err := m.SetHolder(false); err != nil {
			t.Fatal(err)
		}
		if got := provoke(t, p, inClient); got.nsSource == srcVIP6 || got.arpSender != srcNode4 {
			t.Errorf("non-holder again: %+v", got)
		}
	})
}

// TestARPAnnounceKeepsTheVIPOutOfARP: without arp_announce=2 a VIP on lo
// would be the sender of the non-holder's ARP requests (the kernel takes a
// local packet source as is) — the exposure arp_announce=2 closes.
func TestARPAnnounceKeepsTheVIPOutOfARP(t *testing.T) {
	twoHosts(t, func(p nstest.Pair, inClient func(func() error) error) {
		m, err := New(bothVIPs())
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.Open(false); err != nil {
			t.Fatal(err)
		}
		if got := provoke(t, p, inClient); got.arpSender != srcNode4 {
			t.Fatalf("with arp_announce=2 the ARP request came from %s", got.arpSender)
		}
		path := "/proc/sys/net/ipv4/conf/" + p.A.Attrs().Name + "/arp_announce"
		if err := os.WriteFile(path, []byte("0"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := provoke(t, p, inClient); got.arpSender != srcVIP4 {
			t.Errorf("control: with arp_announce=0 the ARP request came from %s, expected the VIP (is the capture blind?)", got.arpSender)
		}
	})
}
