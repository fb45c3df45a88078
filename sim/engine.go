package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// TickMs is the virtual duration of one core Tick.
const TickMs = 10

// Options tune one run. The zero value runs the scenario as written.
type Options struct {
	Seed     *uint64     // overrides the scenario's seed
	Wire     bool        // round-trip every heartbeat through the wire codec (EncodeHeartbeat / Verifier.Decode)
	Net      LinkOptions // base options of every LAN (what `restore` and `heal` return to)
	Trace    io.Writer   // JSON Lines trace (SPEC §6); nil = none
	Timeline io.Writer   // readable timeline; nil = none
	Verbose  bool        // module log lines on the timeline too

	// keepReleased is a deliberately broken driver for tests: buckets the
	// core releases stay claimed, as by a dataplane that missed an update.
	// The invariant checkers must catch it.
	keepReleased bool
}

// Result is the outcome of one run.
type Result struct {
	Name          string
	Seed          uint64
	OK            bool
	Violations    []invariant.Violation
	Expects       int // expectations checked (one per node per expect step)
	FailedExpects int
	CoreErrors    int   // events the core refused (a driver/core disagreement)
	Windows       int   // stable windows whose liveness invariants were judged
	VirtualMs     int64 // virtual time simulated
	Events        uint64
	Wall          time.Duration // wall-clock time of the run (not part of the trace)
}

// Sim is one run of one scenario.
type Sim struct {
	sc    *Scenario
	opts  Options
	seed  uint64
	fc    *farmConfig
	nodes []*simNode
	nw    *network
	// farmLAN[i] is the network LAN of the module's i-th <farm><lan>.
	farmLAN []int
	groups  []string
	steps   []cstep
	allRes  []string // the module's resource names (from the core's Status)
	stepIdx int

	q       queue
	tickMs  int64 // the next Tick of any running node
	fly     inflight
	nowMs   int64
	endMs   int64
	pulseMs int64
	boundMs int64

	scriptMs map[string]int64
	chk      *invariant.Checker
	tr       *tracer
	traffic  *trafficGen
	codec    *wireCodec

	comps       [][]int
	degradedWhy string
	compsDirty  bool
	trafficSent bool
	res         Result
}

// Default simulated script durations, for scripts the scenario does not time.
var defaultScriptMs = map[string]int64{"prestart": 10, "start_both": 100, "stop_both": 100, "poststop": 10}

