package netlab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// The whole `farmlab bench`: every lab figure of SPEC §9 in one report,
// with the headline numbers at the top level of its JSON (the names the
// project's issue asks for) and every measurement's detail below them.

// Bars are SPEC §9's numbers, repeated in the report so that a reader of
// the JSON alone can judge it.
type Bars struct {
	FailoverGapMs   int64   `json:"failover_gap_ms"`
	ARPTakeoverMs   int64   `json:"arp_takeover_ms"`
	PlannedResets   int     `json:"planned_resets"`
	ThroughputRatio float64 `json:"throughput_ratio"`
}

// SpecBars are the bars of SPEC §9.
var SpecBars = Bars{FailoverGapMs: 1500, ARPTakeoverMs: 2500, PlannedResets: 0, ThroughputRatio: 0.9}

// BenchReport is `farmlab bench --json`. A headline figure is null when
// its measurement was skipped or did not recover (see the detail).
type BenchReport struct {
	// FailoverGapMs: a node that is not the ARP holder crashed → longest
	// gap until its clients were served again.
	FailoverGapMs *float64 `json:"failover_gap_ms"`
	// PlannedResets: long-lived connections to the nodes that stayed up,
	// broken by a planned stop and start of another node.
	PlannedResets *int `json:"planned_resets"`
	// ThroughputRatio, ForwardThroughputRatio: XDP path / plain kernel
	// path, median of the samples, for a flow the ARP holder owns and for
	// one it forwards to its owner.
	ThroughputRatio        *float64 `json:"throughput_ratio"`
	ForwardThroughputRatio *float64 `json:"forward_throughput_ratio"`
	// ARPTakeoverMs: the ARP holder crashed → longest gap until its
	// clients reached the VIP again.
	ARPTakeoverMs *float64 `json:"arp_takeover_ms"`
	Bars          Bars     `json:"bars"`
	// Pass is true when every figure measured meets its bar; Failed names
	// the others.
	Pass   bool     `json:"pass"`
	Failed []string `json:"failed,omitempty"`

	Nodes          int               `json:"nodes"`
	Throughput     *ThroughputResult `json:"throughput,omitempty"`
	Planned        *PlannedResult    `json:"planned,omitempty"`
	Failover       *FailoverResult   `json:"failover,omitempty"`
	HolderFailover *FailoverResult   `json:"holder_failover,omitempty"`
}

// BenchSuiteOptions choose and tune the measurements of Bench.
type BenchSuiteOptions struct {
	Throughput   ThroughputOptions
	Hold         time.Duration // planned stop: how long the node stays stopped, and the wait after; default 3s
	NoThroughput bool
	NoFailover   bool // skips the planned stop/start and both crashes
	// Settle is the stable window after the farm is balanced again, before
	// the next measurement (SPEC §5's convergence); default 3s.
	Settle  time.Duration
	Timeout time.Duration // for the farm to come back balanced; default 30s
	// Progress, when set, gets one line as each measurement starts.
	Progress io.Writer
}

// Bench runs, on the running lab, the throughput comparison, the planned
// stop/start, the crash of a node that is not the ARP holder and the crash
// of the holder, in that order (the disruptive ones last), bringing the
// farm back to balanced after each.
func (l *Lab) Bench(ctx context.Context, o BenchSuiteOptions) (BenchReport, error) {
	rep := BenchReport{Bars: SpecBars, Nodes: len(l.Plan.Nodes)}
	if o.Hold <= 0 {
		o.Hold = 3 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if len(l.Plan.Nodes) < 2 {
		return rep, fmt.Errorf("bench needs at least two nodes, the lab has %d", len(l.Plan.Nodes))
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	balanced := func() error {
		c, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		if err := l.WaitBalanced(c); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.Settle):
			return nil
		}
	}
	if err := balanced(); err != nil {
		return rep, err
	}
	if !o.NoThroughput {
		progress("throughput: %d × %d MiB per variant and path", max(o.Throughput.Reps, 1), max(o.Throughput.Bytes>>20, 1))
		tp, err := l.BenchThroughput(ctx, o.Throughput)
		if err != nil {
			return rep, err
		}
		rep.Throughput = &tp
		rep.ThroughputRatio = &tp.Local.Ratio
		if tp.Forward != nil {
			rep.ForwardThroughputRatio = &tp.Forward.Ratio
		}
	}
	if !o.NoFailover {
		last := l.Plan.Nodes[len(l.Plan.Nodes)-1].Name
		progress("planned stop and start of %s", last)
		planned, err := l.BenchPlanned(ctx, last, o.Hold, BenchOptions{})
		if err != nil {
			return rep, err
		}
		rep.Planned = &planned
		rep.PlannedResets = &planned.BrokenStayers
		if err := balanced(); err != nil {
			return rep, err
		}
		// A node that is not the ARP holder, then the holder.
		for _, wantHolder := range []bool{false, true} {
			victim := ""
			for _, n := range l.Plan.Nodes {
				m, err := l.Module(ctx, n.Name)
				if err == nil && m.ARPHolder == wantHolder {
					victim = n.Name
					break
				}
			}
			if victim == "" {
				return rep, fmt.Errorf("bench: no node with ARP holder = %v", wantHolder)
			}
			progress("crash of %s (ARP holder: %v)", victim, wantHolder)
			fo, err := l.BenchFailover(ctx, victim, BenchOptions{})
			if err != nil {
				return rep, err
			}
			var ms *float64
			if fo.Unrecovered == 0 {
				v := float64(fo.MaxGap.Microseconds()) / 1000
				ms = &v
			}
			if wantHolder {
				rep.HolderFailover, rep.ARPTakeoverMs = &fo, ms
			} else {
				rep.Failover, rep.FailoverGapMs = &fo, ms
			}
			if _, err := l.Do(ctx, "start "+victim); err != nil {
				return rep, err
			}
			if err := balanced(); err != nil {
				return rep, err
			}
		}
	}
	rep.judge()
	return rep, nil
}

