package daemon

import (
	"maps"
	"sync"

	"github.com/vipfarm/vipfarm/internal/metrics"
)

// counters count one module's heartbeats and scripts for the JSON API and
// mirror every count into Prometheus.
type counters struct {
	module string
	m      *metrics.Metrics

	mu       sync.Mutex
	sent     map[string]uint64
	received map[string]uint64
	rejected map[string]map[string]uint64
	scripts  map[string]uint64
}

func newCounters(module string, m *metrics.Metrics) *counters {
	return &counters{module: module, m: m, sent: map[string]uint64{}, received: map[string]uint64{},
		rejected: map[string]map[string]uint64{}, scripts: map[string]uint64{}}
}

func (c *counters) Sent(lan string) {
	c.mu.Lock()
	c.sent[lan]++
	c.mu.Unlock()
	c.m.HBSent.WithLabelValues(c.module, lan).Inc()
}

func (c *counters) Received(lan string) {
	c.mu.Lock()
	c.received[lan]++
	c.mu.Unlock()
	c.m.HBReceived.WithLabelValues(c.module, lan).Inc()
}

func (c *counters) Rejected(lan, reason string) {
	c.mu.Lock()
	if c.rejected[lan] == nil {
		c.rejected[lan] = map[string]uint64{}
	}
	c.rejected[lan][reason]++
	c.mu.Unlock()
	c.m.HBRejected.WithLabelValues(c.module, lan, reason).Inc()
}

func (c *counters) Script(name, result string, seconds float64) {
	c.mu.Lock()
	c.scripts[name]++
	c.mu.Unlock()
	c.m.ScriptRuns.WithLabelValues(c.module, name, result).Inc()
	c.m.ScriptSeconds.WithLabelValues(c.module, name).Observe(seconds)
}

// copies returns snapshots of the maps for the JSON view.
func (c *counters) copies() (sent, received map[string]uint64, rejected map[string]map[string]uint64, scripts map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rejected = map[string]map[string]uint64{}
	for k, v := range c.rejected {
		rejected[k] = maps.Clone(v)
	}
	return maps.Clone(c.sent), maps.Clone(c.received), rejected, maps.Clone(c.scripts)
}
