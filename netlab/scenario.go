package netlab

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/sim"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// Scenarios in the lab: the same files farmsim runs (sim.LoadScenario
// parses them), played in real time against real daemons. What differs
// from the simulator, by nature:
//   - an `expect:` is met if it holds at some moment within Grace after its
//     time (real daemons, polled over HTTP, are not instantaneous);
//   - `scripts:` durations do not apply (the real scripts take what they take);
//   - `traffic:` becomes real client probes from the lab's client source
//     addresses, once a second, fed to INV-8;
//   - a `files:` scenario runs its own cluster.xml and userconfig.xml: the
//     lab is built from the file's LANs and nodes (in file order), the
//     cluster.xml each node gets is the file's with the lab's addresses,
//     and userconfig.xml is the file's, but for the delivery mode (see
//     filesSetup);
//   - `fail-script` arms a flag file the lab's scripts honour;
//   - `delay` needs sch_netem: on a kernel without it the scenario cannot
//     run at all (see NeedsDelay), which is the lab's limit, not the
//     scenario's failure.

// ScenarioSetup derives the lab and module a scenario needs from sc, on
// top of base (prefix, state dir), and the options to run it with (Poll,
// Grace and Logf left for the caller).
func ScenarioSetup(sc *sim.Scenario, base Spec) (Spec, ScenarioOptions, error) {
	if sc.Files != nil || (sc.Cluster != nil && sc.Cluster.Files != nil) {
		return filesSetup(sc, base)
	}
	spec, ho, proto, v6, err := scenarioSetup(sc, base)
	return spec, ScenarioOptions{Home: ho, Proto: proto, IPv6: v6}, err
}

// NeedsDelay says whether a step of sc delays a LAN (which needs sch_netem).
func NeedsDelay(sc *sim.Scenario) bool {
	for _, st := range sc.Steps {
		if a, err := sim.ParseAction(st.Do); err == nil && a.Verb == "delay" && a.Delay > 0 {
			return true
		}
	}
	return false
}

// trafficSpec sizes the clients for a scenario's traffic: two client
// namespaces sharing its client addresses.
func trafficSpec(sc *sim.Scenario, spec *Spec) {
	if t := sc.Traffic; t != nil && t.Clients > 0 {
		spec.Clients = 2
		spec.SourcesPerClient = min((t.Clients+1)/2, maxSourcesPerClient)
	}
}

func scenarioSetup(sc *sim.Scenario, base Spec) (Spec, HomeOptions, string, bool, error) {
	if sc.Cluster == nil || len(sc.Cluster.Nodes) == 0 {
		return Spec{}, HomeOptions{}, "", false, fmt.Errorf("%s: needs cluster: {nodes: [...]} or files:", sc.Path)
	}
	spec := base
	spec.Nodes = len(sc.Cluster.Nodes)
	for i, n := range sc.Cluster.Nodes {
		if want := fmt.Sprintf("node%d", i+1); n != want {
			return Spec{}, HomeOptions{}, "", false, fmt.Errorf("%s: the lab names its nodes node1..nodeN in order; node %d is %q, want %q", sc.Path, i+1, n, want)
		}
	}
	spec.LANs = sc.Cluster.LANs
	if len(spec.LANs) == 0 {
		spec.LANs = []string{"default"}
	}
	var ho HomeOptions
	ho.Power = sc.Cluster.Power
	if f := sc.Farm; f != nil {
		if f.Pulse != nil {
			ho.Pulse = time.Duration(*f.Pulse)
		}
		if f.SlostCount != nil {
			ho.SlostCount = *f.SlostCount
		}
		if f.MlostCount != nil {
			ho.MlostCount = *f.MlostCount
		}
	}
	proto, v6 := "tcp", false
	if t := sc.Traffic; t != nil && t.Clients > 0 {
		ho.Filter = t.Filter
		if t.Proto != "" {
			proto = t.Proto
		}
		v6 = t.IPv6
	}
	trafficSpec(sc, &spec)
	return spec, ho, proto, v6, nil
}

// ScenarioOptions tune RunScenario.
type ScenarioOptions struct {
	Home  HomeOptions   // the module as StartFarm wrote it (for the checker)
	Proto string        // client traffic protocol when the scenario has traffic
	IPv6  bool          // client traffic to the IPv6 VIP
	Poll  time.Duration // how often farmd is observed; default 100ms
	Grace time.Duration // how long after its time an expect may still be met; default 1s
	Logf  func(string, ...any)
	// Notes say where the lab runs a `files:` module differently from the
	// file (printed before the run).
	Notes []string
	// Trace, when set, receives the run's JSON Lines trace (SPEC §6).
	Trace io.Writer
}

