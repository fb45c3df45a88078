package netlab

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// Observation is what the lab sees of the farm at one moment: each node's
// module as its farmd reports it, and which nodes can hear each other. It
// is the lab's input to the invariant checkers of sim/invariant (the same
// ones farmsim feeds), through a Feeder.
type Observation struct {
	Nodes []NodeObservation
	// Components are the connectivity components of the running nodes
	// (indexes into Plan.Nodes), derived from the faults the lab applied.
	Components [][]int
}

// NodeObservation is one node's module. Running is false when its farmd
// does not answer (crashed, or not started).
type NodeObservation struct {
	Running bool
	State   core.State
	Ready   bool
	Owned   []core.Bitmap // per load-balancing group, in config order
	Groups  []string      // the groups' names
	Rule    string        // the failover rule holding a WAIT node
	Err     string
}

// Observe asks every node's farmd for its module, in parallel.
func (l *Lab) Observe(ctx context.Context) Observation {
	obs := Observation{Nodes: make([]NodeObservation, len(l.Plan.Nodes))}
	var wg sync.WaitGroup
	for i, n := range l.Plan.Nodes {
		wg.Go(func() {
			m, err := l.Module(ctx, n.Name)
			if err != nil {
				obs.Nodes[i] = NodeObservation{Err: err.Error()}
				return
			}
			no := NodeObservation{Running: true, Ready: m.Ready, Rule: m.Rule}
			switch m.State {
			case "UP":
				no.State = core.StateUp
			case "WAIT":
				no.State = core.StateWait
			default:
				no.State = core.StateStop
			}
			for _, g := range m.Groups {
				var b core.Bitmap
				for _, k := range g.Owned {
					if k >= 0 && k < core.Buckets {
						b.Set(k)
					}
				}
				no.Owned = append(no.Owned, b)
				no.Groups = append(no.Groups, g.Name)
			}
			obs.Nodes[i] = no
		})
	}
	wg.Wait()
	running := make([]bool, len(obs.Nodes))
	for i, n := range obs.Nodes {
		running[i] = n.Running
	}
	obs.Components = l.components(running)
	return obs
}

// components groups the running nodes by who hears whom: two nodes are
// connected when some LAN carries frames between them — neither cable is
// cut, no partition separates them, and the LAN does not drop everything.
// (SPEC §5 counts only the LANs of <farm>; the lab's module uses them all.)
func (l *Lab) components(running []bool) [][]int {
	st := l.State()
	n := len(l.Plan.Nodes)
	linked := func(a, b int) bool {
		for _, lan := range l.Plan.Spec.LANs {
			if slices.Contains(st.Cuts, PortRef{LAN: lan, Node: l.Plan.Nodes[a].Name}) ||
				slices.Contains(st.Cuts, PortRef{LAN: lan, Node: l.Plan.Nodes[b].Name}) {
				continue
			}
			f := st.LANFaults[lan]
			if f != nil && f.LossPct >= 100 {
				continue
			}
			if f != nil && separated(f.Groups, l.Plan.Nodes[a].Name, l.Plan.Nodes[b].Name) {
				continue
			}
			return true
		}
		return false
	}
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	var out [][]int
	for i := range n {
		if !running[i] || comp[i] >= 0 {
			continue
		}
		// Flood fill in index order: deterministic output.
		c := []int{i}
		comp[i] = len(out)
		for k := 0; k < len(c); k++ {
			for j := range n {
				if running[j] && comp[j] < 0 && linked(c[k], j) {
					comp[j] = len(out)
					c = append(c, j)
				}
			}
		}
		slices.Sort(c)
		out = append(out, c)
	}
	return out
}

// separated says whether a partition puts a and b in different groups.
func separated(groups [][]string, a, b string) bool {
	ga, gb := -1, -1
	for i, g := range groups {
		if slices.Contains(g, a) {
			ga = i
		}
		if slices.Contains(g, b) {
			gb = i
		}
	}
	return ga >= 0 && gb >= 0 && ga != gb
}

