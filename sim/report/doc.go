// Package report turns a farmsim trace (SPEC §6: JSON Lines of steps, state
// changes, owned bucket sets, expectations, violations and a result) into one
// self-contained HTML page an administrator can open anywhere: inline CSS and
// inline SVG drawn here, no script, no external asset.
//
// The page shows, per run of the trace:
//
//	a timeline per node, coloured like the SafeKit console (UP ready green,
//	UP or WAIT transient orange, STOP and WAIT held by a rule red, crashed grey);
//	the steps (commands and faults) and expectations on the same time axis;
//	every invariant violation as a red marker and in a list with its detail;
//	per load-balancing group, a stacked area chart of the buckets each node
//	claims (a sum above 256 is a double claim, drawn above a dashed line).
//
// Parsing is strict where a mistake would mislead (a malformed line, a state
// outside STOP|WAIT|UP, a bucket outside 0..255, time going backwards): Write
// fails naming the line and writes nothing. Events this package does not know
// are skipped and listed on the page, so a newer simulator still gets a report.
//
// Output is deterministic: the same trace gives byte-identical HTML, so
// reports can be diffed and kept as golden files.
package report

// buckets is the size of every load-balancing group (SafeKit's 256-bit
// bitmap, core.Buckets). It is repeated here so the report builds on its own,
// from the trace alone, without the state machine.
const buckets = 256
