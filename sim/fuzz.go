package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// FuzzOptions bound the swarm of random scenarios.
type FuzzOptions struct {
	MinNodes, MaxNodes int
	ChaosMs            int64  // virtual duration of the fault phase
	Wire               string // "auto" (one seed in four), "on", "off"
	// Actions restricts the swarm to these verbs (nil: all of fuzzActions),
	// e.g. only planned ones (start, stop, restart) to stress INV-7.
	Actions []string
}

// FuzzResult is one seed's scenario and outcome.
type FuzzResult struct {
	Seed     uint64
	Scenario *Scenario
	Wire     bool
	Net      LinkOptions // base options of every LAN drawn for the seed
	Knobs    string
	Result   *Result
}

// action kinds the swarm draws from; each seed enables a random subset with
// random weights (swarm testing: some seeds are all partitions, others all
// crashes, others a bit of everything).
var fuzzActions = []string{"start", "stop", "restart", "stopstart", "crash", "reboot", "isolate", "heal",
	"cut", "restore", "loss", "delay", "resource", "fail-script"}

// mix is the fault mix of one seed.
type mix struct {
	weights []int
	total   int
	gapMs   int64 // mean time between two actions
}

func (m mix) String() string {
	var parts []string
	for i, w := range m.weights {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", fuzzActions[i], w))
		}
	}
	return fmt.Sprintf("gap=%dms mix=%s", m.gapMs, strings.Join(parts, ","))
}

// GenScenario draws one random scenario from seed: node and LAN counts,
// powers, timing, a fault mix and a schedule, then a quiet phase that heals
// everything and brings every node back, after which liveness must hold.
func GenScenario(seed uint64, o FuzzOptions) (*Scenario, bool, string) {
	sc, wire, _, desc := genScenario(seed, o)
	return sc, wire, desc
}

func genScenario(seed uint64, o FuzzOptions) (*Scenario, bool, LinkOptions, string) {
	r := newRNG(subSeed(seed, "faults"))
	nNodes := o.MinNodes + r.intn(o.MaxNodes-o.MinNodes+1)
	nLANs := 1 + r.intn(3)
	cl := &InlineCluster{}
	for i := 0; i < nNodes; i++ {
		cl.Nodes = append(cl.Nodes, fmt.Sprintf("node%d", i+1))
	}
	for i := 0; i < nLANs; i++ {
		cl.LANs = append(cl.LANs, []string{"default", "private", "backup"}[i])
	}
	if r.chance(0.3) {
		cl.Power = map[string]int{}
		for _, n := range cl.Nodes {
			cl.Power[n] = r.intn(4)
		}
		cl.Power[cl.Nodes[r.intn(nNodes)]] = 1 + r.intn(3)
	}
	sd := seed
	sc := &Scenario{Name: fmt.Sprintf("fuzz-%d", seed), Seed: &sd, Cluster: cl}
	pulse := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}[r.intn(4)]
	slost := []int{10, 10, 5, 15}[r.intn(4)]
	mlost := slost * 2
	pd := Duration(pulse)
	sc.Farm = &FarmOverrides{Pulse: &pd, SlostCount: &slost, MlostCount: &mlost}
	sc.Scripts = map[string]Duration{
		"start_both": Duration(time.Duration(r.intn(400)) * time.Millisecond),
		"stop_both":  Duration(time.Duration(r.intn(400)) * time.Millisecond),
	}
	if r.chance(0.5) {
		sc.Traffic = &Traffic{Clients: 64, Filter: []string{"on_addr", "on_port"}[r.intn(2)]}
	}
	wire := o.Wire == "on" || (o.Wire == "auto" && r.intn(4) == 0)
	// The LANs' base imperfections: some jitter, a few duplicates and
	// reordered datagrams (in wire mode the verifier drops both as replays).
	var net LinkOptions
	if r.chance(0.5) {
		net.JitterMs = r.int63n(16)
	}
	if r.chance(0.3) {
		net.DupPct = float64(r.intn(6))
	}
	if r.chance(0.3) {
		net.ReorderPct, net.ReorderMs = float64(r.intn(6)), 20+r.int63n(200)
	}

	m := mix{weights: make([]int, len(fuzzActions)), gapMs: 200 + r.int63n(4000)}
	for i := range m.weights {
		if o.Actions != nil && !slices.Contains(o.Actions, fuzzActions[i]) {
			r.chance(0.6) // keep the stream aligned with unrestricted runs
			continue
		}
		if r.chance(0.6) {
			m.weights[i] = 1 + r.intn(10)
			m.total += m.weights[i]
		}
	}
	if m.total == 0 {
		first := 0
		if o.Actions != nil {
			first = max(slices.Index(fuzzActions, o.Actions[0]), 0)
		}
		m.weights[first], m.total = 1, 1
	}
	at := func(ms int64) Duration { return Duration(time.Duration(ms) * time.Millisecond) }
	add := func(ms int64, do string) { sc.Steps = append(sc.Steps, Step{At: at(ms), Do: do}) }

	// Start: every node, staggered over the first seconds.
	for _, n := range cl.Nodes {
		add(r.int63n(3000), "start "+n)
	}
	node := func() string { return cl.Nodes[r.intn(nNodes)] }
	lan := func() string { return cl.LANs[r.intn(nLANs)] }
	partition := func() string {
		// Usually every node in one of two non-empty sides (a clean split);
		// sometimes a partial one: nodes left out stay connected to both
		// sides, so the component holds two nodes that hear each other only
		// through a third, which the relay must make act as one farm.
		perm := make([]string, nNodes)
		copy(perm, cl.Nodes)
		for i := len(perm) - 1; i > 0; i-- {
			j := r.intn(i + 1)
			perm[i], perm[j] = perm[j], perm[i]
		}
		if nNodes >= 3 && r.chance(0.3) {
			left := 1 + r.intn(nNodes-2) // at least two nodes stay on the sides
			perm = perm[:nNodes-left]
		}
		k := 1 + r.intn(len(perm)-1)
		return strings.Join(perm[:k], ",") + "|" + strings.Join(perm[k:], ",")
	}
	t := int64(3000)
	for {
		t += 1 + r.int63n(2*m.gapMs)
		if t >= o.ChaosMs {
			break
		}
		pick := r.intn(m.total)
		kind := 0
		for ; pick >= m.weights[kind]; kind++ {
			pick -= m.weights[kind]
		}
		switch a := fuzzActions[kind]; a {
		case "start", "stop", "restart", "stopstart", "crash", "reboot":
			add(t, a+" "+node())
		case "isolate":
			add(t, "isolate "+partition())
		case "heal":
			add(t, "heal")
		case "cut":
			if r.chance(0.5) {
				add(t, "cut "+lan())
			} else if nLANs == 1 {
				add(t, "isolate "+partition()) // on one LAN a partial cut is an isolation
			} else {
				add(t, "cut "+lan()+" "+partition())
			}
		case "restore":
			add(t, "restore "+lan())
		case "loss":
			add(t, fmt.Sprintf("loss %s %d", lan(), r.intn(41)))
		case "delay":
			add(t, fmt.Sprintf("delay %s %dms", lan(), r.intn(81)))
		case "resource":
			res := []string{"intf.?", "ip.?"}[r.intn(2)]
			v := []string{"down", "up"}[r.intn(2)]
			add(t, fmt.Sprintf("resource %s %s %s", node(), res, v))
		case "fail-script":
			add(t, fmt.Sprintf("fail-script %s %s", node(), []string{"start_both", "stop_both"}[r.intn(2)]))
		}
	}
	// Quiet phase: heal the network, every verdict up, every node started
	// three times: a start may find the node WAIT (no script runs) and a
	// pending fail-script spends itself on the next, so the third succeeds.
	q := o.ChaosMs
	add(q, "heal")
	for _, n := range cl.Nodes {
		add(q, "resource "+n+" intf.* up")
		add(q, "resource "+n+" ip.* up")
	}
	// Failover rules need period + handle_time (5s + 15s) to wake a WAIT node.
	for _, n := range cl.Nodes {
		add(q+25000, "start "+n)
	}
	for _, n := range cl.Nodes {
		add(q+30000, "start "+n)
	}
	for _, n := range cl.Nodes {
		add(q+35000, "start "+n)
	}
	end := q + 60000
	up := "UP"
	ready := true
	exp := map[string]NodeExpect{}
	for _, n := range cl.Nodes {
		exp[n] = NodeExpect{State: up, Ready: &ready}
	}
	sc.Steps = append(sc.Steps, Step{At: at(end), Expect: exp})
	_ = sc.validate()
	return sc, wire, net, m.String()
}