// Feeder turns successive observations into the checker's calls: only what
// changed is reported, in node order, then the instant is closed.
type Feeder struct {
	C     *invariant.Checker
	start time.Time
	prev  *Observation
}

// NewFeeder feeds c; times are milliseconds since start.
func NewFeeder(c *invariant.Checker, start time.Time) *Feeder {
	return &Feeder{C: c, start: start}
}

// Ms is the checker time of t.
func (f *Feeder) Ms(t time.Time) int64 { return t.Sub(f.start).Milliseconds() }

// Feed reports obs, taken at t, and returns the violations judged at the
// end of that instant.
func (f *Feeder) Feed(t time.Time, obs Observation) []invariant.Violation {
	ms := f.Ms(t)
	for i, n := range obs.Nodes {
		var p *NodeObservation
		if f.prev != nil && i < len(f.prev.Nodes) {
			p = &f.prev.Nodes[i]
		}
		if p == nil || p.Running != n.Running {
			f.C.Running(ms, i, n.Running)
		}
		if !n.Running {
			continue
		}
		if p == nil || !p.Running || p.State != n.State || p.Ready != n.Ready {
			f.C.State(ms, i, n.State, n.Ready)
		}
		for g, owned := range n.Owned {
			if p == nil || !p.Running || g >= len(p.Owned) || p.Owned[g] != owned {
				f.C.Buckets(ms, i, g, owned)
			}
		}
	}
	if f.prev == nil || !slices.EqualFunc(f.prev.Components, obs.Components, slices.Equal) {
		f.C.Components(ms, obs.Components)
	}
	f.prev = &obs
	return f.C.EndInstant(ms)
}

// CheckerConfig is the invariant checker configuration of the lab's module
// with the default <farm> and equal powers; see CheckerConfigFor.
func (l *Lab) CheckerConfig(pollEvery time.Duration) invariant.Config {
	return l.CheckerConfigFor(HomeOptions{}, pollEvery)
}

// CheckerConfigFor is the invariant checker configuration of the module
// written with o: its nodes, its one group with o's powers, and the
// convergence bound C of SPEC §5 — (max(slost, mlost) + 5) × pulse — plus
// a second for the scripts and two polls of farmd over HTTP.
func (l *Lab) CheckerConfigFor(o HomeOptions, pollEvery time.Duration) invariant.Config {
	pulse, slost, mlost := 100*time.Millisecond, 10, 20
	if o.Pulse > 0 {
		pulse = o.Pulse
	}
	if o.SlostCount > 0 {
		slost = o.SlostCount
	}
	if o.MlostCount > 0 {
		mlost = o.MlostCount
	}
	cfg := invariant.Config{
		BoundMs:        (int64(max(slost, mlost)+5)*pulse.Milliseconds() + 1000 + 2*pollEvery.Milliseconds()),
		CheckerBoundMs: (5 + 15) * 1000, // failover period + handle_time
	}
	power := make([]int, len(l.Plan.Nodes))
	for i, n := range l.Plan.Nodes {
		cfg.Nodes = append(cfg.Nodes, n.Name)
		power[i] = 1
		if p, ok := o.Power[n.Name]; ok {
			power[i] = p
		}
	}
	cfg.Groups = []invariant.Group{{Name: GroupName, Power: power}}
	return cfg
}

// String summarises an observation for logs.
func (o Observation) String() string {
	s := ""
	for i, n := range o.Nodes {
		if i > 0 {
			s += ", "
		}
		if !n.Running {
			s += fmt.Sprintf("#%d down", i)
			continue
		}
		cnt := 0
		if len(n.Owned) > 0 {
			cnt = n.Owned[0].Count()
		}
		s += fmt.Sprintf("#%d %v %d/256", i, n.State, cnt)
	}
	return s + fmt.Sprintf(" components %v", o.Components)
}
