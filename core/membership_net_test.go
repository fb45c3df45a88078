package core

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/core/config"
)

// A tiny in-test network: Nodes ticked in lock step, every heartbeat of a
// tick delivered to every other running node on every LAN that connects them,
// at the end of that tick. Module state is driven through the membership's
// test hook, so these tests need nothing of the module half.

// testConfig builds a cluster of n nodes on lans LANs with one group
// FarmProto; powers (by node index) empty = no <cluster> in the group.
func testConfig(n, lans int, powers []int) (*config.Cluster, *config.Module) {
	cl := &config.Cluster{Port: 4800}
	for i := range n {
		cl.Nodes = append(cl.Nodes, fmt.Sprintf("node%d", i+1))
	}
	var lanNames []string
	for l := range lans {
		lan := config.LAN{Name: fmt.Sprintf("lan%d", l)}
		for i := range n {
			lan.Addrs = append(lan.Addrs, netip.AddrFrom4([4]byte{198, 18, byte(l), byte(11 + i)}))
		}
		cl.LANs = append(cl.LANs, lan)
		lanNames = append(lanNames, lan.Name)
	}
	g := config.Group{Name: "FarmProto"}
	for i, p := range powers {
		g.Hosts = append(g.Hosts, config.Host{Name: cl.Nodes[i], Power: p})
	}
	mod := &config.Module{
		Name: "AM",
		Farm: config.Farm{Pulse: 100 * time.Millisecond, SlostCount: 10, MlostCount: 20, LANs: lanNames},
		VIP:  &config.VIP{Groups: []config.Group{g}},
	}
	return cl, mod
}

type testNode struct {
	n       *Node
	running bool
	local   Local
	arp     bool
	table   [Buckets]uint8
	logs    []string
}

// failer is what the network needs of a test: *testing.T, *testing.B or *rapid.T.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

type testNet struct {
	t     failer
	cl    *config.Cluster
	mod   *config.Module
	nodes []*testNode
	lans  int
	// cut[l][i][j]: LAN l does not carry i's heartbeats to j.
	cut     [][][]bool
	inc     uint64
	planned bool  // assert release-before-acquire (INV-7) at every tick
	sent    []int // heartbeats emitted per node
	ticks   int64
	trace   []string
}

func newTestNet(t failer, n, lans int, powers []int) *testNet {
	cl, mod := testConfig(n, lans, powers)
	tn := &testNet{t: t, cl: cl, mod: mod, lans: lans, planned: true}
	tn.cut = make([][][]bool, lans)
	for l := range tn.cut {
		tn.cut[l] = make([][]bool, n)
		for i := range tn.cut[l] {
			tn.cut[l][i] = make([]bool, n)
		}
	}
	tn.sent = make([]int, n)
	for i := range n {
		tn.nodes = append(tn.nodes, &testNode{})
		tn.boot(i)
	}
	return tn
}

// boot starts node i's process (a new incarnation), module STOP.
func (tn *testNet) boot(i int) {
	tn.inc++
	n, err := New(Config{Self: tn.cl.Nodes[i], Cluster: tn.cl, Module: tn.mod, TickMs: 10, Incarnation: tn.inc})
	if err != nil {
		tn.t.Fatal(err)
	}
	tnode := tn.nodes[i]
	*tnode = testNode{n: n, running: true}
	for b := range tnode.table {
		tnode.table[b] = NoOwner
	}
	tn.setLocal(i, Local{State: StateStop})
}

// crash discards node i's process.
func (tn *testNet) crash(i int) { tn.nodes[i].running = false; tn.nodes[i].n = nil }

func (tn *testNet) setLocal(i int, l Local) {
	tnode := tn.nodes[i]
	tnode.local = l
	tnode.n.mem.hook = &tnode.local
	tnode.n.sync()
}

func (tn *testNet) start(i int) { tn.setLocal(i, Local{State: StateUp, Ready: true, Member: true}) }

// stop is a planned stop: leave, and once drained go to STOP.
func (tn *testNet) stop(i int) { tn.setLocal(i, Local{State: StateUp, Ready: false, Member: false}) }

