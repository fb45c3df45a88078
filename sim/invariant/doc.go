// Package invariant checks the bucket-ownership invariants of SPEC §5
// (INV-1 .. INV-8) from observations alone: time, node state changes, owned
// bucket sets, connectivity components, the disturbances a driver causes
// (commands, faults, checker verdicts) and packet verdicts. It knows nothing
// of the simulator's internals, so that the simulator (farmsim) and the
// network-namespace lab (farmlab) check exactly the same rules.
//
// A driver feeds a Checker in time order and calls EndInstant after the last
// observation of each instant; safety invariants (INV-1, INV-7) are judged
// there, at every instant, because the parts of one transition (a node's new
// table, then its new state) arrive one by one within an instant. Liveness
// invariants (INV-2 .. INV-6, INV-8) are judged in stable windows only: once
// the convergence bound has passed since the last disturbance.
//
//	c := invariant.New(invariant.Config{Nodes: names, Groups: groups, BoundMs: C})
//	c.Change(t, invariant.Change{Kind: invariant.Join, Node: 1})
//	c.State(t, 1, core.StateUp, true)
//	c.Buckets(t, 1, 0, owned)
//	for _, v := range c.EndInstant(t) { report(v) }
package invariant
