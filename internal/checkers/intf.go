package checkers

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

// intfChecker follows the link of the interface through a netlink
// subscription: up while the link is operationally up with carrier. It
// re-reads the link every interval too, so a lost netlink message cannot
// freeze a verdict.
func intfChecker(c config.Check, p *publisher) (func(context.Context), error) {
	return func(ctx context.Context) {
		updates := make(chan netlink.LinkUpdate, 16)
		done := make(chan struct{})
		defer close(done)
		if err := netlink.LinkSubscribe(updates, done); err != nil {
			p.log.Warn("intf checker: no netlink subscription, polling only", "resource", p.name, "err", err)
			updates = nil
		}
		idx := 0
		probe := func() {
			l, err := findLink(c)
			if err != nil {
				p.set(core.ResDown, err.Error())
				return
			}
			idx = l.Attrs().Index
			p.set(linkState(l))
		}
		probe()
		tick := newTicker(c.Interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				probe()
			case u, ok := <-updates:
				if !ok {
					updates = nil
					continue
				}
				if idx == 0 || int(u.Index) == idx {
					probe()
				}
			}
		}
	}, nil
}

func linkState(l netlink.Link) (core.ResourceState, string) {
	a := l.Attrs()
	up := a.OperState == netlink.OperUp || (a.OperState == netlink.OperUnknown && a.RawFlags&0x10000 != 0) // IFF_LOWER_UP
	if !up || a.RawFlags&0x10000 == 0 {
		return core.ResDown, fmt.Sprintf("%s: operstate %s, no carrier", a.Name, a.OperState)
	}
	return core.ResUp, fmt.Sprintf("%s: operstate %s, carrier", a.Name, a.OperState)
}

// findLink resolves the checker's interface: by name, else the link holding
// an address in the network of c.Addr.
func findLink(c config.Check) (netlink.Link, error) {
	if c.Intf != "" {
		l, err := netlink.LinkByName(c.Intf)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", c.Intf, err)
		}
		return l, nil
	}
	pfx, err := netip.ParsePrefix(c.Addr)
	if err != nil {
		a, err2 := netip.ParseAddr(c.Ident)
		if err2 != nil {
			return nil, fmt.Errorf("intf checker: network %q: %w", c.Addr, err)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && pfx.Contains(ip.Unmap()) {
			return netlink.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no interface has an address in %s", pfx)
}
