package core

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/core/config"
	"pgregory.net/rapid"
)

// rapidInput is one input to a Node: a tick or an event.
type rapidInput struct {
	tick bool
	ev   Event
}

// rapidModel watches a Node's Ready stream the way a driver carries it out
// (in field order) and checks the life-cycle invariants on it.
type rapidModel struct {
	n         *Node
	cfg       Config
	loopTicks int64
	maxLoop   int

	inputs []rapidInput
	stream []Ready // deep copies of every Ready, for the determinism check

	running map[uint64]string // scripts started and not yet reported done
	killed  map[uint64]bool

	prestartSeen bool // a prestart ran since the last (non-restart) start_both
	openStart    bool // a start_both ran ...
	stopsSince   int  // ... and this many stop_both (nice runs) since
	startedOK    bool // a start_both succeeded since the last prestart

	identAt []int64 // ticks of identified actions since the last admin action
}

func rapidConfig(t *rapid.T) Config {
	mod := testModule()
	mod.Checks = append(mod.Checks,
		config.Check{Kind: config.CheckCustom, Ident: "app", Action: "restart"},
		config.Check{Kind: config.CheckPing, Ident: "gw", Action: "wait"},
	)
	if rapid.Bool().Draw(t, "noUser") {
		mod.User = nil
	} else {
		mod.User.NiceStopTimeout = 2 * time.Second
		mod.User.ForceStopTimeout = 2 * time.Second
	}
	mod.Service.MaxLoop = rapid.IntRange(0, 3).Draw(t, "maxloop")
	mod.Service.LoopInterval = 5 * time.Second
	mod.Failover.Period = 500 * time.Millisecond
	mod.Failover.HandleTime = time.Second
	if rapid.Bool().Draw(t, "bootOn") {
		mod.Service.Boot = config.BootOn
	}
	nodes := []string{"node1"}
	if rapid.Bool().Draw(t, "twoNodes") {
		nodes = append(nodes, "node2")
	}
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")}
	cl := &config.Cluster{Port: 4800, Nodes: nodes, LANs: []config.LAN{{Name: "default", Addrs: addrs[:len(nodes)]}}}
	return Config{Self: "node1", Cluster: cl, Module: mod, TickMs: 100, Incarnation: 1}
}

// rapidReach counts, over all runs, how often the interesting places of the
// life cycle were reached, so a generator that stopped reaching them shows.
type rapidReach struct{ runs, upReady, waitRule, kills, forced, maxloop, startFailed int }

