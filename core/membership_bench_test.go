package core

import (
	"testing"
	"time"
)

// steadyFarm returns a converged farm of 4 nodes on 2 LANs.
func steadyFarm(b *testing.B) *testNet {
	tn := newTestNet(b, 4, 2, nil)
	for i := range 4 {
		tn.start(i)
	}
	tn.run(3 * time.Second)
	return tn
}

// BenchmarkRecv is the simulator's hot path: an unchanged heartbeat of a
// peer, once as a new sequence number (first LAN) and once as its copy on
// the second LAN. One op = one Recv.
func BenchmarkRecv(b *testing.B) {
	tn := steadyFarm(b)
	n := tn.nodes[0].n
	last := n.mem.peers[1].hb
	x, y := *last, *last // two distinct messages sharing Claims, like consecutive pulses
	msgs := [2]*Heartbeat{&x, &y}
	seq := last.Seq
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hb := msgs[(i>>1)&1]
		if i&1 == 0 {
			seq++
			hb.Seq = seq
		}
		if err := n.Step(Recv{LAN: i & 1, Msg: hb}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n.HasReady() && len(n.Ready().Tables) > 0 {
		b.Fatal("an unchanged heartbeat changed the table")
	}
}

// BenchmarkTick is a Tick between pulses of a converged node.
func BenchmarkTick(b *testing.B) {
	tn := steadyFarm(b)
	n := tn.nodes[1].n
	n.mem.nextPulse = 1 << 62 // stay between pulses
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.Tick()
	}
}

// BenchmarkFarm runs 4 nodes × 2 LANs at pulse 100 ms through the test
// network (whose own bookkeeping is part of the cost) and reports the speed
// against real time; the simulator's bar is ≥ 10,000×.
func BenchmarkFarm(b *testing.B) {
	tn := steadyFarm(b)
	tn.planned = false // the per-tick claim check would dominate
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tn.tick()
	}
	virtual := time.Duration(b.N) * 10 * time.Millisecond
	b.ReportMetric(float64(virtual)/float64(time.Since(start)), "x-realtime")
}

// The membership's own steady-state path allocates nothing (Node.Step adds
// the boxing of the Recv event into the Event interface).
func TestRecvAndTickAllocFree(t *testing.T) {
	tn := newTestNet(t, 4, 2, nil)
	for i := range 4 {
		tn.start(i)
	}
	tn.run(3 * time.Second)
	n := tn.nodes[0].n
	x := *n.mem.peers[1].hb
	allocs := testing.AllocsPerRun(1000, func() {
		x.Seq++
		if err := n.mem.recv(n.now, Recv{LAN: 0, Msg: &x}); err != nil {
			t.Fatal(err)
		}
		if err := n.mem.recv(n.now, Recv{LAN: 1, Msg: &x}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("recv of an unchanged heartbeat: %v allocations", allocs)
	}
	n.mem.nextPulse = 1 << 62
	if allocs := testing.AllocsPerRun(1000, n.Tick); allocs != 0 {
		t.Fatalf("tick between pulses: %v allocations", allocs)
	}
}
