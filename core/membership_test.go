package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/core/config"
)

func TestMembershipSingleNodeTakesAll(t *testing.T) {
	tn := newTestNet(t, 1, 2, nil)
	tn.run(time.Second)
	tn.wantCounts(0)
	if tn.nodes[0].arp {
		t.Fatal("a STOP node holds the ARP duty")
	}
	tn.start(0)
	tn.run(time.Second)
	tn.wantCounts(256)
	if !tn.nodes[0].arp {
		t.Fatal("the only member is not the ARP holder")
	}
	for b, o := range tn.nodes[0].table {
		if o != 0 {
			t.Fatalf("table: bucket %d owner %d, want node1", b, o)
		}
	}
	for _, want := range []string{"farm membership: node1 (group FarmProto)", "farm load: 256/256 (group FarmProto)"} {
		if !tn.hasLog(0, want) {
			t.Fatalf("no log line %q in %q", want, tn.nodes[0].logs)
		}
	}
	st := tn.nodes[0].n.Status()
	if st.Leader != "node1" || !st.ARPHolder || st.Groups[0].Count() != 256 || st.Groups[0].Share() != 100 {
		t.Fatalf("status %+v", st)
	}
}

func TestMembershipEqualShares(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		want  []int
	}{
		{2, []int{128, 128}},
		{3, []int{86, 85, 85}},
		{4, []int{64, 64, 64, 64}},
		{5, []int{52, 51, 51, 51, 51}},
	} {
		t.Run(fmt.Sprint(tc.nodes), func(t *testing.T) {
			tn := newTestNet(t, tc.nodes, 2, nil)
			for i := range tc.nodes {
				tn.start(i)
				tn.run(500 * time.Millisecond)
			}
			tn.run(3 * time.Second)
			tn.wantCounts(tc.want...)
			all := make([]int, tc.nodes)
			for i := range all {
				all[i] = i
			}
			o := tn.wantFullTable(all)
			for i := range tc.nodes {
				if tn.nodes[i].table != o {
					t.Fatalf("node%d's owner table differs from the claims", i+1)
				}
				if tn.nodes[i].arp != (i == 0) {
					t.Fatalf("node%d ARP holder = %v", i+1, tn.nodes[i].arp)
				}
			}
		})
	}
}

func TestMembershipSimultaneousStart(t *testing.T) {
	tn := newTestNet(t, 3, 1, nil)
	tn.run(500 * time.Millisecond)
	for i := range 3 {
		tn.start(i)
	}
	tn.run(3 * time.Second)
	tn.wantCounts(86, 85, 85)
}

func TestMembershipPowers(t *testing.T) {
	tn := newTestNet(t, 3, 2, []int{2, 1, 0})
	for i := range 3 {
		tn.start(i)
	}
	tn.run(3 * time.Second)
	// 256·2/3 = 170.67, 256/3 = 85.33, 0.
	got := []int{tn.count(0), tn.count(1), tn.count(2)}
	if got[2] != 0 || got[0]+got[1] != 256 || got[0] < 170 || got[0] > 171 {
		t.Fatalf("counts %v, want ~171/85/0", got)
	}
	tn.stop(0)
	tn.run(3 * time.Second)
	tn.wantCounts(0, 256, 0)
}

func TestMembershipAllPowerZeroShareEqually(t *testing.T) {
	tn := newTestNet(t, 2, 1, []int{0, 0})
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	tn.wantCounts(128, 128)
}