func TestModuleRapidStateMachine(t *testing.T) {
	var reach rapidReach
	defer func() {
		t.Logf("reached over %d runs: %+v", reach.runs, reach)
		if reach.runs >= 100 && (reach.upReady == 0 || reach.waitRule == 0 || reach.kills == 0 || reach.maxloop == 0) {
			t.Errorf("the generator no longer reaches every part of the life cycle: %+v", reach)
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		reach.runs++
		var seen rapidReach
		defer func() {
			reach.upReady += min(seen.upReady, 1)
			reach.waitRule += min(seen.waitRule, 1)
			reach.kills += min(seen.kills, 1)
			reach.forced += min(seen.forced, 1)
			reach.maxloop += min(seen.maxloop, 1)
			reach.startFailed += min(seen.startFailed, 1)
		}()
		cfg := rapidConfig(t)
		n, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		md := &rapidModel{
			n: n, cfg: cfg,
			loopTicks: durationTicks(cfg.Module.Service.LoopInterval, cfg.TickMs),
			maxLoop:   cfg.Module.Service.MaxLoop,
			running:   map[uint64]string{},
			killed:    map[uint64]bool{},
		}
		resNames := n.mod.res.names
		idents := []string{"", "", "errd", "start_both", "custom"}
		verbs := []Verb{VerbStart, VerbStart, VerbStop, VerbRestart, VerbStopStart, VerbBootOn, VerbBootOff}
		states := []ResourceState{ResUp, ResUp, ResDown, ResDown, ResInit, ResUnknown}

		if rapid.Bool().Draw(t, "checkersUp") { // the checkers have reported already
			for _, name := range resNames {
				md.input(t, rapidInput{ev: ResourceEvent{Name: name, State: ResUp}})
			}
		}

		t.Repeat(map[string]func(*rapid.T){
			// settle lets the scripts succeed and time pass until the module rests.
			"settle": func(t *rapid.T) {
				for range 200 {
					if md.n.mod.phase != phaseRunning {
						return
					}
					var id uint64
					for k := range md.running {
						id = k
					}
					switch {
					case id != 0 && md.killed[id]:
						md.input(t, rapidInput{ev: ScriptDone{ID: id, ExitCode: 137, Killed: true}})
					case id != 0:
						md.input(t, rapidInput{ev: ScriptDone{ID: id}})
					default:
						md.input(t, rapidInput{tick: true})
					}
				}
			},
			"tick": func(t *rapid.T) {
				for range rapid.IntRange(1, 40).Draw(t, "ticks") {
					md.input(t, rapidInput{tick: true})
				}
			},
			"command": func(t *rapid.T) {
				md.input(t, rapidInput{ev: Command{
					Verb:  rapid.SampledFrom(verbs).Draw(t, "verb"),
					Ident: rapid.SampledFrom(idents).Draw(t, "ident"),
				}})
			},
			"boot": func(t *rapid.T) { md.input(t, rapidInput{ev: Boot{}}) },
			"resource": func(t *rapid.T) {
				md.input(t, rapidInput{ev: ResourceEvent{
					Name:  rapid.SampledFrom(resNames).Draw(t, "resource"),
					State: rapid.SampledFrom(states).Draw(t, "value"),
				}})
			},
			"scriptDone": func(t *rapid.T) {
				if len(md.running) == 0 {
					t.Skip("no script running")
				}
				var id uint64
				for k := range md.running { // at most one: checked on every ScriptRun
					id = k
				}
				ev := ScriptDone{ID: id, ExitCode: rapid.SampledFrom([]int{0, 0, 0, 1}).Draw(t, "exit")}
				if md.killed[id] {
					ev = ScriptDone{ID: id, ExitCode: 137, Killed: true}
				}
				md.input(t, rapidInput{ev: ev})
			},
			"unknownScript": func(t *rapid.T) {
				before := md.n.Status()
				beforeLocal := md.n.mod.local()
				bogus := ScriptDone{ID: 1 << 40}
				md.inputs = append(md.inputs, rapidInput{ev: bogus})
				if err := md.n.Step(bogus); err == nil {
					t.Fatal("ScriptDone for an unknown id: no error")
				}
				if !reflect.DeepEqual(before, md.n.Status()) || beforeLocal != md.n.mod.local() {
					t.Fatal("a rejected ScriptDone changed the node")
				}
				md.carryOut(t)
			},
			"": func(t *rapid.T) {
				md.check(t)
				s := md.n.Status()
				if s.State == StateUp && s.Ready {
					seen.upReady++
				}
				if s.Rule != "" {
					seen.waitRule++
				}
				seen.kills += len(md.killed)
				for _, r := range md.stream[max(0, len(md.stream)-1):] {
					for _, sc := range r.Scripts {
						if sc.Args[0] == "force" {
							seen.forced++
						}
					}
					for _, l := range r.Logs {
						switch l.Text {
						case "Action stop called by maxloop":
							seen.maxloop++
						case "start_both failed":
							seen.startFailed++
						}
					}
				}
			},
		})

		// Determinism: the same inputs give the same Ready stream.
		n2, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		var stream []Ready
		for _, in := range md.inputs {
			if in.tick {
				n2.Tick()
			} else {
				_ = n2.Step(in.ev)
			}
			if n2.HasReady() {
				stream = append(stream, copyReady(n2.Ready()))
				n2.Advance()
			}
		}
		if !reflect.DeepEqual(stream, md.stream) {
			t.Fatalf("replaying %d inputs gave a different Ready stream", len(md.inputs))
		}
	})
}

// input feeds one input, then carries out the Ready like a driver would.
func (md *rapidModel) input(t *rapid.T, in rapidInput) {
	md.inputs = append(md.inputs, in)
	if in.tick {
		md.n.Tick()
	} else if err := md.n.Step(in.ev); err != nil {
		t.Fatalf("Step(%#v): %v", in.ev, err)
	}
	if sd, ok := in.ev.(ScriptDone); ok {
		if md.running[sd.ID] == "start_both" && sd.ExitCode == 0 && !sd.Killed {
			md.startedOK = true
		}
		delete(md.running, sd.ID)
		delete(md.killed, sd.ID)
	}
	md.carryOut(t)
}

