package core

import "fmt"

// stepKind is one kind of step of a start or stop sequence.
type stepKind uint8

const (
	stepState  stepKind = iota // show a state
	stepLeave                  // Member=false, then wait for the membership to report drained
	stepScript                 // run a script and wait for its end
	stepVIP                    // open or close the VIP, then let a tick pass
	stepJoin                   // Member=true: the membership gives this node its buckets
	stepStart                  // start again (the second half of a stopstart)
)

// step is one step of a sequence.
type step struct {
	kind  stepKind
	state State // stepState
	ready bool  // stepState
	rule  string
	name  string    // stepScript
	args  [3]string // stepScript
	open  bool      // stepVIP
}

// runningScript is the one script the module is running.
type runningScript struct {
	id        uint64
	name      string
	args      [3]string
	startedAt int64
	forced    bool // the run with "force" after a nice stop timed out
	killed    bool // a Kill was emitted; the sequence waits for its ScriptDone
}

// beginStart starts the module from STOP or WAIT: it first waits (WAIT
// transient) while a resource the wait rules read is still init.
func (m *module) beginStart(now int64, from State, act string) {
	m.pending = pending{}
	m.startFrom, m.startAction = from, act
	if m.fo.initPending(m.res) {
		m.phase = phaseInitWait
		m.target = toUp
		m.setState(StateWait, false, "")
		return
	}
	m.continueStart(now)
}

// continueStart goes on with a start whose resources are known: straight to
// WAIT when a wait rule already holds (nothing to start, nothing to stop),
// otherwise through prestart, VIP, start_both to UP ready and into the farm.
func (m *module) continueStart(now int64) {
	if r := m.fo.waiting(m.res); r != "" {
		m.phase = phaseIdle
		m.target = toNone
		m.setState(StateWait, false, r)
		return
	}
	from, act := m.startFrom.String(), m.startAction
	m.phase = phaseRunning
	m.target = toUp
	m.plan = append(m.plan[:0],
		step{kind: stepState, state: StateUp},
		step{kind: stepScript, name: "prestart", args: [3]string{from, "UP", act}},
		step{kind: stepVIP, open: true},
		step{kind: stepScript, name: "start_both", args: [3]string{from, "UP", act}},
		step{kind: stepState, state: StateUp, ready: true},
		step{kind: stepJoin},
	)
}

// beginStop builds the stop sequence to STOP (to == toStop or toStopStart)
// or to WAIT (to == toWait) from what has physically been done: leave the
// farm and wait until drained, stop_both, close the VIP, poststop.
func (m *module) beginStop(to target, rule, act string) {
	m.pending = pending{}
	next := StateStop
	if to == toWait {
		next = StateWait
	}
	cur, nx := m.state.String(), next.String()
	m.phase = phaseRunning
	m.target = to
	m.plan = m.plan[:0]
	if m.member || m.appStarted || m.vipOpen || m.needPoststop {
		m.plan = append(m.plan, step{kind: stepState, state: m.state})
	}
	if m.member {
		m.plan = append(m.plan, step{kind: stepLeave})
	}
	if m.appStarted {
		m.plan = append(m.plan, step{kind: stepScript, name: "stop_both", args: [3]string{cur, nx, act}})
	}
	if m.vipOpen {
		m.plan = append(m.plan, step{kind: stepVIP, open: false})
	}
	if m.needPoststop {
		m.plan = append(m.plan, step{kind: stepScript, name: "poststop", args: [3]string{cur, nx, act}})
	}
	switch to {
	case toWait:
		m.plan = append(m.plan, step{kind: stepState, state: StateWait, rule: rule})
	case toStopStart:
		m.plan = append(m.plan, step{kind: stepState, state: StateStop}, step{kind: stepStart})
	default:
		m.plan = append(m.plan, step{kind: stepState, state: StateStop, ready: true})
	}
}

// beginRestart restarts the application on this node only: stop_both then
// start_both, with the VIP open and the buckets kept throughout (INV-5).
func (m *module) beginRestart() {
	m.pending = pending{}
	m.phase = phaseRunning
	m.target = toRestart
	m.plan = append(m.plan[:0],
		step{kind: stepState, state: StateUp},
		step{kind: stepScript, name: "stop_both", args: [3]string{"UP", "UP", "restart"}},
		step{kind: stepScript, name: "start_both", args: [3]string{"UP", "UP", "restart"}},
		step{kind: stepState, state: StateUp, ready: true},
	)
}

// run executes steps until one has to wait (a script, the drain, a VIP
// change) or the sequence ends.
func (m *module) run(now int64) {
	for m.phase == phaseRunning {
		if m.script != nil || m.waitDrain || now <= m.vipAt {
			return
		}
		if p := m.pending; p.to != toNone && p.to != toUp {
			m.beginStop(p.to, p.rule, p.action)
			continue
		}
		if len(m.plan) == 0 {
			m.phase = phaseIdle
			m.target = toNone
			if m.pending.to == toUp {
				m.beginStart(now, m.state, "start")
			}
			continue
		}
		st := m.plan[0]
		m.plan = m.plan[1:]
		m.exec(now, st)
	}
}

