package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// simNode is one simulated machine: a process (core.Node) that may be up or
// down, its scripts and checkers, and what the driver observed of it.
type simNode struct {
	idx         int
	name        string
	core        *core.Node // nil while the process is down
	up          bool
	gen         uint32 // process generation: events queued for an older process are dropped
	incarnation uint64
	phaseMs     int64 // tick phase within TickMs (from the node's sub-seed)
	nextTickMs  int64

	// What the node last reported (its Ready), as the trace shows it.
	state   core.State
	ready   bool
	rule    string
	owned   []core.Bitmap         // per group
	owners  [][core.Buckets]uint8 // per group: the node's whole owner table
	arp     bool
	arpMs   int64 // when it last took the ARP duty
	vipOpen bool

	failNext     map[string]int                // script -> exit code of its next run
	resOverride  map[string]core.ResourceState // verdicts set by `resource` steps (they outlive crashes: the fault is physical)
	liveScripts  map[uint64]bool
	resNames     []string       // the module's resources, from the core's Status
	checkerEpoch uint32         // bumped when the module leaves STOP: the checkers (re)start
	verifier     *core.Verifier // wire mode: this process's heartbeat verifier
}

func (n *simNode) verdict(res string) core.ResourceState {
	if v, ok := n.resOverride[res]; ok {
		return v
	}
	return core.ResUp
}

// boot starts a node's process: a new core.Node with a higher incarnation,
// then the Boot event (boot="on" starts the module).
func (s *Sim) boot(n *simNode) {
	n.gen++
	n.incarnation++
	c, err := core.New(core.Config{Self: n.name, Cluster: s.fc.cluster, Module: s.fc.module, TickMs: TickMs, Incarnation: n.incarnation})
	if err != nil {
		// The configuration was accepted by the parser but not by the core:
		// report it as a core error rather than crash the simulator.
		s.res.CoreErrors++
		s.tr.violation(s.nowMs, "CORE", fmt.Sprintf("%s: core.New: %v", n.name, err))
		return
	}
	n.core, n.up = c, true
	st := c.Status()
	if st.State != n.state || st.Ready != n.ready {
		// A fresh process reports its initial state only through Status.
		n.state, n.ready, n.rule = st.State, st.Ready, ""
		if s.nowMs > 0 || n.state != core.StateStop || n.ready {
			s.tr.state(s.nowMs, n.name, n.state.String(), n.ready, "")
		}
		s.chk.State(s.nowMs, n.idx, n.state, n.ready)
	}
	n.arp, n.vipOpen = false, false
	clear(n.liveScripts)
	// The next tick keeps the node's phase: a restarted process ticks on its
	// own schedule, not in lockstep with the others.
	// The first Tick is the first instant after boot that falls on its phase.
	k := ((s.nowMs-n.phaseMs)%TickMs + TickMs) % TickMs
	n.nextTickMs = s.nowMs - k + TickMs
	n.resNames = n.resNames[:0]
	for _, r := range st.Resources {
		n.resNames = append(n.resNames, r.Name)
	}
	if s.codec != nil {
		n.verifier = s.codec.newVerifier(len(s.farmLAN))
	}
	s.chk.Running(s.nowMs, n.idx, true)
	s.compsDirty = true
	s.stepNode(n, core.Boot{})
}

// crash kills a node's process: its state is lost, its heartbeats stop, its
// scripts and checkers vanish. The trace shows it STOP with no buckets.
func (s *Sim) crash(n *simNode) {
	if !n.up {
		return
	}
	n.up, n.core = false, nil
	n.gen++
	clear(n.liveScripts)
	// Buckets before state: a trace read line by line never shows a STOP
	// node still claiming (INV-1), even within one instant.
	for g := range n.owned {
		if !n.owned[g].Empty() {
			n.owned[g] = core.Bitmap{}
			s.tr.buckets(s.nowMs, n.name, s.groups[g], nil)
		}
		for b := range n.owners[g] {
			n.owners[g][b] = core.NoOwner
		}
	}
	if n.state != core.StateStop || n.ready {
		n.state, n.ready, n.rule = core.StateStop, false, ""
		s.tr.state(s.nowMs, n.name, "STOP", false, "")
	}
	n.arp, n.vipOpen = false, false
	s.chk.Running(s.nowMs, n.idx, false)
	s.compsDirty = true
}

// drain carries out a node's Ready, in field order, then Advances. Anything
// that feeds an event back to the node (a script's end, a checker verdict)
// is queued, never stepped from here, so the core is never re-entered.
func (s *Sim) drain(n *simNode) {
	if n.core == nil || !n.core.HasReady() {
		return
	}
	rd := n.core.Ready()
	for i := range rd.Messages {
		s.send(n, &rd.Messages[i])
	}
	for _, sr := range rd.Scripts {
		s.startScript(n, sr)
	}
	for _, id := range rd.Kills {
		if n.liveScripts[id] {
			s.q.push(event{atMs: s.nowMs, kind: evScriptDone, to: int16(n.idx), gen: n.gen, id: id, code: -1})
		}
	}
	if rd.VIP != nil {
		n.vipOpen = *rd.VIP
	}
	for i := range rd.Tables {
		s.table(n, &rd.Tables[i])
	}
	if rd.ARPHolder != nil && *rd.ARPHolder != n.arp {
		n.arp = *rd.ARPHolder
		n.arpMs = s.nowMs
		if s.opts.Verbose {
			s.tr.timeline(s.nowMs, n.name, "ARP holder %t", n.arp)
		}
	}
	for _, sc := range rd.States {
		s.stateChange(n, sc)
	}
	if s.opts.Verbose {
		for _, l := range rd.Logs {
			lvl := "I"
			if l.Level == core.LogError {
				lvl = "E"
			}
			s.tr.timeline(s.nowMs, n.name, "log %s %s", lvl, l.Text)
		}
	}
	n.core.Advance()
}

