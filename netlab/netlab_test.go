package netlab

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/vipfarm/vipfarm/netlab/demo"
	"github.com/vishvananda/netlink"
)

func TestMain(m *testing.M) {
	RunShimIfAsked() // lab processes started by the tests come back here
	os.Exit(m.Run())
}

func TestPlanAddressing(t *testing.T) {
	p, err := NewPlan(Spec{Nodes: 3, Clients: 2, SourcesPerClient: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Namespaces(), []string{"vf-sw", "vf-node1", "vf-node2", "vf-node3", "vf-client1", "vf-client2"}; !slices.Equal(got, want) {
		t.Errorf("namespaces %v, want %v", got, want)
	}
	n2 := p.Nodes[1]
	if n2.Addrs[0] != netip.MustParseAddr("198.18.0.12") || n2.Addrs[1] != netip.MustParseAddr("198.18.1.12") {
		t.Errorf("node2 addrs %v", n2.Addrs)
	}
	if n2.Addr6[1] != netip.MustParseAddr("fd00:198:18:1::12") {
		t.Errorf("node2 addr6 %v", n2.Addr6)
	}
	if n2.Ports[1] != "node2-e1" || n2.Ifaces[1] != "eth1" || n2.MACs[1] != "02:56:46:01:01:02" {
		t.Errorf("node2 names %v %v %v", n2.Ports, n2.Ifaces, n2.MACs)
	}
	c2 := p.Clients[1]
	if c2.Addr != netip.MustParseAddr("198.18.0.202") || !slices.Equal(c2.Sources, []netip.Addr{
		netip.MustParseAddr("198.19.2.1"), netip.MustParseAddr("198.19.2.2"), netip.MustParseAddr("198.19.2.3")}) {
		t.Errorf("client2 %v %v", c2.Addr, c2.Sources)
	}
	if p.VIP != netip.MustParseAddr("198.18.0.100") || p.Bridges[0] != "br-default" {
		t.Errorf("vip %v bridges %v", p.VIP, p.Bridges)
	}
	for _, n := range p.Nodes {
		for _, a := range n.Addrs {
			if !netip.MustParsePrefix("198.18.0.0/15").Contains(a) {
				t.Errorf("%s address %v outside 198.18.0.0/15", n.Name, a)
			}
		}
	}
	if !netip.MustParsePrefix("198.18.0.0/15").Contains(p.ClientSourceNet.Addr()) {
		t.Errorf("client sources %v outside 198.18.0.0/15", p.ClientSourceNet)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Nodes: 51}, "51 nodes"},
		{Spec{Prefix: "VF"}, "prefix"},
		{Spec{LANs: []string{"default", "default"}}, "listed twice"},
		{Spec{LANs: []string{"a-very-long-lan"}}, "LAN name"},
		{Spec{StateDir: "relative"}, "absolute"},
		{Spec{StateDir: "/run/lab$(reboot)"}, "read specially"},
		{Spec{ServicePort: 9010}, "both 9010"},
		{Spec{Module: "A M"}, "module name"},
		{Spec{SourcesPerClient: 300}, "sources per client"},
	} {
		_, err := NewPlan(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.spec, err, tc.want)
		}
	}
	if !labNSPattern("vf-").MatchString("vf-node12") || labNSPattern("vf-").MatchString("vf-h7-node1") ||
		labNSPattern("vf-").MatchString("vf-t1-sw") {
		t.Error("the namespace pattern of prefix vf- must match vf-node12 only, not other labs' names")
	}
}

func TestPortFilterThreshold(t *testing.T) {
	if lossThreshold(0) != 0 || lossThreshold(100) != 1<<32 || lossThreshold(50) != 1<<31 {
		t.Errorf("thresholds %d %d %d", lossThreshold(0), lossThreshold(100), lossThreshold(50))
	}
}

// needRoot skips a test that builds namespaces when the test is not root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, netlink, BPF): run `sudo go test ./netlab/`")
	}
}

// upLab brings a small lab up under prefix and registers its teardown.
func upLab(t *testing.T, prefix string, nodes, clients int) *Lab {
	t.Helper()
	spec := Spec{Prefix: prefix, StateDir: t.TempDir() + "/lab", Nodes: nodes, Clients: clients, SourcesPerClient: 8}
	start := time.Now()
	l, err := Up(spec)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("Up of %d nodes, %d clients: %v", nodes, clients, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := Down(spec); err != nil {
			t.Errorf("Down: %v", err)
		}
	})
	return l
}

