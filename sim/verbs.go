package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/sim/invariant"
)

// The `do:` verbs of SPEC §6, as the simulator carries them out:
//
//	start N        start the module; a crashed node's process is first brought
//	               back (new incarnation, Boot), as a service manager would
//	stop N, restart N, stopstart N
//	               administrator commands; a node whose process is down ignores them
//	crash N        the process dies: state lost, heartbeats stop, scripts vanish
//	reboot N       crash, then the process starts again (Boot: boot="on" starts the module)
//	isolate A,B|C  cut every LAN between the groups (more than two groups allowed);
//	               nodes named in no group stay connected to everyone
//	heal           every LAN back to normal (cuts, loss, delay, per-pair overrides)
//	cut LAN [A|B]  cut a whole LAN, or only between two groups on it
//	restore LAN    that LAN back to normal
//	loss LAN PCT   drop PCT % of the datagrams on that LAN
//	delay LAN D    one-way latency D on that LAN
//	resource N NAME up|down
//	               a checker's verdict (NAME may be kind.? for the first resource of
//	               that kind, kind.* for all); it sticks until the next such step
//	fail-script N SCRIPT [EXIT]
//	               the next run of SCRIPT on N exits EXIT (default 1)

// verb is a scenario `do:` verb.
type verb uint8

const (
	vNone verb = iota
	vStart
	vStop
	vRestart
	vStopStart
	vCrash
	vReboot
	vIsolate
	vHeal
	vCut
	vRestore
	vLoss
	vDelay
	vResource
	vFailScript
)

// cstep is a scenario step compiled against the cluster: names resolved to
// indexes, numbers parsed, so that bad input fails before the run starts.
type cstep struct {
	atMs    int64
	do      string
	verb    verb
	node    int
	groups  [][]int // isolate / cut: the sides
	lan     int     // network LAN index, -1 = none
	pct     float64
	ms      int64
	res     []string
	resV    core.ResourceState
	script  string
	exit    int
	expects []nodeExpect
	where   string
}

type nodeExpect struct {
	node int
	e    NodeExpect
}

func (s *Sim) compileSteps() error {
	for i, st := range s.sc.Steps {
		c := cstep{atMs: st.At.Ms(), do: strings.TrimSpace(st.Do), lan: -1, where: s.sc.where(i)}
		if c.do != "" {
			if err := s.compileVerb(&c); err != nil {
				return inputErr("%s: do %q: %v", c.where, st.Do, err)
			}
		}
		names := make([]string, 0, len(st.Expect))
		for name := range st.Expect {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			k := slices.Index(s.fc.cluster.Nodes, name)
			if k < 0 {
				return inputErr("%s: expect: unknown node %q (nodes %v)", c.where, name, s.fc.cluster.Nodes)
			}
			e := st.Expect[name]
			for g := range e.Shares {
				if !slices.Contains(s.groups, g) {
					return inputErr("%s: expect %s: unknown group %q in shares (groups %v)", c.where, name, g, s.groups)
				}
			}
			if (e.Share != nil || e.Buckets != nil) && len(s.groups) == 0 {
				return inputErr("%s: expect %s: share/buckets but the module has no load-balancing group", c.where, name)
			}
			c.expects = append(c.expects, nodeExpect{node: k, e: e})
		}
		// Keep the expectations in cluster order.
		slices.SortStableFunc(c.expects, func(a, b nodeExpect) int { return a.node - b.node })
		s.steps = append(s.steps, c)
	}
	return nil
}

func (s *Sim) nodeIndex(name string) (int, error) {
	k := slices.Index(s.fc.cluster.Nodes, name)
	if k < 0 {
		return -1, fmt.Errorf("unknown node %q (nodes %v)", name, s.fc.cluster.Nodes)
	}
	return k, nil
}

// Action is one `do:` verb, parsed but not resolved against a cluster: the
// form farmlab shares with the simulator.
type Action struct {
	Verb     string     // start stop restart stopstart crash reboot isolate heal cut restore loss delay resource fail-script
	Node     string     // node verbs, resource, fail-script
	Groups   [][]string // isolate, cut LAN A|B: the sides
	LAN      string     // cut, restore, loss, delay
	Pct      float64    // loss
	Delay    time.Duration
	Resource string // resource: a name, kind.? or kind.*
	Up       bool   // resource: up (true) or down
	Script   string // fail-script
	Exit     int    // fail-script: exit code, default 1
}