// send puts one heartbeat on the wire: on its LAN (or every farm LAN), to
// every other running node, through the network's fate for each pair.
func (s *Sim) send(n *simNode, m *core.Outgoing) {
	lo, hi := 0, len(s.farmLAN)
	if m.LAN >= 0 {
		if m.LAN >= hi {
			s.res.CoreErrors++
			s.tr.violation(s.nowMs, "CORE", fmt.Sprintf("%s sent on LAN index %d of %d", n.name, m.LAN, hi))
			return
		}
		lo, hi = m.LAN, m.LAN+1
	}
	var d [2]int64
	for l := lo; l < hi; l++ {
		var slot uint64
		if s.codec != nil {
			wire := s.codec.encode(l, m.Msg)
			if wire == nil {
				s.res.CoreErrors++
				s.tr.violation(s.nowMs, "CORE", n.name+": heartbeat does not encode")
				return
			}
			slot = s.fly.put(nil, wire)
		} else {
			slot = s.fly.put(core.Recv{LAN: l, Msg: m.Msg}, nil)
		}
		lan := s.farmLAN[l]
		for _, to := range s.nodes {
			if to == n || !to.up {
				continue
			}
			k := s.nw.send(lan, n.idx, to.idx, &d)
			for c := 0; c < k; c++ {
				s.fly.slots[slot].refs++
				s.q.push(event{atMs: s.nowMs + d[c], kind: evDeliver, to: int16(to.idx), lan: int16(l), id: slot})
			}
		}
		if s.fly.slots[slot].refs == 0 {
			s.fly.release(slot) // lost on the way to everyone
		}
	}
}

// startScript simulates one script run: it ends after its duration with
// exit 0, or with the code a `fail-script` step asked for.
func (s *Sim) startScript(n *simNode, sr core.ScriptRun) {
	code := 0
	if c, ok := n.failNext[sr.Name]; ok && sr.Args[0] != "force" {
		code = c
		delete(n.failNext, sr.Name)
	}
	ms, ok := s.scriptMs[sr.Name]
	if !ok {
		ms = 10
	}
	n.liveScripts[sr.ID] = true
	if s.opts.Verbose {
		s.tr.timeline(s.nowMs, n.name, "script %s %s (%dms, exit %d)", sr.Name, strings.Join(sr.Args[:], " "), ms, code)
	}
	s.q.push(event{atMs: s.nowMs + ms, kind: evScriptDone, to: int16(n.idx), gen: n.gen, id: sr.ID, code: int32(code)})
}

// table records a group's new owner table and, when the node's own set
// changed, writes its complete owned set.
func (s *Sim) table(n *simNode, t *core.TableUpdate) {
	g := t.Group
	if g < 0 || g >= len(n.owned) {
		s.res.CoreErrors++
		s.tr.violation(s.nowMs, "CORE", fmt.Sprintf("%s: table for group %d of %d", n.name, g, len(n.owned)))
		return
	}
	n.owners[g] = t.Owners
	var owned core.Bitmap
	self := uint8(n.idx)
	for b, o := range t.Owners {
		if o == self {
			owned.Set(b)
		}
	}
	if s.opts.keepReleased {
		for w := range owned {
			owned[w] |= n.owned[g][w]
		}
	}
	if owned == n.owned[g] {
		return
	}
	n.owned[g] = owned
	s.tr.buckets(s.nowMs, n.name, s.groups[g], owned.List())
	s.chk.Buckets(s.nowMs, n.idx, g, owned)
}

// stateChange records a module state or readiness change; leaving STOP
// starts the module's simulated checkers.
func (s *Sim) stateChange(n *simNode, sc core.StateChange) {
	rule := sc.Rule
	if sc.State != core.StateWait {
		rule = ""
	}
	if sc.State == n.state && sc.Ready == n.ready && rule == n.rule {
		return
	}
	wasStop := n.state == core.StateStop
	n.state, n.ready, n.rule = sc.State, sc.Ready, rule
	s.tr.state(s.nowMs, n.name, sc.State.String(), sc.Ready, rule)
	s.chk.State(s.nowMs, n.idx, sc.State, sc.Ready)
	if wasStop && sc.State != core.StateStop {
		s.startCheckers(n)
	}
}

// startCheckers schedules the first verdict of every checker resource:
// intf and ip at once, the others after their interval.
func (s *Sim) startCheckers(n *simNode) {
	n.checkerEpoch++
	for i, name := range n.resNames {
		var delay int64
		kind, _, _ := strings.Cut(name, ".")
		if kind != "intf" && kind != "ip" {
			delay = s.pulseMs
			if k := slices.IndexFunc(s.fc.module.Checks, func(c config.Check) bool { return c.Resource() == name }); k >= 0 {
				delay = max(durMs(s.fc.module.Checks[k].Interval), 1)
			}
		}
		s.q.push(event{atMs: s.nowMs + delay, kind: evResource, to: int16(n.idx), gen: n.gen, id: uint64(n.checkerEpoch)<<32 | uint64(i)})
	}
}

// setResource applies a `resource N NAME up|down` step: the verdict sticks,
// and a running node hears it at once.
func (s *Sim) setResource(n *simNode, names []string, v core.ResourceState) {
	for _, name := range names {
		n.resOverride[name] = v
		if !n.up || n.state == core.StateStop {
			continue
		}
		if i := slices.Index(n.resNames, name); i >= 0 {
			s.q.push(event{atMs: s.nowMs, kind: evResource, to: int16(n.idx), gen: n.gen, id: uint64(n.checkerEpoch)<<32 | uint64(i)})
		}
	}
	s.change(invariant.Verdict, n.idx)
}
