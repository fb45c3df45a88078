package netlab

import (
	"slices"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// testLab is a lab of nodes nodes and one client that exists only as a
// plan and a state file: enough for everything that needs no root.
func testLab(t *testing.T, nodes int) *Lab {
	t.Helper()
	return testLabSpec(t, Spec{StateDir: t.TempDir() + "/lab", Nodes: nodes, Clients: 1})
}

// testLabSpec is testLab for a spec of the caller's.
func testLabSpec(t *testing.T, spec Spec) *Lab {
	t.Helper()
	plan, err := NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := newState(plan)
	if err != nil {
		t.Fatal(err)
	}
	return &Lab{Plan: plan, state: sf}
}

func TestComponentsFollowFaults(t *testing.T) {
	l := testLab(t, 4)
	all := []bool{true, true, true, true}
	check := func(what string, running []bool, want [][]int) {
		t.Helper()
		if got := l.components(running); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: components %v, want %v", what, got, want)
		}
	}
	check("no fault", all, [][]int{{0, 1, 2, 3}})
	check("node2 down", []bool{true, false, true, true}, [][]int{{0, 2, 3}})
	set := func(fn func(*State)) {
		if err := l.state.update(fn); err != nil {
			t.Fatal(err)
		}
	}
	// A partition on one LAN only: the other LAN still carries heartbeats.
	set(func(s *State) {
		s.LANFaults = map[string]*LANFault{"default": {Groups: [][]string{{"node1"}, {"node2", "node3", "node4"}}}}
	})
	check("partition of one LAN", all, [][]int{{0, 1, 2, 3}})
	set(func(s *State) {
		s.LANFaults["private"] = &LANFault{Groups: [][]string{{"node1", "node2"}, {"node3"}}}
	})
	// node3 and node1 are apart on both LANs, but node4 (in no group on
	// private) links them: one component.
	check("partitions of both LANs, bridged by node4", all, [][]int{{0, 1, 2, 3}})
	set(func(s *State) {
		s.LANFaults["private"] = &LANFault{Groups: [][]string{{"node1"}, {"node2", "node3", "node4"}}}
	})
	check("node1 isolated on both LANs", all, [][]int{{0}, {1, 2, 3}})
	set(func(s *State) {
		s.LANFaults = map[string]*LANFault{"default": {LossPct: 100}}
		s.Cuts = []PortRef{{LAN: "private", Node: "node4"}}
	})
	check("default dead, node4's private cable cut", all, [][]int{{0, 1, 2}, {3}})
}

// The feeder reports only changes and closes each instant; a farm that
// moves buckets by releasing before acquiring passes, a double claim is
// caught (INV-7 through the checker).
func TestFeederReportsToTheChecker(t *testing.T) {
	l := testLab(t, 2)
	c := invariant.New(l.CheckerConfig(100 * time.Millisecond))
	start := time.Unix(1000, 0)
	f := NewFeeder(c, start)
	var half, other, all core.Bitmap
	for b := range core.Buckets {
		all.Set(b)
		if b%2 == 0 {
			half.Set(b)
		} else {
			other.Set(b)
		}
	}
	up := func(owned core.Bitmap) NodeObservation {
		return NodeObservation{Running: true, State: core.StateUp, Ready: true, Owned: []core.Bitmap{owned}}
	}
	stop := NodeObservation{Running: true, State: core.StateStop, Owned: []core.Bitmap{{}}}
	at := func(ms int64) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	comps := [][]int{{0, 1}}
	steps := []struct {
		ms  int64
		obs Observation
	}{
		{0, Observation{Nodes: []NodeObservation{stop, stop}, Components: comps}},
		{100, Observation{Nodes: []NodeObservation{up(all), stop}, Components: comps}},
		{5000, Observation{Nodes: []NodeObservation{up(half), stop}, Components: comps}},
		{5100, Observation{Nodes: []NodeObservation{up(half), up(other)}, Components: comps}},
		{9000, Observation{Nodes: []NodeObservation{up(half), up(other)}, Components: comps}},
	}
	c.Change(0, invariant.Change{Kind: invariant.Join, Node: 0})
	for _, s := range steps {
		if s.ms == 5000 {
			c.Change(f.Ms(at(s.ms)), invariant.Change{Kind: invariant.Join, Node: 1})
		}
		if v := f.Feed(at(s.ms), s.obs); len(v) > 0 {
			t.Fatalf("t=%dms: violations %v", s.ms, v)
		}
	}
	if c.Judged() == 0 {
		t.Error("the checker judged no stable window")
	}
	// Both claim every bucket at once: a double claim.
	v := f.Feed(at(9100), Observation{Nodes: []NodeObservation{up(all), up(all)}, Components: comps})
	v = append(v, f.Feed(at(20000), Observation{Nodes: []NodeObservation{up(all), up(all)}, Components: comps})...)
	if len(v) == 0 {
		t.Error("a double claim of every bucket went unnoticed")
	}
}