// ParseAction parses a `do:` string (SPEC §6) without a cluster.
func ParseAction(do string) (Action, error) {
	f := strings.Fields(do)
	if len(f) == 0 {
		return Action{}, fmt.Errorf("empty verb")
	}
	a := Action{Verb: f[0]}
	args := f[1:]
	want := func(lo, hi int, usage string) error {
		if len(args) < lo || len(args) > hi {
			return fmt.Errorf("usage: %s", usage)
		}
		return nil
	}
	var err error
	switch a.Verb {
	case "start", "stop", "restart", "stopstart", "crash", "reboot":
		if err := want(1, 1, a.Verb+" NODE"); err != nil {
			return a, err
		}
		a.Node = args[0]
	case "isolate":
		if err := want(1, 1, "isolate A,B|C"); err != nil {
			return a, err
		}
		a.Groups, err = parseSides(args[0])
	case "heal":
		err = want(0, 0, "heal")
	case "cut":
		if err := want(1, 2, "cut LAN [A|B]"); err != nil {
			return a, err
		}
		a.LAN = args[0]
		if len(args) == 2 {
			a.Groups, err = parseSides(args[1])
		}
	case "restore":
		if err := want(1, 1, "restore LAN"); err != nil {
			return a, err
		}
		a.LAN = args[0]
	case "loss":
		if err := want(2, 2, "loss LAN PCT"); err != nil {
			return a, err
		}
		a.LAN = args[0]
		a.Pct, err = strconv.ParseFloat(strings.TrimSuffix(args[1], "%"), 64)
		if err != nil || a.Pct < 0 || a.Pct > 100 {
			return a, fmt.Errorf("loss %q: want a percentage 0..100", args[1])
		}
	case "delay":
		if err := want(2, 2, "delay LAN DURATION"); err != nil {
			return a, err
		}
		a.LAN = args[0]
		a.Delay, err = time.ParseDuration(args[1])
		if err != nil || a.Delay < 0 {
			return a, fmt.Errorf("delay %q: want a duration like 50ms", args[1])
		}
	case "resource":
		if err := want(3, 3, "resource NODE NAME up|down"); err != nil {
			return a, err
		}
		a.Node, a.Resource = args[0], args[1]
		switch args[2] {
		case "up":
			a.Up = true
		case "down":
		default:
			return a, fmt.Errorf("resource state %q: want up or down", args[2])
		}
	case "fail-script":
		if err := want(2, 3, "fail-script NODE SCRIPT [EXIT]"); err != nil {
			return a, err
		}
		a.Node, a.Script, a.Exit = args[0], args[1], 1
		if !isScriptName(a.Script) {
			return a, fmt.Errorf("script %q: want prestart, start_both, stop_both or poststop", a.Script)
		}
		if len(args) == 3 {
			if a.Exit, err = strconv.Atoi(args[2]); err != nil || a.Exit <= 0 || a.Exit > 255 {
				return a, fmt.Errorf("exit code %q: want 1..255", args[2])
			}
		}
	default:
		return a, fmt.Errorf("unknown verb %q (start stop restart stopstart crash reboot isolate heal cut restore loss delay resource fail-script)", a.Verb)
	}
	return a, err
}

// parseSides parses "A,B|C" into groups of node names, each named once.
func parseSides(arg string) ([][]string, error) {
	parts := strings.Split(arg, "|")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q: want groups of nodes separated by |, e.g. node1|node2,node3", arg)
	}
	seen := map[string]bool{}
	var out [][]string
	for _, p := range parts {
		var g []string
		for _, name := range strings.Split(p, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				return nil, fmt.Errorf("%q: an empty node name", arg)
			}
			if seen[name] {
				return nil, fmt.Errorf("node %s is in two groups", name)
			}
			seen[name] = true
			g = append(g, name)
		}
		out = append(out, g)
	}
	return out, nil
}

var verbOf = map[string]verb{"start": vStart, "stop": vStop, "restart": vRestart, "stopstart": vStopStart,
	"crash": vCrash, "reboot": vReboot, "isolate": vIsolate, "heal": vHeal, "cut": vCut, "restore": vRestore,
	"loss": vLoss, "delay": vDelay, "resource": vResource, "fail-script": vFailScript}

// compileVerb parses a step's verb and resolves its names against the cluster.
func (s *Sim) compileVerb(c *cstep) error {
	a, err := ParseAction(c.do)
	if err != nil {
		return err
	}
	c.verb = verbOf[a.Verb]
	if a.Node != "" {
		if c.node, err = s.nodeIndex(a.Node); err != nil {
			return err
		}
	}
	for _, g := range a.Groups {
		var idx []int
		for _, name := range g {
			k, err := s.nodeIndex(name)
			if err != nil {
				return err
			}
			idx = append(idx, k)
		}
		c.groups = append(c.groups, idx)
	}
	if a.LAN != "" {
		if c.lan, err = s.nw.lanIndex(a.LAN); err != nil {
			return err
		}
	}
	c.pct, c.ms = a.Pct, int64(a.Delay/time.Millisecond)
	c.script, c.exit = a.Script, a.Exit
	if c.verb == vResource {
		c.resV = core.ResDown
		if a.Up {
			c.resV = core.ResUp
		}
		c.res, err = s.resources(a.Resource)
	}
	return err
}

