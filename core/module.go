package core

import (
	"fmt"

	"github.com/vipfarm/vipfarm/core/config"
)

// phase is where the module's life cycle stands.
type phase uint8

const (
	phaseIdle     phase = iota // STOP ready, UP ready, or WAIT held by a rule
	phaseInitWait              // a start waits (WAIT transient) for its resources to leave init
	phaseRunning               // a sequence of steps (scripts, VIP, membership) is under way
)

// target is where the running sequence leads.
type target uint8

const (
	toNone      target = iota
	toUp               // start
	toStop             // stop
	toWait             // wait (failover rule or checker)
	toRestart          // restart: stop_both + start_both, buckets kept
	toStopStart        // stop then start again
)

// pending is a command that arrived while a sequence was running. A stop
// (or wait, or stopstart) replaces what is left of the sequence as soon as
// the current step ends — a script is never cut short for it; a start waits
// until the sequence has ended.
type pending struct {
	to     target // toNone: nothing pending
	rule   string // toWait: the rule holding the module
	action string // script action argument (stop, stopwait, stopstart)
}

// module is the SafeKit farm module life cycle of one node: states STOP,
// WAIT and UP, the start and stop sequences with their scripts, the
// failover rules and maxloop. Time enters only through tick.
type module struct {
	cfg *Config
	out *Ready

	scripts        bool // <user> present: scripts run
	vip            bool // <vip> present: there is a VIP to open and close
	niceStopTicks  int64
	forceStopTicks int64

	res  *resources
	fo   *failover
	loop maxLoop
	boot bool

	// What the module shows.
	state State
	ready bool
	rule  string

	// What has physically been done; every sequence is built from it, so a
	// sequence cut short by a stop never undoes what was not done, nor twice.
	member       bool // this node should hold its buckets
	appStarted   bool // start_both was launched and stop_both has not been since
	vipOpen      bool
	needPoststop bool // a start ran prestart and poststop has not run since

	phase   phase
	target  target
	plan    []step
	pending pending
	// startFrom and startAction are the script arguments of the start in progress.
	startFrom   State
	startAction string

	script       *runningScript
	nextScriptID uint64
	waitDrain    bool  // waiting for the membership to report no bucket held
	vipAt        int64 // tick of the last VIP change: the next step waits for a later tick
}

func newModule(cfg *Config, out *Ready) (*module, error) {
	mod := cfg.Module
	if mod.Service.MaxLoop < 0 {
		return nil, fmt.Errorf("core: module %s: maxloop %d is negative", mod.Name, mod.Service.MaxLoop)
	}
	m := &module{
		cfg:     cfg,
		out:     out,
		scripts: mod.User != nil,
		vip:     mod.VIP != nil,
		res:     newResources(mod.Resources()),
		boot:    mod.Service.Boot == config.BootOn,
		state:   StateStop,
		ready:   true,
		vipAt:   -1,
		loop: maxLoop{
			max:         mod.Service.MaxLoop,
			windowTicks: durationTicks(mod.Service.LoopInterval, cfg.TickMs),
		},
	}
	if mod.User != nil {
		m.niceStopTicks = durationTicks(mod.User.NiceStopTimeout, cfg.TickMs)
		m.forceStopTicks = durationTicks(mod.User.ForceStopTimeout, cfg.TickMs)
	}
	var err error
	if m.fo, err = newFailover(cfg, m.res); err != nil {
		return nil, err
	}
	return m, nil
}

// tick advances the module's timers: stop-script timeouts, the failover
// period, and the step that waits for a VIP change to be carried out.
func (m *module) tick(now int64) {
	m.checkScriptTimeout(now)
	if now%m.fo.periodTicks == 0 {
		if r := m.fo.evaluate(now, m.res, m.canAct); r != nil {
			m.fireRule(now, r)
		}
	}
	m.run(now)
}

