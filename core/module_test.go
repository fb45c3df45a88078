package core

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core/config"
)

// With TickMs 100 and SafeKit's defaults: period 50 ticks, handle_time 150,
// nice and force stop timeouts 3000.
const (
	periodT = 50
	handleT = 150
	niceT   = 3000
)

func TestModuleStartThenStop(t *testing.T) {
	h := newHarness(t, testModule())
	h.drainLag = 3
	h.res(resIntf, ResUp)
	h.res(resIP, ResUp)
	h.cmd(VerbStart, "")
	h.expect(StateUp, false, "")
	h.expectScripts("prestart STOP UP start")
	if len(h.vips) != 0 {
		t.Fatalf("VIP opened before prestart ended: %v", h.vips)
	}
	h.done(0)
	if !slices.Equal(h.vips, []bool{true}) || h.running() != "" {
		t.Fatalf("after prestart: vips %v, running %q; want VIP opened, start_both not yet", h.vips, h.running())
	}
	h.tick(1) // start_both runs once the VIP change was carried out
	h.expectScripts("prestart STOP UP start", "start_both STOP UP start")
	if h.m.local().Member {
		t.Fatal("Member before start_both succeeded")
	}
	h.done(0)
	h.expect(StateUp, true, "")
	if !h.m.local().Member {
		t.Fatal("not Member once UP ready")
	}
	h.expectLog("Action start called by admin")
	h.expectLog("Local state UP Ready")
	want := []StateChange{{State: StateUp}, {State: StateUp, Ready: true}}
	if !reflect.DeepEqual(h.states, want) {
		t.Fatalf("state changes %v, want %v", h.states, want)
	}

	h.scripts, h.vips, h.states = nil, nil, nil
	h.cmd(VerbStop, "")
	h.expect(StateUp, false, "")
	if h.m.local().Member {
		t.Fatal("still Member once the stop began")
	}
	if h.running() != "" {
		t.Fatal("stop_both ran before the buckets were handed over")
	}
	h.tick(2)
	if h.running() != "" {
		t.Fatal("stop_both ran before the buckets were handed over")
	}
	h.tick(1) // drained now
	h.expectScripts("stop_both UP STOP stop")
	h.done(0)
	if !slices.Equal(h.vips, []bool{false}) {
		t.Fatalf("vips %v after stop_both, want closed", h.vips)
	}
	h.tick(1)
	h.expectScripts("stop_both UP STOP stop", "poststop UP STOP stop")
	h.done(0)
	h.expect(StateStop, true, "")
	h.expectLog("Local state STOP Ready")
	h.expectLog("Action stop called by admin")
}

func TestModuleCommandsThatDoNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		verb  Verb
		state State
		ready bool
	}{
		{"stop when STOP", func(h *harness) {}, VerbStop, StateStop, true},
		{"restart when STOP", func(h *harness) {}, VerbRestart, StateStop, true},
		{"start when UP", func(h *harness) { h.up() }, VerbStart, StateUp, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testModule())
			tc.setup(h)
			h.scripts = nil
			h.cmd(tc.verb, "")
			h.settle()
			h.expect(tc.state, tc.ready, "")
			if len(h.scripts) != 0 {
				t.Fatalf("scripts %v", h.scriptLines())
			}
		})
	}
}

func TestModuleWaitsForInitResources(t *testing.T) {
	h := newHarness(t, testModule())
	h.cmd(VerbStart, "")
	h.expect(StateWait, false, "") // intf.* is read by interface_failure (a wait rule) and is init
	h.tick(500)
	if len(h.scripts) != 0 {
		t.Fatalf("scripts ran while a resource was init: %v", h.scriptLines())
	}
	h.res(resIP, ResUp) // ip.* feeds a stopstart rule only: it does not hold the start
	h.expect(StateWait, false, "")
	h.res(resIntf, ResUp)
	h.expect(StateUp, false, "")
	h.expectScripts("prestart STOP UP start")

	// A stop while waiting for init ends the wait without any script.
	h2 := newHarness(t, testModule())
	h2.cmd(VerbStart, "")
	h2.cmd(VerbStop, "")
	h2.expect(StateStop, true, "")
	if len(h2.scripts) != 0 {
		t.Fatalf("scripts %v", h2.scriptLines())
	}
}