// A planned stop moves only the leaver's buckets, never double-claims
// (checked every tick), and ends drained.
func TestMembershipPlannedStop(t *testing.T) {
	for leaver := range 3 {
		t.Run(fmt.Sprintf("node%d", leaver+1), func(t *testing.T) {
			tn := newTestNet(t, 3, 2, nil)
			for i := range 3 {
				tn.start(i)
			}
			tn.run(3 * time.Second)
			before := tn.wantFullTable([]int{0, 1, 2})
			tn.stop(leaver)
			// News travels at the next tick, not the next pulse: the hand-over
			// takes a few ticks.
			for k := 0; tn.count(0)+tn.count(1)+tn.count(2)-tn.count(leaver) < Buckets; k++ {
				if k > 5 {
					t.Fatalf("hand-over not done after %d ticks: counts %d %d %d", k, tn.count(0), tn.count(1), tn.count(2))
				}
				tn.tick()
			}
			tn.run(3 * time.Second)
			if tn.nodes[leaver].local.State != StateStop || tn.count(leaver) != 0 {
				t.Fatalf("leaver not drained: state %v, %d buckets", tn.nodes[leaver].local.State, tn.count(leaver))
			}
			var stay []int
			for i := range 3 {
				if i != leaver {
					stay = append(stay, i)
				}
			}
			after := tn.wantFullTable(stay)
			for b := range before {
				if int(before[b]) != leaver && after[b] != before[b] {
					t.Fatalf("bucket %d moved from node%d to node%d", b, before[b]+1, after[b]+1)
				}
			}
			tn.wantCountsOf(stay, 128, 128)
			if !tn.nodes[stay[0]].arp || tn.nodes[stay[1]].arp || tn.nodes[leaver].arp {
				t.Fatalf("ARP holder is not the lowest member node%d", stay[0]+1)
			}
			if !tn.hasLog(stay[0], fmt.Sprintf("farm membership: node%d node%d (group FarmProto)", stay[0]+1, stay[1]+1)) {
				t.Fatalf("no membership log: %q", tn.nodes[stay[0]].logs)
			}
		})
	}
}

func (tn *testNet) wantCountsOf(set []int, want ...int) {
	tn.t.Helper()
	for k, i := range set {
		if tn.count(i) != want[k] {
			tn.t.Fatalf("tick %d: node%d has %d buckets, want %d", tn.ticks, i+1, tn.count(i), want[k])
		}
	}
}

// A join moves only buckets to the joiner.
func TestMembershipJoinMovesOnlyToJoiner(t *testing.T) {
	for joiner := range 3 {
		t.Run(fmt.Sprintf("node%d", joiner+1), func(t *testing.T) {
			tn := newTestNet(t, 3, 2, nil)
			var stay []int
			for i := range 3 {
				if i != joiner {
					tn.start(i)
					stay = append(stay, i)
				}
			}
			tn.run(3 * time.Second)
			before := tn.wantFullTable(stay)
			tn.start(joiner)
			tn.run(3 * time.Second)
			after := tn.wantFullTable([]int{0, 1, 2})
			for b := range before {
				if after[b] != before[b] && int(after[b]) != joiner {
					t.Fatalf("bucket %d moved from node%d to node%d", b, before[b]+1, after[b]+1)
				}
			}
			got := []int{tn.count(0), tn.count(1), tn.count(2)}
			for _, c := range got {
				if c < 85 || c > 86 {
					t.Fatalf("counts %v, want 85..86 each", got)
				}
			}
		})
	}
}

// A restart keeps Member=true: nothing moves, nothing is emitted to tables.
func TestMembershipRestartChangesNothing(t *testing.T) {
	tn := newTestNet(t, 2, 2, nil)
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	before := tn.wantFullTable([]int{0, 1})
	tn.setLocal(1, Local{State: StateUp, Ready: false, Member: true}) // stop_both running
	tn.run(time.Second)
	tn.start(1)
	tn.run(time.Second)
	if after := tn.wantFullTable([]int{0, 1}); after != before {
		t.Fatal("a restart moved buckets")
	}
}

// Crashes: a follower's buckets move after slost pulses, the leader's after
// mlost; the survivors never double-claim.
func TestMembershipCrash(t *testing.T) {
	for _, tc := range []struct {
		victim  int
		atLeast time.Duration
	}{{1, 900 * time.Millisecond}, {0, 1900 * time.Millisecond}} {
		t.Run(fmt.Sprintf("node%d", tc.victim+1), func(t *testing.T) {
			tn := newTestNet(t, 3, 2, nil)
			for i := range 3 {
				tn.start(i)
			}
			tn.run(3 * time.Second)
			before := tn.wantFullTable([]int{0, 1, 2})
			tn.crash(tc.victim)
			var stay []int
			for i := range 3 {
				if i != tc.victim {
					stay = append(stay, i)
				}
			}
			took := time.Duration(0)
			for tn.count(stay[0])+tn.count(stay[1]) < 256 {
				tn.run(10 * time.Millisecond)
				took += 10 * time.Millisecond
				if took > 5*time.Second {
					t.Fatal("survivors did not take over within 5s")
				}
			}
			if took < tc.atLeast || took > tc.atLeast+time.Second {
				t.Fatalf("took over after %v, want about %v", took, tc.atLeast)
			}
			tn.run(2 * time.Second)
			after := tn.wantFullTable(stay)
			for b := range before {
				if int(before[b]) != tc.victim && after[b] != before[b] {
					t.Fatalf("bucket %d moved between survivors", b)
				}
			}
			tn.wantCountsOf(stay, 128, 128)
			if !tn.nodes[stay[0]].arp {
				t.Fatalf("node%d is not the ARP holder", stay[0]+1)
			}
			// The victim comes back as a new process: it rejoins.
			tn.boot(tc.victim)
			tn.run(time.Second)
			tn.start(tc.victim)
			tn.run(3 * time.Second)
			tn.wantCounts(tn.countsLike(86, 85, 85)...)
		})
	}
}

