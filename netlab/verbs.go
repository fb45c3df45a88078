package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/sim"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// Do carries out one scenario step verb (the `do:` of SPEC §6) on the lab,
// and returns the disturbance it is for the invariant checkers:
//
//	start|stop|restart|stopstart N   the module on N (start first boots a crashed N)
//	crash N                          Crash: every process of N killed, its cables pulled
//	reboot N                         crash then boot (the module starts if boot="on")
//	isolate A,B|C                    partition every LAN between the groups
//	heal                             remove every partition and cut
//	cut LAN                          no frame crosses between any two nodes on LAN
//	cut LAN A,B|C                    partition LAN between the groups
//	cut LAN N                        pull N's cable on LAN (carrier loss)
//	restore LAN                      undo the cuts of LAN
//	loss LAN PCT                     drop PCT% of LAN's frames (0 stops)
//	delay LAN DURATION               delay LAN's frames (needs sch_netem)
//	resource N NAME up|down          a checker verdict, through farmctl set
//	fail-script N SCRIPT [EXIT]      N's next run of SCRIPT exits EXIT (default 1)
func (l *Lab) Do(ctx context.Context, step string) (invariant.Change, error) {
	f := strings.Fields(step)
	if len(f) == 0 {
		return invariant.Change{}, fmt.Errorf("lab: empty step")
	}
	verb, args := f[0], f[1:]
	bad := func(usage string) (invariant.Change, error) {
		return invariant.Change{}, fmt.Errorf("lab: step %q: usage: %s", step, usage)
	}
	ch := invariant.Change{Node: -1}
	var err error
	switch verb {
	case "start", "stop", "restart", "stopstart":
		if len(args) != 1 {
			return bad(verb + " NODE")
		}
		if ch.Node, err = l.nodeIndex(args[0]); err != nil {
			return ch, err
		}
		ch.Kind = map[string]invariant.Kind{"start": invariant.Join, "stop": invariant.Leave,
			"restart": invariant.Restart, "stopstart": invariant.Other}[verb]
		if verb == "start" {
			if err = l.bootIfCrashed(ctx, args[0]); err != nil {
				return ch, err
			}
		}
		err = l.ModuleAction(ctx, args[0], verb)
	case "crash", "reboot":
		if len(args) != 1 {
			return bad(verb + " NODE")
		}
		if ch.Node, err = l.nodeIndex(args[0]); err != nil {
			return ch, err
		}
		ch.Kind = invariant.Crash
		if err = l.Crash(args[0]); err == nil && verb == "reboot" {
			ch.Kind = invariant.Boot
			err = l.Boot(args[0])
		}
	case "isolate":
		if len(args) != 1 {
			return bad("isolate A,B|C")
		}
		var groups [][]string
		if groups, err = parseSides(args[0]); err != nil {
			return ch, err
		}
		ch.Kind = invariant.Fault
		err = l.Isolate(groups...)
	case "heal":
		if len(args) != 0 {
			return bad("heal")
		}
		ch.Kind = invariant.Heal
		err = l.HealAll()
	case "cut":
		if len(args) != 1 && len(args) != 2 {
			return bad("cut LAN [A,B|C | NODE]")
		}
		ch.Kind = invariant.Fault
		switch {
		case len(args) == 1:
			var each [][]string
			for _, n := range l.Plan.Nodes {
				each = append(each, []string{n.Name})
			}
			err = l.Partition(args[0], each...)
		case strings.Contains(args[1], "|"):
			var groups [][]string
			if groups, err = parseSides(args[1]); err == nil {
				err = l.Partition(args[0], groups...)
			}
		default:
			err = l.Cut(args[0], args[1])
		}
	case "restore":
		if len(args) != 1 {
			return bad("restore LAN")
		}
		ch.Kind = invariant.Heal
		err = l.Heal(args[0])
		for _, c := range l.State().Cuts {
			if err == nil && c.LAN == args[0] {
				err = l.Restore(c.LAN, c.Node)
			}
		}
	case "loss":
		if len(args) != 2 {
			return bad("loss LAN PCT")
		}
		pct, perr := strconv.ParseFloat(strings.TrimSuffix(args[1], "%"), 64)
		if perr != nil {
			return ch, fmt.Errorf("lab: step %q: loss %q is not a number", step, args[1])
		}
		ch.Kind = invariant.Fault
		if pct == 0 {
			ch.Kind = invariant.Heal
		}
		err = l.SetLoss(args[0], pct)
	case "delay":
		if len(args) != 2 {
			return bad("delay LAN DURATION")
		}
		d, perr := time.ParseDuration(args[1])
		if perr != nil {
			return ch, fmt.Errorf("lab: step %q: delay %q: %v", step, args[1], perr)
		}
		ch.Kind = invariant.Fault
		if d == 0 {
			ch.Kind = invariant.Heal
		}
		err = l.SetDelay(args[0], d)
	case "resource":
		if len(args) != 3 || (args[2] != "up" && args[2] != "down") {
			return bad("resource NODE NAME up|down")
		}
		if ch.Node, err = l.nodeIndex(args[0]); err != nil {
			return ch, err
		}
		ch.Kind = invariant.Verdict
		var names []string
		if names, err = l.resources(ctx, args[0], args[1]); err != nil {
			return ch, err
		}
		for _, r := range names {
			if err = l.Farmctl(ctx, args[0], "-m", l.Plan.Spec.Module, "set", "-r", r, "-v", args[2]); err != nil {
				break
			}
		}
	case "fail-script":
		a, perr := sim.ParseAction(step)
		if perr != nil {
			return ch, fmt.Errorf("lab: step %q: %w", step, perr)
		}
		if ch.Node, err = l.nodeIndex(a.Node); err != nil {
			return ch, err
		}
		// Arming a script changes nothing yet; its run will, through the
		// command that runs it (which is a change of its own).
		ch.Kind = invariant.Other
		err = l.FailScript(a.Node, a.Script, a.Exit)
	default:
		return ch, fmt.Errorf("lab: step %q: unknown verb %q", step, verb)
	}
	if err != nil {
		return ch, err
	}
	st := l.State()
	ch.NetFaulty = len(st.Cuts) > 0 || len(st.LANFaults) > 0
	return ch, nil
}

