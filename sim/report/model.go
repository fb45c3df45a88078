package report

import (
	"fmt"
	"slices"
	"strings"
)

// status is what the timeline shows for a node at one instant.
type status struct {
	state   string // STOP | WAIT | UP
	ready   bool
	rule    string
	crashed bool // the node's process is down (crash step, until it is started again)
}

// segment is a stretch of constant status on a node's timeline.
type segment struct {
	startMs, endMs int64
	st             status
}

// countChange is a node's owned-bucket count from tMs on.
type countChange struct {
	tMs   int64
	count int
}

type nodeTrack struct {
	name    string
	changes []timedStatus
	final   status
}

type timedStatus struct {
	tMs int64
	st  status
}

type groupTrack struct {
	name   string
	counts map[string][]countChange // node -> changes in time order; read in node order only
}

type stepMark struct {
	n     int // 1-based number in the run
	tMs   int64
	do    string
	fault bool
}

type expectMark struct {
	tMs    int64
	node   string
	ok     bool
	detail string
}

type violationMark struct {
	tMs       int64
	node      string
	invariant string
	detail    string
}

type result struct {
	ok         bool
	seed       string
	violations int
	hasCount   bool
}

// run is the part of a trace up to and including one result line (a trace
// may hold several scenarios, each ending with its result).
type run struct {
	nodes      []*nodeTrack // natural name order
	groups     []*groupTrack
	steps      []stepMark
	expects    []expectMark
	violations []violationMark
	result     *result // nil: the trace ended before a result line
	lastMs     int64   // latest t_ms of the run
	lines      int
	unknown    []string // unknown event names, sorted, unique
	unknownN   int
}

// commands are the step verbs an administrator issues; every other verb is a fault.
var commands = []string{"start", "stop", "restart", "stopstart", "boot"}

// nodeVerbs name one node as their first argument.
var nodeVerbs = []string{"start", "stop", "restart", "stopstart", "crash", "reboot", "resource", "fail-script"}

// buildRuns splits the lines into runs and folds each into timelines.
func buildRuns(lines []line) ([]*run, error) {
	var runs []*run
	var b *runBuilder
	for _, l := range lines {
		if b == nil {
			b = newRunBuilder()
		}
		if err := b.add(l); err != nil {
			return nil, &LineError{Line: l.no, Err: err}
		}
		if l.event == "result" {
			runs = append(runs, b.finish())
			b = nil
		}
	}
	if b != nil {
		runs = append(runs, b.finish())
	}
	return runs, nil
}

type runBuilder struct {
	r       run
	nodes   map[string]*nodeTrack
	groups  map[string]*groupTrack
	unknown map[string]bool
	prevMs  int64
	prevNo  int
}

func newRunBuilder() *runBuilder {
	return &runBuilder{nodes: map[string]*nodeTrack{}, groups: map[string]*groupTrack{}, unknown: map[string]bool{}}
}

func (b *runBuilder) node(name string) *nodeTrack {
	n := b.nodes[name]
	if n == nil {
		// SPEC §6: nodes are powered at t=0 with their module STOP.
		n = &nodeTrack{name: name, changes: []timedStatus{{0, status{state: "STOP", ready: true}}}}
		b.nodes[name] = n
		b.r.nodes = append(b.r.nodes, n)
	}
	return n
}

// set records st for node n from tMs on.
func (n *nodeTrack) set(tMs int64, st status) {
	n.changes = append(n.changes, timedStatus{tMs, st})
}

func (n *nodeTrack) current() status { return n.changes[len(n.changes)-1].st }

