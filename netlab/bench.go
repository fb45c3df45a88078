package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// The lab's benchmarks, for the numbers of SPEC §9 that need real daemons:
// the failover gap a client sees when a node (the ARP holder or not) dies,
// and the connections a planned stop and start break on the nodes that
// stay. They are measurements, not pass/fail tests; the command prints them
// next to the bars.

// FailoverResult is what the clients of a crashed node saw.
type FailoverResult struct {
	Victim    string `json:"victim"`
	WasHolder bool   `json:"was_arp_holder"`
	// Affected is how many client addresses the victim served before.
	Affected int `json:"affected"`
	// Gaps: from the crash to the first answer from another node, per
	// affected address (an upper bound: the probe period and timeout add
	// to it).
	MaxGap      time.Duration `json:"max_gap_ns"`
	MedianGap   time.Duration `json:"median_gap_ns"`
	Unrecovered int           `json:"unrecovered"` // addresses still unserved at the end
}

// BenchOptions tune the benchmarks.
type BenchOptions struct {
	Period  time.Duration // between probes of one address; default 50ms
	Timeout time.Duration // of one probe; default 200ms
	Limit   time.Duration // how long to wait for recovery; default 15s
}

func (o *BenchOptions) defaults() {
	if o.Period <= 0 {
		o.Period = 50 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 200 * time.Millisecond
	}
	if o.Limit <= 0 {
		o.Limit = 15 * time.Second
	}
}

type source struct {
	c   Client
	src netip.Addr
}

// BenchFailover crashes victim and measures how long each client address
// it served stays unserved. The victim stays crashed; `start` brings it
// back.
func (l *Lab) BenchFailover(ctx context.Context, victim string, o BenchOptions) (FailoverResult, error) {
	o.defaults()
	res := FailoverResult{Victim: victim}
	m, err := l.Module(ctx, victim)
	if err != nil {
		return res, err
	}
	res.WasHolder = m.ARPHolder
	sw, err := l.SweepVIP(ctx, SweepOptions{Timeout: time.Second})
	if err != nil {
		return res, err
	}
	if sw.Failed > 0 {
		return res, fmt.Errorf("bench failover: %d of %d client addresses unserved before the crash", sw.Failed, len(sw.Probes))
	}
	var affected []source
	for _, p := range sw.Probes {
		if p.Node == victim {
			c, _ := l.Client(p.Client)
			affected = append(affected, source{c, p.Src})
		}
	}
	res.Affected = len(affected)
	if len(affected) == 0 {
		return res, fmt.Errorf("bench failover: %s serves no client address", victim)
	}
	dst := netip.AddrPortFrom(l.Plan.VIP, uint16(l.Plan.Spec.ServicePort))
	t0 := time.Now()
	if err := l.Crash(victim); err != nil {
		return res, err
	}
	gaps := make([]time.Duration, len(affected))
	var wg sync.WaitGroup
	for i, s := range affected {
		wg.Go(func() {
			gaps[i] = -1
			for time.Since(t0) < o.Limit && ctx.Err() == nil {
				next := time.Now().Add(o.Period)
				p := l.ProbeTCP(ctx, s.c, s.src, dst, o.Timeout)
				if p.Node != "" && p.Node != victim {
					gaps[i] = time.Since(t0)
					return
				}
				time.Sleep(time.Until(next))
			}
		})
	}
	wg.Wait()
	var got []time.Duration
	for _, g := range gaps {
		if g < 0 {
			res.Unrecovered++
			continue
		}
		got = append(got, g)
	}
	slices.Sort(got)
	if len(got) > 0 {
		res.MaxGap, res.MedianGap = got[len(got)-1], got[len(got)/2]
	}
	return res, nil
}

