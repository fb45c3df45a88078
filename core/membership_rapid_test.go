package core

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// upMembers is the set of running nodes whose module is UP and member.
func (tn *testNet) upMembers() []int {
	var s []int
	for i, tnode := range tn.nodes {
		if tnode.running && tnode.local.State == StateUp && tnode.local.Member {
			s = append(s, i)
		}
	}
	return s
}

// checkConverged asserts INV-1..3 on a connected farm: non-members claim
// nothing, members claim every bucket exactly once, within ±1 of 256/n.
func (tn *testNet) checkConverged(t *rapid.T, what string) {
	up := tn.upMembers()
	for i, tnode := range tn.nodes {
		if tnode.running && !(tnode.local.State == StateUp && tnode.local.Member) && tn.count(i) != 0 {
			t.Fatalf("%s: node%d (%+v) claims %d buckets", what, i+1, tnode.local, tn.count(i))
		}
	}
	if len(up) == 0 {
		return
	}
	o := tn.owners(up)
	for b, x := range o {
		if x == NoOwner {
			t.Fatalf("%s: bucket %d unclaimed among %v", what, b, up)
		}
	}
	for _, i := range up {
		if c := tn.count(i); c < Buckets/len(up) || c > (Buckets+len(up)-1)/len(up) {
			t.Fatalf("%s: node%d has %d buckets with %d members", what, i+1, c, len(up))
		}
		for _, j := range up {
			if tn.nodes[i].table != o {
				t.Fatalf("%s: node%d's table differs from the claims (node%d)", what, i+1, j+1)
			}
		}
	}
}

// Random planned sequences of starts and stops never double-claim (checked
// at every tick, INV-7) and always converge (INV-2, INV-3).
func TestMembershipRandomPlanned(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(rt, "nodes")
		tn := newTestNet(t, n, rapid.IntRange(1, 2).Draw(rt, "lans"), nil)
		tn.t = rt
		steps := rapid.IntRange(1, 10).Draw(rt, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(rt, "node")
			if tn.nodes[i].local.Member {
				tn.stop(i)
			} else if tn.nodes[i].local.State == StateStop {
				tn.start(i)
			}
			tn.run(time.Duration(rapid.IntRange(0, 30).Draw(rt, "gap")) * 100 * time.Millisecond)
		}
		tn.run(4 * time.Second)
		tn.checkConverged(rt, "after planned steps")
	})
}

// Random fault schedules (crashes, reboots, isolations, one-way and
// single-LAN cuts) with starts and stops: once the faults end and the farm
// has had the convergence bound to settle, INV-1..3 hold again.
func TestMembershipRandomFaults(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "nodes")
		lans := rapid.IntRange(1, 2).Draw(rt, "lans")
		tn := newTestNet(t, n, lans, nil)
		tn.t = rt
		tn.planned = false
		for i := range n {
			tn.start(i)
		}
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(rt, "node")
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0:
				if tn.nodes[i].running && tn.nodes[i].local.Member {
					tn.stop(i)
				} else if tn.nodes[i].running && tn.nodes[i].local.State == StateStop {
					tn.start(i)
				}
			case 1:
				if tn.nodes[i].running {
					tn.crash(i)
				} else {
					tn.boot(i)
					tn.start(i)
				}
			case 2:
				var a, b []int
				for j := range n {
					if j == i || rapid.Bool().Draw(rt, "side") {
						a = append(a, j)
					} else {
						b = append(b, j)
					}
				}
				tn.isolate(a, b)
			case 3:
				j := rapid.IntRange(0, n-1).Draw(rt, "to")
				if j != i {
					tn.cut[rapid.IntRange(0, lans-1).Draw(rt, "lan")][i][j] = true
				}
			default:
				tn.heal()
			}
			tn.run(time.Duration(rapid.IntRange(0, 40).Draw(rt, "gap")) * 100 * time.Millisecond)
		}
		tn.heal()
		for i := range tn.nodes {
			if !tn.nodes[i].running {
				tn.boot(i)
			}
		}
		// C = (max(slost, mlost) + 5) × pulse, plus margin for a leave in progress.
		tn.run(5 * time.Second)
		tn.checkConverged(rt, "after the faults")
	})
}
