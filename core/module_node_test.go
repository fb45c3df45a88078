package core

import (
	"net/netip"
	"testing"

	"github.com/vipfarm/vipfarm/core/config"
)

// TestModuleThroughNode runs a start and a stop through a whole Node with
// its membership: the node claims buckets only once UP ready, and a stop
// runs stop_both only after it has let go of all of them.
func TestModuleThroughNode(t *testing.T) {
	cl := &config.Cluster{Port: 4800, Nodes: []string{"node1"},
		LANs: []config.LAN{{Name: "default", Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.11")}}}}
	n, err := New(Config{Self: "node1", Cluster: cl, Module: testModule(), TickMs: 10, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	var running *ScriptRun
	var scripts []string
	advance := func() {
		rd := n.Ready()
		for _, s := range rd.Scripts {
			if running != nil {
				t.Fatalf("%s started while %s runs", s.Name, running.Name)
			}
			running = &s
			scripts = append(scripts, s.Name)
		}
		n.Advance()
	}
	owned := func() int { return n.Status().Groups[0].Count() }
	finish := func() {
		t.Helper()
		if running == nil {
			t.Fatal("no script running")
		}
		id := running.ID
		running = nil
		if err := n.Step(ScriptDone{ID: id}); err != nil {
			t.Fatal(err)
		}
		advance()
	}
	step := func(ev Event) {
		t.Helper()
		if err := n.Step(ev); err != nil {
			t.Fatal(err)
		}
		advance()
	}
	step(ResourceEvent{Name: resIntf, State: ResUp})
	step(ResourceEvent{Name: resIP, State: ResUp})
	step(Command{Verb: VerbStart})
	for range 2000 {
		if running != nil {
			if owned() != 0 {
				t.Fatalf("buckets claimed while %s runs", running.Name)
			}
			finish()
			continue
		}
		if s := n.Status(); s.State == StateUp && s.Ready && owned() == Buckets {
			break
		}
		n.Tick()
		advance()
	}
	if s := n.Status(); s.State != StateUp || !s.Ready || owned() != Buckets {
		t.Fatalf("not UP ready with every bucket: %s ready=%v owned %d", s.State, s.Ready, owned())
	}

	step(Command{Verb: VerbStop})
	for range 5000 {
		if running != nil {
			if running.Name == "stop_both" && owned() != 0 {
				t.Fatalf("stop_both runs while %d buckets are still claimed", owned())
			}
			finish()
			continue
		}
		if s := n.Status(); s.State == StateStop {
			break
		}
		n.Tick()
		advance()
	}
	if s := n.Status(); s.State != StateStop || !s.Ready || owned() != 0 {
		t.Fatalf("not STOP ready without buckets: %s ready=%v owned %d", s.State, s.Ready, owned())
	}
	want := []string{"prestart", "start_both", "stop_both", "poststop"}
	if len(scripts) != len(want) {
		t.Fatalf("scripts %v, want %v", scripts, want)
	}
	for i := range want {
		if scripts[i] != want[i] {
			t.Fatalf("scripts %v, want %v", scripts, want)
		}
	}
}

// TestModuleParsedConfig runs a module parsed from userconfig.xml: its
// resources (Module.Resources), configured and built-in rules, the derived
// Implicit_wakeup and a checker's default action.
func TestModuleParsedConfig(t *testing.T) {
	const clusterXML = `<cluster><lans><lan name="default"><node name="node1" addr="198.18.0.11"/></lan></lans></cluster>`
	const userconfigXML = `<safe>
<service mode="farm">
  <farm><lan name="default"/></farm>
  <vip>
    <interface_list><interface check="on"><virtual_interface>
      <virtual_addr addr="198.18.0.100" where="alias" check="on"/>
    </virtual_interface></interface></interface_list>
    <loadbalancing_list><group name="FarmProto"><rule port="9010" proto="tcp" filter="on_addr"/></group></loadbalancing_list>
  </vip>
  <user nicestoptimeout="2s" forcestoptimeout="2s"/>
  <errd><proc name="httpd" action="restart"/></errd>
  <check><ping ident="gw"><to addr="198.18.0.1"/></ping></check>
  <failover period="1s" handle_time="2s"><![CDATA[
    httpd_gone: if (proc.httpd == down) then wait();
  ]]></failover>
</service>
</safe>`
	cl, err := config.ParseCluster("cluster.xml", []byte(clusterXML))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := config.ParseModule("AM", "userconfig.xml", []byte(userconfigXML), cl, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Self: "node1", Cluster: cl, Module: mod, TickMs: 100, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	var running uint64
	drive := func(ev Event) {
		t.Helper()
		if ev != nil {
			if err := n.Step(ev); err != nil {
				t.Fatal(err)
			}
		} else {
			n.Tick()
		}
		for _, s := range n.Ready().Scripts {
			running = s.ID
		}
		n.Advance()
	}
	// settle lets scripts succeed and time pass until the state is reached.
	settle := func(st State, ready bool, rule string, maxTicks int) {
		t.Helper()
		for range maxTicks {
			if s := n.Status(); s.State == st && s.Ready == ready && s.Rule == rule && n.mod.phase != phaseRunning {
				return
			}
			if running != 0 {
				id := running
				running = 0
				drive(ScriptDone{ID: id})
				continue
			}
			drive(nil)
		}
		s := n.Status()
		t.Fatalf("not %s ready=%v rule=%q after %d ticks: %s ready=%v rule=%q", st, ready, rule, maxTicks, s.State, s.Ready, s.Rule)
	}
	var names []string
	for _, r := range n.Status().Resources {
		names = append(names, r.Name)
	}
	want := []string{"intf.198.18.0.0", "ip.198.18.0.100", "ping.gw", "proc.httpd"}
	if len(names) != len(want) {
		t.Fatalf("resources %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("resources %v, want %v", names, want)
		}
	}

	for _, r := range []string{"intf.198.18.0.0", "ip.198.18.0.100", "ping.gw"} {
		drive(ResourceEvent{Name: r, State: ResUp})
	}
	drive(Command{Verb: VerbStart})
	settle(StateWait, false, "", 50) // proc.httpd, read by a wait rule, is still init
	drive(ResourceEvent{Name: "proc.httpd", State: ResUp})
	settle(StateUp, true, "", 100)

	drive(ResourceEvent{Name: "proc.httpd", State: ResDown}) // a configured wait rule, after handle_time
	settle(StateWait, false, "httpd_gone", 100)
	drive(ResourceEvent{Name: "proc.httpd", State: ResUp}) // the parser's Implicit_wakeup
	settle(StateUp, true, "", 100)

	drive(ResourceEvent{Name: "ping.gw", State: ResDown}) // ping's default action: wait, at once
	settle(StateWait, false, "ping.gw", 10)
	drive(ResourceEvent{Name: "ping.gw", State: ResUp})
	settle(StateUp, true, "", 100)
}
