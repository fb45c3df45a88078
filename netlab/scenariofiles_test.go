package netlab

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/internal/home"
	"github.com/vipfarm/vipfarm/sim"
)

// A `files:` scenario builds the lab from its cluster.xml and runs its
// userconfig.xml; what the lab must change is changed and said.
func TestFilesSetupBootOn(t *testing.T) {
	sc, err := sim.LoadScenario("../scenarios/15-crash-reboot-boot-on.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, so, err := ScenarioSetup(sc, Spec{Prefix: "vf-t", StateDir: t.TempDir() + "/lab"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(spec.NodeNames, " ") != "node1 node2" || strings.Join(spec.LANs, " ") != "default private" {
		t.Errorf("lab from cluster.xml: nodes %v, LANs %v", spec.NodeNames, spec.LANs)
	}
	if spec.VIP.String() != "198.18.0.100" || spec.ServicePort != 9010 || spec.AdminPort != 9011 || spec.HeartbeatPort != 4800 {
		t.Errorf("VIP %v, service port %d, admin port %d, heartbeat port %d", spec.VIP, spec.ServicePort, spec.AdminPort, spec.HeartbeatPort)
	}
	if spec.Clients != 2 || spec.SourcesPerClient != 100 {
		t.Errorf("traffic of 200 clients: %d clients x %d sources", spec.Clients, spec.SourcesPerClient)
	}
	if len(so.Notes) != 2 || !strings.Contains(so.Notes[0], "vmac_invisible runs as alias") {
		t.Errorf("notes: %q", so.Notes)
	}
	if strings.Contains(so.Home.Userconfig, "vmac_invisible") || !strings.Contains(so.Home.Userconfig, `boot="on"`) {
		t.Errorf("userconfig as the lab writes it:\n%s", so.Home.Userconfig)
	}
	// The homes load in farmd as they are: the file's module, the lab's
	// addresses.
	l := testLabSpec(t, spec)
	so.Home.Farmlab = "/usr/local/bin/farmlab"
	if err := l.WriteHomes(so.Home); err != nil {
		t.Fatal(err)
	}
	h, err := home.Load(l.HomeDir("node2"), config.Env(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatalf("farmd would refuse the home: %v", err)
	}
	m := h.Modules[0].Config
	if m.Service.Boot != config.BootOn || m.VIP.Interfaces[0].Mode != config.ModeAlias || h.Cluster.LANs[1].Addrs[1].String() != "198.18.1.12" {
		t.Errorf("boot %q, mode %q, node2 on private %v", m.Service.Boot, m.VIP.Interfaces[0].Mode, h.Cluster.LANs[1].Addrs[1])
	}
}

// fail-script: the armed script's next run exits with the code and
// removes the flag; the run after that is the normal script.
func TestFailScriptArmsOneRun(t *testing.T) {
	l := testLab(t, 2)
	if err := l.WriteHomes(HomeOptions{Farmlab: "/usr/local/bin/farmlab"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Do(context.Background(), "fail-script node2 poststop 7"); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(l.HomeDir("node2"), "modules", "AM", "bin", "poststop")
	run := func() int {
		out, err := exec.Command("/bin/sh", script, "UP", "STOP", "stop").CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("%s: %v: %s", script, err, out)
		}
		return 0
	}
	if code := run(); code != 7 {
		t.Errorf("armed poststop exited %d, want 7", code)
	}
	if _, err := os.Stat(l.FailFlag("node2", "poststop")); !os.IsNotExist(err) {
		t.Errorf("the flag survived its run: %v", err)
	}
	if code := run(); code != 0 {
		t.Errorf("the next poststop exited %d, want 0", code)
	}
	for _, bad := range []string{"fail-script node9 poststop", "fail-script node1 nosuch", "fail-script node1 poststop 0", "fail-script node1 poststop 256"} {
		if _, err := l.Do(context.Background(), bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The trace's lines have farmsim's shape, key for key.
func TestTracerShape(t *testing.T) {
	var b bytes.Buffer
	tr := NewTracer(&b)
	tr.Step(0, "start node1")
	tr.Expect(3000, true, `node1: state UP, rule "x<y"`)
	tr.Violation(3100, "INV-2", "detail")
	tr.Result(false, 1, 1)
	var nilTr *Tracer
	nilTr.Step(1, "ignored") // a nil tracer writes nothing
	want := `{"t_ms":0,"event":"step","do":"start node1"}
{"t_ms":3000,"event":"expect","ok":true,"detail":"node1: state UP, rule \"x<y\""}
{"t_ms":3100,"event":"violation","invariant":"INV-2","detail":"detail"}
{"event":"result","ok":false,"seed":1,"violations":1}
`
	if b.String() != want {
		t.Errorf("trace:\n%s\nwant:\n%s", b.String(), want)
	}
	var bm core.Bitmap
	bm.Set(3)
	bm.Set(200)
	if got := bucketList(bm); len(got) != 2 || got[0] != 3 || got[1] != 200 {
		t.Errorf("bucketList: %v", got)
	}
	if got := bucketList(core.Bitmap{}); got == nil || len(got) != 0 {
		t.Errorf("empty bucketList: %#v, want [] (not null)", got)
	}
}

// Node names and VIPs a file brings are checked like every spec field.
func TestSpecNamesAndVIP(t *testing.T) {
	p, err := NewPlan(Spec{StateDir: "/x", NodeNames: []string{"alpha", "beta"}, VIP: netip.MustParseAddr("198.18.0.150")})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 2 || p.Nodes[1].Name != "beta" || p.Nodes[1].NS != "vf-node2" || p.Nodes[1].Ports[0] != "node2-e0" || p.VIP.String() != "198.18.0.150" {
		t.Errorf("plan: %+v, VIP %v", p.Nodes, p.VIP)
	}
	for _, s := range []Spec{
		{NodeNames: []string{"a", "a"}},
		{NodeNames: []string{"client1"}},
		{NodeNames: []string{"bad name"}},
		{Nodes: 3, NodeNames: []string{"a", "b"}},
		{VIP: netip.MustParseAddr("10.0.0.1")},
		{VIP: netip.MustParseAddr("198.18.0.12")},
		{VIP6: netip.MustParseAddr("2001:db8::1")},
	} {
		s.StateDir = "/x"
		if _, err := NewPlan(s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

// One poll that sees node2 hand its buckets to node1 and stop writes the
// release first, then the state, then the acquisition: read line by line,
// no instant shows a bucket claimed twice or a STOP node claiming.
func TestTracerOrdersAHandOver(t *testing.T) {
	var half1, half2, all core.Bitmap
	for b := range core.Buckets {
		all.Set(b)
		if b < 128 {
			half1.Set(b)
		} else {
			half2.Set(b)
		}
	}
	up := func(ready bool) NodeObservation {
		return NodeObservation{Running: true, State: core.StateUp, Ready: ready}
	}
	var b bytes.Buffer
	tr := NewTracer(&b)
	names, groups := []string{"node1", "node2"}, []string{"FarmProto"}
	tr.record(0, names, groups, Observation{Nodes: []NodeObservation{up(true), up(true)}},
		[][]core.Bitmap{{half1}, {half2}})
	b.Reset()
	tr.record(100, names, groups, Observation{Nodes: []NodeObservation{up(true), {Running: true, State: core.StateStop, Ready: true}}},
		[][]core.Bitmap{{all}, {{}}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		`"node":"node2","event":"buckets","group":"FarmProto","owned":[]`,
		`"node":"node2","event":"state","state":"STOP","ready":true`,
		`"node":"node1","event":"buckets","group":"FarmProto","owned":[0,1,2,`,
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", b.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d: %s\nwant it to contain %s", i+1, lines[i], w)
		}
	}
}