func TestModuleStartIntoWaitThenWakeup(t *testing.T) {
	h := newHarness(t, testModule())
	h.res(resIP, ResUp)
	h.res(resIntf, ResDown)
	h.cmd(VerbStart, "")
	h.expect(StateWait, false, "interface_failure")
	h.expectLog("Local state WAIT NotReady (interface_failure)")
	h.tick(1000)
	h.expect(StateWait, false, "interface_failure")
	h.res(resIntf, ResUp)
	start := h.now
	for h.m.state == StateWait && h.now < start+1000 {
		h.tick(1)
	}
	if waited := h.now - start; waited <= handleT || waited > handleT+periodT {
		t.Fatalf("woke up after %d ticks, want within (%d, %d]", waited, handleT, handleT+periodT)
	}
	h.expectLog("Action wakeup called by Implicit_wakeup")
	h.expectScripts("prestart WAIT UP start")
	h.settle()
	h.expect(StateUp, true, "")
}

func TestModuleWaitRuleWhileUp(t *testing.T) {
	h := newHarness(t, testModule())
	h.up()
	h.res(resIntf, ResDown)
	start := h.now
	for h.m.ready && h.now < start+1000 {
		h.tick(1)
	}
	if took := h.now - start; took <= handleT || took > handleT+periodT {
		t.Fatalf("wait fired after %d ticks, want within (%d, %d]", took, handleT, handleT+periodT)
	}
	h.expectLog("Action wait called by interface_failure")
	h.settle()
	h.expect(StateWait, false, "interface_failure")
	h.expectScripts("stop_both UP WAIT stopwait", "poststop UP WAIT stopwait")
	if !slices.Equal(h.vips, []bool{false}) {
		t.Fatalf("vips %v, want closed", h.vips)
	}
	// An administrator's stop of a waiting module runs nothing more.
	h.scripts = nil
	h.cmd(VerbStop, "")
	h.expect(StateStop, true, "")
	if len(h.scripts) != 0 {
		t.Fatalf("scripts %v", h.scriptLines())
	}
}

func TestModuleHoldMustBeContinuous(t *testing.T) {
	h := newHarness(t, testModule())
	h.up()
	for range 3 { // down for less than handle_time, then up: never fires
		h.res(resIntf, ResDown)
		h.tick(handleT - periodT)
		h.res(resIntf, ResUp)
		h.tick(1)
	}
	h.tick(1000)
	h.expect(StateUp, true, "")
	if h.countLogs("Action") != 0 {
		t.Fatalf("an action fired: %q", h.logs)
	}
}

func TestModuleStopStartRuleThenMaxloop(t *testing.T) {
	h := newHarness(t, testModule())
	h.up()
	h.res(resIP, ResDown) // and stays down: ip_failure keeps firing
	for i := range 3 {
		for h.m.ready && h.m.state == StateUp {
			h.tick(1)
		}
		h.settle()
		h.expect(StateUp, true, "")
		if n := h.countLogs("Action stopstart called by ip_failure"); n != i+1 {
			t.Fatalf("round %d: %d stopstarts", i, n)
		}
	}
	h.expectLog("Action start called automatically")
	if got := h.scriptLines()[:4]; !slices.Equal(got, []string{
		"stop_both UP STOP stopstart", "poststop UP STOP stopstart",
		"prestart STOP UP stopstart", "start_both STOP UP stopstart",
	}) {
		t.Fatalf("stopstart scripts %q", got)
	}
	for h.m.ready && h.m.state == StateUp {
		h.tick(1)
	}
	h.settle()
	h.expect(StateStop, true, "")
	h.expectLog("Action stop called by maxloop")
	if n := h.countLogs("Action stopstart"); n != 3 {
		t.Fatalf("%d stopstarts, want maxloop=3", n)
	}
	// An administrator's start clears the count: three more rounds allowed.
	h.logs = nil
	h.cmd(VerbStart, "")
	h.settle()
	h.expect(StateUp, true, "")
}

func TestModuleRestartKeepsBuckets(t *testing.T) {
	h := newHarness(t, testModule())
	h.up()
	h.cmd(VerbRestart, "")
	for h.m.phase == phaseRunning {
		if !h.m.local().Member {
			t.Fatal("Member dropped during a restart")
		}
		if h.m.script != nil {
			h.done(0)
		} else {
			h.tick(1)
		}
	}
	h.expect(StateUp, true, "")
	h.expectScripts("stop_both UP UP restart", "start_both UP UP restart")
	if len(h.vips) != 0 {
		t.Fatalf("VIP changed during a restart: %v", h.vips)
	}
	want := []StateChange{{State: StateUp}, {State: StateUp, Ready: true}}
	if !reflect.DeepEqual(h.states, want) {
		t.Fatalf("state changes %v, want %v", h.states, want)
	}
}