// New prepares a run: it loads the configuration, compiles the steps and
// boots every node (t=0, module STOP or started by boot="on").
// Bad input returns an *InputError.
func New(sc *Scenario, opts Options) (*Sim, error) {
	s := &Sim{sc: sc, opts: opts, tr: newTracer(opts.Trace, opts.Timeline), scriptMs: map[string]int64{}}
	s.seed = 1
	if sc.Seed != nil {
		s.seed = *sc.Seed
	}
	if opts.Seed != nil {
		s.seed = *opts.Seed
	}
	if err := opts.Net.validate(); err != nil {
		return nil, inputErr("network options: %v", err)
	}
	fc, err := sc.loadConfig()
	if err != nil {
		return nil, err
	}
	s.fc = fc
	if err := s.setup(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sim) setup() error {
	cl, mod := s.fc.cluster, s.fc.module
	lanNames := make([]string, len(cl.LANs))
	for i, l := range cl.LANs {
		lanNames[i] = l.Name
	}
	s.nw = newNetwork(len(cl.Nodes), lanNames, s.opts.Net, subSeed(s.seed, "network"))
	for _, name := range mod.Farm.LANs {
		li, err := s.nw.lanIndex(name)
		if err != nil {
			return inputErr("%s: module %s: <farm>: %v", s.sc.Path, mod.Name, err)
		}
		s.farmLAN = append(s.farmLAN, li)
	}
	if mod.VIP != nil {
		for _, g := range mod.VIP.Groups {
			s.groups = append(s.groups, g.Name)
		}
	}
	for k, v := range defaultScriptMs {
		s.scriptMs[k] = v
	}
	for k, v := range s.sc.Scripts {
		s.scriptMs[k] = v.Ms()
	}
	s.pulseMs = max(durMs(mod.Farm.Pulse), 1)
	for i, name := range cl.Nodes {
		r := newRNG(subSeed(s.seed, "node/"+name))
		s.nodes = append(s.nodes, &simNode{
			idx: i, name: name, phaseMs: int64(r.intn(TickMs)),
			owned: make([]core.Bitmap, len(s.groups)), owners: make([][core.Buckets]uint8, len(s.groups)),
			failNext: map[string]int{}, resOverride: map[string]core.ResourceState{}, liveScripts: map[uint64]bool{},
		})
	}
	if s.opts.Wire {
		c, err := newWireCodec(s.seed, len(s.nodes))
		if err != nil {
			return inputErr("wire mode: %v", err)
		}
		s.codec = c
	}
	if err := s.compileSteps(); err != nil {
		return err
	}
	s.boundMs = s.convergenceBoundMs()
	s.chk = invariant.New(invariant.Config{
		Nodes: cl.Nodes, Groups: s.invGroups(), BoundMs: s.boundMs,
		CheckerBoundMs: durMs(mod.Failover.Period + mod.Failover.HandleTime),
	})
	if s.sc.Traffic != nil && s.sc.Traffic.Clients > 0 {
		t, err := newTrafficGen(s.sc.Traffic, mod, len(s.nodes), subSeed(s.seed, "traffic"))
		if err != nil {
			return inputErr("%s: traffic: %v", s.sc.Path, err)
		}
		s.traffic = t
	}
	if len(s.steps) > 0 {
		s.endMs = s.steps[len(s.steps)-1].atMs
	}
	return nil
}

// convergenceBoundMs is C of SPEC §5 for this run: (max(slost, mlost) + 5)
// pulses, plus one full stop and start of scripts, plus the worst one-way
// network delay any step sets (twice: a heartbeat and its answer), plus the
// longest checker interval (a starting module waits for its first verdicts).
func (s *Sim) convergenceBoundMs() int64 {
	f := s.fc.module.Farm
	c := int64(max(f.SlostCount, f.MlostCount)+5) * s.pulseMs
	for _, name := range []string{"prestart", "start_both", "stop_both", "poststop"} {
		c += s.scriptMs[name]
	}
	d := s.nw.maxDelayMs()
	for _, st := range s.steps {
		if st.verb == vDelay {
			d = max(d, st.ms)
		}
	}
	c += 2 * d
	var iv int64
	for _, ch := range s.fc.module.Checks {
		if ch.Kind != config.CheckIntf && ch.Kind != config.CheckIP { // those report at once
			iv = max(iv, durMs(ch.Interval))
		}
	}
	return c + iv
}

func (s *Sim) invGroups() []invariant.Group {
	var out []invariant.Group
	if s.fc.module.VIP == nil {
		return nil
	}
	for _, g := range s.fc.module.VIP.Groups {
		ig := invariant.Group{Name: g.Name, Power: make([]int, len(s.nodes))}
		if len(g.Hosts) == 0 {
			for i := range ig.Power {
				ig.Power[i] = 1
			}
		}
		for _, h := range g.Hosts {
			if i := slices.Index(s.fc.cluster.Nodes, h.Name); i >= 0 {
				ig.Power[i] = h.Power
			}
		}
		out = append(out, ig)
	}
	return out
}

// SetLink overrides the options of the directed pair from -> to on a LAN
// (asymmetric loss, one slow link...). Call it before Run; `restore` and
// `heal` steps remove it.
func (s *Sim) SetLink(lan, from, to string, o LinkOptions) error {
	l, err := s.nw.lanIndex(lan)
	if err != nil {
		return err
	}
	a, err := s.nodeIndex(from)
	if err != nil {
		return err
	}
	b, err := s.nodeIndex(to)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("link %s %s->%s: %w", lan, from, to, err)
	}
	s.nw.setPair(l, a, b, o)
	return nil
}

// Knobs is the one line that, with the scenario, pins down a run: the root
// seed, every sub-seed and every knob derived from it.
func (s *Sim) Knobs() string {
	f := s.fc.module.Farm
	o := s.opts.Net
	line := fmt.Sprintf("SEED=%d scenario=%s nodes=%d lans=%d pulse=%s slost=%d mlost=%d C=%s wire=%t delay=%dms jitter=%dms loss=%g%% dup=%g%% reorder=%g%% network=%#x faults=%#x traffic=%#x",
		s.seed, s.sc.Name, len(s.nodes), len(s.nw.lans), f.Pulse, f.SlostCount, f.MlostCount,
		time.Duration(s.boundMs)*time.Millisecond, s.opts.Wire, o.DelayMs, o.JitterMs, o.LossPct, o.DupPct, o.ReorderPct,
		subSeed(s.seed, "network"), subSeed(s.seed, "faults"), subSeed(s.seed, "traffic"))
	for _, g := range s.invGroups() {
		line += fmt.Sprintf(" power.%s=%s", g.Name, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(g.Power)), ":"), "[]"))
	}
	for _, n := range s.nodes {
		line += fmt.Sprintf(" %s.phase=%dms", n.name, n.phaseMs)
	}
	return line
}

