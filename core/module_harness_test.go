package core

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/core/config"
)

// testModule is a farm module with SafeKit's defaults, one VIP with its
// interface and address checked, and the built-in failover rules.
func testModule() *config.Module {
	return &config.Module{
		Name:    "AM",
		Service: config.Service{Mode: "farm", Boot: config.BootOff, MaxLoop: 3, LoopInterval: 24 * time.Hour},
		Farm:    config.Farm{Pulse: 100 * time.Millisecond, SlostCount: 10, MlostCount: 20, LANs: []string{"default"}},
		VIP: &config.VIP{
			Interfaces: []config.Interface{{
				Check: true,
				Mode:  config.ModeAlias,
				Addrs: []config.VirtualAddr{{Addr: netip.MustParseAddr("198.18.0.100"), Where: "alias", Check: true}},
			}},
			Groups: []config.Group{{Name: "FarmProto", Rules: []config.Rule{{Port: 9010, Proto: "tcp", Filter: config.OnAddr}}}},
		},
		// The checks the parser publishes for check="on" on the interface and address.
		Checks: []config.Check{
			{Kind: config.CheckIntf, Ident: "198.18.0.0", Addr: "198.18.0.0/24"},
			{Kind: config.CheckIP, Ident: "198.18.0.100", Addr: "198.18.0.100"},
		},
		User:     &config.User{NiceStopTimeout: 300 * time.Second, ForceStopTimeout: 300 * time.Second, Logging: "userlog"},
		Failover: config.Failover{Period: 5 * time.Second, HandleTime: 15 * time.Second, Rules: builtinRules()},
	}
}

// builtinRules are SafeKit's built-in farm rules as the parser appends them.
func builtinRules() []config.FailoverRule {
	return []config.FailoverRule{
		{Label: "interface_failure", Cond: config.Cmp{Resource: "intf.?", Value: "down"}, Action: "wait", BuiltIn: true},
		{Label: "ip_failure", Cond: config.Cmp{Resource: "ip.?", Value: "down"}, Action: "stopstart", BuiltIn: true},
		{Label: "Implicit_wakeup", Action: "wakeup", BuiltIn: true},
	}
}

const (
	resIntf = "intf.198.18.0.0"
	resIP   = "ip.198.18.0.100"
)

// harness drives a module alone, the way Node does, with a fake membership
// that holds buckets while Member and lets go of them drainLag ticks after.
type harness struct {
	t        *testing.T
	cfg      Config
	out      Ready
	m        *module
	now      int64
	drainLag int64

	holding   bool
	releaseAt int64

	scripts []ScriptRun
	kills   []uint64
	vips    []bool
	states  []StateChange
	logs    []string
}

func newHarness(t *testing.T, mod *config.Module) *harness {
	t.Helper()
	h := &harness{t: t, releaseAt: -1}
	h.cfg = Config{Self: "node1", Cluster: &config.Cluster{Nodes: []string{"node1"}}, Module: mod, TickMs: 100}
	m, err := newModule(&h.cfg, &h.out)
	if err != nil {
		t.Fatalf("newModule: %v", err)
	}
	h.m = m
	return h
}

func (h *harness) setLocal(l Local) {
	switch {
	case l.Member:
		h.holding, h.releaseAt = true, -1
	case h.holding && h.releaseAt < 0:
		h.releaseAt = h.now + h.drainLag
		if h.drainLag == 0 {
			h.holding = false
		}
	}
}

func (h *harness) sync() {
	for range 4 {
		h.setLocal(h.m.local())
		if !h.m.setDrained(h.now, !h.holding) {
			break
		}
	}
	h.collect()
}

// collect moves the module's pending actions into the histories (Advance).
func (h *harness) collect() {
	h.scripts = append(h.scripts, h.out.Scripts...)
	h.kills = append(h.kills, h.out.Kills...)
	if h.out.VIP != nil {
		h.vips = append(h.vips, *h.out.VIP)
	}
	h.states = append(h.states, h.out.States...)
	for _, l := range h.out.Logs {
		h.logs = append(h.logs, l.Text)
	}
	h.out = Ready{}
}

func (h *harness) tick(n int) {
	for range n {
		h.now++
		if h.holding && h.releaseAt >= 0 && h.now >= h.releaseAt {
			h.holding = false
		}
		h.m.tick(h.now)
		h.sync()
	}
}

func (h *harness) step(ev Event) error {
	err := h.m.step(h.now, ev)
	h.sync()
	return err
}

func (h *harness) mustStep(ev Event) {
	h.t.Helper()
	if err := h.step(ev); err != nil {
		h.t.Fatalf("step %#v: %v", ev, err)
	}
}

func (h *harness) cmd(v Verb, ident string) { h.t.Helper(); h.mustStep(Command{Verb: v, Ident: ident}) }

func (h *harness) res(name string, st ResourceState) {
	h.t.Helper()
	h.mustStep(ResourceEvent{Name: name, State: st})
}

// running names the running script, "" when none.
func (h *harness) running() string {
	if s := h.m.script; s != nil {
		return s.name
	}
	return ""
}

// done ends the running script with exit code.
func (h *harness) done(exit int) {
	h.t.Helper()
	if h.m.script == nil {
		h.t.Fatalf("done(%d): no script running", exit)
	}
	h.mustStep(ScriptDone{ID: h.m.script.id, ExitCode: exit})
}

// settle completes scripts successfully and ticks until the module is idle
// (or waits for its resources).
func (h *harness) settle() {
	h.t.Helper()
	for range 1000 {
		if h.m.phase != phaseRunning {
			return
		}
		if h.m.script != nil {
			h.done(0)
			continue
		}
		h.tick(1)
	}
	h.t.Fatalf("module did not settle: phase %d, plan %v", h.m.phase, h.m.plan)
}

// up starts the module with its resources up and settles it UP ready.
func (h *harness) up() {
	h.t.Helper()
	for _, n := range h.m.res.names {
		h.res(n, ResUp)
	}
	h.cmd(VerbStart, "")
	h.settle()
	h.expect(StateUp, true, "")
	h.scripts, h.kills, h.vips, h.states, h.logs = nil, nil, nil, nil, nil
}

func (h *harness) expect(st State, ready bool, rule string) {
	h.t.Helper()
	if h.m.state != st || h.m.ready != ready || h.m.rule != rule {
		h.t.Fatalf("state %s ready=%v rule=%q, want %s ready=%v rule=%q\nlogs: %q",
			h.m.state, h.m.ready, h.m.rule, st, ready, rule, h.logs)
	}
	if l := h.m.local(); l.Member && st != StateUp {
		h.t.Fatalf("Member in state %s", st)
	}
}

// scriptLines renders the scripts run so far as "name a0 a1 a2".
func (h *harness) scriptLines() []string {
	out := make([]string, len(h.scripts))
	for i, s := range h.scripts {
		out[i] = fmt.Sprintf("%s %s %s %s", s.Name, s.Args[0], s.Args[1], s.Args[2])
	}
	return out
}

func (h *harness) expectScripts(want ...string) {
	h.t.Helper()
	if got := h.scriptLines(); !slices.Equal(got, want) {
		h.t.Fatalf("scripts\n got %q\nwant %q", got, want)
	}
}

func (h *harness) hasLog(text string) bool {
	return slices.Contains(h.logs, text)
}

func (h *harness) countLogs(prefix string) int {
	n := 0
	for _, l := range h.logs {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func (h *harness) expectLog(text string) {
	h.t.Helper()
	if !h.hasLog(text) {
		h.t.Fatalf("no log line %q in %q", text, h.logs)
	}
}