// exec carries out one step.
func (m *module) exec(now int64, st step) {
	switch st.kind {
	case stepState:
		m.setState(st.state, st.ready, st.rule)
	case stepLeave:
		if m.member {
			m.member = false
			m.waitDrain = true
		}
	case stepScript:
		switch st.name {
		case "prestart":
			m.needPoststop = true
		case "start_both":
			m.appStarted = true
		case "stop_both":
			m.appStarted = false
		case "poststop":
			m.needPoststop = false
		}
		m.launch(now, st.name, st.args, false)
	case stepVIP:
		m.vipOpen = st.open
		if m.vip {
			open := st.open
			m.out.VIP = &open
			// Ready lists scripts before the VIP, so the next script must
			// wait for a later tick to run after the VIP change, not before.
			m.vipAt = now
		}
	case stepJoin:
		m.member = true
	case stepStart:
		m.logf(LogInfo, "Action start called automatically")
		m.phase = phaseIdle
		m.beginStart(now, StateStop, "stopstart")
	}
}

// launch asks the driver to run a script. Without <user> no script runs and
// the step succeeds at once.
func (m *module) launch(now int64, name string, args [3]string, forced bool) {
	if !m.scripts {
		return
	}
	m.nextScriptID++
	m.script = &runningScript{id: m.nextScriptID, name: name, args: args, startedAt: now, forced: forced}
	m.out.Scripts = append(m.out.Scripts, ScriptRun{ID: m.nextScriptID, Name: name, Args: args})
}

// isStopScript reports whether a script is bound by nicestoptimeout.
func isStopScript(name string) bool { return name == "stop_both" || name == "poststop" }

// checkScriptTimeout kills a stop script that ran too long: after
// nicestoptimeout it is killed and run again with "force"; a forced run
// beyond forcestoptimeout is killed and the sequence goes on. In both cases
// the module waits for the killed script's ScriptDone before it runs
// anything else, so two scripts never run at once.
func (m *module) checkScriptTimeout(now int64) {
	s := m.script
	if s == nil || s.killed || !isStopScript(s.name) {
		return
	}
	limit, what := m.niceStopTicks, "nicestoptimeout"
	if s.forced {
		limit, what = m.forceStopTicks, "forcestoptimeout"
	}
	if now-s.startedAt < limit {
		return
	}
	s.killed = true
	m.out.Kills = append(m.out.Kills, s.id)
	m.logf(LogError, "%s %s %s %s exceeded %s: killed", s.name, s.args[0], s.args[1], s.args[2], what)
}

// scriptDone handles the end of the running script. An id that is not the
// running script's is an error and changes nothing.
func (m *module) scriptDone(now int64, ev ScriptDone) error {
	s := m.script
	if s == nil || s.id != ev.ID {
		if s == nil {
			return fmt.Errorf("core: module %s: script done for id %d, but no script is running", m.cfg.Module.Name, ev.ID)
		}
		return fmt.Errorf("core: module %s: script done for id %d, but the running script is %s (id %d)", m.cfg.Module.Name, ev.ID, s.name, s.id)
	}
	m.script = nil
	ok := ev.ExitCode == 0 && !ev.Killed
	switch {
	case ok:
	case s.killed && !s.forced:
		m.logf(LogInfo, "%s: running again with force", s.name)
		m.launch(now, s.name, [3]string{"force", s.args[1], s.args[2]}, true)
		return nil
	case s.killed:
		m.logf(LogError, "%s force %s %s killed: going on", s.name, s.args[1], s.args[2])
	case s.name == "prestart" || s.name == "start_both":
		m.startFailed(now, s, ev)
	default:
		m.logf(LogError, "%s %s %s %s failed (%s): going on", s.name, s.args[0], s.args[1], s.args[2], exitText(ev))
	}
	m.run(now)
	return nil
}

// startFailed stops a module whose prestart or start_both failed. The
// shipped start_both itself calls `safekit stop -i start_both` before
// exiting 1; that stop is then already pending and is not asked twice.
func (m *module) startFailed(now int64, s *runningScript, ev ScriptDone) {
	m.logf(LogError, "%s failed", s.name)
	m.logf(LogError, "%s %s %s %s: %s", s.name, s.args[0], s.args[1], s.args[2], exitText(ev))
	if m.pending.to == toStop {
		return
	}
	if !m.loop.allow(now) {
		m.logf(LogError, "Action stop called by maxloop")
	} else {
		m.logf(LogInfo, "Action stop called by %s", s.name)
	}
	m.pending = pending{to: toStop, action: "stop"}
}

func exitText(ev ScriptDone) string {
	if ev.Killed {
		return "killed by a signal"
	}
	return fmt.Sprintf("exit code %d", ev.ExitCode)
}