// Fuzz generates and runs one seed.
func Fuzz(seed uint64, o FuzzOptions) (*FuzzResult, error) {
	sc, wire, net, mixDesc := genScenario(seed, o)
	s, err := New(sc, Options{Wire: wire, Net: net})
	if err != nil {
		return nil, err
	}
	fr := &FuzzResult{Seed: seed, Scenario: sc, Wire: wire, Net: net, Knobs: s.Knobs() + " " + mixDesc}
	res, err := s.Run()
	if err != nil {
		return nil, err
	}
	fr.Result = res
	return fr, nil
}

// WriteScenario writes the seed's scenario to dir as YAML; `farmsim run` on
// it replays the failure exactly (same seed, same steps).
func (fr *FuzzResult) WriteScenario(dir string) (string, error) {
	b, err := fr.Scenario.Marshal()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, fmt.Sprintf("fuzz-%d.yaml", fr.Seed))
	head := fmt.Sprintf("# Reproduces farmsim fuzz seed %d: farmsim run %s\n# %s\n", fr.Seed, fr.RunFlags(p), fr.Knobs)
	if err := os.WriteFile(p, append([]byte(head), b...), 0o644); err != nil {
		return "", fmt.Errorf("write scenario: %w", err)
	}
	return p, nil
}

// RunFlags is the `farmsim run` argument list that replays the seed from
// its written scenario file: the options a scenario cannot hold.
func (fr *FuzzResult) RunFlags(path string) string {
	f := path + wireFlag(fr.Wire)
	n := fr.Net
	if n.DelayMs > 0 {
		f += fmt.Sprintf(" --delay %dms", n.DelayMs)
	}
	if n.JitterMs > 0 {
		f += fmt.Sprintf(" --jitter %dms", n.JitterMs)
	}
	if n.LossPct > 0 {
		f += fmt.Sprintf(" --loss %g", n.LossPct)
	}
	if n.DupPct > 0 {
		f += fmt.Sprintf(" --dup %g", n.DupPct)
	}
	if n.ReorderPct > 0 {
		f += fmt.Sprintf(" --reorder %g --reorder-window %dms", n.ReorderPct, n.ReorderMs)
	}
	return f
}
