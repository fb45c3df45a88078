// Package vip puts a module's virtual addresses on and off the host with
// netlink, and keeps non-holders quiet about them.
//
// Every UP node must accept the packets of its own buckets, so every UP
// node carries the VIPs — but only the ARP holder carries them on the VIP
// interface; the other UP nodes carry them on the loopback (the classic
// direct-routing trick), in XDP mode as in the explicit no-XDP mode. An
// address on lo is still local (packets to it are accepted from any
// interface), yet it is not an address *of the LAN interface*, and that is
// what keeps a non-holder from ever claiming the VIP on the LAN:
//
//   - IPv6: when a node answers a client from the VIP and must resolve the
//     client, Linux (ndisc_solicit) uses the triggering packet's source as
//     the NS source if it is an address of the outgoing device, with the
//     node's MAC in the source link-layer option; the client then points
//     the VIP at that node (RFC 4861 §7.2.3). With the VIP on lo the NS
//     leaves from the node's link-local address instead. The kernel also
//     answers NS only for addresses of the receiving device.
//   - IPv4: arp_ignore=1 (answer only for addresses of the receiving
//     interface) and arp_announce=2 (send our own ARP requests from the
//     interface's address in the target's subnet, never from the packet's
//     source — which with arp_announce=0 could be a VIP, even one on lo) on
//     the VIP interface do the same for ARP.
//
// The XDP program gates ARP requests and NS for the VIPs too; the
// placement does not rely on it (a killed farmd's program goes away).
// Moving the duty adds the VIP where it goes before removing it from where
// it was, so a node never lacks a VIP it serves.
package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/core/config"
)

// Iface is one <interface> resolved to a link.
type Iface struct {
	Name   string
	Index  int
	Mode   config.DeliveryMode
	Addrs  []netip.Prefix // the VIPs with the prefix length they get on the link
	Config config.Interface
}

// Manager adds and removes one module's VIPs.
type Manager struct {
	// The placement is the same with and without XDP (holder on the
	// interface, the others on lo).
	Ifaces    []Iface
	open      bool
	holder    bool
	sysctlDir string // /proc/sys/net/ipv4/conf, for tests
}

// New resolves every <interface> of v to a link: by name, else the link
// holding an address whose subnet contains the interface's first VIP.
func New(v *config.VIP) (*Manager, error) {
	m := &Manager{sysctlDir: "/proc/sys/net/ipv4/conf"}
	if v == nil {
		return m, nil
	}
	for i, ic := range v.Interfaces {
		if len(ic.Addrs) == 0 {
			continue
		}
		link, prefixes, err := resolve(ic)
		if err != nil {
			return nil, fmt.Errorf("<interface> %d (line %d): %w", i+1, ic.Line, err)
		}
		it := Iface{Name: link.Attrs().Name, Index: link.Attrs().Index, Mode: ic.Mode, Config: ic}
		for _, va := range ic.Addrs {
			a := va.Addr.Unmap()
			bits := a.BitLen()
			for _, p := range prefixes {
				if p.Contains(a) && p.Addr() != a {
					bits = p.Bits()
					break
				}
			}
			it.Addrs = append(it.Addrs, netip.PrefixFrom(a, bits))
		}
		m.Ifaces = append(m.Ifaces, it)
	}
	return m, nil
}

func resolve(ic config.Interface) (netlink.Link, []netip.Prefix, error) {
	if ic.Name != "" {
		l, err := netlink.LinkByName(ic.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("interface %s: %w", ic.Name, err)
		}
		ps, err := prefixesOf(l)
		return l, ps, err
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("list links: %w", err)
	}
	want := ic.Addrs[0].Addr.Unmap()
	for _, l := range links {
		ps, err := prefixesOf(l)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range ps {
			if p.Contains(want) && p.Addr() != want && p.Bits() < want.BitLen() {
				return l, ps, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("no interface has a subnet holding %s; name it with <interface name=...>", want)
}

func prefixesOf(l netlink.Link) ([]netip.Prefix, error) {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", l.Attrs().Name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// Open puts the VIPs on the host: on the VIP interface when holder, else on
// the loopback.
func (m *Manager) Open(holder bool) error {
	var errs []error
	for _, it := range m.Ifaces {
		if err := m.quietARP(it.Name); err != nil {
			errs = append(errs, err)
		}
	}
	m.open, m.holder = true, holder
	errs = append(errs, m.place())
	return errors.Join(errs...)
}

// SetHolder moves the VIPs between the loopback and the interface when the
// ARP duty changes (Ready.ARPHolder).
func (m *Manager) SetHolder(holder bool) error {
	if m.holder == holder {
		return nil
	}
	m.holder = holder
	if !m.open {
		return nil
	}
	return m.place()
}

// Close removes the VIPs from the interface and the loopback.
func (m *Manager) Close() error {
	m.open = false
	var errs []error
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	for _, it := range m.Ifaces {
		l, err := netlink.LinkByIndex(it.Index)
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %s: %w", it.Name, err))
		}
		for _, p := range it.Addrs {
			if l != nil {
				errs = append(errs, del(l, p))
			}
			errs = append(errs, del(lo, netip.PrefixFrom(p.Addr(), p.Addr().BitLen())))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) place() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	var errs []error
	for _, it := range m.Ifaces {
		l, err := netlink.LinkByIndex(it.Index)
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %s: %w", it.Name, err))
			continue
		}
		for _, p := range it.Addrs {
			// Add first, remove second: the VIP stays local throughout, so
			// established flows and the node's buckets never see it vanish.
			// A failed add leaves the old place alone.
			host := netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
			if m.holder {
				if err := add(l, p); err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, del(lo, host))
			} else {
				if err := add(lo, host); err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, del(l, p))
			}
		}
	}
	return errors.Join(errs...)
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: netlink.NewIPNet(p.Addr().AsSlice())}
	a.IPNet.Mask = net.CIDRMask(p.Bits(), p.Addr().BitLen())
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD // the VIP must answer at once, not after DAD
	}
	return a
}

func add(l netlink.Link, p netip.Prefix) error {
	err := netlink.AddrAdd(l, nlAddr(p))
	if err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}

func del(l netlink.Link, p netip.Prefix) error {
	err := netlink.AddrDel(l, nlAddr(p))
	if err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("remove %s from %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}

// quietARP sets arp_ignore=1 (answer only for addresses of the receiving
// interface: a VIP parked on lo stays silent) and arp_announce=2 (never use
// a VIP as the source of our own ARP requests) on the interface.
func (m *Manager) quietARP(ifname string) error {
	for k, v := range map[string]string{"arp_ignore": "1", "arp_announce": "2"} {
		p := filepath.Join(m.sysctlDir, ifname, k)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", p, err)
		}
	}
	return nil
}

// Present reports whether addr is configured on any interface (the ip checker).
func Present(addr netip.Addr) (bool, error) {
	fam := netlink.FAMILY_V4
	if addr.Is6() && !addr.Is4In6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(nil, fam)
	if err != nil {
		return false, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr.Unmap() {
			return true, nil
		}
	}
	return false, nil
}