// Run runs a scenario to its last step and reports the outcome. Bad input
// returns an *InputError; a failed expectation or invariant is a Result
// with OK false.
func Run(sc *Scenario, opts Options) (*Result, error) {
	s, err := New(sc, opts)
	if err != nil {
		return nil, err
	}
	return s.Run()
}

// Run runs the prepared simulation.
func (s *Sim) Run() (*Result, error) {
	wall := time.Now()
	if s.tr.tw != nil {
		fmt.Fprintln(s.tr.tw, s.Knobs())
	}
	// Powering the nodes is the first disturbance: nothing is stable before C.
	s.change(invariant.Boot, -1)
	for _, n := range s.nodes {
		s.boot(n)
	}
	s.loop()
	s.endInstant()
	s.res.Name, s.res.Seed, s.res.VirtualMs = s.sc.Name, s.seed, s.nowMs
	s.res.Violations = s.chk.Violations()
	s.res.Windows = s.chk.Judged()
	s.res.OK = len(s.res.Violations) == 0 && s.res.FailedExpects == 0 && s.res.CoreErrors == 0
	nv := len(s.res.Violations) + s.res.CoreErrors
	s.tr.result(s.res.OK, s.seed, nv)
	s.res.Wall = time.Since(wall)
	if s.tr.tw != nil {
		verdict := "PASS"
		if !s.res.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(s.tr.tw, "%s %s  seed=%d virtual=%s violations=%d expectations=%d/%d stable-windows=%d\n", verdict, s.sc.Name, s.seed,
			time.Duration(s.nowMs)*time.Millisecond, nv, s.res.Expects-s.res.FailedExpects, s.res.Expects, s.res.Windows)
	}
	if err := s.tr.flush(); err != nil {
		return &s.res, err
	}
	return &s.res, nil
}

// loop is the event loop: steps, then queued events, then ticks, per instant.
func (s *Sim) loop() {
	s.retick()
	for {
		next := min(s.endMs+1, s.tickMs)
		if s.stepIdx < len(s.steps) {
			next = min(next, s.steps[s.stepIdx].atMs)
		}
		if s.q.len() > 0 {
			next = min(next, s.q.peekAt())
		}
		if next > s.endMs {
			return
		}
		if next > s.nowMs {
			s.endInstant()
			s.nowMs = next
		}
		s.res.Events++
		if s.stepIdx < len(s.steps) && s.steps[s.stepIdx].atMs == next {
			st := &s.steps[s.stepIdx]
			s.stepIdx++
			s.doStep(st)
			s.retick()
			continue
		}
		if s.q.len() > 0 && s.q.peekAt() == next {
			e := s.q.pop()
			s.handle(&e)
			continue
		}
		for _, n := range s.nodes {
			if n.up && n.nextTickMs == next {
				n.nextTickMs += TickMs
				n.core.Tick()
				s.drain(n)
			}
		}
		s.retick()
	}
}

// retick caches the time of the next Tick of any running node (processes
// start and die only in steps, so only steps and ticks move it).
func (s *Sim) retick() {
	s.tickMs = math.MaxInt64
	for _, n := range s.nodes {
		if n.up {
			s.tickMs = min(s.tickMs, n.nextTickMs)
		}
	}
}

// endInstant hands the instant's observations to the checkers.
func (s *Sim) endInstant() {
	if s.compsDirty {
		s.compsDirty = false
		if c := s.components(); !equalComps(c, s.comps) {
			s.comps = c
			s.chk.Components(s.nowMs, c)
		}
		if d := s.degraded(); d != s.degradedWhy {
			s.degradedWhy = d
			s.chk.Degraded(s.nowMs, d)
			if d != "" {
				s.tr.timeline(s.nowMs, "checker", "liveness not judged: %s", d)
			}
		}
	}
	s.report(s.chk.EndInstant(s.nowMs))
	if s.traffic != nil && !s.trafficSent && s.chk.Stable(s.nowMs) {
		s.trafficSent = true
		s.sendTraffic()
		s.report(s.chk.EndInstant(s.nowMs))
	}
}

