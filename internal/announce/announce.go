// Package announce makes the ARP holder's claim on the VIPs known: it sends
// gratuitous ARP (IPv4) and unsolicited neighbour advertisements with the
// override flag (IPv6) from the VIP interface, so switches and clients move
// the VIP to this node's MAC at once instead of when their caches expire.
//
// A takeover sends a short burst (three announcements a second apart: one
// lost frame must not leave clients on a dead node); with <interface
// arpinterval> the holder then repeats every arpinterval until arpelapse
// has passed (SafeKit's periodic gratuitous ARP, for switches that forget).
package announce

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// Burst is the number of announcements at a takeover, BurstGap their spacing.
const (
	Burst    = 3
	BurstGap = time.Second
)

// Announcer announces a set of VIPs on one interface while started.
type Announcer struct {
	Ifname   string
	VIPs     []netip.Addr
	Interval time.Duration // arpinterval; 0 = burst only
	Elapse   time.Duration // arpelapse; 0 with an interval = while holder
	Log      *slog.Logger

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
	sent int // announcement rounds, for tests and logs
}

// Start begins announcing (no-op when already started).
func (a *Announcer) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop != nil {
		return
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.run(a.stop, a.done)
}

// Stop ends announcing and waits for the sender to finish.
func (a *Announcer) Stop() {
	a.mu.Lock()
	stop, done := a.stop, a.done
	a.stop, a.done = nil, nil
	a.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// Rounds is how many announcement rounds were sent.
func (a *Announcer) Rounds() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent
}

func (a *Announcer) run(stop, done chan struct{}) {
	defer close(done)
	start := time.Now()
	for i := 0; ; i++ {
		if err := a.Once(); err != nil {
			a.Log.Warn("gratuitous ARP / unsolicited NA", "interface", a.Ifname, "err", err)
		}
		a.mu.Lock()
		a.sent++
		a.mu.Unlock()
		var wait time.Duration
		switch {
		case i+1 < Burst:
			wait = BurstGap
		case a.Interval > 0 && (a.Elapse == 0 || time.Since(start) < a.Elapse):
			wait = a.Interval
		default:
			<-stop
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
	}
}

// Once sends one announcement for every VIP.
func (a *Announcer) Once() error {
	ifi, err := net.InterfaceByName(a.Ifname)
	if err != nil {
		return fmt.Errorf("interface %s: %w", a.Ifname, err)
	}
	var v4, v6 []netip.Addr
	for _, v := range a.VIPs {
		if v.Unmap().Is4() {
			v4 = append(v4, v.Unmap())
		} else {
			v6 = append(v6, v)
		}
	}
	var errs []error
	if len(v4) > 0 {
		errs = append(errs, gratuitousARP(ifi, v4))
	}
	if len(v6) > 0 {
		errs = append(errs, unsolicitedNA(ifi, v6))
	}
	return errors.Join(errs...)
}

// gratuitousARP broadcasts, per VIP, an ARP request and an ARP reply whose
// sender and target are the VIP: some stacks update their cache only from
// one of the two forms.
func gratuitousARP(ifi *net.Interface, vips []netip.Addr) error {
	c, err := arp.Dial(ifi)
	if err != nil {
		return fmt.Errorf("arp on %s: %w", ifi.Name, err)
	}
	defer c.Close()
	for _, v := range vips {
		for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
			p, err := arp.NewPacket(op, ifi.HardwareAddr, v, ethernet.Broadcast, v)
			if err != nil {
				return fmt.Errorf("arp packet for %s: %w", v, err)
			}
			if err := c.WriteTo(p, ethernet.Broadcast); err != nil {
				return fmt.Errorf("send arp for %s on %s: %w", v, ifi.Name, err)
			}
		}
	}
	return nil
}

// unsolicitedNA sends, per VIP, a neighbour advertisement with the override
// flag to all nodes (RFC 4861 §7.2.6).
func unsolicitedNA(ifi *net.Interface, vips []netip.Addr) error {
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return fmt.Errorf("ndp on %s: %w", ifi.Name, err)
	}
	defer c.Close()
	for _, v := range vips {
		na := &ndp.NeighborAdvertisement{Override: true, TargetAddress: v,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}}}
		if err := c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
			return fmt.Errorf("send NA for %s on %s: %w", v, ifi.Name, err)
		}
	}
	return nil
}
