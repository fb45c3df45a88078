package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vipfarm/vipfarm/netlab"
)

// cmdBench measures, on the running lab, the numbers of SPEC §9 that need
// real daemons (netlab.Lab.Bench): XDP vs plain kernel throughput for a
// local and a forwarded flow, connections broken by a planned stop/start,
// and the client gap after the crash of a node and of the ARP holder. The
// farm is brought back (start, balanced) after each measurement. The exit
// status is 0 when the figures were measured, whatever they are: they are
// benchmarks, judged in the report ("pass"), not tests.
func cmdBench(args []string) int {
	var lf labFlags
	fs := newFlagSet("bench", &lf)
	asJSON := fs.Bool("json", false, "JSON output (the headline figures at the top level, details below)")
	hold := fs.Duration("hold", 3*time.Second, "how long the planned stop lasts, and the wait after the start")
	mib := fs.Int64("mib", 256, "MiB per bulk transfer of the throughput comparison")
	reps := fs.Int("reps", 5, "repetitions of each throughput variant (medians are reported)")
	sinkPort := fs.Int("sink-port", 0, "port of the throughput sink in the nodes (default: service port + 100)")
	noThroughput := fs.Bool("no-throughput", false, "skip the throughput comparison")
	noFailover := fs.Bool("no-failover", false, "skip the planned stop/start and the crashes")
	if !parse(fs, args) {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "farmlab bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *mib < 1 || *mib > 64<<10 {
		fmt.Fprintf(os.Stderr, "farmlab bench: --mib %d: want 1..65536\n", *mib)
		return 2
	}
	l, err := openLab(lf)
	if err != nil {
		return fail(err)
	}
	// An interrupt ends the run through its context, so the bench
	// interfaces and programs are removed on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := netlab.BenchSuiteOptions{
		Throughput:   netlab.ThroughputOptions{Bytes: *mib << 20, Reps: *reps, SinkPort: *sinkPort},
		Hold:         *hold,
		NoThroughput: *noThroughput,
		NoFailover:   *noFailover,
		Progress:     os.Stderr,
	}
	rep, err := l.Bench(ctx, o)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := rep.WriteText(os.Stdout); err != nil {
		return fail(err)
	}
	return 0
}