// resources resolves a resource name against the module's resources (from
// the core's view of its configuration). "intf.?" names the first resource of
// that kind, "intf.*" all of them.
func (s *Sim) resources(name string) ([]string, error) {
	if s.allRes == nil {
		s.allRes = []string{}
		if c, err := core.New(core.Config{Self: s.fc.cluster.Nodes[0], Cluster: s.fc.cluster, Module: s.fc.module, TickMs: TickMs, Incarnation: 1}); err == nil {
			for _, r := range c.Status().Resources {
				s.allRes = append(s.allRes, r.Name)
			}
		}
	}
	all := s.allRes
	if kind, ok := strings.CutSuffix(name, ".?"); ok {
		for _, r := range all {
			if strings.HasPrefix(r, kind+".") {
				return []string{r}, nil
			}
		}
		return nil, fmt.Errorf("no resource of kind %s (resources %v)", kind, all)
	}
	if kind, ok := strings.CutSuffix(name, ".*"); ok {
		var out []string
		for _, r := range all {
			if strings.HasPrefix(r, kind+".") {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no resource of kind %s (resources %v)", kind, all)
		}
		return out, nil
	}
	if !slices.Contains(all, name) {
		return nil, fmt.Errorf("unknown resource %q (resources %v)", name, all)
	}
	return []string{name}, nil
}

// doStep carries out one step: its verb, then its expectations.
func (s *Sim) doStep(c *cstep) {
	if c.do != "" {
		s.tr.step(s.nowMs, c.do)
		s.doVerb(c)
	}
	if len(c.expects) > 0 {
		s.expect(c)
	}
}

func (s *Sim) doVerb(c *cstep) {
	var n *simNode
	if c.node >= 0 && c.node < len(s.nodes) {
		n = s.nodes[c.node]
	}
	switch c.verb {
	case vStart:
		if !n.up {
			// A service manager brings the process back first.
			s.change(invariant.Boot, n.idx)
			s.boot(n)
		}
		kind := invariant.Join
		if n.state != core.StateStop {
			kind = invariant.Other
		}
		s.command(n, core.VerbStart, kind)
	case vStop:
		s.command(n, core.VerbStop, invariant.Leave)
	case vRestart:
		s.command(n, core.VerbRestart, invariant.Restart)
	case vStopStart:
		s.command(n, core.VerbStopStart, invariant.Other)
	case vCrash:
		s.crash(n)
		s.change(invariant.Crash, n.idx)
	case vReboot:
		s.crash(n)
		s.change(invariant.Crash, n.idx)
		s.boot(n)
	case vIsolate:
		for l := range s.nw.lans {
			for a := range c.groups {
				for b := a + 1; b < len(c.groups); b++ {
					s.nw.cutBetween(l, c.groups[a], c.groups[b])
				}
			}
		}
		s.change(invariant.Fault, -1)
	case vHeal:
		for l := range s.nw.lans {
			s.nw.restore(l)
		}
		s.change(invariant.Heal, -1)
	case vCut:
		if len(c.groups) == 0 {
			s.nw.cutAll(c.lan)
		} else {
			for a := range c.groups {
				for b := a + 1; b < len(c.groups); b++ {
					s.nw.cutBetween(c.lan, c.groups[a], c.groups[b])
				}
			}
		}
		s.change(invariant.Fault, -1)
	case vRestore:
		s.nw.restore(c.lan)
		s.change(invariant.Heal, -1)
	case vLoss:
		s.nw.lans[c.lan].opts.LossPct = c.pct
		s.change(invariant.Fault, -1)
	case vDelay:
		s.nw.lans[c.lan].opts.DelayMs = c.ms
		s.change(invariant.Fault, -1)
	case vResource:
		s.setResource(n, c.res, c.resV)
	case vFailScript:
		n.failNext[c.script] = c.exit
	}
}

// command hands an administrator's command to a node. A node whose process
// is down cannot hear it (only `start` revives it).
func (s *Sim) command(n *simNode, v core.Verb, kind invariant.Kind) {
	s.change(kind, n.idx)
	if !n.up {
		s.tr.timeline(s.nowMs, n.name, "is down: command ignored")
		return
	}
	s.stepNode(n, core.Command{Verb: v})
}