// serveDemo runs the demo service in-process in every node's namespace.
func serveDemo(t *testing.T, l *Lab) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	var servers []func()
	for _, n := range l.Plan.Nodes {
		tl, err := Listen(n.NS, "tcp", ":9000")
		if err != nil {
			t.Fatal(err)
		}
		u4, err := ListenPacket(n.NS, "udp4", "0.0.0.0:9000")
		if err != nil {
			t.Fatal(err)
		}
		u6, err := ListenPacket(n.NS, "udp6", "[::]:9000")
		if err != nil {
			t.Fatal(err)
		}
		srv := demo.Server{Name: n.Name}
		servers = append(servers, func() {
			if err := srv.Serve(ctx, tl, u4, u6); err != nil {
				t.Errorf("demo %s: %v", srv.Name, err)
			}
		})
	}
	go func() {
		defer close(done)
		errc := make(chan struct{}, len(servers))
		for _, s := range servers {
			go func() { s(); errc <- struct{}{} }()
		}
		for range servers {
			<-errc
		}
	}()
}

func assertNoLab(t *testing.T, spec Spec) {
	t.Helper()
	s, _ := spec.withDefaults()
	left, err := scanLabNamespaces(s.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("namespaces left after Down: %v", left)
	}
	if _, err := os.Stat(StatePath(s.StateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file left after Down: %v", err)
	}
}

func TestUpDownTopology(t *testing.T) {
	needRoot(t)
	l := upLab(t, testPrefix("1"), 2, 1)
	p := l.Plan
	for _, ns := range p.Namespaces() {
		if !namedns.Exists(ns) {
			t.Errorf("namespace %s missing", ns)
		}
	}
	sw, err := namedns.HandleAt(p.SwitchNS)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	bridges := map[int]string{}
	for _, b := range p.Bridges {
		link, err := sw.LinkByName(b)
		if err != nil {
			t.Fatalf("bridge %s: %v", b, err)
		}
		bridges[link.Attrs().Index] = b
	}
	ports := slices.Clone(p.Clients[0:1])
	var portNames []string
	for _, n := range p.Nodes {
		portNames = append(portNames, n.Ports...)
	}
	portNames = append(portNames, ports[0].Port)
	for _, name := range portNames {
		link, err := sw.LinkByName(name)
		if err != nil {
			t.Errorf("switch port %s: %v", name, err)
			continue
		}
		a := link.Attrs()
		if bridges[a.MasterIndex] == "" {
			t.Errorf("switch port %s is not on a lab bridge (master %d)", name, a.MasterIndex)
		}
		if a.Xdp == nil || !a.Xdp.Attached || a.Xdp.ProgId == 0 || a.Xdp.AttachMode != 1 /* XDP_ATTACHED_DRV */ {
			t.Errorf("switch port %s: no XDP program in driver mode: %+v", name, a.Xdp)
		}
		if a.OperState != netlink.OperUp {
			t.Errorf("switch port %s is %v, want up", name, a.OperState)
		}
	}
	c := p.Clients[0]
	on, err := TxChecksum(c.NS, c.Iface)
	if err != nil || on {
		t.Errorf("client tx checksum offload on=%v err=%v, want off", on, err)
	}
	if on, err := TxChecksum(p.Nodes[0].NS, "eth0"); err != nil || !on {
		t.Errorf("node tx checksum on=%v err=%v: the ioctl reads wrong if a veth default shows off", on, err)
	}

	// Traffic: the client reaches every node address on the client LAN over
	// the bridge (IPv4, IPv6, from its primary and extra sources, TCP and
	// UDP); nodes reach each other on every LAN.
	serveDemo(t, l)
	ctx := context.Background()
	for _, n := range p.Nodes {
		for _, dst := range []netip.Addr{n.Addrs[0], n.Addr6[0]} {
			srcs := []netip.Addr{{}, c.Sources[0], c.Sources[len(c.Sources)-1]}
			if dst.Is6() {
				srcs = []netip.Addr{{}, c.Sources6[0], c.Sources6[len(c.Sources6)-1]}
			}
			for _, src := range srcs {
				ap := netip.AddrPortFrom(dst, 9000)
				if pr := l.ProbeTCP(ctx, c, src, ap, 3*time.Second); pr.Node != n.Name {
					t.Errorf("TCP %v -> %v: answer %q err %s, want %s", src, ap, pr.Node, pr.Err, n.Name)
				}
				if pr := l.ProbeUDP(ctx, c, src, ap, 3*time.Second); pr.Node != n.Name {
					t.Errorf("UDP %v -> %v: answer %q err %s, want %s", src, ap, pr.Node, pr.Err, n.Name)
				}
			}
		}
	}
	for i := range p.Spec.LANs {
		dst := netip.AddrPortFrom(p.Nodes[1].Addrs[i], 9000)
		conn, err := DialContext(ctx, p.Nodes[0].NS, "tcp", dst.String(), nil)
		if err != nil {
			t.Errorf("node1 -> node2 on LAN %d: %v", i, err)
			continue
		}
		if name, err := demo.ReadName(conn, 3*time.Second); name != "node2" {
			t.Errorf("node1 -> node2 on LAN %d: %q %v", i, name, err)
		}
		conn.Close()
	}
	// The client is on the first LAN only: the private LAN is unreachable.
	if pr := l.ProbeTCP(ctx, c, netip.Addr{}, netip.AddrPortFrom(p.Nodes[0].Addrs[1], 9000), 300*time.Millisecond); pr.Err == "" {
		t.Errorf("client reached node1 on the private LAN: %+v", pr)
	}

	st := l.State()
	if len(st.Namespaces) != 4 || len(st.Links) != 2+4+1 {
		t.Errorf("state records %d namespaces, %d links: %+v", len(st.Namespaces), len(st.Links), st)
	}
	if _, err := Up(p.Spec); err == nil || !strings.Contains(err.Error(), "farmlab down") {
		t.Errorf("a second Up on a lab that is up: %v, want a refusal naming `farmlab down`", err)
	}
	if err := Down(p.Spec); err != nil {
		t.Fatalf("Down: %v", err)
	}
	assertNoLab(t, p.Spec)
	if err := Down(p.Spec); err != nil {
		t.Errorf("a second Down: %v, want nil (idempotent)", err)
	}
}

// A crash of farmlab leaves the state file, the namespaces and the
// processes behind; Down removes them — and finds them by name and by
// namespace membership when the state file is lost too.
func TestDownAfterCrash(t *testing.T) {
	needRoot(t)
	for _, lose := range []bool{false, true} {
		name := "state-kept"
		if lose {
			name = "state-lost"
		}
		t.Run(name, func(t *testing.T) {
			l := upLab(t, testPrefix("2"), 2, 1)
			spec := l.Plan.Spec
			pr, err := l.StartDaemon("sleeper node1", l.Plan.Nodes[0].NS, []string{"sleep", "300"}, nil, spec.StateDir+"/logs/sleeper.log")
			if err != nil {
				t.Fatal(err)
			}
			// A grandchild the lab did not record (as farmd's scripts are).
			pr2, err := l.StartDaemon("sleeper node2", l.Plan.Nodes[1].NS, []string{"sh", "-c", "sleep 300 & wait"}, nil, spec.StateDir+"/logs/sleeper2.log")
			if err != nil {
				t.Fatal(err)
			}
			if !alive(pr.PID, pr.StartTicks) || !alive(pr2.PID, pr2.StartTicks) {
				t.Fatal("daemons did not start")
			}
			waitFor(t, func() bool { ps, _ := procsInNS(l.Plan.Nodes[1].NS); return len(ps) == 2 })
			if lose {
				if err := os.Remove(StatePath(spec.StateDir)); err != nil {
					t.Fatal(err)
				}
			}
			// The Lab value is simply dropped, as by a crash.
			if err := Down(spec); err != nil {
				t.Fatalf("Down: %v", err)
			}
			if alive(pr.PID, pr.StartTicks) || alive(pr2.PID, pr2.StartTicks) {
				t.Error("a lab process survived Down")
			}
			assertNoLab(t, spec)
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFaults(t *testing.T) {
	needRoot(t)
	l := upLab(t, testPrefix("3"), 3, 1)
	serveDemo(t, l)
	p := l.Plan
	c := p.Clients[0]
	ctx := context.Background()
	// try opens one connection; a negative answer waits a full second so
	// that a loaded machine does not pass a blocked path as blocked.
	try := func(from string, to Node, lan int) bool {
		dst := netip.AddrPortFrom(to.Addrs[lan], 9000)
		ns, err := p.NamespaceOf(from)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := DialContext(cctx, ns, "tcp", dst.String(), nil)
		if err != nil {
			return false
		}
		defer conn.Close()
		name, err := demo.ReadName(conn, time.Second)
		return err == nil && name == to.Name
	}
	// blocked: no connection within a second.
	blocked := func(from string, to Node, lan int) bool { return !try(from, to, lan) }
	// reach: a connection within 5 s (a neighbour entry left INCOMPLETE by
	// a fault retries ARP once a second, three times).
	reach := func(from string, to Node, lan int) bool {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if try(from, to, lan) {
				return true
			}
			if time.Now().After(deadline) {
				t.Logf("%s cannot reach %s on LAN %d", from, to.Name, lan)
				return false
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	n1, n2, n3 := p.Nodes[0], p.Nodes[1], p.Nodes[2]
	// Neighbour entries learnt before a fault would hide nothing here: every
	// check opens a new connection whose frames must cross the switch.
	for _, n := range p.Nodes {
		if !reach(c.Name, n, 0) {
			t.Fatalf("client cannot reach %s before any fault", n.Name)
		}
	}

	t.Run("cut", func(t *testing.T) {
		if err := l.Cut("default", "node2"); err != nil {
			t.Fatal(err)
		}
		if !blocked(c.Name, n2, 0) || !reach(c.Name, n1, 0) || !reach("node1", n2, 1) {
			t.Error("cut of node2 on default: want node2 unreachable there only")
		}
		if err := l.Restore("default", "node2"); err != nil {
			t.Fatal(err)
		}
		if !reach(c.Name, n2, 0) {
			t.Error("restore: node2 still unreachable")
		}
	})

	t.Run("partition", func(t *testing.T) {
		if err := l.Isolate([]string{"node1"}, []string{"node2", "node3"}); err != nil {
			t.Fatal(err)
		}
		for lan := range p.Spec.LANs {
			if !blocked("node1", n2, lan) || !blocked("node3", n1, lan) {
				t.Errorf("LAN %d: a frame crossed the partition", lan)
			}
			if !reach("node2", n3, lan) {
				t.Errorf("LAN %d: node2 and node3 (same side) cannot talk", lan)
			}
		}
		for _, n := range p.Nodes {
			if !reach(c.Name, n, 0) {
				t.Errorf("client cannot reach %s during the partition", n.Name)
			}
		}
		if st := l.State(); len(st.LANFaults) != 2 {
			t.Errorf("state records %d LAN faults, want 2", len(st.LANFaults))
		}
		if err := l.HealAll(); err != nil {
			t.Fatal(err)
		}
		if !reach("node1", n2, 0) || !reach("node3", n1, 1) {
			t.Error("heal did not restore node-to-node traffic")
		}
		if st := l.State(); len(st.LANFaults) != 0 || len(st.Cuts) != 0 {
			t.Errorf("faults left in state after HealAll: %+v %+v", st.LANFaults, st.Cuts)
		}
	})

	t.Run("loss", func(t *testing.T) {
		if err := l.SetLoss("private", 100); err != nil {
			t.Fatal(err)
		}
		if !blocked("node1", n2, 1) || !reach("node1", n2, 0) {
			t.Error("100% loss on private: want private dead, default alive")
		}
		// 30% loss: UDP probes get through sometimes, not always.
		if err := l.SetLoss("default", 30); err != nil {
			t.Fatal(err)
		}
		ok := 0
		for range 60 {
			if pr := l.ProbeUDP(ctx, c, netip.Addr{}, netip.AddrPortFrom(n1.Addrs[0], 9000), 100*time.Millisecond); pr.Err == "" {
				ok++
			}
		}
		// Each exchange crosses the switch twice: P(ok) = 0.7² ≈ 0.49.
		if ok < 10 || ok > 50 {
			t.Errorf("30%% loss: %d of 60 UDP exchanges answered, want about 29", ok)
		}
		t.Logf("30%% loss: %d/60 UDP exchanges answered", ok)
		for _, lan := range p.Spec.LANs {
			if err := l.SetLoss(lan, 0); err != nil {
				t.Fatal(err)
			}
		}
		if !reach("node1", n2, 1) {
			t.Error("loss 0 did not restore the private LAN")
		}
		if err := l.SetLoss("default", 101); err == nil {
			t.Error("loss 101%: no error")
		}
	})

	t.Run("delay", func(t *testing.T) {
		err := l.SetDelay("default", 50*time.Millisecond)
		if err != nil {
			if strings.Contains(err.Error(), "sch_netem") {
				t.Skipf("delay: %v", err)
			}
			t.Fatal(err)
		}
		start := time.Now()
		if !reach(c.Name, n1, 0) {
			t.Error("delay 50ms: node1 unreachable")
		}
		if rtt := time.Since(start); rtt < 100*time.Millisecond {
			t.Errorf("delay 50ms: connect+answer took %v, want >= 100ms", rtt)
		}
		if err := l.SetDelay("default", 0); err != nil {
			t.Fatal(err)
		}
	})

	if err := l.Partition("nolan"); err == nil {
		t.Error("partition of an unknown LAN: no error")
	}
	if err := l.Partition("default", []string{"node1"}, []string{"node1"}); err == nil {
		t.Error("a node in two groups: no error")
	}
	if err := l.Cut("default", "node9"); err == nil {
		t.Error("cut of an unknown node: no error")
	}
}

// testPrefix names a test's lab: $VF_TEST_PREFIX (default "vf-t") then
// n and '-', so that the tests can run beside other labs of the machine.
func testPrefix(n string) string {
	p := os.Getenv("VF_TEST_PREFIX")
	if p == "" {
		p = "vf-t"
	}
	return p + n + "-"
}