func TestModuleStartBothFails(t *testing.T) {
	tests := []struct {
		name       string
		scriptStop bool // the script itself calls `stop -i start_both` before exiting 1
	}{
		{"exit 1", false},
		{"stop -i start_both then exit 1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testModule())
			h.res(resIntf, ResUp)
			h.cmd(VerbStart, "")
			h.done(0)
			h.tick(1)
			if h.running() != "start_both" {
				t.Fatalf("running %q", h.running())
			}
			if tc.scriptStop {
				h.mustStep(Command{Verb: VerbStop, Ident: "start_both"})
			}
			h.done(1)
			h.settle()
			h.expect(StateStop, true, "")
			h.expectLog("start_both failed")
			if n := h.countLogs("Action stop called by start_both"); n != 1 {
				t.Fatalf("%d 'Action stop called by start_both' lines, want 1: %q", n, h.logs)
			}
			h.expectScripts("prestart STOP UP start", "start_both STOP UP start",
				"stop_both UP STOP stop", "poststop UP STOP stop")
			if !slices.Equal(h.vips, []bool{true, false}) {
				t.Fatalf("vips %v", h.vips)
			}
		})
	}
}

func TestModulePrestartFailsOrStopDuringStart(t *testing.T) {
	// Only what was done is undone: no start_both ran, so no stop_both runs;
	// the VIP was never opened, so it is not closed.
	for _, fail := range []bool{true, false} {
		h := newHarness(t, testModule())
		h.res(resIntf, ResUp)
		h.cmd(VerbStart, "")
		if !fail {
			h.cmd(VerbStop, "")
			if h.running() != "prestart" {
				t.Fatal("a stop cut the running prestart short")
			}
		}
		h.done(map[bool]int{true: 2, false: 0}[fail])
		h.settle()
		h.expect(StateStop, true, "")
		h.expectScripts("prestart STOP UP start", "poststop UP STOP stop")
		if len(h.vips) != 0 {
			t.Fatalf("vips %v", h.vips)
		}
	}
}

func TestModuleStopScriptTimeouts(t *testing.T) {
	tests := []struct {
		name      string
		run       func(h *harness)
		wantLines []string
		wantKills int
	}{
		{
			name:      "nice stop ends in time",
			run:       func(h *harness) { h.tick(niceT - 1); h.done(0) },
			wantLines: []string{"stop_both UP STOP stop", "poststop UP STOP stop"},
		},
		{
			name: "nice stop killed, force run ends",
			run: func(h *harness) {
				h.tick(niceT)
				h.done(137) // the killed run reports its end
				h.done(0)   // the forced run
			},
			wantLines: []string{"stop_both UP STOP stop", "stop_both force STOP stop", "poststop UP STOP stop"},
			wantKills: 1,
		},
		{
			name: "force run killed too: the sequence goes on",
			run: func(h *harness) {
				h.tick(niceT)
				h.done(137)
				h.tick(niceT) // forcestoptimeout = 300s as well
				h.mustStep(ScriptDone{ID: h.m.script.id, Killed: true})
			},
			wantLines: []string{"stop_both UP STOP stop", "stop_both force STOP stop", "poststop UP STOP stop"},
			wantKills: 2,
		},
		{
			name:      "killed run had ended by itself",
			run:       func(h *harness) { h.tick(niceT); h.done(0) },
			wantLines: []string{"stop_both UP STOP stop", "poststop UP STOP stop"},
			wantKills: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testModule())
			h.up()
			h.cmd(VerbStop, "")
			if h.running() != "stop_both" {
				t.Fatalf("running %q", h.running())
			}
			tc.run(h)
			h.settle()
			h.expect(StateStop, true, "")
			h.expectScripts(tc.wantLines...)
			if len(h.kills) != tc.wantKills {
				t.Fatalf("kills %v, want %d", h.kills, tc.wantKills)
			}
		})
	}

	// Never two scripts at once: after a Kill, nothing runs before the
	// killed script's end is reported.
	h := newHarness(t, testModule())
	h.up()
	h.cmd(VerbStop, "")
	h.tick(niceT)
	n := len(h.scripts)
	h.tick(10 * niceT)
	if len(h.scripts) != n || len(h.kills) != 1 {
		t.Fatalf("scripts %q kills %v while the killed script had not ended", h.scriptLines(), h.kills)
	}
}

func TestModuleWithoutUser(t *testing.T) {
	mod := testModule()
	mod.User = nil
	h := newHarness(t, mod)
	h.res(resIntf, ResUp)
	h.cmd(VerbStart, "")
	h.tick(1) // the VIP change is carried out before start_both's turn
	h.expect(StateUp, true, "")
	h.cmd(VerbRestart, "")
	h.expect(StateUp, true, "")
	h.cmd(VerbStop, "")
	h.tick(1)
	h.expect(StateStop, true, "")
	if len(h.scripts) != 0 || !slices.Equal(h.vips, []bool{true, false}) {
		t.Fatalf("scripts %v vips %v", h.scriptLines(), h.vips)
	}
}