func (s *Sim) report(vs []invariant.Violation) {
	for _, v := range vs {
		s.tr.violation(v.TMs, v.Invariant, v.Detail)
	}
}

// change records a disturbance for the checkers.
func (s *Sim) change(kind invariant.Kind, node int) {
	s.chk.Change(s.nowMs, invariant.Change{Kind: kind, Node: node, NetFaulty: s.nw.faulty(), VerdictDown: s.verdictDown()})
	s.trafficSent = false
	s.compsDirty = true
}

// verdictDown reports whether a running node holds a resource its checker
// reports down (a `resource` step set it).
func (s *Sim) verdictDown() bool {
	for _, n := range s.nodes {
		if !n.up {
			continue
		}
		for _, v := range n.resOverride {
			if v != core.ResUp {
				return true
			}
		}
	}
	return false
}

// components are the connected sets of running nodes (union of the
// "some LAN carries heartbeats both ways" relation), each sorted, in order
// of their lowest node.
func (s *Sim) components() [][]int {
	n := len(s.nodes)
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	var out [][]int
	for i := 0; i < n; i++ {
		if !s.nodes[i].up || comp[i] >= 0 {
			continue
		}
		id := len(out)
		comp[i] = id
		members := []int{i}
		for k := 0; k < len(members); k++ {
			a := members[k]
			for b := 0; b < n; b++ {
				if comp[b] < 0 && s.nodes[b].up && s.nw.connected(s.farmLAN, a, b) {
					comp[b] = id
					members = append(members, b)
				}
			}
		}
		slices.Sort(members)
		out = append(out, members)
	}
	return out
}

// degraded says why convergence cannot be expected on the current
// network, or "". A partial cut (two nodes connected only through a third)
// is not degraded: the membership relays through peers, so the component
// must converge like any other. Degraded is when heartbeats between two
// connected nodes may be lost slost_count times in a row on every LAN with a
// probability above 1e-7 per pulse (a window of a few thousand pulses then
// flaps with odds below 1 in 1000).
func (s *Sim) degraded() string {
	slost := float64(max(s.fc.module.Farm.SlostCount, 1))
	for _, c := range s.comps {
		for _, a := range c {
			for _, b := range c {
				if a == b || !s.nw.connected(s.farmLAN, a, b) {
					continue // a cut pair hears each other through relays, if at all
				}
				if p := s.nw.missAll(s.farmLAN, a, b); math.Pow(p, slost) > 1e-7 {
					return fmt.Sprintf("loss: heartbeats %s->%s lost on every LAN with probability %.3g", s.nodes[a].name, s.nodes[b].name, p)
				}
			}
		}
	}
	return ""
}

func equalComps(a, b [][]int) bool {
	return slices.EqualFunc(a, b, func(x, y []int) bool { return slices.Equal(x, y) })
}

// handle carries out one queued event.
func (s *Sim) handle(e *event) {
	n := s.nodes[e.to]
	switch e.kind {
	case evDeliver:
		fl := s.fly.slots[e.id]
		s.fly.release(e.id)
		if !n.up {
			return
		}
		ev := fl.ev
		if s.codec != nil {
			m, ok := s.codec.decode(n, fl.wire, int(e.lan))
			if !ok {
				return // a replayed duplicate, rejected as farmd would
			}
			ev = core.Recv{LAN: int(e.lan), Msg: m}
		}
		s.stepNode(n, ev)
	case evScriptDone:
		if !n.up || e.gen != n.gen || !n.liveScripts[e.id] {
			return
		}
		delete(n.liveScripts, e.id)
		s.stepNode(n, core.ScriptDone{ID: e.id, ExitCode: int(e.code), Killed: e.code < 0})
	case evResource:
		if !n.up || e.gen != n.gen || uint32(e.id>>32) != n.checkerEpoch {
			return
		}
		name := n.resNames[e.id&0xffffffff]
		v := n.verdict(name)
		if v != core.ResUp {
			// A restarted checker finding its resource still down is a
			// checker change: the failover rules will act on it again.
			s.change(invariant.Verdict, n.idx)
		}
		s.stepNode(n, core.ResourceEvent{Name: name, State: v})
	}
}

// stepNode feeds one event to a running node and carries out its Ready.
func (s *Sim) stepNode(n *simNode, ev core.Event) {
	if err := n.core.Step(ev); err != nil {
		s.res.CoreErrors++
		s.tr.violation(s.nowMs, "CORE", fmt.Sprintf("%s refused %T: %v", n.name, ev, err))
	}
	s.drain(n)
}
