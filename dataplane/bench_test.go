package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// Benchmarks of one decision through BPF_PROG_TEST_RUN: the kernel runs the
// program b.N times on the same frame in one syscall and measures the time
// per run itself, pausing its clock when it yields the CPU. That figure is
// reported as ns/op (the cost per packet, SPEC §9: ≤ 60 ns for a TCP SYN to
// the VIP); wall-ns/op is the wall clock per run, which on a shared machine
// also counts time other processes had the CPU.

func reportPerPacket(b *testing.B, per, wall time.Duration) {
	b.ReportMetric(float64(per.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "wall-ns/op")
}

func benchProgram(b *testing.B, tb *model.Tables, frame []byte, want model.Verdict) {
	d := loadDP(b)
	if err := d.Configure(tb); err != nil {
		b.Fatal(err)
	}
	inFreshNetns(b, func() {
		md := model.Decide(frame, tb, model.Env{NowNs: MonotonicNs()})
		if md.Verdict != want {
			b.Fatalf("model verdict %v, want %v", md.Verdict, want)
		}
		b.ResetTimer()
		start := time.Now()
		ret, per, err := d.Program().Benchmark(frame, b.N, nil)
		wall := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if model.Verdict(ret) != want {
			b.Fatalf("kernel verdict %v, want %v", model.Verdict(ret), want)
		}
		reportPerPacket(b, per, wall)
	})
}

func benchTables(self uint8) *model.Tables {
	tb := drainTables(self, 0, model.NoOwner, vip4, vip6)
	tb.ARPHolder = true
	tb.Rules = append(tb.Rules, model.Rule{Proto: model.ProtoUDP, Filter: model.OnPort})
	return tb
}

var benchClient = netip.MustParseAddrPort("198.18.1.77:40000")

// BenchmarkXDPDecision: TCP SYN to the VIP, bucket owned here → XDP_PASS.
func BenchmarkXDPDecision(b *testing.B) {
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA}, benchClient, netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	benchProgram(b, benchTables(0), f, model.Pass)
}

// BenchmarkXDPDecisionIPv6: the same over IPv6 (4-word hash, 16-byte key).
func BenchmarkXDPDecisionIPv6(b *testing.B) {
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA}, netip.MustParseAddrPort("[2001:2::77]:40000"), netip.AddrPortFrom(vip6, 9010), model.FlagSYN)
	benchProgram(b, benchTables(0), f, model.Pass)
}

// BenchmarkXDPForward: TCP SYN whose bucket another node owns → MAC rewrite, XDP_TX.
func BenchmarkXDPForward(b *testing.B) {
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macB}, benchClient, netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	benchProgram(b, benchTables(1), f, model.Tx)
}

// BenchmarkXDPDrainLookup: ACK in a drain window at the new owner with no
// local socket → bpf_skc_lookup_tcp, then XDP_TX to the previous owner.
func BenchmarkXDPDrainLookup(b *testing.B) {
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macB}, benchClient, netip.AddrPortFrom(vip4, 9010), model.FlagACK)
	benchProgram(b, drainTables(1, 1, 0, vip4), f, model.Tx)
}

// BenchmarkXDPNotVIP: traffic to another address → XDP_PASS untouched.
func BenchmarkXDPNotVIP(b *testing.B) {
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA}, benchClient, netip.MustParseAddrPort("198.18.0.11:22"), model.FlagACK)
	benchProgram(b, benchTables(0), f, model.Pass)
}

// BenchmarkModelDecide: the pure-Go model on the SYN of BenchmarkXDPDecision.
func BenchmarkModelDecide(b *testing.B) {
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA}, benchClient, netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	tb := benchTables(0)
	b.ReportAllocs()
	for b.Loop() {
		if model.Decide(f, tb, model.Env{}).Verdict != model.Pass {
			b.Fatal("not PASS")
		}
	}
}

// BenchmarkXDPPassOnly: the empty program, the floor of BPF_PROG_TEST_RUN.
func BenchmarkXDPPassOnly(b *testing.B) {
	d := loadDP(b)
	f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: macA}, benchClient, netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
	b.ResetTimer()
	start := time.Now()
	_, per, err := d.objs.XdpPass.Benchmark(f, b.N, nil)
	wall := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	reportPerPacket(b, per, wall)
}