// countsLike returns the counts in node order when they are a permutation of
// want, else want (so that wantCounts reports the real mismatch).
func (tn *testNet) countsLike(want ...int) []int {
	got := make([]int, len(tn.nodes))
	left := append([]int(nil), want...)
	for i := range got {
		got[i] = tn.count(i)
		k := -1
		for j, w := range left {
			if w == got[i] {
				k = j
			}
		}
		if k < 0 {
			return want
		}
		left = append(left[:k], left[k+1:]...)
	}
	return got
}

// Isolation: each side ends with all buckets; after the heal the farm
// rebalances to 128/128.
func TestMembershipIsolationAndHeal(t *testing.T) {
	tn := newTestNet(t, 2, 2, nil)
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	tn.planned = false // double claims are allowed around faults
	tn.isolate([]int{0}, []int{1})
	tn.run(4 * time.Second)
	tn.wantCounts(256, 256)
	if !tn.nodes[0].arp || !tn.nodes[1].arp {
		t.Fatal("each isolated side must hold the ARP duty")
	}
	tn.heal()
	tn.run(3 * time.Second)
	tn.wantCounts(128, 128)
	tn.wantFullTable([]int{0, 1})
	if !tn.nodes[0].arp || tn.nodes[1].arp {
		t.Fatal("after the heal only node1 holds the ARP duty")
	}
	// Planned changes are clean again.
	tn.planned = true
	tn.stop(1)
	tn.run(3 * time.Second)
	tn.wantCounts(256, 0)
}

// One LAN down out of two changes nothing.
func TestMembershipOneLANCut(t *testing.T) {
	tn := newTestNet(t, 2, 2, nil)
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	before := tn.wantFullTable([]int{0, 1})
	tn.cut[0][0][1], tn.cut[0][1][0] = true, true
	tn.run(5 * time.Second)
	if after := tn.wantFullTable([]int{0, 1}); after != before {
		t.Fatal("losing one of two LANs moved buckets")
	}
}

// A one-way cut makes the two nodes unconnected (SPEC §5): both take all.
func TestMembershipOneWayCut(t *testing.T) {
	tn := newTestNet(t, 2, 1, nil)
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	tn.planned = false
	tn.cut[0][0][1] = true
	tn.run(5 * time.Second)
	tn.wantCounts(256, 256)
	tn.heal()
	tn.run(3 * time.Second)
	tn.wantCounts(128, 128)
}

// The last member stopping releases everything at once.
func TestMembershipLastMemberStops(t *testing.T) {
	tn := newTestNet(t, 2, 1, nil)
	tn.start(0)
	tn.run(2 * time.Second)
	tn.stop(0)
	if !tn.nodes[0].n.mem.drained() {
		t.Fatal("the last member must drain at once")
	}
	tn.run(time.Second)
	tn.wantCounts(0, 0)
	if tn.nodes[0].arp {
		t.Fatal("a stopped node keeps the ARP duty")
	}
}

// A leaver whose leader goes silent still drains: after mlost pulses.
func TestMembershipLeaveBoundedLeaderSilent(t *testing.T) {
	tn := newTestNet(t, 2, 1, nil)
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	tn.planned = false
	tn.crash(0)
	tn.stop(1)
	tn.run(time.Second)
	if tn.count(1) != 128 {
		t.Fatalf("leaver gave up early: %d buckets", tn.count(1))
	}
	tn.run(1200 * time.Millisecond)
	if tn.count(1) != 0 || tn.nodes[1].local.State != StateStop {
		t.Fatalf("leaver still holds %d buckets", tn.count(1))
	}
}