// step handles Boot, Command, ScriptDone and ResourceEvent. An error leaves
// the module unchanged.
func (m *module) step(now int64, ev Event) error {
	switch ev := ev.(type) {
	case Boot:
		if m.boot {
			m.logf(LogInfo, "Action start called by boot")
			m.request(now, actStart, "")
		}
		return nil
	case Command:
		return m.command(now, ev)
	case ScriptDone:
		return m.scriptDone(now, ev)
	case ResourceEvent:
		return m.resourceEvent(now, ev)
	}
	// Not formatting ev keeps it from escaping: a heap copy per received
	// heartbeat would cost the simulator a tenth of its speed.
	return fmt.Errorf("core: module %s: unexpected event", m.cfg.Module.Name)
}

// command carries out an administrator's (Ident == "") or an identified
// caller's action.
func (m *module) command(now int64, c Command) error {
	var a action
	switch c.Verb {
	case VerbBootOn, VerbBootOff:
		m.boot = c.Verb == VerbBootOn
		if m.boot {
			m.logf(LogInfo, "Boot on")
		} else {
			m.logf(LogInfo, "Boot off")
		}
		return nil
	case VerbStart:
		a = actStart
	case VerbStop:
		a = actStop
	case VerbRestart:
		a = actRestart
	case VerbStopStart:
		a = actStopStart
	default:
		return fmt.Errorf("core: module %s: unknown command verb %d", m.cfg.Module.Name, c.Verb)
	}
	who := c.Ident
	if who == "" {
		who = "admin"
		m.loop.reset()
	} else if !m.loop.allow(now) {
		m.maxloopStop(now)
		return nil
	}
	m.logf(LogInfo, "Action %s called by %s", a, who)
	m.request(now, a, "")
	return nil
}

// resourceEvent records a checker's verdict, then lets the failover rules
// and checker actions react.
func (m *module) resourceEvent(now int64, ev ResourceEvent) error {
	i, ok := m.res.lookup(ev.Name)
	if !ok {
		return fmt.Errorf("core: module %s: unknown resource %q (published: %v)", m.cfg.Module.Name, ev.Name, m.res.names)
	}
	if ev.State > ResUnknown {
		return fmt.Errorf("core: module %s: resource %s: invalid value %d", m.cfg.Module.Name, ev.Name, ev.State)
	}
	if m.res.states[i] != ev.State {
		m.res.states[i] = ev.State
		m.logf(LogInfo, "Resource %s set to %s", ev.Name, ev.State)
		m.fo.breakHolds(m.res)
	}
	if m.phase == phaseInitWait && !m.fo.initPending(m.res) {
		m.continueStart(now)
		m.run(now)
		return nil
	}
	if ev.State == ResDown {
		// A checker's own action acts at each down report, not through the
		// failover period: it is the checker that decided.
		for k := range m.fo.rules {
			r := &m.fo.rules[k]
			if r.checker && r.resource == i && m.canAct(r.action) {
				m.fireRule(now, r)
				break
			}
		}
	}
	return nil
}

// canAct says whether a rule's action can act in the module's present
// state: a running application (UP ready) can be stopped, restarted or put
// to wait; a module held in WAIT can be woken up or stopped.
func (m *module) canAct(a action) bool {
	if m.phase != phaseIdle {
		return false
	}
	switch {
	case m.state == StateUp && m.ready:
		return a == actStop || a == actStopStart || a == actRestart || a == actWait
	case m.state == StateWait && m.rule != "":
		return a == actWakeup || a == actStop
	}
	return false
}

// fireRule carries out a failover rule's or checker's action.
func (m *module) fireRule(now int64, r *rule) {
	if r.action == actWakeup {
		m.logf(LogInfo, "Action wakeup called by %s", r.label)
		m.beginStart(now, m.state, "start")
		m.run(now)
		return
	}
	if !m.loop.allow(now) {
		m.maxloopStop(now)
		return
	}
	m.logf(LogInfo, "Action %s called by %s", r.action, r.label)
	m.request(now, r.action, r.label)
}

// maxloopStop stops a module whose identified actions exceeded maxloop.
func (m *module) maxloopStop(now int64) {
	m.logf(LogError, "Action stop called by maxloop")
	m.request(now, actStop, "")
}