// PlannedResult is what long-lived client connections saw through a
// planned stop and start of one node.
type PlannedResult struct {
	Node  string `json:"node"`
	Conns int    `json:"conns"`
	// Stayers are the connections served by other nodes; BrokenStayers
	// those of them that failed (SPEC §9: must be 0).
	Stayers       int `json:"stayers"`
	BrokenStayers int `json:"broken_stayers"`
	// BrokenLeavers: connections to the stopped node that its stop_both
	// ended (expected: the application stopped).
	BrokenLeavers int `json:"broken_leavers"`
	// NewRefused counts fresh connections that found no one during the run.
	NewProbes  int      `json:"new_probes"`
	NewRefused int      `json:"new_refused"`
	Errors     []string `json:"errors,omitempty"` // the first few stayer failures
}

// BenchPlanned holds one long-lived connection per client address (each
// sends a line every period and reads the answer), stops node, waits, starts
// it again, waits, and counts the connections that broke.
func (l *Lab) BenchPlanned(ctx context.Context, node string, hold time.Duration, o BenchOptions) (PlannedResult, error) {
	o.defaults()
	if o.Period < 100*time.Millisecond {
		o.Period = 100 * time.Millisecond
	}
	res := PlannedResult{Node: node}
	dst := netip.AddrPortFrom(l.Plan.VIP, uint16(l.Plan.Spec.ServicePort))
	type conn struct {
		c      net.Conn
		r      *bufio.Reader
		server string
		err    error
	}
	var conns []*conn
	defer func() {
		for _, c := range conns {
			c.c.Close()
		}
	}()
	for _, cl := range l.Plan.Clients {
		for _, s := range cl.Sources {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			c, err := DialContext(cctx, cl.NS, "tcp", dst.String(), net.TCPAddrFromAddrPort(netip.AddrPortFrom(s, 0)))
			cancel()
			if err != nil {
				return res, fmt.Errorf("bench planned: connect from %v: %w", s, err)
			}
			cn := &conn{c: c, r: bufio.NewReader(c)}
			conns = append(conns, cn)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			line, err := cn.r.ReadString('\n')
			if err != nil {
				return res, fmt.Errorf("bench planned: greeting to %v: %w", s, err)
			}
			cn.server = strings.TrimSpace(line)
		}
	}
	res.Conns = len(conns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, cn := range conns {
		wg.Go(func() {
			t := time.NewTicker(o.Period)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				_ = cn.c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := cn.c.Write([]byte("ping\n")); err != nil {
					cn.err = err
					return
				}
				line, err := cn.r.ReadString('\n')
				if err == nil && strings.TrimSpace(line) != cn.server {
					err = fmt.Errorf("answered by %q, not %q", strings.TrimSpace(line), cn.server)
				}
				if err != nil {
					cn.err = err
					return
				}
			}
		})
	}
	// Fresh connections during the run, twice a second.
	var probes, refused int
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			sw, err := l.SweepVIP(ctx, SweepOptions{Timeout: o.Timeout, SourcesOnly: true})
			if err == nil {
				probes += len(sw.Probes)
				refused += sw.Failed
			}
		}
	}()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	var err error
	if err = sleep(time.Second); err == nil {
		if _, err = l.Do(ctx, "stop "+node); err == nil {
			if err = sleep(hold); err == nil {
				if _, err = l.Do(ctx, "start "+node); err == nil {
					err = sleep(hold)
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	<-probeDone
	if err != nil {
		return res, err
	}
	res.NewProbes, res.NewRefused = probes, refused
	for _, cn := range conns {
		if cn.server == node {
			if cn.err != nil {
				res.BrokenLeavers++
			}
			continue
		}
		res.Stayers++
		if cn.err != nil {
			res.BrokenStayers++
			if len(res.Errors) < 5 {
				res.Errors = append(res.Errors, fmt.Sprintf("%s via %s: %v", cn.c.LocalAddr(), cn.server, cn.err))
			}
		}
	}
	if res.Conns == 0 {
		return res, errors.New("bench planned: the lab has no client source addresses")
	}
	return res, nil
}
