package core

import (
	"fmt"
	"strings"

	"github.com/vipfarm/vipfarm/core/config"
)

// action is what a command, a failover rule or a checker asks of a module.
type action uint8

const (
	actStart action = iota + 1
	actStop
	actRestart
	actStopStart
	actWait
	actWakeup
)

func (a action) String() string {
	switch a {
	case actStart:
		return "start"
	case actStop:
		return "stop"
	case actRestart:
		return "restart"
	case actStopStart:
		return "stopstart"
	case actWait:
		return "wait"
	case actWakeup:
		return "wakeup"
	}
	return "?"
}

// parseAction reads a rule's or checker's action name.
func parseAction(s string) (action, error) {
	switch s {
	case "stop":
		return actStop, nil
	case "restart":
		return actRestart, nil
	case "stopstart":
		return actStopStart, nil
	case "wait":
		return actWait, nil
	case "wakeup":
		return actWakeup, nil
	}
	return 0, fmt.Errorf("action %q is not stop, stopstart, wait, restart or wakeup", s)
}

// implicitWakeup is SafeKit's name for the built-in rule that starts a
// module held in WAIT once no wait rule holds any more.
const implicitWakeup = "Implicit_wakeup"

// rule is one failover rule, or a checker's own action, ready to evaluate.
type rule struct {
	label  string
	cond   config.Expr // nil only for a wakeup rule (then: no wait rule holds)
	action action
	// checker marks a checker's own action (<check action=...>): it acts on
	// the checker's down report at once, without period or handle_time.
	checker  bool
	resource int   // checker rule: index of its resource
	since    int64 // tick of the first evaluation since which cond held; -1 = not holding
}

// failover evaluates a module's failover rules (SafeKit's failover
// machine): every period it evaluates each rule that can act in the
// module's present state; a rule fires once its condition has held at every
// evaluation for handle_time. Resource changes between two evaluations
// break a hold at once, so "held" means held continuously.
type failover struct {
	rules       []rule
	periodTicks int64
	handleTicks int64
	// initHold lists the resources the wait rules read: a start waits (WAIT
	// transient) while any of them is still init, since the module cannot
	// yet know whether it should be waiting.
	initHold []int
}

func newFailover(cfg *Config, res *resources) (*failover, error) {
	mod := cfg.Module
	f := &failover{
		periodTicks: durationTicks(mod.Failover.Period, cfg.TickMs),
		handleTicks: durationTicks(mod.Failover.HandleTime, cfg.TickMs),
	}
	hasWakeup := false
	for _, fr := range mod.Failover.Rules {
		a, err := parseAction(fr.Action)
		if err != nil {
			return nil, fmt.Errorf("core: failover rule %q (line %d): %w", fr.Label, fr.Line, err)
		}
		if fr.Cond == nil && a != actWakeup {
			return nil, fmt.Errorf("core: failover rule %q (line %d) has no condition", fr.Label, fr.Line)
		}
		if fr.Cond != nil {
			if err := checkExpr(fr.Cond); err != nil {
				return nil, fmt.Errorf("core: failover rule %q (line %d): %w", fr.Label, fr.Line, err)
			}
		}
		if a == actWakeup {
			if hasWakeup {
				continue // one wake-up is enough: the first one names it
			}
			hasWakeup = true
		}
		f.rules = append(f.rules, rule{label: fr.Label, cond: fr.Cond, action: a, since: -1})
	}
	for _, c := range mod.Checks {
		if c.Action == "" {
			continue
		}
		a, err := parseAction(c.Action)
		if err != nil || a == actWakeup {
			if err == nil {
				err = fmt.Errorf("action %q is not stop, stopstart, wait or restart", c.Action)
			}
			return nil, fmt.Errorf("core: check %s (line %d): %w", c.Resource(), c.Line, err)
		}
		i, ok := res.lookup(c.Resource())
		if !ok {
			return nil, fmt.Errorf("core: check %s (line %d) publishes no resource", c.Resource(), c.Line)
		}
		f.rules = append(f.rules, rule{label: c.Resource(), action: a, checker: true, resource: i, since: -1})
	}
	if !hasWakeup {
		// Implicit, as in SafeKit: a WAIT module always wakes up by itself.
		f.rules = append(f.rules, rule{label: implicitWakeup, action: actWakeup, since: -1})
	}
	seen := make([]bool, len(res.names))
	for _, r := range f.rules {
		if r.action != actWait {
			continue
		}
		var idx []int
		if r.checker {
			idx = []int{r.resource}
		} else {
			idx = exprResources(r.cond, res)
		}
		for _, i := range idx {
			if !seen[i] {
				seen[i] = true
				f.initHold = append(f.initHold, i)
			}
		}
	}
	return f, nil
}

// checkExpr rejects a condition the evaluator could not read.
func checkExpr(e config.Expr) error {
	switch e := derefExpr(e).(type) {
	case config.Cmp:
		if e.Resource == "" {
			return fmt.Errorf("comparison without a resource")
		}
		if _, err := parseResourceState(e.Value); err != nil {
			return fmt.Errorf("%s: %w", e.Resource, err)
		}
		return nil
	case config.Not:
		return checkExpr(e.X)
	case config.And:
		if err := checkExpr(e.L); err != nil {
			return err
		}
		return checkExpr(e.R)
	case config.Or:
		if err := checkExpr(e.L); err != nil {
			return err
		}
		return checkExpr(e.R)
	case nil:
		return fmt.Errorf("empty expression")
	}
	return fmt.Errorf("unknown expression %T", e)
}

