// Command farmsim is vipfarm's deterministic simulator: it runs scenario
// files (farmsim run) or random fault schedules (farmsim fuzz) against the
// real core state machine in virtual time and checks the invariants of
// SPEC §5. Exit status: 0 ok, 1 an expectation or invariant failed, 2 bad input.
package main

import (
	"os"

	"github.com/vipfarm/vipfarm/sim"
)

func main() { os.Exit(sim.Main(os.Args[1:], os.Stdout, os.Stderr)) }
