package invariant

import (
	"fmt"
	"math"

	"github.com/vipfarm/vipfarm/core"
)

// checkStable judges the liveness invariants inside a stable window.
func (c *Checker) checkStable() {
	if c.degraded != "" {
		// No judgement, and no snapshot: INV-4/5 must not compare across it.
		c.snap = nil
		c.windowSeen = true
		c.flows = c.flows[:0]
		return
	}
	topo := false // the window follows a split or a heal: failures are INV-6's
	for _, ch := range c.pending {
		if ch.Kind == Fault || ch.Kind == Heal {
			topo = true
		}
	}
	label := func(inv string) string {
		if topo {
			return "INV-6"
		}
		return inv
	}
	before := len(c.violations)
	for _, comp := range c.comps {
		for g := range c.cfg.Groups {
			c.checkExactlyOne(comp, g, label)
		}
	}
	if !c.windowSeen {
		c.windowOK = len(c.violations) == before
	}
	c.checkFlows()
	if !c.windowSeen {
		c.windowSeen = true
		c.judged++
		s := c.takeSnapshot()
		c.checkMovement(s)
		c.snap = s
		c.pending = c.pending[:0]
		c.restartMoved = ""
	}
}

// INV-2 and INV-3 in one component for one group.
func (c *Checker) checkExactlyOne(comp []int, g int, label func(string) string) {
	name := c.cfg.Groups[g].Name
	power := c.cfg.Groups[g].Power
	sum := 0
	var up []int
	for _, n := range comp {
		if c.nodes[n].state == core.StateUp {
			up = append(up, n)
			sum += power[n]
		}
	}
	if len(up) == 0 || sum == 0 {
		return
	}
	seen, dup := c.claimed(up, g)
	key := name + c.names(comp)
	if inv := label("INV-2"); !dup.Empty() && c.once(inv+"dup"+key) {
		c.violate(inv, "INV-2: group %s: %d buckets claimed by two UP nodes after the convergence bound (%s)",
			name, dup.Count(), c.claimants(comp, g, dup.List()[0]))
	}
	if missing := core.Buckets - seen.Count(); missing > 0 && c.once(label("INV-2")+"miss"+key) {
		c.violate(label("INV-2"), "INV-2: group %s: %d buckets claimed by no UP node of component %s after the convergence bound",
			name, missing, c.names(comp))
	}
	for _, n := range up {
		want := float64(core.Buckets) * float64(power[n]) / float64(sum)
		got := c.nodes[n].owned[g].Count()
		if math.Abs(float64(got)-want) > 1 && c.once(label("INV-3")+name+c.cfg.Nodes[n]) {
			c.violate(label("INV-3"), "INV-3: group %s: %s claims %d buckets, power %d/%d of component %s wants %.1f±1",
				name, c.cfg.Nodes[n], got, power[n], sum, c.names(comp), want)
		}
	}
}

func (c *Checker) names(comp []int) string {
	s := "{"
	for i, n := range comp {
		if i > 0 {
			s += ","
		}
		s += c.cfg.Nodes[n]
	}
	return s + "}"
}

func (c *Checker) takeSnapshot() *snapshot {
	s := &snapshot{up: make([]bool, len(c.nodes)), owner: make([][core.Buckets]int16, len(c.cfg.Groups)),
		whole: len(c.comps) <= 1, converged: c.windowOK}
	for i := range c.nodes {
		s.up[i] = c.nodes[i].running && c.nodes[i].state == core.StateUp
	}
	for g := range s.owner {
		for b := range s.owner[g] {
			s.owner[g][b] = -1
		}
		for i := range c.nodes {
			if !s.up[i] {
				continue
			}
			for _, b := range c.nodes[i].owned[g].List() {
				s.owner[g][b] = int16(i)
			}
		}
	}
	return s
}

// INV-4 and INV-5: compare two stable snapshots separated by exactly one
// membership change (a join, a leave or crash, or a restart) and nothing else.
func (c *Checker) checkMovement(s1 *snapshot) {
	s0 := c.snap
	if s0 == nil || len(c.pending) != 1 || !s0.whole || !s1.whole || !s0.converged {
		return
	}
	ch := c.pending[0]
	switch ch.Kind {
	case Restart:
		if ch.Node < 0 || !s0.up[ch.Node] || !s1.up[ch.Node] {
			return // the restart failed (start_both exit != 0 stops the module): a leave, not a restart
		}
		movedAny := false
		for g := range s1.owner {
			moved := 0
			first := -1
			for b := range s1.owner[g] {
				if s0.owner[g][b] != s1.owner[g][b] {
					moved++
					if first < 0 {
						first = b
					}
				}
			}
			if moved > 0 {
				movedAny = true
				c.violate("INV-5", "restart of %s moved %d buckets of %s (bucket %d: %s -> %s)", c.nodeName(ch.Node),
					moved, c.cfg.Groups[g].Name, first, c.nodeName(int(s0.owner[g][first])), c.nodeName(int(s1.owner[g][first])))
			}
		}
		if !movedAny && c.restartMoved != "" {
			c.violate("INV-5", "restart of %s: %s during the restart", c.nodeName(ch.Node), c.restartMoved)
		}
	case Join, Leave, Crash:
		for g := range s1.owner {
			moved := 0
			var example string
			for b := range s1.owner[g] {
				a, z := s0.owner[g][b], s1.owner[g][b]
				if a < 0 || z < 0 || a == z || int(a) == ch.Node || int(z) == ch.Node || !s0.up[z] || !s1.up[a] {
					continue
				}
				moved++
				if example == "" {
					example = fmt.Sprintf("bucket %d: %s -> %s", b, c.cfg.Nodes[a], c.cfg.Nodes[z])
				}
			}
			if moved > 0 {
				c.violate("INV-4", "%s of %s moved %d buckets of %s between nodes that both stayed (%s)",
					ch.Kind, c.nodeName(ch.Node), moved, c.cfg.Groups[g].Name, example)
			}
		}
	}
}

func (c *Checker) nodeName(i int) string {
	if i < 0 || i >= len(c.cfg.Nodes) {
		return "nobody"
	}
	return c.cfg.Nodes[i]
}

// INV-8: every packet accepted by exactly one node; on_addr: one node per client.
func (c *Checker) checkFlows() {
	where := map[string]int{}
	for _, f := range c.flows {
		if len(f.accepted) != 1 {
			if c.once("INV-8n" + f.client) {
				names := make([]string, len(f.accepted))
				for i, n := range f.accepted {
					names[i] = c.nodeName(n)
				}
				c.violate("INV-8", "a packet of client %s was accepted by %d nodes %v (want exactly one)", f.client, len(f.accepted), names)
			}
			continue
		}
		if !f.onAddr {
			continue
		}
		if prev, ok := where[f.client]; ok && prev != f.accepted[0] && c.once("INV-8a"+f.client) {
			c.violate("INV-8", "on_addr: packets of client %s accepted by %s and %s", f.client, c.nodeName(prev), c.nodeName(f.accepted[0]))
		}
		where[f.client] = f.accepted[0]
	}
}
