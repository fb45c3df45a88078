package dataplane

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// fuzzTables: three nodes, alias mode, ARP holder, rules on both VIPs, half
// the buckets ours, a quarter another node's, the rest unowned, and a
// running drain on every eighth bucket.
func fuzzTables() *model.Tables {
	tb := &model.Tables{
		Self: 0, ARPHolder: true, Mode: model.Alias,
		VIPs: []netip.Addr{vipPool[0], vipPool[2]},
		Rules: []model.Rule{
			{Proto: model.ProtoTCP, Port: 9010, Filter: model.OnAddr},
			{Proto: model.ProtoUDP, Filter: model.OnPort, Group: 1},
		},
		MACs: [][6]byte{macA, macB, macC},
	}
	now := MonotonicNs()
	for g := 0; g < 2; g++ {
		var own, prev [model.Buckets]uint8
		var until [model.Buckets]uint64
		for b := range own {
			own[b] = []uint8{0, 0, 1, model.NoOwner}[b%4]
			prev[b] = model.NoOwner
			if b%8 == 2 {
				prev[b], until[b] = 0, now+24*3600e9
			}
		}
		tb.Owners = append(tb.Owners, own)
		tb.Prev = append(tb.Prev, prev)
		tb.DrainUntil = append(tb.DrainUntil, until)
	}
	return tb
}

// FuzzDifferentialModel feeds fuzzed frames to the program and the model
// (fixed tables) and requires the same verdict and output bytes. Runs in a
// private netns so no drain-rule socket lookup can find a socket.
func FuzzDifferentialModel(f *testing.F) {
	tb := fuzzTables()
	g := &frameGen{r: rand.New(rand.NewPCG(1, 2)), tb: tb}
	for i := 0; i < 64; i++ {
		f.Add(g.frame())
	}
	needRoot(f)
	d := loadDP(f)
	if err := d.Configure(tb); err != nil {
		f.Fatal(err)
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		f.Fatal(err)
	}
	priv, err := netns.New()
	if err != nil {
		f.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		f.Fatal(err)
	}
	runtime.UnlockOSThread()
	f.Cleanup(func() { priv.Close(); orig.Close() })
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 3000 {
			return // the kernel refuses shorter test-run input; longer exceeds one page
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := netns.Set(priv); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				panic(err)
			}
		}()
		md := model.Decide(frame, tb, model.Env{NowNs: MonotonicNs()})
		kv, out := runFrame(t, d.Program(), frame)
		if err := compareRun(frame, md, kv, out); err != nil {
			t.Fatalf("%v\nframe %x", err, frame)
		}
	})
}
