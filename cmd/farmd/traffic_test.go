package main_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/nstest"
)

const nsClient = "vf-h6-c1"

// TestTrafficSpreadsOverNodes sends TCP connections from 24 client
// addresses to the VIP through the real XDP dataplane: the ARP holder keeps
// its buckets and forwards the others to the peer MAC farmd learned, so
// both nodes answer; each client address always reaches the same node
// (on_addr); after one node stops, the other answers every client.
func TestTrafficSpreadsOverNodes(t *testing.T) {
	needRoot(t)
	binaries(t)
	l := buildLab(t)
	// The switch ports of the nodes need an XDP program for XDP_TX frames
	// to be delivered through them (NOTES.md).
	for i := range nodes {
		attachPass(t, l.sw, fmt.Sprintf("p%d-0", i+1))
	}
	l.client = nstest.NewNamed(t, nsClient)
	plug(t, l.sw, "pc-0", "br0", l.client, "eth0")
	var clients []string
	for i := range 24 {
		a := fmt.Sprintf("198.18.60.%d", 150+i)
		clients = append(clients, a)
		l.client.AddAddr(t, "eth0", a+"/24")
	}
	l.client.Up(t, "eth0")
	if err := l.client.TxChecksumOff("eth0"); err != nil {
		t.Fatal(err)
	}

	// Each node serves its name on VIP:8080 (bound to any address: the
	// VIP is an alias of eth0 once the module is UP).
	for i, n := range nodes {
		serveName(t, l.nodes[i], ":8080", n.name)
	}

	root := t.TempDir()
	f := startFarm(t, root, newKey(), labHome, l.farmds)
	startModules(t, f)

	ask := func(client string) (string, error) { return askFrom(l.client, client, vipAddr+":8080", 2*time.Second) }
	// Peers' MACs are learned within a second or two of the heartbeats.
	served := firstAnswers(ask, clients, 10*time.Second, nil)
	if len(served) != len(clients) {
		t.Fatalf("%d of %d clients served: %v", len(served), len(clients), served)
	}
	count := perNode(served)
	if count["node1"] == 0 || count["node2"] == 0 {
		t.Fatalf("traffic not spread: %v", count)
	}
	t.Logf("clients per node: %v", count)
	// on_addr: the same client address lands on the same node every time.
	for _, c := range clients[:8] {
		if who, err := ask(c); err != nil || who != served[c] {
			t.Errorf("client %s: %q %v, first served by %s", c, who, err, served[c])
		}
	}
	m := f[0].module()
	fwd := uint64(0)
	for _, g := range m.Counters.XDP {
		fwd += g.Forwarded
	}
	h := f[1].module()
	for _, g := range h.Counters.XDP {
		fwd += g.Forwarded
	}
	if fwd == 0 {
		t.Errorf("no packet forwarded by the ARP holder's XDP program: %+v %+v", m.Counters.XDP, h.Counters.XDP)
	}

	holder, other := 0, 1
	if !f[0].module().ARPHolder {
		holder, other = 1, 0
	}
	// The node without the ARP duty stops: the holder serves everybody.
	if code, out := f[other].farmctl("-m", "AM", "stop"); code != 0 {
		t.Fatal(out)
	}
	f[holder].waitState(10*time.Second, "UP", true, 256)
	allServedBy(t, ask, clients, nodes[holder].name, 2*time.Second)

	// It comes back, then the ARP holder stops: the other node takes the
	// duty, announces the VIP with gratuitous ARP, and the clients (whose
	// ARP caches still name the old holder) reach it.
	if code, out := f[other].farmctl("-m", "AM", "start"); code != 0 {
		t.Fatal(out)
	}
	f[other].waitState(10*time.Second, "UP", true, 128)
	if code, out := f[holder].farmctl("-m", "AM", "stop"); code != 0 {
		t.Fatal(out)
	}
	start := time.Now()
	f[other].waitState(10*time.Second, "UP", true, 256)
	allServedBy(t, ask, clients, nodes[other].name, 3*time.Second)
	t.Logf("ARP holder stopped: all clients served by the new holder after %s", time.Since(start).Round(10*time.Millisecond))
	if !f[other].module().ARPHolder {
		t.Errorf("%s serves everybody but does not hold the ARP duty", nodes[other].name)
	}

	// The stopped node comes back; then the new ARP holder's farmd is
	// killed (SIGKILL: no clean stop, its VIP alias stays behind): the
	// survivor notices the silence, takes every bucket and the ARP duty.
	if code, out := f[holder].farmctl("-m", "AM", "start"); code != 0 {
		t.Fatal(out)
	}
	f[holder].waitState(10*time.Second, "UP", true, 128)
	f[other].waitState(10*time.Second, "UP", true, 128)
	victim, survivor := other, holder
	f[victim].cmd.Process.Kill()
	<-f[victim].exited
	start = time.Now()
	allServedBy(t, ask, clients, nodes[survivor].name, 6*time.Second)
	t.Logf("ARP holder's farmd killed: all clients served by the survivor after %s", time.Since(start).Round(10*time.Millisecond))

	// farmd restarted on the victim removes the VIP its predecessor left.
	if !hasAddr(l.nodes[victim].Addrs(t, "eth0"), vipAddr, -1) {
		t.Logf("(the killed farmd left no VIP behind)")
	}
	f[victim] = startFarmd(t, root, l.farmds[victim])
	f[victim].waitState(5*time.Second, "STOP", true, 0)
	if addrs := l.nodes[victim].Addrs(t, "eth0"); hasAddr(addrs, vipAddr, -1) {
		t.Errorf("restarted farmd kept the stale VIP: %v", addrs)
	}
	allServedBy(t, ask, clients, nodes[survivor].name, 2*time.Second)
}

// allServedBy waits until every client is answered by node.
func allServedBy(t *testing.T, ask func(string) (string, error), clients []string, node string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, c := range clients {
		for {
			who, err := ask(c)
			if err == nil && who == node {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %s: %q %v, want %s within %s", c, who, err, node, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