// carryOut takes the Node's Ready, checks it, and advances.
func (md *rapidModel) carryOut(t *rapid.T) {
	if !md.n.HasReady() {
		return
	}
	rd := md.n.Ready()
	md.stream = append(md.stream, copyReady(rd))
	now := md.n.Now()
	for _, s := range rd.Scripts {
		if len(md.running) > 0 {
			t.Fatalf("tick %d: %s started while %v runs", now, s.Name, md.running)
		}
		md.running[s.ID] = s.Name
		md.scriptStarted(t, s)
	}
	for _, id := range rd.Kills {
		if _, ok := md.running[id]; !ok {
			t.Fatalf("tick %d: kill of script %d, which is not running", now, id)
		}
		md.killed[id] = true
	}
	for _, l := range rd.Logs {
		md.logged(t, now, l.Text)
	}
	md.n.Advance()
}

// scriptStarted checks the order of the application scripts.
func (md *rapidModel) scriptStarted(t *rapid.T, s ScriptRun) {
	switch s.Name {
	case "prestart":
		if md.openStart && md.stopsSince != 1 {
			t.Fatalf("a start began after a start_both followed by %d stop_both", md.stopsSince)
		}
		md.openStart, md.stopsSince = false, 0
		md.prestartSeen = true
		md.startedOK = false
	case "start_both":
		restart := s.Args[2] == "restart"
		if !restart && !md.prestartSeen {
			t.Fatalf("start_both %v without a prestart of the same start", s.Args)
		}
		if restart && !md.openStart {
			t.Fatalf("restart's start_both with no start_both to restart")
		}
		if md.openStart && md.stopsSince != 1 {
			t.Fatalf("start_both %v after a start_both followed by %d stop_both", s.Args, md.stopsSince)
		}
		md.prestartSeen = false
		md.openStart, md.stopsSince = true, 0
	case "stop_both":
		if s.Args[0] == "force" {
			return // the same stop, run again
		}
		if md.openStart {
			md.stopsSince++
			if md.stopsSince > 1 {
				t.Fatalf("two stop_both for one start_both")
			}
		}
	}
}

// logged checks maxloop on the action log lines: within any loop_interval
// with no administrator's action, at most maxloop identified actions run.
func (md *rapidModel) logged(t *rapid.T, now int64, text string) {
	rest, ok := strings.CutPrefix(text, "Action ")
	if !ok {
		return
	}
	act, who, ok := strings.Cut(rest, " called by ")
	if !ok {
		return
	}
	switch {
	case who == "admin":
		md.identAt = md.identAt[:0]
		return
	case who == "boot" || who == "maxloop" || act == "wakeup":
		return
	}
	md.identAt = append(md.identAt, now)
	inWindow := 0
	for _, at := range md.identAt {
		if now-at < md.loopTicks {
			inWindow++
		}
	}
	if inWindow > md.maxLoop {
		t.Fatalf("tick %d: %d identified actions within loop_interval, maxloop %d (%q)", now, inWindow, md.maxLoop, text)
	}
}

// check holds after every input.
func (md *rapidModel) check(t *rapid.T) {
	l := md.n.mod.local()
	if l.State != StateUp && l.Member {
		t.Fatalf("Member while %s", l.State)
	}
	if l.Member && md.cfg.Module.User != nil && !md.startedOK {
		t.Fatalf("Member before start_both succeeded (INV-1)")
	}
	s := md.n.Status()
	if s.State != l.State || s.Ready != l.Ready {
		t.Fatalf("status %s/%v, local %s/%v", s.State, s.Ready, l.State, l.Ready)
	}
	if (s.Rule != "") != (s.State == StateWait && !s.Ready && md.n.mod.phase == phaseIdle) {
		t.Fatalf("rule %q in %s ready=%v phase %d", s.Rule, s.State, s.Ready, md.n.mod.phase)
	}
	stable := md.n.mod.phase == phaseIdle
	if stable && len(md.running) > 0 {
		t.Fatalf("%s ready=%v with a script running: %v", s.State, s.Ready, md.running)
	}
	if !slices.IsSortedFunc(s.Resources, func(a, b ResourceStatus) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("resources not sorted: %v", s.Resources)
	}
}

// copyReady deep-copies the slices a Node reuses after Advance.
func copyReady(r Ready) Ready {
	c := Ready{
		Messages: slices.Clone(r.Messages),
		Scripts:  slices.Clone(r.Scripts),
		Kills:    slices.Clone(r.Kills),
		Tables:   slices.Clone(r.Tables),
		States:   slices.Clone(r.States),
		Logs:     slices.Clone(r.Logs),
	}
	if r.VIP != nil {
		v := *r.VIP
		c.VIP = &v
	}
	if r.ARPHolder != nil {
		v := *r.ARPHolder
		c.ARPHolder = &v
	}
	return c
}