// isolate cuts every LAN between the two sides.
func (tn *testNet) isolate(a, b []int) {
	for l := range tn.cut {
		for _, i := range a {
			for _, j := range b {
				tn.cut[l][i][j], tn.cut[l][j][i] = true, true
			}
		}
	}
}

func (tn *testNet) heal() {
	for l := range tn.cut {
		for i := range tn.cut[l] {
			for j := range tn.cut[l][i] {
				tn.cut[l][i][j] = false
			}
		}
	}
}

// tick advances every running node one tick and delivers the heartbeats.
func (tn *testNet) tick() {
	tn.ticks++
	type msg struct {
		from int
		o    Outgoing
	}
	var msgs []msg
	for i, tnode := range tn.nodes {
		if !tnode.running {
			continue
		}
		tnode.n.Tick()
		for _, o := range tn.drain(i) {
			tn.sent[i]++
			msgs = append(msgs, msg{i, o})
		}
	}
	for _, m := range msgs {
		for j, dst := range tn.nodes {
			if j == m.from || !dst.running {
				continue
			}
			for l := range tn.lans {
				if m.o.LAN >= 0 && m.o.LAN != l || tn.cut[l][m.from][j] {
					continue
				}
				if err := dst.n.Step(Recv{LAN: l, Msg: m.o.Msg}); err != nil {
					tn.t.Fatalf("tick %d: node%d recv: %v", tn.ticks, j+1, err)
				}
				tn.drain(j)
			}
		}
	}
	for i, tnode := range tn.nodes {
		if tnode.running && tnode.local.State == StateUp && !tnode.local.Member && tnode.n.mem.drained() {
			tn.setLocal(i, Local{State: StateStop}) // the module half would run stop_both now
			tn.drain(i)
		}
	}
	if tn.planned {
		tn.checkNoDoubleClaim()
	}
}

// drain carries out node i's Ready and returns its messages.
func (tn *testNet) drain(i int) []Outgoing {
	tnode := tn.nodes[i]
	rd := tnode.n.Ready()
	msgs := append([]Outgoing(nil), rd.Messages...)
	for _, u := range rd.Tables {
		tnode.table = u.Owners
	}
	if rd.ARPHolder != nil {
		tnode.arp = *rd.ARPHolder
	}
	for _, l := range rd.Logs {
		tnode.logs = append(tnode.logs, l.Text)
		tn.trace = append(tn.trace, fmt.Sprintf("%d node%d %s", tn.ticks, i+1, l.Text))
	}
	tnode.n.Advance()
	return msgs
}

func (tn *testNet) run(d time.Duration) {
	for range int64(d / (10 * time.Millisecond)) {
		tn.tick()
	}
}

func (tn *testNet) claims(i int) *Bitmap {
	if !tn.nodes[i].running {
		return &Bitmap{}
	}
	return &tn.nodes[i].n.mem.claims[0]
}

func (tn *testNet) count(i int) int { return tn.claims(i).Count() }

// checkNoDoubleClaim asserts INV-7: no bucket claimed by two running nodes.
func (tn *testNet) checkNoDoubleClaim() {
	tn.t.Helper()
	for b := range Buckets {
		owner := -1
		for i := range tn.nodes {
			if tn.claims(i).Has(b) {
				if owner >= 0 {
					tn.t.Fatalf("tick %d: bucket %d claimed by node%d and node%d", tn.ticks, b, owner+1, i+1)
				}
				owner = i
			}
		}
	}
}

// owners is the claim table of the nodes in set (NoOwner = unclaimed); it
// fails on a double claim among them.
func (tn *testNet) owners(set []int) [Buckets]uint8 {
	tn.t.Helper()
	var o [Buckets]uint8
	for b := range o {
		o[b] = NoOwner
		for _, i := range set {
			if tn.claims(i).Has(b) {
				if o[b] != NoOwner {
					tn.t.Fatalf("tick %d: bucket %d claimed by node%d and node%d", tn.ticks, b, o[b]+1, i+1)
				}
				o[b] = uint8(i)
			}
		}
	}
	return o
}

