package dataplane

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

const framesPerTable = 100

// TestDifferentialModel runs random tables and thousands of random frames
// through the real program (BPF_PROG_TEST_RUN, in a fresh netns where no
// socket exists, so every drain-rule lookup finds nothing) and through the
// model, and requires the same verdict, the same output bytes and the same
// counters, slot by slot.
func TestDifferentialModel(t *testing.T) { differential(t, false) }

// TestDifferentialModelCleanTraffic is the same on well-formed client
// traffic to the VIPs only: most frames reach the bucket decision.
func TestDifferentialModelCleanTraffic(t *testing.T) { differential(t, true) }

func differential(t *testing.T, clean bool) {
	d := loadDP(t)
	inFreshNetns(t, func() {
		frames := 0
		kinds := map[string]int{}
		rapid.Check(t, func(rt *rapid.T) {
			base := MonotonicNs()
			tb := genTables(rt, base)
			if err := d.Configure(tb); err != nil {
				rt.Fatalf("configure: %v", err)
			}
			if err := d.ResetCounters(); err != nil {
				rt.Fatal(err)
			}
			g := &frameGen{r: rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "frameSeed"), 1)), tb: tb, clean: clean}
			want := map[int]model.Counts{}
			for i := 0; i < framesPerTable; i++ {
				f := g.frame()
				md := model.Decide(f, tb, model.Env{NowNs: MonotonicNs()})
				kv, out := runFrame(rt, d.Program(), f)
				if err := compareRun(f, md, kv, out); err != nil {
					rt.Fatalf("frame %d: %v\nframe %x\ntables %+v", i, err, f, tb)
				}
				c := want[slotOf(md)]
				c.Add(md.Reason)
				want[slotOf(md)] = c
				frames++
				kinds[fmt.Sprintf("%v/%v drain=%v", md.Verdict, md.Reason, md.LookedUp)]++
			}
			if err := compareCounters(d, want, len(tb.Owners)); err != nil {
				rt.Fatal(err)
			}
		})
		t.Logf("%d frames compared: %v", frames, kinds)
		// The generator must reach every kind of decision, or the comparison
		// proves less than it claims.
		// (The drain kinds are rare among malformed frames, so only the clean
		// run, where they number in the tens, must show them.)
		must := []string{"PASS/accepted drain=false", "TX/forwarded drain=false", "DROP/dropped drain=false",
			"DROP/not_ours drain=false"}
		if clean {
			must = append(must, "TX/forwarded drain=true", "DROP/not_ours drain=true")
		} else {
			must = append(must, "PASS/none drain=false")
		}
		for _, k := range must {
			if kinds[k] == 0 {
				t.Errorf("no frame decided %q", k)
			}
		}
	})
}

func slotOf(d model.Decision) int {
	if d.Group < 0 || d.Bucket < 0 {
		return globalSlot
	}
	return d.Group*model.Buckets + d.Bucket
}

func compareRun(f []byte, md model.Decision, kv model.Verdict, out []byte) error {
	if kv != md.Verdict {
		return fmt.Errorf("kernel %v, model %v (%v, group %d bucket %d)", kv, md.Verdict, md.Reason, md.Group, md.Bucket)
	}
	switch kv {
	case model.Pass:
		if !sameBytes(out, f) {
			return fmt.Errorf("PASS changed the frame: %x", out)
		}
	case model.Tx:
		if !sameBytes(out, md.Out) {
			return fmt.Errorf("TX bytes differ:\nkernel %x\nmodel  %x", out, md.Out)
		}
	}
	return nil
}

func compareCounters(d *Dataplane, want map[int]model.Counts, groups int) error {
	c, err := d.Counters()
	if err != nil {
		return err
	}
	for g := 0; g < groups; g++ {
		for b := 0; b < model.Buckets; b++ {
			if got := c.Groups[g].Buckets[b]; got != want[g*model.Buckets+b] {
				return fmt.Errorf("counters of group %d bucket %d: kernel %+v, model %+v", g, b, got, want[g*model.Buckets+b])
			}
		}
	}
	if c.Global != want[globalSlot] {
		return fmt.Errorf("global counters: kernel %+v, model %+v", c.Global, want[globalSlot])
	}
	return nil
}
