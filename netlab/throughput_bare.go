package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The baseline of the throughput ratio is the plain kernel path: the same
// client, switch, node and sink, but a receiving interface with no XDP
// program at all. The farm's program cannot be detached from the node's
// eth0 without breaking farmd (it holds the attachment as a bpf_link; a
// detached link cannot be re-attached, and a program attached by anyone
// else would outlive a crash of that farmd). So the benchmark plugs, for
// its duration, a second veth into the node ("bench0"), on the same bridge
// as eth0, with its switch side carrying the same XDP_PASS program as every
// other switch port, and sends the baseline transfer to the node's address
// on it. Client → switch → node differs from the XDP run only by the
// program on the node's receiving veth.
//
// The bench interface has a subnet of its own (198.18.250.0/24), so the
// node's routes and farmd's interfaces are untouched. It answers no ARP at
// all (arp_ignore 8) and has no IPv6: Linux answers ARP for any local
// address on any interface, the VIP included, which would show clients and
// the holder's duplicate-address check the VIP at the bench interface's
// MAC. Both ends get static neighbour entries instead.

const (
	bareIface = "bench0"
	bareLAN   = 250 // 198.18.250.0/24
)

// bareAddr is the node's (or client's, host 200+J) address on the bench
// subnet.
func bareAddr(host int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, bareLAN, byte(host)}) }

// bareLink is a plugged bench interface.
type bareLink struct {
	l      *Lab
	node   Node
	client Client
	port   string // switch side
	addr   netip.Addr
	caddr  netip.Addr // the client's source on the bench subnet
}

// plugBare plugs node's bench interface and gives client an address on the
// bench subnet; unplug removes both.
func (l *Lab) plugBare(n Node, c Client) (*bareLink, error) {
	b := &bareLink{l: l, node: n, client: c, port: n.Name + "-b0", addr: bareAddr(10 + n.Index), caddr: bareAddr(200 + c.Index)}
	benchMAC := mac(bareLAN, roleNode, n.Index)
	sw, err := namedns.HandleAt(l.Plan.SwitchNS)
	if err != nil {
		return nil, err
	}
	defer sw.Close()
	if _, err := sw.LinkByName(b.port); err == nil {
		return nil, fmt.Errorf("bench interface %s already exists in %s: a bench is running, or one crashed (farmlab down removes it)", b.port, l.Plan.SwitchNS)
	}
	pass, err := loadXDPPass()
	if err != nil {
		return nil, err
	}
	defer pass.Close()
	if err := l.plugVeth(sw, l.Plan.Bridges[0], b.port, n.NS, bareIface, benchMAC, pass.FD()); err != nil {
		b.unplug()
		return nil, fmt.Errorf("bench interface of %s: %w", n.Name, err)
	}
	if err := b.configure(benchMAC); err != nil {
		return nil, errors.Join(err, b.unplug())
	}
	return b, nil
}

func (b *bareLink) configure(benchMAC string) error {
	n, c := b.node, b.client
	nh, err := namedns.HandleAt(n.NS)
	if err != nil {
		return err
	}
	defer nh.Close()
	// Before it is up: the node holds the VIP as a local address (on lo,
	// or on eth0 as the ARP holder), and Linux answers ARP for any local
	// address on any interface. farmd keeps eth0 quiet (arp_ignore); the
	// bench interface must never answer either, or clients and the
	// holder's duplicate-address check would see the VIP at its MAC. With
	// static neighbours on both ends it needs no ARP at all, and no IPv6.
	for _, kv := range [][2]string{
		{"net.ipv4.conf." + bareIface + ".arp_ignore", "8"},
		{"net.ipv4.conf." + bareIface + ".arp_announce", "2"},
		{"net.ipv6.conf." + bareIface + ".disable_ipv6", "1"},
	} {
		if err := writeSysctl(n.NS, kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := ifaceUp(nh, n.NS, bareIface, []netip.Prefix{netip.PrefixFrom(b.addr, 24)}); err != nil {
		return err
	}
	ch, err := namedns.HandleAt(c.NS)
	if err != nil {
		return err
	}
	defer ch.Close()
	ceth, err := ch.LinkByName(c.Iface)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", c.Iface, c.NS, err)
	}
	ca := &netlink.Addr{IPNet: prefixToIPNet(netip.PrefixFrom(b.caddr, 24))}
	ca.IPNet.IP = net.IP(b.caddr.AsSlice())
	if err := ch.AddrAdd(ceth, ca); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s in %s: %w", b.caddr, c.Iface, c.NS, err)
	}
	nlink, err := nh.LinkByName(bareIface)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", bareIface, n.NS, err)
	}
	bm, _ := net.ParseMAC(benchMAC)
	cm, err := net.ParseMAC(c.MAC)
	if err != nil {
		return fmt.Errorf("client %s MAC %q: %w", c.Name, c.MAC, err)
	}
	for _, ne := range []struct {
		h   *netlink.Handle
		ns  string
		idx int
		ip  netip.Addr
		hw  net.HardwareAddr
	}{
		{ch, c.NS, ceth.Attrs().Index, b.addr, bm},
		{nh, n.NS, nlink.Attrs().Index, b.caddr, cm},
	} {
		err := ne.h.NeighSet(&netlink.Neigh{LinkIndex: ne.idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: net.IP(ne.ip.AsSlice()), HardwareAddr: ne.hw})
		if err != nil {
			return fmt.Errorf("static neighbour %s in %s: %w", ne.ip, ne.ns, err)
		}
	}
	return nil
}

// unplug removes the bench interface (both veth ends go with the switch
// side) and the client's bench address with its neighbour entry. Missing
// pieces are fine: it also cleans a half-made plug.
func (b *bareLink) unplug() error {
	var errs []error
	if sw, err := namedns.HandleAt(b.l.Plan.SwitchNS); err != nil {
		errs = append(errs, err)
	} else {
		if lk, err := sw.LinkByName(b.port); err == nil {
			if err := sw.LinkDel(lk); err != nil {
				errs = append(errs, fmt.Errorf("delete bench interface %s: %w", b.port, err))
			}
		}
		sw.Close()
	}
	swNS := b.l.Plan.SwitchNS
	if err := b.l.state.update(func(s *State) {
		s.Links = slices.DeleteFunc(s.Links, func(r LinkRef) bool { return r.NS == swNS && r.Name == b.port })
	}); err != nil {
		errs = append(errs, err)
	}
	c := b.client
	if ch, err := namedns.HandleAt(c.NS); err != nil {
		errs = append(errs, err)
	} else {
		if ceth, err := ch.LinkByName(c.Iface); err == nil {
			ne := &netlink.Neigh{LinkIndex: ceth.Attrs().Index, Family: netlink.FAMILY_V4, IP: net.IP(b.addr.AsSlice())}
			if err := ch.NeighDel(ne); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("delete neighbour %s in %s: %w", b.addr, c.NS, err))
			}
			ca := &netlink.Addr{IPNet: prefixToIPNet(netip.PrefixFrom(b.caddr, 24))}
			ca.IPNet.IP = net.IP(b.caddr.AsSlice())
			if err := ch.AddrDel(ceth, ca); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				errs = append(errs, fmt.Errorf("remove %s from %s in %s: %w", b.caddr, c.Iface, c.NS, err))
			}
		}
		ch.Close()
	}
	return errors.Join(errs...)
}
