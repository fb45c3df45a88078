package invariant

import (
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core"
)

const boundMs = 1000

func newTwo() *Checker {
	c := New(Config{Nodes: []string{"a", "b"}, Groups: []Group{{Name: "G", Power: []int{1, 1}}}, BoundMs: boundMs})
	c.Change(0, Change{Kind: Boot, Node: -1})
	c.Running(0, 0, true)
	c.Running(0, 1, true)
	c.Components(0, [][]int{{0, 1}})
	return c
}

func span(lo, hi int) core.Bitmap {
	var m core.Bitmap
	for b := lo; b < hi; b++ {
		m.Set(b)
	}
	return m
}

func upBoth(c *Checker, t int64) {
	c.State(t, 0, core.StateUp, true)
	c.State(t, 1, core.StateUp, true)
	c.Buckets(t, 0, 0, span(0, 128))
	c.Buckets(t, 1, 0, span(128, 256))
}

func invariants(vs []Violation) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Invariant)
	}
	return strings.Join(s, ",")
}

func TestHealthyFarmHasNoViolation(t *testing.T) {
	c := newTwo()
	upBoth(c, 100)
	for _, tm := range []int64{100, 999, 1000, 5000} {
		if vs := c.EndInstant(tm); len(vs) > 0 {
			t.Fatalf("t=%d: %v", tm, vs)
		}
	}
	if !c.Stable(1000) || c.Stable(999) {
		t.Fatal("stable window must start at the bound")
	}
}

func TestINV1ClaimWhileNotUp(t *testing.T) {
	c := newTwo()
	c.State(10, 0, core.StateWait, false)
	c.Buckets(10, 0, 0, span(0, 3))
	if got := invariants(c.EndInstant(10)); got != "INV-1" {
		t.Fatalf("got %q, want INV-1", got)
	}
}

func TestINV1TableBeforeStateInOneInstantIsFine(t *testing.T) {
	c := newTwo()
	c.Buckets(10, 0, 0, span(0, 256))  // the table arrives first...
	c.State(10, 0, core.StateUp, true) // ...then the state, in the same instant
	if vs := c.EndInstant(10); len(vs) > 0 {
		t.Fatal(vs)
	}
}

func TestINV7DoubleClaimOnlyWithoutFaults(t *testing.T) {
	c := newTwo()
	upBoth(c, 100)
	c.EndInstant(100)
	c.Buckets(2000, 1, 0, span(127, 256)) // b takes bucket 127 while a still holds it
	// In a stable window the same double claim also breaks INV-2.
	if got := invariants(c.EndInstant(2000)); got != "INV-7,INV-2" {
		t.Fatalf("got %q, want INV-7,INV-2", got)
	}
	// Right after a fault, a double claim is not INV-7's business.
	c2 := newTwo()
	upBoth(c2, 100)
	c2.Change(1500, Change{Kind: Fault, Node: -1, NetFaulty: true})
	c2.Buckets(2000, 1, 0, span(127, 256))
	if got := invariants(c2.EndInstant(2000)); got != "" {
		t.Fatalf("got %q during a fault, want nothing", got)
	}
}

func TestINV2And3AfterTheBound(t *testing.T) {
	c := newTwo()
	c.State(100, 0, core.StateUp, true)
	c.State(100, 1, core.StateUp, true)
	c.Buckets(100, 0, 0, span(0, 200))
	c.Buckets(100, 1, 0, span(200, 250)) // 6 buckets nobody claims, shares off
	if vs := c.EndInstant(500); len(vs) > 0 {
		t.Fatalf("before the bound: %v", vs)
	}
	got := invariants(c.EndInstant(1000))
	if got != "INV-2,INV-3,INV-3" {
		t.Fatalf("got %q", got)
	}
	// Reported once per window, not at every instant.
	if vs := c.EndInstant(1001); len(vs) > 0 {
		t.Fatalf("repeated: %v", vs)
	}
}

func TestINV6AfterAPartition(t *testing.T) {
	c := newTwo()
	upBoth(c, 100)
	c.EndInstant(1500)
	c.Change(2000, Change{Kind: Fault, Node: -1, NetFaulty: true})
	c.Components(2000, [][]int{{0}, {1}})
	// Neither side takes the other's half: each misses buckets, each share is off.
	if got := invariants(c.EndInstant(3000)); got != "INV-6,INV-6,INV-6,INV-6" {
		t.Fatalf("got %q, want INV-6 (missing buckets and share)", got)
	}
}

func TestINV4OnlyTheJoinerGains(t *testing.T) {
	c := New(Config{Nodes: []string{"a", "b", "c"}, Groups: []Group{{Name: "G", Power: []int{1, 1, 1}}}, BoundMs: boundMs})
	c.Change(0, Change{Kind: Boot, Node: -1})
	for i := 0; i < 3; i++ {
		c.Running(0, i, true)
	}
	c.Components(0, [][]int{{0, 1, 2}})
	upBoth(c, 100)
	if vs := c.EndInstant(1500); len(vs) > 0 {
		t.Fatal(vs)
	}
	c.Change(2000, Change{Kind: Join, Node: 2})
	c.State(2100, 2, core.StateUp, true)
	// Balanced 86/85/85, but a also gives bucket 0 to b: a stayer-to-stayer move.
	c.Buckets(2100, 0, 0, span(1, 86))
	c.Buckets(2100, 1, 0, func() core.Bitmap { m := span(128, 213); m.Set(0); return m }())
	c.Buckets(2100, 2, 0, func() core.Bitmap {
		m := span(86, 128)
		for b := 213; b < 256; b++ {
			m.Set(b)
		}
		return m
	}())
	got := invariants(c.EndInstant(3000))
	if !strings.Contains(got, "INV-4") {
		t.Fatalf("got %q, want INV-4", got)
	}
}

func TestINV5RestartMovesNothing(t *testing.T) {
	c := newTwo()
	upBoth(c, 100)
	c.EndInstant(1500)
	c.Change(2000, Change{Kind: Restart, Node: 0})
	c.Buckets(2100, 0, 0, span(0, 127))
	c.Buckets(2100, 1, 0, span(127, 256))
	if got := invariants(c.EndInstant(3000)); got != "INV-5" {
		t.Fatalf("got %q, want INV-5", got)
	}
}

func TestINV8ExactlyOneAndAffinity(t *testing.T) {
	c := newTwo()
	upBoth(c, 100)
	c.EndInstant(1500)
	c.Packet(1600, "198.19.0.1", true, []int{0})
	c.Packet(1600, "198.19.0.1", true, []int{1}) // same client, other node
	c.Packet(1600, "198.19.0.2", true, []int{0, 1})
	c.Packet(1600, "198.19.0.3", false, nil)
	c.Packet(1600, "198.19.0.4", false, []int{0})
	c.Packet(1600, "198.19.0.4", false, []int{1}) // on_port: spreading is fine
	if got := invariants(c.EndInstant(1600)); got != "INV-8,INV-8,INV-8" {
		t.Fatalf("got %q", got)
	}
}

func TestINV5BucketsKeptDuringTheRestart(t *testing.T) {
	c := newTwo()
	upBoth(c, 100)
	c.EndInstant(1500)
	c.Change(2000, Change{Kind: Restart, Node: 0})
	c.Buckets(2100, 0, 0, span(0, 0)) // drops everything while restarting...
	c.EndInstant(2100)
	c.Buckets(2500, 0, 0, span(0, 128)) // ...and takes it back: the end state alone looks fine
	c.EndInstant(2500)
	if got := invariants(c.EndInstant(3000)); got != "INV-5" {
		t.Fatalf("got %q, want INV-5", got)
	}
}
