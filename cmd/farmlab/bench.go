package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
)

// benchReport is `farmlab bench --json`.
type benchReport struct {
	Planned        *netlab.PlannedResult  `json:"planned,omitempty"`
	Failover       *netlab.FailoverResult `json:"failover,omitempty"`
	HolderFailover *netlab.FailoverResult `json:"holder_failover,omitempty"`
}

// cmdBench measures, on the running lab, the numbers of SPEC §9 that need
// real daemons: connections broken by a planned stop/start, and the client
// gap after the crash of a node and of the ARP holder. The farm is brought
// back (start, balanced) after each measurement.
func cmdBench(args []string) int {
	var lf labFlags
	fs := newFlagSet("bench", &lf)
	asJSON := fs.Bool("json", false, "JSON output")
	hold := fs.Duration("hold", 3*time.Second, "how long the planned stop lasts, and the wait after the start")
	if !parse(fs, args) {
		return 2
	}
	l, err := openLab(lf)
	if err != nil {
		return fail(err)
	}
	if len(l.Plan.Nodes) < 2 {
		return fail(fmt.Errorf("bench needs at least two nodes"))
	}
	ctx := context.Background()
	balanced := func() error {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := l.WaitBalanced(c); err != nil {
			return err
		}
		time.Sleep(3 * time.Second) // a stable window (SPEC §5's C) before the next measurement
		return nil
	}
	if err := balanced(); err != nil {
		return fail(err)
	}
	var rep benchReport
	last := l.Plan.Nodes[len(l.Plan.Nodes)-1].Name
	planned, err := l.BenchPlanned(ctx, last, *hold, netlab.BenchOptions{})
	if err != nil {
		return fail(err)
	}
	rep.Planned = &planned
	if err := balanced(); err != nil {
		return fail(err)
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
			return fail(fmt.Errorf("bench: no node with ARP holder = %v", wantHolder))
		}
		fo, err := l.BenchFailover(ctx, victim, netlab.BenchOptions{})
		if err != nil {
			return fail(err)
		}
		if wantHolder {
			rep.HolderFailover = &fo
		} else {
			rep.Failover = &fo
		}
		if _, err := l.Do(ctx, "start "+victim); err != nil {
			return fail(err)
		}
		if err := balanced(); err != nil {
			return fail(err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(err)
		}
		return 0
	}
	p := rep.Planned
	fmt.Printf("planned stop/start of %s: %d long-lived connections, %d on the nodes that stay, %d of them broken (bar: 0); %d of %d on %s ended with it; %d/%d new connections unanswered during the run\n",
		p.Node, p.Conns, p.Stayers, p.BrokenStayers, p.BrokenLeavers, p.Conns-p.Stayers, p.Node, p.NewRefused, p.NewProbes)
	for _, e := range p.Errors {
		fmt.Printf("  %s\n", e)
	}
	for _, fo := range []*netlab.FailoverResult{rep.Failover, rep.HolderFailover} {
		bar := "1.5s"
		what := "node"
		if fo.WasHolder {
			bar, what = "2.5s", "ARP holder"
		}
		fmt.Printf("crash of %s %s: its %d client addresses served again after max %v, median %v (bar: %s); %d never\n",
			what, fo.Victim, fo.Affected, fo.MaxGap.Round(time.Millisecond), fo.MedianGap.Round(time.Millisecond), bar, fo.Unrecovered)
	}
	return 0
}
