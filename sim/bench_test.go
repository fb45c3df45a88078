package sim

import (
	"fmt"
	"testing"
	"time"
)

// speedScenario is the SPEC §9 benchmark farm: 4 nodes, 2 LANs, pulse
// 100 ms, all UP, running for a virtual hour.
func speedScenario(virtual time.Duration) *Scenario {
	sc := &Scenario{
		Name:    "speed",
		Cluster: &InlineCluster{Nodes: []string{"node1", "node2", "node3", "node4"}, LANs: []string{"default", "private"}},
		Path:    "speed.yaml",
	}
	for i := 1; i <= 4; i++ {
		sc.Steps = append(sc.Steps, Step{At: 0, Do: fmt.Sprintf("start node%d", i)})
	}
	sc.Steps = append(sc.Steps, Step{At: Duration(virtual), Expect: map[string]NodeExpect{"node1": {State: "UP"}}})
	return sc
}

// BenchmarkSimSpeed reports how many times faster than real time the
// simulator runs the SPEC §9 farm (bar: 10,000x on one core).
func BenchmarkSimSpeed(b *testing.B) {
	const virtual = time.Hour
	sc := speedScenario(virtual)
	if err := sc.validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var events uint64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := Run(sc, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !res.OK {
			b.Fatalf("speed scenario failed: %+v", res.Violations)
		}
		events += res.Events
	}
	wall := time.Since(start)
	b.ReportMetric(float64(virtual)*float64(b.N)/float64(wall), "x-realtime")
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
}