func TestModuleWithoutVIP(t *testing.T) {
	mod := testModule()
	mod.VIP = nil // behind a cloud load balancer: nothing to open, no intf/ip resource
	mod.Checks = nil
	h := newHarness(t, mod)
	h.cmd(VerbStart, "")
	h.settle()
	h.expect(StateUp, true, "")
	if len(h.vips) != 0 {
		t.Fatalf("vips %v", h.vips)
	}
}

func TestModuleBadEventsChangeNothing(t *testing.T) {
	h := newHarness(t, testModule())
	h.res(resIntf, ResUp)
	h.cmd(VerbStart, "")
	before := *h.m
	beforeRes := slices.Clone(h.m.res.states)
	for _, ev := range []Event{
		ScriptDone{ID: 999},
		ResourceEvent{Name: "intf.10.0.0.0", State: ResDown},
		ResourceEvent{Name: resIP, State: ResourceState(9)},
		Command{Verb: Verb(99)},
		Recv{},
	} {
		if err := h.step(ev); err == nil {
			t.Errorf("%#v: no error", ev)
		} else if !strings.Contains(err.Error(), "AM") {
			t.Errorf("%#v: error %q does not name the module", ev, err)
		}
	}
	if !reflect.DeepEqual(before, *h.m) || !slices.Equal(beforeRes, h.m.res.states) {
		t.Fatal("a rejected event changed the module")
	}
	h2 := newHarness(t, testModule())
	if err := h2.step(ScriptDone{ID: 1}); err == nil {
		t.Fatal("ScriptDone with no script running: no error")
	}
}

func TestModuleMaxloop(t *testing.T) {
	mod := testModule()
	mod.Service.LoopInterval = 0 // set per case below
	tests := []struct {
		name      string
		loopTicks int64
		gap       int // ticks between identified restarts
		restarts  int
		wantStop  bool
	}{
		{"three in the window are tolerated", 10000, 10, 3, false},
		{"the fourth stops the module", 10000, 10, 4, true},
		{"spread beyond the window", 100, 60, 8, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := testModule()
			mod.Service.LoopInterval = 0
			h := newHarness(t, mod)
			h.m.loop.windowTicks = tc.loopTicks
			h.up()
			for range tc.restarts {
				h.tick(tc.gap)
				h.cmd(VerbRestart, "errd")
				h.settle()
			}
			if stopped := h.hasLog("Action stop called by maxloop"); stopped != tc.wantStop {
				t.Fatalf("maxloop stop %v, want %v: %q", stopped, tc.wantStop, h.logs)
			}
			if tc.wantStop {
				h.expect(StateStop, true, "")
			} else {
				h.expect(StateUp, true, "")
			}
		})
	}

	// An administrator's action clears the count.
	h := newHarness(t, testModule())
	h.up()
	for range 3 {
		h.cmd(VerbRestart, "errd")
		h.settle()
	}
	h.cmd(VerbRestart, "")
	h.settle()
	for range 3 {
		h.cmd(VerbRestart, "errd")
		h.settle()
	}
	h.expect(StateUp, true, "")
	if h.hasLog("Action stop called by maxloop") {
		t.Fatal("maxloop despite an administrator's action in between")
	}
}

func TestModuleBoot(t *testing.T) {
	tests := []struct {
		name   string
		boot   config.Boot
		verbs  []Verb
		wantUp bool
	}{
		{"boot off", config.BootOff, nil, false},
		{"boot on in config", config.BootOn, nil, true},
		{"boot on by command", config.BootOff, []Verb{VerbBootOn}, true},
		{"boot off by command", config.BootOn, []Verb{VerbBootOff}, false},
		{"boot auto is not on", config.BootAuto, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := testModule()
			mod.Service.Boot = tc.boot
			h := newHarness(t, mod)
			h.res(resIntf, ResUp)
			for _, v := range tc.verbs {
				h.cmd(v, "")
			}
			h.mustStep(Boot{})
			h.settle()
			var s Status
			h.m.status(&s)
			if s.Boot != (tc.boot == config.BootOn) != (len(tc.verbs) > 0) {
				t.Fatalf("status boot %v", s.Boot)
			}
			if tc.wantUp {
				h.expect(StateUp, true, "")
				h.expectLog("Action start called by boot")
			} else {
				h.expect(StateStop, true, "")
			}
		})
	}
}

