package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vipfarm/vipfarm/netlab/demo"
)

// Client traffic: the building blocks of `farmlab run` and `farmlab bench`.
// A probe is one TCP connection (or one UDP exchange) from a client
// namespace and one of its source addresses to the demo service, and
// records which node answered. A stream of probes is what feeds INV-8 (each
// client address lands on exactly one node) and the failover gap figures.

// Probe is the outcome of one probe.
type Probe struct {
	Client string         `json:"client"`
	Src    netip.Addr     `json:"src"`
	Dst    netip.AddrPort `json:"dst"`
	Proto  string         `json:"proto"` // tcp | udp
	Start  time.Time      `json:"start"`
	RTT    time.Duration  `json:"rtt_ns"`
	Node   string         `json:"node,omitempty"` // who answered; "" on error
	Err    string         `json:"err,omitempty"`
}

// ProbeTCP connects from client c (source src; the zero Addr lets the
// kernel choose) to dst and reads the serving node's name.
func (l *Lab) ProbeTCP(ctx context.Context, c Client, src netip.Addr, dst netip.AddrPort, timeout time.Duration) Probe {
	return l.probe(ctx, c, "tcp", src, dst, timeout)
}

// ProbeUDP sends one datagram from client c and reads the answer.
func (l *Lab) ProbeUDP(ctx context.Context, c Client, src netip.Addr, dst netip.AddrPort, timeout time.Duration) Probe {
	return l.probe(ctx, c, "udp", src, dst, timeout)
}

func (l *Lab) probe(ctx context.Context, c Client, proto string, src netip.Addr, dst netip.AddrPort, timeout time.Duration) Probe {
	p := Probe{Client: c.Name, Src: src, Dst: dst, Proto: proto, Start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var laddr net.Addr
	if src.IsValid() {
		if proto == "tcp" {
			laddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		} else {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
	}
	conn, err := DialContext(ctx, c.NS, proto, dst.String(), laddr)
	if err != nil {
		p.Err = err.Error()
		p.RTT = time.Since(p.Start)
		return p
	}
	defer conn.Close()
	var name string
	if proto == "tcp" {
		name, err = demo.ReadName(conn, time.Until(deadlineOf(ctx)))
	} else {
		name, err = demo.AskUDP(ctx, conn, timeout)
	}
	p.RTT = time.Since(p.Start)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Node = name
	return p
}

func deadlineOf(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(time.Minute)
}

// Client returns the plan's client called name, or an error naming it.
func (l *Lab) Client(name string) (Client, error) {
	c, ok := l.Plan.ClientByName(name)
	if !ok {
		return Client{}, fmt.Errorf("lab: no client called %q", name)
	}
	return c, nil
}
