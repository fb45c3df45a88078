package checkers

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/internal/vip"
)

// ipChecker checks that the VIP is configured on this host while this node
// has it open (up otherwise: a closed VIP is the module's choice, not a
// failure); on the ARP holder it also probes for a duplicate: an ARP
// request for the VIP answered by a MAC that is not ours means another host
// claims the address (no farm peer answers, they are silent for the VIP).
func ipChecker(c config.Check, p *publisher, holder, open func() bool, kick <-chan struct{}) (func(context.Context), error) {
	addr, err := netip.ParseAddr(c.Ident)
	if err != nil {
		return nil, fmt.Errorf("ip checker: address %q: %w", c.Ident, err)
	}
	addr = addr.Unmap()
	return func(ctx context.Context) {
		everyOrKick(ctx, c.Interval, kick, func() {
			if open != nil && !open() {
				p.set(core.ResUp, addr.String()+" not opened by this node: nothing to check")
				return
			}
			ok, err := vip.Present(addr)
			switch {
			case err != nil:
				p.set(core.ResUnknown, err.Error())
			case !ok:
				p.set(core.ResDown, addr.String()+" is not configured on this host")
			default:
				if addr.Is4() && holder != nil && holder() {
					if mac, dup := duplicate(addr, timeoutOf(c)); dup {
						p.set(core.ResDown, fmt.Sprintf("duplicate address: %s answered by %s", addr, mac))
						return
					}
				}
				p.set(core.ResUp, addr.String()+" configured")
			}
		})
	}, nil
}

// duplicate sends an ARP probe (sender 0.0.0.0, RFC 5227) for addr on the
// interface that holds it and reports a foreign answer. Any failure to
// probe counts as "no duplicate": the probe is best effort.
func duplicate(addr netip.Addr, timeout time.Duration) (net.HardwareAddr, bool) {
	ifi := ifaceHolding(addr)
	if ifi == nil || len(ifi.HardwareAddr) != 6 {
		return nil, false
	}
	local := map[string]bool{}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			local[i.HardwareAddr.String()] = true
		}
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, false
	}
	defer c.Close()
	pkt, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, netip.IPv4Unspecified(),
		net.HardwareAddr{0, 0, 0, 0, 0, 0}, addr)
	if err != nil {
		return nil, false
	}
	if err := c.WriteTo(pkt, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); err != nil {
		return nil, false
	}
	if timeout > time.Second {
		timeout = time.Second
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for {
		r, _, err := c.Read()
		if err != nil {
			return nil, false
		}
		// This host's own interfaces do not count: another interface of
		// ours on the same link answers for every local address.
		if r.Operation == arp.OperationReply && r.SenderIP == addr && !local[r.SenderHardwareAddr.String()] {
			return r.SenderHardwareAddr, true
		}
	}
}

func ifaceHolding(addr netip.Addr) *net.Interface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for i := range ifs {
		as, _ := ifs[i].Addrs()
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr {
				return &ifs[i]
			}
		}
	}
	return nil
}

// newTicker ticks every d, every 10 s when the checker sets no interval.
func newTicker(d time.Duration) *time.Ticker {
	if d <= 0 {
		d = 10 * time.Second
	}
	return time.NewTicker(d)
}
