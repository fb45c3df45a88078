package netlab

import (
	"context"
	"fmt"
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
//   - `files:` scenarios and `fail-script` are not supported yet.

// ScenarioSetup derives the lab and module a scenario needs from sc, on
// top of base (prefix, state dir), and the options to run it with (Poll,
// Grace and Logf left for the caller).
func ScenarioSetup(sc *sim.Scenario, base Spec) (Spec, ScenarioOptions, error) {
	spec, ho, proto, v6, err := scenarioSetup(sc, base)
	return spec, ScenarioOptions{Home: ho, Proto: proto, IPv6: v6}, err
}

func scenarioSetup(sc *sim.Scenario, base Spec) (Spec, HomeOptions, string, bool, error) {
	if sc.Cluster == nil || len(sc.Cluster.Nodes) == 0 {
		return Spec{}, HomeOptions{}, "", false, fmt.Errorf("%s: the lab runs only scenarios with an inline cluster: (files: is not supported yet)", sc.Path)
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
		// The client addresses: two client namespaces sharing them.
		spec.Clients = 2
		spec.SourcesPerClient = min((t.Clients+1)/2, maxSourcesPerClient)
	}
	for _, st := range sc.Steps {
		if strings.HasPrefix(strings.TrimSpace(st.Do), "fail-script") {
			return Spec{}, HomeOptions{}, "", false, fmt.Errorf("%s: step at %v: fail-script is not supported by the lab yet", sc.Path, time.Duration(st.At))
		}
	}
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
	start := time.Now()
	f := NewFeeder(c, start)
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
	// settle gives a pending expectation its final verdict.
	settle := func(pe pendingExpect, obs Observation, el time.Duration, final bool) bool {
		bad := checkExpect(l, obs, pe.expect)
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
				logf("t=%-7v do %s", el.Round(time.Millisecond), st.Do)
			}
			if len(st.Expect) > 0 {
				pending = append(pending, pendingExpect{at: time.Duration(st.At), where: where, expect: st.Expect})
			}
		}
		obs := l.Observe(ctx)
		el = time.Since(start)
		for _, v := range f.Feed(time.Now(), obs) {
			logf("t=%-7v violation %s", el.Round(time.Millisecond), v)
		}
		pending = slices.DeleteFunc(pending, func(pe pendingExpect) bool {
			return settle(pe, obs, el, el >= pe.at+o.Grace)
		})
		if traffic && !sweeping && time.Since(lastSweep) >= time.Second {
			sweeping, lastSweep = true, time.Now()
			go func(start time.Time) {
				sw, err := l.SweepVIP(ctx, SweepOptions{Proto: o.Proto, IPv6: o.IPv6, Timeout: 300 * time.Millisecond, SourcesOnly: true})
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
					logf("t=%-7v violation %s", el.Round(time.Millisecond), v)
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
	return res, nil
}

// checkExpect compares one step's expectations with an observation and
// returns what does not match ("node2: share 33% (want 50%)").
func checkExpect(l *Lab, obs Observation, exp map[string]sim.NodeExpect) []string {
	names := make([]string, 0, len(exp))
	for n := range exp {
		names = append(names, n)
	}
	slices.Sort(names)
	var bad []string
	for _, name := range names {
		e := exp[name]
		idx, err := l.nodeIndex(name)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		n := obs.Nodes[idx]
		state := "STOP"
		if n.Running {
			state = n.State.String()
		}
		add := func(ok bool, have, want string) {
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: %s (want %s)", name, have, want))
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
	}
	return bad
}
