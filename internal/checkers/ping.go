package checkers

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

var pingSeq atomic.Uint32

// pingChecker sends one ICMP echo to <to addr> every interval: up when the
// reply comes within the timeout. It uses an unprivileged ICMP datagram
// socket when net.ipv4.ping_group_range allows, else a raw socket (root).
func pingChecker(c config.Check, p *publisher, kick <-chan struct{}) (func(context.Context), error) {
	addr, err := netip.ParseAddr(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("ping checker needs <to addr>: %q: %w", c.Addr, err)
	}
	addr = addr.Unmap()
	return func(ctx context.Context) {
		everyOrKick(ctx, c.Interval, kick, func() {
			rtt, err := Ping(addr, timeoutOf(c))
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				p.set(core.ResDown, err.Error())
				return
			}
			p.set(core.ResUp, fmt.Sprintf("echo reply from %s in %s", addr, rtt.Round(time.Microsecond)))
		})
	}, nil
}

// Ping sends one echo request to addr and waits for its reply.
func Ping(addr netip.Addr, timeout time.Duration) (time.Duration, error) {
	v4 := addr.Is4()
	proto, reqType, repType := 1, icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply)
	dgram, raw := "udp4", "ip4:icmp"
	if !v4 {
		proto, reqType, repType = 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
		dgram, raw = "udp6", "ip6:ipv6-icmp"
	}
	privileged := false
	conn, err := icmp.ListenPacket(dgram, "")
	if err != nil {
		if conn, err = icmp.ListenPacket(raw, ""); err != nil {
			return 0, fmt.Errorf("icmp socket: %w", err)
		}
		privileged = true
	}
	defer conn.Close()
	id := os.Getpid() & 0xffff
	seq := int(pingSeq.Add(1) & 0xffff)
	msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("vipfarm")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	var dst net.Addr = &net.UDPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	if privileged {
		dst = &net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	}
	start := time.Now()
	deadline := start.Add(timeout)
	_ = conn.SetDeadline(deadline)
	if _, err := conn.WriteTo(b, dst); err != nil {
		return 0, fmt.Errorf("echo to %s: %w", addr, err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("no echo reply from %s within %s", addr, timeout)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != repType {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		// A datagram socket rewrites the id to its port: match on seq only then.
		if !ok || e.Seq != seq || (privileged && e.ID != id) {
			continue
		}
		return time.Since(start), nil
	}
}