// judge sets Pass and Failed from the figures measured.
func (r *BenchReport) judge() {
	r.Failed = nil
	b := r.Bars
	if r.FailoverGapMs != nil && *r.FailoverGapMs > float64(b.FailoverGapMs) {
		r.Failed = append(r.Failed, "failover_gap_ms")
	}
	if r.Failover != nil && r.Failover.Unrecovered > 0 {
		r.Failed = append(r.Failed, "failover_gap_ms (unrecovered)")
	}
	if r.PlannedResets != nil && *r.PlannedResets > b.PlannedResets {
		r.Failed = append(r.Failed, "planned_resets")
	}
	if r.ThroughputRatio != nil && *r.ThroughputRatio < b.ThroughputRatio {
		r.Failed = append(r.Failed, "throughput_ratio")
	}
	if r.ForwardThroughputRatio != nil && *r.ForwardThroughputRatio < b.ThroughputRatio {
		r.Failed = append(r.Failed, "forward_throughput_ratio")
	}
	if r.ARPTakeoverMs != nil && *r.ARPTakeoverMs > float64(b.ARPTakeoverMs) {
		r.Failed = append(r.Failed, "arp_takeover_ms")
	}
	if r.HolderFailover != nil && r.HolderFailover.Unrecovered > 0 {
		r.Failed = append(r.Failed, "arp_takeover_ms (unrecovered)")
	}
	r.Pass = len(r.Failed) == 0
}

// WriteText writes the report for a human: one paragraph per measurement,
// each figure next to its bar.
func (r *BenchReport) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "BELOW BAR"
	}
	if t := r.Throughput; t != nil {
		fmt.Fprintf(&b, "throughput, %d × %d MiB per variant from %s (%s), medians:\n", t.Reps, t.BytesPerRun>>20, t.Client, t.Filter)
		for _, p := range []*PathThroughput{&t.Local, t.Forward} {
			if p == nil {
				continue
			}
			what := "owned by the ARP holder " + p.Owner
			if p.Owner != p.Via {
				what = fmt.Sprintf("forwarded by %s to its owner %s (%d packets XDP_TX)", p.Via, p.Owner, p.XDPForwarded)
			}
			fmt.Fprintf(&b, "  flow from %s %s:\n", p.Src, what)
			fmt.Fprintf(&b, "    XDP path %.0f Mbit/s, plain kernel path %.0f Mbit/s: ratio %.2f (bar ≥ %.1f: %s)\n",
				p.XDPMedian, p.BareMedian, p.Ratio, r.Bars.ThroughputRatio, verdict(p.Ratio >= r.Bars.ThroughputRatio))
			fmt.Fprintf(&b, "    to %s's own address through the farm's program (no VIP): %.0f Mbit/s, ratio %.2f\n", p.Owner, p.OwnAddrMedian, p.OwnAddrRatio)
			fmt.Fprintf(&b, "    samples XDP %s; plain %s; own address %s\n", samples(p.XDPMbitPerS), samples(p.BareMbitPerS), samples(p.OwnAddrMbitPerS))
			fmt.Fprintf(&b, "    busy CPU per GiB moved (whole machine): XDP %.0f ms, plain %.0f ms, own address %.0f ms\n", p.XDPCPUMsPerGiB, p.BareCPUMsPerGiB, p.OwnAddrCPUMsPerGiB)
		}
		fmt.Fprintf(&b, "  baseline: %s\n", t.Baseline)
	}
	if p := r.Planned; p != nil {
		fmt.Fprintf(&b, "planned stop/start of %s: %d long-lived connections, %d on the nodes that stay, %d of them broken (bar: %d: %s); %d of %d on %s ended with it; %d/%d new connections unanswered during the run\n",
			p.Node, p.Conns, p.Stayers, p.BrokenStayers, r.Bars.PlannedResets, verdict(p.BrokenStayers <= r.Bars.PlannedResets),
			p.BrokenLeavers, p.Conns-p.Stayers, p.Node, p.NewRefused, p.NewProbes)
		for _, e := range p.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	for _, fo := range []*FailoverResult{r.Failover, r.HolderFailover} {
		if fo == nil {
			continue
		}
		bar, what := time.Duration(r.Bars.FailoverGapMs)*time.Millisecond, "node"
		if fo.WasHolder {
			bar, what = time.Duration(r.Bars.ARPTakeoverMs)*time.Millisecond, "ARP holder"
		}
		fmt.Fprintf(&b, "crash of %s %s: its %d client addresses served again after max %v, median %v (bar: %v: %s); %d never\n",
			what, fo.Victim, fo.Affected, fo.MaxGap.Round(time.Millisecond), fo.MedianGap.Round(time.Millisecond), bar,
			verdict(fo.Unrecovered == 0 && fo.MaxGap <= bar), fo.Unrecovered)
	}
	if r.Pass {
		b.WriteString("every figure measured meets its bar\n")
	} else {
		fmt.Fprintf(&b, "below the bar: %s\n", strings.Join(r.Failed, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func samples(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, " ")
}