// request starts the sequence of action a, or records it as pending when
// a sequence is running. rule names the rule of a wait.
func (m *module) request(now int64, a action, rule string) {
	switch m.phase {
	case phaseIdle:
		m.requestIdle(now, a, rule)
	case phaseInitWait:
		// Nothing has run yet: a stop just ends the wait; anything else is
		// already what is happening.
		if a == actStop {
			m.phase = phaseIdle
			m.target = toNone
			m.setState(StateStop, true, "")
		}
	case phaseRunning:
		m.requestRunning(a, rule)
	}
	m.run(now)
}

func (m *module) requestIdle(now int64, a action, rule string) {
	upReady := m.state == StateUp && m.ready
	switch a {
	case actStart:
		if !upReady {
			m.beginStart(now, m.state, "start")
		}
	case actStopStart:
		if upReady {
			m.beginStop(toStopStart, "", "stopstart")
		} else {
			m.beginStart(now, m.state, "start")
		}
	case actStop:
		if m.state != StateStop {
			m.beginStop(toStop, "", "stop")
		}
	case actWait:
		if upReady {
			m.beginStop(toWait, rule, "stopwait")
		}
	case actRestart:
		if upReady {
			m.beginRestart()
		} else {
			m.logf(LogInfo, "Action restart ignored: module is %s", m.state)
		}
	}
}

func (m *module) requestRunning(a action, rule string) {
	switch a {
	case actStop:
		if m.target == toStop {
			m.pending = pending{} // a start asked meanwhile is cancelled too
		} else {
			m.pending = pending{to: toStop, action: "stop"}
		}
	case actWait:
		if m.target != toStop && m.target != toWait {
			m.pending = pending{to: toWait, rule: rule, action: "stopwait"}
		}
	case actStopStart:
		switch m.target {
		case toStop, toWait:
			m.pending = pending{to: toUp}
		case toUp, toRestart:
			m.pending = pending{to: toStopStart, action: "stopstart"}
		}
	case actStart:
		if m.target == toStop || m.target == toWait {
			m.pending = pending{to: toUp}
		}
	case actRestart:
		m.logf(LogInfo, "Action restart ignored: module is %s %s", m.state, readiness(m.state, m.ready, m.rule))
	}
}

// local is what the membership must know of the module.
func (m *module) local() Local {
	return Local{State: m.state, Ready: m.ready, Member: m.member}
}

// setDrained tells the module whether the node holds no bucket any more; it
// returns true when that changed the module (so local() may have changed).
// A stop waits for it after leaving the farm, so its buckets are handed over
// before its application stops (release before acquire).
func (m *module) setDrained(now int64, drained bool) bool {
	if !m.waitDrain || !drained {
		return false
	}
	m.waitDrain = false
	m.run(now)
	return true
}

// status fills the module's part of a Status.
func (m *module) status(s *Status) {
	s.State = m.state
	s.Ready = m.ready
	s.Rule = m.rule
	s.Boot = m.boot
	s.Resources = m.res.snapshot()
}

// setState shows a new state, with a StateChange and a log line when it
// differs from the present one.
func (m *module) setState(st State, ready bool, rule string) {
	if st == m.state && ready == m.ready && rule == m.rule {
		return
	}
	m.state, m.ready, m.rule = st, ready, rule
	m.fo.resetHolds()
	m.out.States = append(m.out.States, StateChange{State: st, Ready: ready, Rule: rule})
	if rule != "" {
		m.logf(LogInfo, "Local state %s %s (%s)", st, readiness(st, ready, rule), rule)
	} else {
		m.logf(LogInfo, "Local state %s %s", st, readiness(st, ready, rule))
	}
}

// readiness is the word the module log uses for a state's readiness.
func readiness(st State, ready bool, rule string) string {
	switch {
	case ready:
		return "Ready"
	case st == StateWait && rule != "":
		return "NotReady"
	}
	return "Transient"
}

func (m *module) logf(level LogLevel, format string, args ...any) {
	m.out.Logs = append(m.out.Logs, LogLine{Level: level, Text: fmt.Sprintf(format, args...)})
}