// wantCounts checks every node's bucket count and that the nodes of each
// component claim every bucket exactly once.
func (tn *testNet) wantCounts(want ...int) {
	tn.t.Helper()
	var got []int
	for i := range tn.nodes {
		got = append(got, tn.count(i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tn.t.Fatalf("tick %d: counts %v, want %v", tn.ticks, got, want)
	}
}

func (tn *testNet) wantFullTable(set []int) [Buckets]uint8 {
	tn.t.Helper()
	o := tn.owners(set)
	for b, x := range o {
		if x == NoOwner {
			tn.t.Fatalf("tick %d: bucket %d unclaimed among %v", tn.ticks, b, set)
		}
	}
	return o
}

func (tn *testNet) hasLog(i int, text string) bool {
	for _, l := range tn.nodes[i].logs {
		if strings.Contains(l, text) {
			return true
		}
	}
	return false
}

// cutPair cuts every LAN between nodes i and j, both ways: a partial cut
// that leaves both connected to the others.
func (tn *testNet) cutPair(i, j int) {
	for l := range tn.cut {
		tn.cut[l][i][j], tn.cut[l][j][i] = true, true
	}
}

// linked reports whether some LAN carries heartbeats both ways between i and j.
func (tn *testNet) linked(i, j int) bool {
	for l := range tn.cut {
		if !tn.cut[l][i][j] && !tn.cut[l][j][i] {
			return true
		}
	}
	return false
}

// components is SPEC §5's components of the running nodes: the transitive
// closure of two-way links, each in ascending node order.
func (tn *testNet) components() [][]int {
	comp := make([]int, len(tn.nodes))
	for i := range comp {
		comp[i] = -1
	}
	var out [][]int
	for i, tnode := range tn.nodes {
		if !tnode.running || comp[i] >= 0 {
			continue
		}
		c := []int{i}
		comp[i] = len(out)
		for k := 0; k < len(c); k++ {
			for j, other := range tn.nodes {
				if other.running && comp[j] < 0 && tn.linked(c[k], j) {
					comp[j] = len(out)
					c = append(c, j)
				}
			}
		}
		slices.Sort(c)
		out = append(out, c)
	}
	return out
}

// checkComponents asserts INV-1..3 in every component, whether or not its
// nodes all hear each other: nodes that are not UP members claim nothing;
// the members of a component claim every bucket exactly once, each within ±1
// of its equal share; exactly one of them holds the ARP duty; every node of
// the component names the same leader and shows the claims as its table.
func (tn *testNet) checkComponents(what string) {
	tn.t.Helper()
	for _, comp := range tn.components() {
		var up []int
		for _, i := range comp {
			l := tn.nodes[i].local
			if l.State == StateUp && l.Member {
				up = append(up, i)
			} else if tn.count(i) != 0 {
				tn.t.Fatalf("%s: tick %d: node%d (%+v) claims %d buckets", what, tn.ticks, i+1, l, tn.count(i))
			}
		}
		if len(up) == 0 {
			continue
		}
		o := tn.owners(up)
		for b, x := range o {
			if x == NoOwner {
				tn.t.Fatalf("%s: tick %d: bucket %d unclaimed in component %v", what, tn.ticks, b, comp)
			}
		}
		holders := 0
		leader := tn.cl.Nodes[up[0]]
		for _, i := range comp {
			if c := tn.count(i); slices.Contains(up, i) && (c < Buckets/len(up) || c > (Buckets+len(up)-1)/len(up)) {
				tn.t.Fatalf("%s: tick %d: node%d has %d buckets, %d members in component %v", what, tn.ticks, i+1, c, len(up), comp)
			}
			if tn.nodes[i].arp {
				holders++
			}
			if st := tn.nodes[i].n.Status(); st.Leader != leader {
				tn.t.Fatalf("%s: tick %d: node%d follows leader %q, component %v has %s", what, tn.ticks, i+1, st.Leader, comp, leader)
			}
			if tn.nodes[i].table != o {
				tn.t.Fatalf("%s: tick %d: node%d's owner table differs from the claims of component %v", what, tn.ticks, i+1, comp)
			}
		}
		if holders != 1 {
			tn.t.Fatalf("%s: tick %d: %d ARP holders in component %v", what, tn.ticks, holders, comp)
		}
	}
}