// A leaver whose leader stays alive but never publishes a target that takes
// its buckets gives up after mlost pulses without progress.
func TestMembershipLeaveBoundedNoProgress(t *testing.T) {
	cl, mod := testConfig(2, 1, nil)
	n, err := New(Config{Self: "node2", Cluster: cl, Module: mod, TickMs: 10, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	l := Local{State: StateUp, Ready: true, Member: true}
	n.mem.hook = &l
	n.sync()
	var tgt Target
	tgt.Epoch = nextEpoch(0, 0)
	tgt.Owners = make([][Buckets]uint8, 1)
	for b := range Buckets {
		tgt.Owners[0][b] = uint8(b % 2)
	}
	var seq uint64
	var peerClaims []Bitmap
	feed := func() {
		seq++
		hb := &Heartbeat{Version: WireVersion, Sender: 0, Incarnation: 1, Seq: seq, State: StateUp, Ready: true,
			Member: true, Applied: tgt.Epoch, Hears: []uint64{1 << 1}, Claims: peerClaims, Target: &tgt}
		if err := n.Step(Recv{LAN: 0, Msg: hb}); err != nil {
			t.Fatal(err)
		}
	}
	peerClaims = []Bitmap{ownedBy(&tgt.Owners[0], 0)}
	for range 15 { // past the startup grace of slost_count pulses
		for range 10 {
			n.Tick()
		}
		feed()
	}
	if c := n.mem.claims[0].Count(); c != 128 {
		t.Fatalf("node2 holds %d buckets, want 128", c)
	}
	l.Member = false
	n.sync()
	pulses := 0
	for ; !n.mem.drained(); pulses++ {
		if pulses > 100 {
			t.Fatal("the leave never ends")
		}
		for range 10 {
			n.Tick()
		}
		feed()
	}
	if pulses < 19 || pulses > 21 {
		t.Fatalf("drained after %d pulses, want mlost_count = 20", pulses)
	}
	if n.Status().Leader != "node1" {
		t.Fatal("node1 should still be the leader")
	}
}

// INV-1: a node that leaves UP without a planned stop releases at once.
func TestMembershipWaitReleasesAtOnce(t *testing.T) {
	tn := newTestNet(t, 2, 1, nil)
	tn.start(0)
	tn.start(1)
	tn.run(3 * time.Second)
	tn.setLocal(1, Local{State: StateWait})
	if tn.count(1) != 0 {
		t.Fatal("a WAIT node claims buckets")
	}
	tn.run(3 * time.Second)
	tn.wantCounts(256, 0)
}

func TestMembershipDeterministic(t *testing.T) {
	run := func() string {
		tn := newTestNet(t, 3, 2, nil)
		for i := range 3 {
			tn.start(i)
			tn.run(300 * time.Millisecond)
		}
		tn.run(2 * time.Second)
		tn.stop(1)
		tn.run(2 * time.Second)
		tn.crash(0)
		tn.run(3 * time.Second)
		return strings.Join(tn.trace, "\n")
	}
	a, b := run(), run()
	if a != b || a == "" {
		t.Fatalf("two runs differ or are empty:\n%s\n----\n%s", a, b)
	}
}

func TestMembershipRecvErrors(t *testing.T) {
	tn := newTestNet(t, 2, 2, nil)
	n := tn.nodes[0].n
	good := &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2)}
	for _, tc := range []struct {
		name string
		r    Recv
		want string
	}{
		{"nil", Recv{LAN: 0}, "no message"},
		{"lan", Recv{LAN: 2, Msg: good}, "LAN 2 out of range"},
		{"sender", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 7}}, "sender index 7"},
		{"groups", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1}}, "0 groups"},
		{"version", Recv{LAN: 0, Msg: &Heartbeat{Version: 9, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1)}}, "version 9"},
		{"hears", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1)}}, "hears on 0 LANs"},
		{"relay", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2),
			Relay: []PeerInfo{{Node: 0, Claims: make([]Bitmap, 1), Hears: make([]uint64, 1)}}}}, "relay entry 0 (node1): hears on 1 LANs"},
		{"relay self", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2),
			Relay: []PeerInfo{{Node: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2)}}}}, "describes the sender itself"},
		{"relay node", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2),
			Relay: []PeerInfo{{Node: 9, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2)}}}}, "node index 9 out of range"},
		{"relay groups", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2),
			Relay: []PeerInfo{{Node: 0, Hears: make([]uint64, 2)}}}}, "0 groups"},
		{"owner", Recv{LAN: 0, Msg: &Heartbeat{Version: WireVersion, Sender: 1, Incarnation: 9, Seq: 1, Claims: make([]Bitmap, 1), Hears: make([]uint64, 2),
			Target: &Target{Epoch: 1, Owners: [][Buckets]uint8{{5: 7}}}}}, "owner index 7"},
	} {
		err := n.Step(tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if st := n.Status(); st.Peers[0].LastHeardTick[0] != -1 {
		t.Fatalf("a rejected heartbeat changed the node: %+v", st.Peers[0])
	}
	if err := n.Step(Recv{LAN: 1, Msg: good}); err != nil {
		t.Fatal(err)
	}
	// Older incarnation and replayed sequences are ignored without error.
	old := *good
	old.Incarnation, old.Seq, old.Member = 8, 5, true
	if err := n.Step(Recv{LAN: 0, Msg: &old}); err != nil {
		t.Fatal(err)
	}
	if n.mem.peers[1].hb != good {
		t.Fatal("an older incarnation replaced the peer's heartbeat")
	}
}

func TestNewMembershipUnknownHost(t *testing.T) {
	cl, mod := testConfig(2, 1, nil)
	mod.VIP.Groups[0].Hosts = []config.Host{{Name: "ghost", Power: 1}}
	_, err := New(Config{Self: "node1", Cluster: cl, Module: mod})
	if err == nil || !strings.Contains(err.Error(), `host "ghost"`) {
		t.Fatalf("error %v", err)
	}
}

// The real module half (no <user>: no script runs) drives Member through
// the public API: start, share, planned stop with release before acquire.
func TestMembershipWithModuleHalf(t *testing.T) {
	tn := newTestNet(t, 2, 2, nil)
	for i := range tn.nodes {
		tn.nodes[i].n.mem.hook = nil
		if err := tn.nodes[i].n.Step(Command{Verb: VerbStart}); err != nil {
			t.Fatal(err)
		}
		tn.drain(i)
	}
	tn.run(3 * time.Second)
	tn.wantCounts(128, 128)
	if err := tn.nodes[1].n.Step(Command{Verb: VerbStop}); err != nil {
		t.Fatal(err)
	}
	tn.drain(1)
	tn.run(3 * time.Second)
	tn.wantCounts(256, 0)
	if st := tn.nodes[1].n.Status(); st.State != StateStop {
		t.Fatalf("node2 is %v after its stop", st.State)
	}
}

// A node that becomes the lowest member while its former leader is silent
// but not yet past mlost_count: becoming leader shortens that peer's
// timeout to slost_count, which must be taken into account at once (it used
// to leave the new leader stuck with a target for a dead member).
func TestMembershipLeaderChangeShortensTimeout(t *testing.T) {
	tn := newTestNet(t, 3, 1, nil)
	tn.start(2)
	tn.run(2 * time.Second)
	tn.wantCounts(0, 0, 256)
	tn.planned = false
	tn.isolate([]int{1}, []int{0, 2})
	tn.run(1200 * time.Millisecond) // node2 still follows node3: past slost, before mlost
	tn.start(1)
	tn.run(3 * time.Second)
	tn.wantCounts(0, 256, 256)
	if st := tn.nodes[1].n.Status(); st.Leader != "node2" || st.Peers[1].Alive {
		t.Fatalf("node2's view: leader %q, node3 alive %v", st.Leader, st.Peers[1].Alive)
	}
}

// In a steady farm every node sends exactly one heartbeat per pulse: news
// triggers extra ones, acquisitions do not, so nothing echoes.
func TestMembershipSteadyHeartbeatRate(t *testing.T) {
	tn := newTestNet(t, 4, 2, nil)
	for i := range 4 {
		tn.start(i)
	}
	tn.run(3 * time.Second)
	for i := range tn.sent {
		tn.sent[i] = 0
	}
	tn.run(10 * time.Second)
	sent := tn.sent
	for i, n := range sent {
		if n != 100 {
			t.Fatalf("node%d sent %d heartbeats in 10 seconds at pulse 100ms", i+1, n)
		}
	}
}
