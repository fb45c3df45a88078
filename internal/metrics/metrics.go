package metrics

import (
	"maps"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are farmd's series. Methods are safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	State         *prometheus.GaugeVec     // module: 0 STOP, 1 WAIT, 2 UP
	Ready         *prometheus.GaugeVec     // module: 1 ready, 0 transient
	ShareBuckets  *prometheus.GaugeVec     // module, group
	HBSent        *prometheus.CounterVec   // module, lan
	HBReceived    *prometheus.CounterVec   // module, lan
	HBRejected    *prometheus.CounterVec   // module, lan, reason
	ScriptRuns    *prometheus.CounterVec   // module, script, result (ok|failed|killed|missing)
	ScriptSeconds *prometheus.HistogramVec // module, script

	mu      sync.Mutex
	buckets map[string]BucketSource // module -> per-bucket XDP counters
}

// BucketCounters are one bucket's dataplane counters.
type BucketCounters struct {
	Group                        string
	Bucket                       int
	Accepted, Forwarded, Dropped uint64
}

// BucketSource reads the dataplane's per-bucket counters at scrape time.
type BucketSource func() ([]BucketCounters, error)

// New builds the collectors on a fresh registry, with the Go and process
// collectors so farmd's own footprint is visible too.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		State: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vipfarm_module_state",
			Help: "Module state: 0 STOP, 1 WAIT, 2 UP."}, []string{"module"}),
		Ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vipfarm_module_ready",
			Help: "1 when the module state is ready (stable), 0 when transient."}, []string{"module"}),
		ShareBuckets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vipfarm_share_buckets",
			Help: "Buckets of the load-balancing group owned by this node (out of 256)."}, []string{"module", "group"}),
		HBSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vipfarm_heartbeats_sent_total",
			Help: "Heartbeat datagrams sent, per LAN."}, []string{"module", "lan"}),
		HBReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vipfarm_heartbeats_received_total",
			Help: "Heartbeats received and accepted, per LAN."}, []string{"module", "lan"}),
		HBRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vipfarm_heartbeats_rejected_total",
			Help: "Heartbeat datagrams rejected, per LAN and reason (forged, replay, malformed, ...)."}, []string{"module", "lan", "reason"}),
		ScriptRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vipfarm_script_runs_total",
			Help: "Module scripts run, by result."}, []string{"module", "script", "result"}),
		ScriptSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vipfarm_script_duration_seconds",
			Help:    "Duration of module scripts.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300}}, []string{"module", "script"}),
		buckets: map[string]BucketSource{},
	}
	m.Registry.MustRegister(m.State, m.Ready, m.ShareBuckets, m.HBSent, m.HBReceived, m.HBRejected,
		m.ScriptRuns, m.ScriptSeconds, &xdpCollector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetBucketSource registers (or, with nil, removes) a module's XDP counters.
func (m *Metrics) SetBucketSource(module string, src BucketSource) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if src == nil {
		delete(m.buckets, module)
		return
	}
	m.buckets[module] = src
}

// ForgetModule drops a module's labelled series (module removed on reload).
func (m *Metrics) ForgetModule(module string) {
	l := prometheus.Labels{"module": module}
	m.State.DeletePartialMatch(l)
	m.Ready.DeletePartialMatch(l)
	m.ShareBuckets.DeletePartialMatch(l)
	m.HBSent.DeletePartialMatch(l)
	m.HBReceived.DeletePartialMatch(l)
	m.HBRejected.DeletePartialMatch(l)
	m.ScriptRuns.DeletePartialMatch(l)
	m.ScriptSeconds.DeletePartialMatch(l)
	m.SetBucketSource(module, nil)
}

var xdpDesc = prometheus.NewDesc("vipfarm_xdp_packets_total",
	"Packets to the VIP seen by the XDP program, per group, bucket and verdict (accepted|forwarded|dropped).",
	[]string{"module", "group", "bucket", "verdict"}, nil)

// xdpCollector reads the dataplane's counters only when scraped: 256
// buckets × groups × verdicts is too many series to mirror continuously.
type xdpCollector struct{ m *Metrics }

func (c *xdpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- xdpDesc }

func (c *xdpCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	srcs := maps.Clone(c.m.buckets)
	c.m.mu.Unlock()
	for mod, src := range srcs {
		bs, err := src()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(xdpDesc, err)
			continue
		}
		for _, b := range bs {
			bucket := strconv.Itoa(b.Bucket)
			for _, v := range [...]struct {
				verdict string
				n       uint64
			}{{"accepted", b.Accepted}, {"forwarded", b.Forwarded}, {"dropped", b.Dropped}} {
				if v.n == 0 {
					continue // an idle bucket costs no series
				}
				ch <- prometheus.MustNewConstMetric(xdpDesc, prometheus.CounterValue, float64(v.n), mod, b.Group, bucket, v.verdict)
			}
		}
	}
}
