package metrics

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// series returns the samples of one metric family as "label=value,... value".
func series(t *testing.T, m *Metrics, name string) []string {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.Metric {
			var labels []string
			for _, l := range s.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, strings.Join(labels, ",")+" "+value(s))
		}
	}
	return out
}

func value(s *dto.Metric) string {
	switch {
	case s.Counter != nil:
		return trim(s.Counter.GetValue())
	case s.Gauge != nil:
		return trim(s.Gauge.GetValue())
	}
	return "?"
}

func trim(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestXDPBucketsAreReadAtScrape(t *testing.T) {
	m := New()
	calls := 0
	m.SetBucketSource("AM", func() ([]BucketCounters, error) {
		calls++
		return []BucketCounters{{Group: "FarmProto", Bucket: 7, Accepted: 3, Forwarded: 2}}, nil
	})
	got := strings.Join(series(t, m, "vipfarm_xdp_packets_total"), "\n")
	want := "bucket=7,group=FarmProto,module=AM,verdict=accepted 3\nbucket=7,group=FarmProto,module=AM,verdict=forwarded 2"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if calls != 1 {
		t.Errorf("source read %d times for one scrape", calls)
	}
	m.SetBucketSource("AM", func() ([]BucketCounters, error) { return nil, errors.New("map gone") })
	if _, err := m.Registry.Gather(); err == nil || !strings.Contains(err.Error(), "map gone") {
		t.Errorf("a failing source is not reported: %v", err)
	}
}

func TestForgetModule(t *testing.T) {
	m := New()
	m.HBSent.WithLabelValues("AM", "default").Add(5)
	m.HBSent.WithLabelValues("BM", "default").Add(1)
	m.State.WithLabelValues("AM").Set(2)
	m.ForgetModule("AM")
	if got := series(t, m, "vipfarm_heartbeats_sent_total"); len(got) != 1 || got[0] != "lan=default,module=BM 1" {
		t.Errorf("heartbeat series left: %q", got)
	}
	if got := series(t, m, "vipfarm_module_state"); len(got) != 0 {
		t.Errorf("state series left: %q", got)
	}
}