// derefExpr accepts the expression nodes by pointer too (both implement
// config.Expr), so the evaluator does not depend on how the parser builds
// its tree. A nil pointer becomes a nil Expr.
func derefExpr(e config.Expr) config.Expr {
	switch p := e.(type) {
	case *config.Cmp:
		if p != nil {
			return *p
		}
		return nil
	case *config.Not:
		if p != nil {
			return *p
		}
		return nil
	case *config.And:
		if p != nil {
			return *p
		}
		return nil
	case *config.Or:
		if p != nil {
			return *p
		}
		return nil
	}
	return e
}

// splitPattern reads a Cmp resource: "intf.?" → ("intf", '?'),
// "ip.*" → ("ip", '*'), "custom.x" → ("custom.x", 0).
func splitPattern(p string) (string, byte) {
	if k, ok := strings.CutSuffix(p, ".?"); ok {
		return k, '?'
	}
	if k, ok := strings.CutSuffix(p, ".*"); ok {
		return k, '*'
	}
	return p, 0
}

// exprResources lists, without order guarantees beyond determinism, the
// resources a condition reads.
func exprResources(e config.Expr, res *resources) []int {
	switch e := derefExpr(e).(type) {
	case config.Cmp:
		name, wild := splitPattern(e.Resource)
		if wild != 0 {
			return res.ofKind(name)
		}
		if i, ok := res.lookup(name); ok {
			return []int{i}
		}
	case config.Not:
		return exprResources(e.X, res)
	case config.And:
		return append(exprResources(e.L, res), exprResources(e.R, res)...)
	case config.Or:
		return append(exprResources(e.L, res), exprResources(e.R, res)...)
	}
	return nil
}

// eval evaluates a checked condition. A wildcard over a kind with no
// resource is false for both "?" (no resource matches) and "*" (nothing to
// be true of); so is a resource the module does not publish.
func eval(e config.Expr, res *resources) bool {
	switch e := derefExpr(e).(type) {
	case config.Cmp:
		want, _ := parseResourceState(e.Value)
		match := func(i int) bool { return (res.states[i] == want) != e.Neg }
		name, wild := splitPattern(e.Resource)
		switch wild {
		case '?':
			for _, i := range res.ofKind(name) {
				if match(i) {
					return true
				}
			}
			return false
		case '*':
			idx := res.ofKind(name)
			for _, i := range idx {
				if !match(i) {
					return false
				}
			}
			return len(idx) > 0
		}
		i, ok := res.lookup(name)
		return ok && match(i)
	case config.Not:
		return !eval(e.X, res)
	case config.And:
		return eval(e.L, res) && eval(e.R, res)
	case config.Or:
		return eval(e.L, res) || eval(e.R, res)
	}
	return false
}

// holds reports whether a rule's condition is true now.
func (f *failover) holds(r *rule, res *resources) bool {
	switch {
	case r.checker:
		return res.states[r.resource] == ResDown
	case r.action == actWakeup:
		return f.waiting(res) == "" && (r.cond == nil || eval(r.cond, res))
	}
	return eval(r.cond, res)
}

// waiting returns the label of the first wait rule (configured or a
// checker's) whose condition holds, or "".
func (f *failover) waiting(res *resources) string {
	for i := range f.rules {
		r := &f.rules[i]
		if r.action == actWait && f.holds(r, res) {
			return r.label
		}
	}
	return ""
}

// initPending reports whether a resource the wait rules read is still init.
func (f *failover) initPending(res *resources) bool {
	for _, i := range f.initHold {
		if res.states[i] == ResInit {
			return true
		}
	}
	return false
}

// resetHolds forgets every hold: the module changed state, and a hold only
// counts while the module could act on it.
func (f *failover) resetHolds() {
	for i := range f.rules {
		f.rules[i].since = -1
	}
}

// breakHolds ends the holds whose condition stopped holding (called on every
// resource change, so a hold is continuous, not sampled).
func (f *failover) breakHolds(res *resources) {
	for i := range f.rules {
		r := &f.rules[i]
		if r.since >= 0 && !f.holds(r, res) {
			r.since = -1
		}
	}
}

// evaluate runs one period of the failover machine and returns the rule to
// fire, or nil. can says whether an action may act in the module's state.
func (f *failover) evaluate(now int64, res *resources, can func(action) bool) *rule {
	var fire *rule
	for i := range f.rules {
		r := &f.rules[i]
		if r.checker || !can(r.action) || !f.holds(r, res) {
			r.since = -1
			continue
		}
		if r.since < 0 {
			r.since = now
		}
		if fire == nil && now-r.since >= f.handleTicks {
			fire = r
		}
	}
	if fire != nil {
		fire.since = -1 // a condition still true afterwards must hold again
	}
	return fire
}