func TestModuleCheckerActions(t *testing.T) {
	mod := testModule()
	mod.Checks = append(mod.Checks,
		config.Check{Kind: config.CheckCustom, Ident: "app", Action: "restart"},
		config.Check{Kind: config.CheckPing, Ident: "router", Action: "wait"},
	)
	h := newHarness(t, mod)
	h.res("custom.app", ResDown) // STOP: nothing to restart
	if h.countLogs("Action") != 0 {
		t.Fatalf("acted while STOP: %q", h.logs)
	}
	h.up()
	h.res("custom.app", ResDown) // acts at once, no period, no handle_time
	h.expectLog("Action restart called by custom.app")
	h.settle()
	h.expectScripts("stop_both UP UP restart", "start_both UP UP restart")

	h.res("ping.router", ResDown)
	h.expectLog("Action wait called by ping.router")
	h.settle()
	h.expect(StateWait, false, "ping.router")
	h.res("ping.router", ResUp)
	h.tick(handleT + periodT)
	h.settle()
	h.expect(StateUp, true, "")
}

func TestModuleCommandsDuringSequences(t *testing.T) {
	// A start asked while stopping runs once the stop has ended.
	h := newHarness(t, testModule())
	h.up()
	h.cmd(VerbStop, "")
	h.cmd(VerbStart, "")
	h.settle()
	h.expect(StateUp, true, "")
	h.expectScripts("stop_both UP STOP stop", "poststop UP STOP stop",
		"prestart STOP UP start", "start_both STOP UP start")

	// A stop asked during a restart ends in STOP after the running script.
	h = newHarness(t, testModule())
	h.up()
	h.cmd(VerbRestart, "")
	h.cmd(VerbStop, "")
	h.settle()
	h.expect(StateStop, true, "")
	h.expectScripts("stop_both UP UP restart", "poststop UP STOP stop")

	// A stop then a start while starting: the start's stop, then a start.
	h = newHarness(t, testModule())
	h.res(resIntf, ResUp)
	h.cmd(VerbStart, "")
	h.cmd(VerbStopStart, "")
	h.settle()
	h.expect(StateUp, true, "")
	h.expectLog("Action start called automatically")
}

func TestModuleStatusResources(t *testing.T) {
	mod := testModule()
	mod.Checks = append(mod.Checks, config.Check{Kind: config.CheckTCP, Ident: "web"}, config.Check{Kind: config.CheckCustom, Ident: "a"})
	mod.Errd = &config.Errd{Procs: []config.Proc{{Name: "httpd", Action: "restart"}}}
	h := newHarness(t, mod)
	h.res("tcp.web", ResDown)
	var s Status
	h.m.status(&s)
	want := []ResourceStatus{
		{Name: "custom.a", State: ResInit},
		{Name: resIntf, State: ResInit},
		{Name: resIP, State: ResInit},
		{Name: "proc.httpd", State: ResInit},
		{Name: "tcp.web", State: ResDown},
	}
	if !reflect.DeepEqual(s.Resources, want) || s.State != StateStop || !s.Ready || s.Boot {
		t.Fatalf("status %+v", s)
	}
}

func TestModuleBadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *config.Module)
		want string
	}{
		{"unknown rule action", func(m *config.Module) {
			m.Failover.Rules = append(m.Failover.Rules, config.FailoverRule{Label: "r", Line: 7, Cond: config.Cmp{Resource: "ip.?", Value: "down"}, Action: "reboot"})
		}, `rule "r" (line 7)`},
		{"bad value", func(m *config.Module) {
			m.Failover.Rules = append(m.Failover.Rules, config.FailoverRule{Label: "r", Cond: config.Cmp{Resource: "ip.?", Value: "off"}, Action: "stop"})
		}, `"off"`},
		{"rule without condition", func(m *config.Module) {
			m.Failover.Rules = append(m.Failover.Rules, config.FailoverRule{Label: "r", Action: "stop"})
		}, "no condition"},
		{"bad checker action", func(m *config.Module) {
			m.Checks = []config.Check{{Kind: config.CheckTCP, Ident: "w", Action: "wakeup", Line: 3}}
		}, "tcp.w (line 3)"},
		{"negative maxloop", func(m *config.Module) { m.Service.MaxLoop = -1 }, "maxloop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := testModule()
			tc.edit(mod)
			cfg := Config{Self: "n", Cluster: &config.Cluster{Nodes: []string{"n"}}, Module: mod, TickMs: 10}
			_, err := newModule(&cfg, &Ready{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