func (l *Lab) nodeIndex(name string) (int, error) {
	for i, n := range l.Plan.Nodes {
		if n.Name == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("lab: no node called %q", name)
}

// parseSides reads "A,B|C" into groups, each node in one group at most.
func parseSides(s string) ([][]string, error) {
	var out [][]string
	for side := range strings.SplitSeq(s, "|") {
		if side == "" {
			return nil, fmt.Errorf("lab: sides %q: an empty side", s)
		}
		out = append(out, strings.Split(side, ","))
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("lab: sides %q: want at least two groups separated by '|'", s)
	}
	return out, nil
}

// bootIfCrashed boots a crashed node (cables in, farmd started) and waits
// for its admin server, so that `start N` after `crash N` works as the
// simulator's does.
func (l *Lab) bootIfCrashed(ctx context.Context, node string) error {
	n, _ := l.Plan.NodeByName(node)
	if _, ok := l.FarmdArgv(node); !ok {
		return nil // the lab runs no farmd
	}
	for _, pr := range l.State().Procs {
		if pr.NS == n.NS && strings.HasPrefix(pr.Role, "farmd ") && alive(pr.PID, pr.StartTicks) {
			return nil
		}
	}
	if err := l.Boot(node); err != nil {
		return err
	}
	return l.waitAdmin(ctx, n)
}

// resources resolves a resource name of a step as the simulator does:
// "kind.?" is the first published resource of that kind, "kind.*" every
// one, anything else must be published by node's module.
func (l *Lab) resources(ctx context.Context, node, name string) ([]string, error) {
	m, err := l.Module(ctx, node)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, r := range m.Resources {
		all = append(all, r.Name)
	}
	kind, one := strings.CutSuffix(name, ".?")
	if !one {
		var every bool
		if kind, every = strings.CutSuffix(name, ".*"); !every {
			if !slices.Contains(all, name) {
				return nil, fmt.Errorf("lab: %s publishes no resource %q (resources %v)", node, name, all)
			}
			return []string{name}, nil
		}
	}
	var out []string
	for _, r := range all {
		if strings.HasPrefix(r, kind+".") {
			out = append(out, r)
			if one {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lab: %s publishes no resource of kind %s (resources %v)", node, kind, all)
	}
	return out, nil
}

// Farmctl runs farmctl for node (it reaches that node's farmd through the
// control socket in the node's state directory).
func (l *Lab) Farmctl(ctx context.Context, node string, args ...string) error {
	if _, ok := l.Plan.NodeByName(node); !ok {
		return fmt.Errorf("lab: no node called %q", node)
	}
	bin, err := FindBinary("farmctl", "")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "SAFEVAR="+l.VarDir(node))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("farmctl %s on %s: %w: %s", strings.Join(args, " "), node, err, strings.TrimSpace(string(out)))
	}
	return nil
}