func (b *runBuilder) add(l line) error {
	b.r.lines++
	if l.hasT {
		if l.tMs < b.prevMs {
			return fmt.Errorf("t_ms %d is before t_ms %d of line %d: time goes backwards", l.tMs, b.prevMs, b.prevNo)
		}
		b.prevMs, b.prevNo = l.tMs, l.no
		b.r.lastMs = max(b.r.lastMs, l.tMs)
	}
	raw := l.raw
	switch l.event {
	case "step":
		b.step(l.tMs, strings.TrimSpace(raw.Do))
	case "state":
		n := b.node(raw.Node)
		cur := n.current()
		st := status{state: raw.State, ready: *raw.Ready, rule: raw.Rule}
		// A STOP line while the process is down keeps it grey: a dead node
		// is more than a stopped module. Any other state means it is back.
		st.crashed = cur.crashed && raw.State == "STOP"
		n.set(l.tMs, st)
	case "buckets":
		b.node(raw.Node)
		g := b.groups[raw.Group]
		if g == nil {
			g = &groupTrack{name: raw.Group, counts: map[string][]countChange{}}
			b.groups[raw.Group] = g
			b.r.groups = append(b.r.groups, g)
		}
		g.counts[raw.Node] = append(g.counts[raw.Node], countChange{l.tMs, len(*raw.Owned)})
	case "expect":
		if raw.Node != "" {
			b.node(raw.Node)
		}
		b.r.expects = append(b.r.expects, expectMark{l.tMs, raw.Node, *raw.OK, raw.Detail})
	case "violation":
		if raw.Node != "" {
			b.node(raw.Node)
		}
		b.r.violations = append(b.r.violations, violationMark{l.tMs, raw.Node, raw.Invariant, raw.Detail})
	case "result":
		res := &result{ok: *raw.OK}
		if raw.Seed != nil {
			res.seed = raw.Seed.String()
		}
		if raw.Violations != nil {
			res.violations, res.hasCount = *raw.Violations, true
		}
		b.r.result = res
	default:
		b.unknown[l.event] = true
		b.r.unknownN++
	}
	return nil
}

// step records a step marker and, for crash/start/reboot, the node's process state.
func (b *runBuilder) step(tMs int64, do string) {
	f := strings.Fields(do)
	verb := f[0]
	b.r.steps = append(b.r.steps, stepMark{n: len(b.r.steps) + 1, tMs: tMs, do: do, fault: !slices.Contains(commands, verb)})
	if len(f) < 2 || !slices.Contains(nodeVerbs, verb) {
		return
	}
	n := b.node(f[1])
	cur := n.current()
	switch verb {
	case "crash":
		n.set(tMs, status{state: "STOP", ready: true, crashed: true})
	case "start", "reboot":
		// The process comes back (a service manager restarts it); the module
		// is STOP until the simulator reports otherwise.
		if cur.crashed {
			n.set(tMs, status{state: cur.state, ready: cur.ready, rule: cur.rule})
		}
	}
}

func (b *runBuilder) finish() *run {
	r := &b.r
	slices.SortFunc(r.nodes, func(a, c *nodeTrack) int { return naturalCompare(a.name, c.name) })
	for _, n := range r.nodes {
		n.final = n.current()
	}
	for ev := range b.unknown {
		r.unknown = append(r.unknown, ev)
	}
	slices.Sort(r.unknown)
	return r
}

// segments turns a node's changes into the stretches drawn on its timeline,
// ending at endMs. Changes at one instant collapse to the last one.
func (n *nodeTrack) segments(endMs int64) []segment {
	var out []segment
	for i, c := range n.changes {
		stop := endMs
		if i+1 < len(n.changes) {
			stop = n.changes[i+1].tMs
		}
		if stop <= c.tMs {
			continue
		}
		if k := len(out); k > 0 && out[k-1].st == c.st && out[k-1].endMs == c.tMs {
			out[k-1].endMs = stop
			continue
		}
		out = append(out, segment{c.tMs, stop, c.st})
	}
	return out
}

// countAt is node's bucket count in g just after tMs.
func (g *groupTrack) countAt(node string, tMs int64) int {
	c := 0
	for _, ch := range g.counts[node] {
		if ch.tMs > tMs {
			break
		}
		c = ch.count
	}
	return c
}

// series is node's bucket count in g just after each of times (ascending),
// in one pass: long traces have thousands of changes.
func (g *groupTrack) series(node string, times []int64) []int {
	out := make([]int, len(times))
	chs := g.counts[node]
	c, i := 0, 0
	for k, t := range times {
		for i < len(chs) && chs[i].tMs <= t {
			c = chs[i].count
			i++
		}
		out[k] = c
	}
	return out
}

// times are the instants where some count of g changes, plus 0, ascending.
func (g *groupTrack) times(nodes []*nodeTrack) []int64 {
	ts := []int64{0}
	for _, n := range nodes {
		for _, ch := range g.counts[n.name] {
			ts = append(ts, ch.tMs)
		}
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// naturalCompare orders "node2" before "node10": digit runs compare as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			if c := len(da) - len(db); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