// ScenarioResult is what a lab run of a scenario found.
type ScenarioResult struct {
	Expects, FailedExpects int
	Violations             []invariant.Violation
	Judged                 int
	Probes, FailedProbes   int
}

// OK says whether every expectation held and no invariant broke.
func (r ScenarioResult) OK() bool { return r.FailedExpects == 0 && len(r.Violations) == 0 }

type pendingExpect struct {
	at     time.Duration
	where  string
	expect map[string]sim.NodeExpect
}

// RunScenario plays sc on the lab in real time: its steps through Do, its
// expectations against the daemons' state, its traffic as client probes,
// and every observation through the invariant checkers.
func (l *Lab) RunScenario(ctx context.Context, sc *sim.Scenario, o ScenarioOptions) (ScenarioResult, error) {
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Grace <= 0 {
		o.Grace = time.Second
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := invariant.New(l.CheckerConfigFor(o.Home, o.Poll))
	var tr *Tracer
	if o.Trace != nil {
		tr = NewTracer(o.Trace)
	}
	violation := func(el time.Duration, v invariant.Violation) {
		logf("t=%-7v violation %s", el.Round(time.Millisecond), v)
		tr.Violation(v.TMs, v.Invariant, v.Detail)
	}
	start := time.Now()
	f := NewFeeder(c, start)
	// Every farmd has just started (with boot="on" its module is starting
	// too): the run opens on a boot of every node, as farmsim's powers
	// them at t=0, so no stable window begins before the convergence bound.
	for i := range l.Plan.Nodes {
		c.Change(0, invariant.Change{Kind: invariant.Boot, Node: i})
	}
	var res ScenarioResult
	steps := sc.Steps // sorted by time by the parser
	var pending []pendingExpect
	var end time.Duration
	for _, st := range steps {
		end = max(end, time.Duration(st.At))
	}
	end += o.Grace
	traffic := sc.Traffic != nil && sc.Traffic.Clients > 0
	onAddr := sc.Traffic != nil && sc.Traffic.Filter != "on_port"
	// Client traffic runs beside the loop (a sweep through a failure waits
	// for its timeouts) and its verdicts come back here, so that the
	// checker is fed from this goroutine only and in time order.
	type sweepDone struct {
		start time.Time
		sw    Sweep
		err   error
	}
	sweeps := make(chan sweepDone, 1)
	sweeping := false
	var lastSweep time.Time
	defer func() {
		if sweeping {
			<-sweeps
		}
	}()
	// settle gives a pending expectation its final verdict: met as soon as
	// every node matches, failed when its grace ends first.
	settle := func(pe pendingExpect, obs Observation, el time.Duration, final bool) bool {
		vs := checkExpect(l, obs, pe.expect)
		var bad []string
		for _, v := range vs {
			bad = append(bad, v.bad...)
		}
		if len(bad) > 0 && !final {
			return false
		}
		res.Expects++
		if len(bad) == 0 {
			logf("t=%-7v expect ok (%s)", el.Round(time.Millisecond), pe.where)
		} else {
			res.FailedExpects++
			logf("t=%-7v EXPECT FAILED %s: %s", el.Round(time.Millisecond), pe.where, strings.Join(bad, "; "))
		}
		for _, v := range vs {
			tr.Expect(el.Milliseconds(), len(v.bad) == 0, v.detail(pe.where))
		}
		return true
	}
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for i := 0; ; {
		el := time.Since(start)
		for ; i < len(steps) && el >= time.Duration(steps[i].At); i++ {
			st := steps[i]
			where := fmt.Sprintf("%s: step %d (at %v)", sc.Path, i+1, time.Duration(st.At))
			if st.Do != "" {
				// As in the simulator, expectations due before this step are
				// judged before it acts: their grace ends here.
				if len(pending) > 0 {
					obs := l.Observe(ctx)
					for _, pe := range pending {
						settle(pe, obs, el, true)
					}
					pending = nil
				}
				now := time.Now()
				ch, err := l.Do(ctx, st.Do)
				if err != nil {
					return res, fmt.Errorf("%s: %w", where, err)
				}
				c.Change(f.Ms(now), ch)
				tr.Step(f.Ms(now), st.Do)
				logf("t=%-7v do %s", el.Round(time.Millisecond), st.Do)
			}
			if len(st.Expect) > 0 {
				pending = append(pending, pendingExpect{at: time.Duration(st.At), where: where, expect: st.Expect})
			}
		}
		obs := l.Observe(ctx)
		el = time.Since(start)
		now := time.Now()
		tr.Observe(f.Ms(now), l, obs)
		for _, v := range f.Feed(now, obs) {
			violation(el, v)
		}
		pending = slices.DeleteFunc(pending, func(pe pendingExpect) bool {
			return settle(pe, obs, el, el >= pe.at+o.Grace)
		})
		if traffic && !sweeping && time.Since(lastSweep) >= time.Second {
			sweeping, lastSweep = true, time.Now()
			go func(start time.Time) {
				sw, err := l.SweepVIP(ctx, SweepOptions{Proto: o.Proto, IPv6: o.IPv6, Timeout: 300 * time.Millisecond, Retry: 1500 * time.Millisecond, SourcesOnly: true})
				sweeps <- sweepDone{start, sw, err}
			}(lastSweep)
		}
		select {
		case d := <-sweeps:
			sweeping = false
			if d.err != nil {
				return res, d.err
			}
			res.Probes += len(d.sw.Probes)
			res.FailedProbes += d.sw.Failed
			// Judged only when the whole sweep fell in a stable window
			// (the checker then sees no change between its start and now).
			if c.Stable(f.Ms(d.start)) {
				ms := f.Ms(time.Now())
				for _, p := range d.sw.Probes {
					var accepted []int
					if idx, err := l.nodeIndex(p.Node); err == nil {
						accepted = []int{idx}
					}
					c.Packet(ms, p.Src.String(), onAddr, accepted)
				}
				for _, v := range c.EndInstant(ms) {
					violation(el, v)
				}
			}
		default:
		}
		if i >= len(steps) && len(pending) == 0 && el >= end {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	res.Violations, res.Judged = c.Violations(), c.Judged()
	var seed uint64 = 1
	if sc.Seed != nil {
		seed = *sc.Seed
	}
	tr.Result(res.OK(), seed, len(res.Violations))
	return res, tr.Err()
}

// expectVerdict is one node's part of an expectation: what was checked
// ("share 50%") and what did not match ("share 33% (want 50%)").
type expectVerdict struct {
	node     string
	got, bad []string
}

// detail is the trace's expect detail, worded as farmsim words it.
func (v expectVerdict) detail(where string) string {
	if len(v.bad) == 0 {
		return v.node + ": " + strings.Join(v.got, ", ")
	}
	return v.node + ": " + strings.Join(v.bad, ", ") + " at " + where
}

// checkExpect compares one step's expectations with an observation, node
// by node in name order.
func checkExpect(l *Lab, obs Observation, exp map[string]sim.NodeExpect) []expectVerdict {
	names := make([]string, 0, len(exp))
	for n := range exp {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []expectVerdict
	for _, name := range names {
		e := exp[name]
		v := expectVerdict{node: name}
		idx, err := l.nodeIndex(name)
		if err != nil {
			v.bad = append(v.bad, err.Error())
			out = append(out, v)
			continue
		}
		n := obs.Nodes[idx]
		state := "STOP"
		if n.Running {
			state = n.State.String()
		}
		add := func(ok bool, have, want string) {
			v.got = append(v.got, have)
			if !ok {
				v.bad = append(v.bad, have+" (want "+want+")")
			}
		}
		count := func(g int) int {
			if g < len(n.Owned) {
				return n.Owned[g].Count()
			}
			return 0
		}
		share := func(k int) int { return (k*100 + 128) / 256 } // rounded, as SPEC §4
		if e.State != "" {
			add(state == e.State, "state "+state, e.State)
		}
		if e.Ready != nil {
			add(n.Ready == *e.Ready, fmt.Sprintf("ready %t", n.Ready), fmt.Sprint(*e.Ready))
		}
		if e.Share != nil {
			add(share(count(0)) == *e.Share, fmt.Sprintf("share %d%%", share(count(0))), fmt.Sprintf("%d%%", *e.Share))
		}
		if e.Buckets != nil {
			add(count(0) == *e.Buckets, fmt.Sprintf("buckets %d", count(0)), fmt.Sprint(*e.Buckets))
		}
		groups := make([]string, 0, len(e.Shares))
		for g := range e.Shares {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			want := e.Shares[g]
			gi := slices.Index(n.Groups, g)
			got := 0
			if gi >= 0 {
				got = share(count(gi))
			}
			add(got == want, fmt.Sprintf("%s %d%%", g, got), fmt.Sprintf("%d%%", want))
		}
		if e.Rule != nil {
			add(n.Rule == *e.Rule, fmt.Sprintf("rule %q", n.Rule), fmt.Sprintf("%q", *e.Rule))
		}
		out = append(out, v)
	}
	return out
}
