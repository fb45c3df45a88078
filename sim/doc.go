// Package sim is farmsim's deterministic discrete-event simulator: it drives
// several core.Node state machines over a simulated network in virtual time,
// injects faults from a scenario or from a seeded swarm of random schedules,
// and hands what it observes to the invariant checkers of sim/invariant.
//
// One root seed decides everything. Each component draws from its own
// sub-seed (network, faults, traffic, one per node), so adding a draw in one
// component does not shift the random streams of the others, and the same
// scenario and seed always give a byte-identical trace.
//
// The loop, per virtual millisecond, in a fixed order:
//
//	scenario steps due now (do: verbs, expect:)
//	queued events due now, ordered by (time, seq): heartbeat deliveries,
//	script completions, checker verdicts
//	Tick of every running node whose tick phase falls now
//	after every Tick/Step: drain Ready() -> carry it out -> Advance()
//	end of the instant: the invariant checkers see the new observations
//
// Time is an int64 of virtual milliseconds; nothing reads the wall clock.
//
// Besides INV-1..INV-8, the trace may hold violations named "CORE": the core
// refused an event the driver believes valid, or emitted something no driver
// can carry out (a heartbeat the codec refuses, a table for an unknown group).
// They fail the run like any violation.
//
// Entry points: LoadScenario / ParseScenario, then Run (or New, Sim.SetLink,
// Sim.Run); GenScenario and Fuzz for swarm testing; Main is cmd/farmsim.
package sim
