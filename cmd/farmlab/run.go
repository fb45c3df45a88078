package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
	"github.com/vipfarm/vipfarm/sim"
)

// The defaults of `farmlab run`'s own labs.
const (
	runPrefix   = "vf-run-"
	runStateDir = netlab.DefaultStateDir + "-run"
)

// cmdRun plays scenario files in real time on a lab of their own: up, the
// steps, the expectations and the invariants, down. Exit 0 when every
// scenario passed, 1 when one failed, 2 on bad input.
func cmdRun(args []string) int {
	var lf labFlags
	fs := newFlagSet("run", &lf)
	farmd := fs.String("farmd", "", "farmd binary (default: next to farmlab, else on PATH)")
	poll := fs.Duration("poll", 100*time.Millisecond, "how often the daemons' tables are read")
	grace := fs.Duration("grace", time.Second, "how long after its time an expect: may still be met")
	keep := fs.Bool("keep", false, "leave the lab up after the (single) scenario, for inspection")
	tracePath := fs.String("trace", "", "write the runs' JSON Lines trace (SPEC §6) to this file")
	files, ok := parseInterleaved(fs, args)
	if !ok {
		return 2
	}
	// A scenario's lab is its own: by default it does not collide with
	// the lab `farmlab up` made (same machine, same defaults otherwise).
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["prefix"] {
		lf.prefix = runPrefix
	}
	if !set["state"] {
		lf.state = runStateDir
	}
	if len(files) == 0 || (*keep && len(files) > 1) {
		fmt.Fprintln(os.Stderr, "usage: farmlab run [--keep] SCENARIO.yaml...   (--keep with one scenario only)")
		return 2
	}
	var scs []*sim.Scenario
	for _, p := range files {
		sc, err := sim.LoadScenario(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "farmlab run: %v\n", err)
			return 2
		}
		scs = append(scs, sc)
	}
	if err := netlab.RequireRoot(); err != nil {
		return fail(err)
	}
	farmdBin, err := netlab.FindBinary("farmd", *farmd)
	if err != nil {
		return fail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	var trace io.Writer
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			return fail(err)
		}
		defer func() {
			if err := f.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "farmlab run: trace: %v\n", err)
			}
		}()
		trace = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	status := 0
	for _, sc := range scs {
		code := runOne(ctx, sc, lf, farmdBin, self, *poll, *grace, *keep, trace)
		status = max(status, code)
		if ctx.Err() != nil {
			break
		}
	}
	return status
}

// runOne plays one scenario. A scenario the lab cannot play on this
// kernel (a `delay` step without sch_netem) is reported SKIPPED with the
// reason and counts as passed (exit 0): SPEC §6's 1 means "an expectation
// or invariant failed" and 2 "bad input", and neither is true of it.
func runOne(ctx context.Context, sc *sim.Scenario, lf labFlags, farmdBin, self string, poll, grace time.Duration, keep bool, trace io.Writer) int {
	spec, so, err := netlab.ScenarioSetup(sc, netlab.Spec{Prefix: lf.prefix, StateDir: lf.state})
	if err != nil {
		fmt.Fprintf(os.Stderr, "farmlab run: %v\n", err)
		return 2
	}
	fmt.Printf("== %s (%s): %d nodes %v, LANs %v\n", sc.Name, sc.Path, spec.Nodes, nodeNames(spec), spec.LANs)
	for _, n := range so.Notes {
		fmt.Printf("  note: %s\n", n)
	}
	l, err := netlab.Up(spec)
	if err != nil {
		return fail(err)
	}
	if netlab.NeedsDelay(sc) {
		if err := l.NetemAvailable(); err != nil {
			if derr := netlab.Down(spec); derr != nil {
				fmt.Fprintf(os.Stderr, "farmlab run: down: %v\n", derr)
			}
			if errors.Is(err, netlab.ErrNoNetem) {
				fmt.Printf("== %s: SKIPPED: a step delays a LAN and %v\n", sc.Name, netlab.ErrNoNetem)
				return 0
			}
			return fail(err)
		}
	}
	defer func() {
		if keep {
			fmt.Printf("lab left up: farmlab status --prefix %s --state %s; farmlab down --prefix %s --state %s\n", lf.prefix, lf.state, lf.prefix, lf.state)
			return
		}
		if err := netlab.Down(spec); err != nil {
			fmt.Fprintf(os.Stderr, "farmlab run: down: %v\n", err)
		}
	}()
	err = l.StartFarm(ctx, netlab.FarmOptions{Farmd: farmdBin, Farmlab: self, Filter: so.Home.Filter, Home: so.Home, Timeout: 30 * time.Second})
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	so.Poll, so.Grace, so.Trace = poll, grace, trace
	so.Logf = func(f string, a ...any) { fmt.Printf("  "+f+"\n", a...) }
	res, err := l.RunScenario(ctx, sc, so)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fail(errors.New("interrupted"))
		}
		return fail(err)
	}
	verdict := "ok"
	if !res.OK() {
		verdict = "FAILED"
	}
	fmt.Printf("== %s: %s in %v: %d/%d expectations met, %d invariant violations (%d stable windows judged), %d probes (%d unanswered)\n",
		sc.Name, verdict, time.Since(start).Round(time.Millisecond), res.Expects-res.FailedExpects, res.Expects,
		len(res.Violations), res.Judged, res.Probes, res.FailedProbes)
	for _, v := range res.Violations {
		fmt.Printf("  %s\n", v)
	}
	if !res.OK() {
		return 1
	}
	return 0
}

// nodeNames lists the lab's node names for a spec (default node1..N).
func nodeNames(s netlab.Spec) []string {
	if len(s.NodeNames) > 0 {
		return s.NodeNames
	}
	out := make([]string, s.Nodes)
	for i := range out {
		out[i] = fmt.Sprintf("node%d", i+1)
	}
	return out
}
