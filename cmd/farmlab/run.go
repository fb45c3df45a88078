package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
	"github.com/vipfarm/vipfarm/sim"
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
	if !parse(fs, args) {
		return 2
	}
	if fs.NArg() == 0 || (*keep && fs.NArg() > 1) {
		fmt.Fprintln(os.Stderr, "usage: farmlab run [--keep] SCENARIO.yaml...   (--keep with one scenario only)")
		return 2
	}
	var scs []*sim.Scenario
	for _, p := range fs.Args() {
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	status := 0
	for _, sc := range scs {
		code := runOne(ctx, sc, lf, farmdBin, self, *poll, *grace, *keep)
		status = max(status, code)
		if ctx.Err() != nil {
			break
		}
	}
	return status
}

func runOne(ctx context.Context, sc *sim.Scenario, lf labFlags, farmdBin, self string, poll, grace time.Duration, keep bool) int {
	spec, so, err := netlab.ScenarioSetup(sc, netlab.Spec{Prefix: lf.prefix, StateDir: lf.state})
	if err != nil {
		fmt.Fprintf(os.Stderr, "farmlab run: %v\n", err)
		return 2
	}
	fmt.Printf("== %s (%s): %d nodes, LANs %v\n", sc.Name, sc.Path, spec.Nodes, spec.LANs)
	l, err := netlab.Up(spec)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if keep {
			fmt.Printf("lab left up: farmlab status --state %s; farmlab down --state %s\n", lf.state, lf.state)
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
	so.Poll, so.Grace = poll, grace
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
