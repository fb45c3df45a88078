package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Sweep is one probe from every source address of every client to the VIP:
// the picture of who serves whom at one moment. It is what `farmlab probe`
// prints and what `farmlab run` will feed to the INV-8 checker (each client
// address on exactly one node; with on_addr always the same one).
type Sweep struct {
	Proto  string         `json:"proto"`
	Dst    netip.AddrPort `json:"dst"`
	Probes []Probe        `json:"probes"`
	// PerNode counts the answers by node name; Failed counts probes that
	// got no answer.
	PerNode map[string]int `json:"per_node"`
	Failed  int            `json:"failed"`
	Took    time.Duration  `json:"took_ns"`
}

// SweepOptions tune a sweep.
type SweepOptions struct {
	Proto       string        // tcp (default) or udp
	IPv6        bool          // to the IPv6 VIP, from the clients' IPv6 addresses
	Timeout     time.Duration // per probe; default 2s
	Parallel    int           // probes in flight; default 16
	Clients     []string      // default every client
	SourcesOnly bool          // skip each client's primary address
	// Retry, when positive, probes each unanswered source once more with
	// this timeout. A SYN or datagram lost to a busy veth backlog on a
	// loaded machine is the network's loss, not a node refusing a client
	// (INV-8): TCP itself would resend it after 1 s. A client that no node
	// serves fails both tries.
	Retry time.Duration
}

// SweepVIP probes the VIP on the service port from every source address of
// the chosen clients.
func (l *Lab) SweepVIP(ctx context.Context, o SweepOptions) (Sweep, error) {
	if o.Proto == "" {
		o.Proto = "tcp"
	}
	if o.Proto != "tcp" && o.Proto != "udp" {
		return Sweep{}, fmt.Errorf("sweep: protocol %q: want tcp or udp", o.Proto)
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	vip := l.Plan.VIP
	if o.IPv6 {
		if !l.Plan.VIP6.IsValid() {
			return Sweep{}, fmt.Errorf("sweep: the lab has no IPv6 VIP")
		}
		vip = l.Plan.VIP6
	}
	dst := netip.AddrPortFrom(vip, uint16(l.Plan.Spec.ServicePort))
	type job struct {
		c   Client
		src netip.Addr
	}
	var jobs []job
	for _, c := range l.Plan.Clients {
		if len(o.Clients) > 0 && !slices.Contains(o.Clients, c.Name) {
			continue
		}
		primary, sources := c.Addr, c.Sources
		if o.IPv6 {
			primary, sources = c.Addr6, c.Sources6
		}
		if !o.SourcesOnly {
			jobs = append(jobs, job{c, primary})
		}
		for _, s := range sources {
			jobs = append(jobs, job{c, s})
		}
	}
	if len(o.Clients) > 0 && len(jobs) == 0 {
		return Sweep{}, fmt.Errorf("sweep: no client called %v", o.Clients)
	}
	sw := Sweep{Proto: o.Proto, Dst: dst, Probes: make([]Probe, len(jobs)), PerNode: map[string]int{}}
	start := time.Now()
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if o.Proto == "tcp" {
				sw.Probes[i] = l.ProbeTCP(ctx, j.c, j.src, dst, o.Timeout)
			} else {
				sw.Probes[i] = l.ProbeUDP(ctx, j.c, j.src, dst, o.Timeout)
			}
		})
	}
	wg.Wait()
	if o.Retry > 0 {
		for i, j := range jobs {
			if sw.Probes[i].Node != "" {
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if o.Proto == "tcp" {
					sw.Probes[i] = l.ProbeTCP(ctx, j.c, j.src, dst, o.Retry)
				} else {
					sw.Probes[i] = l.ProbeUDP(ctx, j.c, j.src, dst, o.Retry)
				}
			})
		}
		wg.Wait()
	}
	sw.Took = time.Since(start)
	for _, p := range sw.Probes {
		if p.Node == "" {
			sw.Failed++
		} else {
			sw.PerNode[p.Node]++
		}
	}
	return sw, nil
}
