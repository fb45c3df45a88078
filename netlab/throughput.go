package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/dataplane/model"
)

// The throughput figures of SPEC §9 ("XDP path vs plain kernel path, lab
// TCP throughput to the owner node ≥ 0.9×"), measured side by side in one
// run on a balanced farm:
//
//	local:   a flow the ARP holder owns: client → VIP → holder's eth0, where
//	         the farm's program decides XDP_PASS;
//	forward: a flow another node owns: client → VIP → holder's eth0, whose
//	         program XDP_TXes it (destination MAC rewritten) back through
//	         the switch → owner's eth0 (the owner's program passes it).
//
// Each is compared with the plain kernel path to the same node: a transfer
// to the node's address on a bench interface that carries no XDP program
// (throughput_bare.go explains why that, not a detach of farmd's program).
// A third variant, to the node's own eth0 address, goes through the farm's
// program without being VIP traffic: it separates the cost of having any
// XDP program on a veth from the cost of the farm's decision.
//
// Every repetition runs the three variants back to back, in alternating
// order, so slow drifts of a shared machine hit them alike; the figures are
// medians, with every sample kept.

// ThroughputOptions tune BenchThroughput.
type ThroughputOptions struct {
	Bytes    int64  // per transfer; default 256 MiB
	Reps     int    // repetitions of each variant; default 5
	SinkPort int    // the sink's own port; default ServicePort+100
	Client   string // client namespace to send from; default the first
	// SkipForward measures only the local path.
	SkipForward bool
}

func (o *ThroughputOptions) defaults(p Plan) error {
	if o.Bytes == 0 {
		o.Bytes = 256 << 20
	}
	if o.Reps == 0 {
		o.Reps = 5
	}
	if o.SinkPort == 0 {
		o.SinkPort = p.Spec.ServicePort + 100
	}
	switch {
	case o.Bytes < 1:
		return fmt.Errorf("bench throughput: %d bytes per transfer: want > 0", o.Bytes)
	case o.Reps < 1:
		return fmt.Errorf("bench throughput: %d repetitions: want > 0", o.Reps)
	case o.SinkPort < 1 || o.SinkPort > 65535:
		return fmt.Errorf("bench throughput: sink port %d: want 1..65535", o.SinkPort)
	case o.SinkPort == p.Spec.ServicePort || o.SinkPort == p.Spec.AdminPort || o.SinkPort == p.Spec.HeartbeatPort:
		return fmt.Errorf("bench throughput: sink port %d is a port of the farm", o.SinkPort)
	}
	return nil
}

// PathThroughput is one path's samples, in Mbit/s.
type PathThroughput struct {
	// Owner is the node that owns the flow's bucket and runs the sink;
	// Via the node whose eth0 the VIP's frames reach (the ARP holder).
	Owner  string `json:"owner"`
	Via    string `json:"via"`
	Src    string `json:"src"`
	Bucket int    `json:"bucket"` // of Src; -1 with on_port (each connection's port picks it)
	// XDP: to the VIP; Bare: to the owner's bench interface (no XDP
	// program); OwnAddr: to the owner's eth0 address (the farm's program
	// attached, the packets not VIP traffic).
	XDPMbitPerS     []float64 `json:"xdp_mbit_s"`
	BareMbitPerS    []float64 `json:"bare_mbit_s"`
	OwnAddrMbitPerS []float64 `json:"own_addr_mbit_s"`
	XDPMedian       float64   `json:"xdp_median_mbit_s"`
	BareMedian      float64   `json:"bare_median_mbit_s"`
	OwnAddrMedian   float64   `json:"own_addr_median_mbit_s"`
	// CPU cost of each variant: the machine's busy CPU time (all CPUs,
	// /proc/stat) during a transfer, per GiB moved, median. Every hop of
	// the lab (veths, bridge, both TCP ends) is CPU work on this machine,
	// so this shows where a lower ratio comes from; other load on a shared
	// machine adds to all three alike.
	XDPCPUMsPerGiB     float64 `json:"xdp_cpu_ms_per_gib"`
	BareCPUMsPerGiB    float64 `json:"bare_cpu_ms_per_gib"`
	OwnAddrCPUMsPerGiB float64 `json:"own_addr_cpu_ms_per_gib"`
	// Ratio is XDPMedian / BareMedian (the SPEC §9 figure); OwnAddrRatio
	// is OwnAddrMedian / BareMedian.
	Ratio        float64 `json:"ratio"`
	OwnAddrRatio float64 `json:"own_addr_ratio"`
	// XDPForwarded is how many packets the holder's program forwarded
	// during the path's runs (its counter): > 0 on the forward path, 0 on
	// the local one.
	XDPForwarded uint64 `json:"xdp_forwarded"`
}

// ThroughputResult is BenchThroughput's answer.
type ThroughputResult struct {
	BytesPerRun int64           `json:"bytes_per_run"`
	Reps        int             `json:"reps"`
	Client      string          `json:"client"`
	Filter      string          `json:"filter"`
	Baseline    string          `json:"baseline"`
	Local       PathThroughput  `json:"local"`
	Forward     *PathThroughput `json:"forward,omitempty"` // nil with one node or SkipForward
}

// baselineNote says in the JSON what the ratios divide by.
const baselineNote = "same client, switch, node and sink; the baseline goes to the node's address on a second veth (bench0, same bridge) that carries no XDP program"

// BenchThroughput measures the XDP and plain kernel paths side by side on
// the running, balanced farm. It needs no quiet farm but a stable one:
// buckets that move during the run make transfers fail, not lie.
func (l *Lab) BenchThroughput(ctx context.Context, o ThroughputOptions) (ThroughputResult, error) {
	var res ThroughputResult
	if err := o.defaults(l.Plan); err != nil {
		return res, err
	}
	c, err := l.throughputClient(o.Client)
	if err != nil {
		return res, err
	}
	res.BytesPerRun, res.Reps, res.Client, res.Baseline = o.Bytes, o.Reps, c.Name, baselineNote
	holder, owners, err := l.holderAndOwners(ctx)
	if err != nil {
		return res, err
	}
	filter, err := l.ruleFilter(holder.Name)
	if err != nil {
		return res, err
	}
	res.Filter = filter.String()
	paths := []*PathThroughput{{Owner: holder.Name, Via: holder.Name}}
	if !o.SkipForward {
		for _, n := range l.Plan.Nodes {
			if n.Name != holder.Name && slices.Contains(owners[:], n.Name) {
				paths = append(paths, &PathThroughput{Owner: n.Name, Via: holder.Name})
				break
			}
		}
	}
	picks := make([]*flowPicker, len(paths))
	for i, p := range paths {
		picks[i], err = newFlowPicker(c, owners, p.Owner, filter)
		if err != nil {
			return res, err
		}
		p.Src, p.Bucket = picks[i].src.String(), picks[i].bucket
	}
	var cleanups []func() error
	defer func() {
		for _, f := range slices.Backward(cleanups) {
			_ = f()
		}
	}()
	vip := netip.AddrPortFrom(l.Plan.VIP, uint16(l.Plan.Spec.ServicePort))
	bares := make([]*bareLink, len(paths))
	for i, p := range paths {
		n, _ := l.Plan.NodeByName(p.Owner)
		s, err := startSink(n, o.SinkPort)
		if err != nil {
			return res, err
		}
		cleanups = append(cleanups, s.close)
		st, err := attachSteer(n.NS, vip, []netip.Addr{picks[i].src}, s.ln)
		if err != nil {
			return res, err
		}
		cleanups = append(cleanups, st.close)
		if bares[i], err = l.plugBare(n, c); err != nil {
			return res, err
		}
		cleanups = append(cleanups, bares[i].unplug)
	}
	type variant struct {
		name string
		run  func(size int64) (bulkResult, error)
		out  *[]float64
		cpu  []float64 // ms per GiB, per run
	}
	for i, p := range paths {
		n, _ := l.Plan.NodeByName(p.Owner)
		pk, b := picks[i], bares[i]
		own := netip.AddrPortFrom(n.Addrs[0], uint16(o.SinkPort))
		vs := []*variant{
			{name: "bare", run: func(size int64) (bulkResult, error) {
				return bulkSend(ctx, c, b.caddr, 0, netip.AddrPortFrom(b.addr, uint16(o.SinkPort)), n.Name, size)
			}, out: &p.BareMbitPerS},
			{name: "xdp", run: func(size int64) (bulkResult, error) {
				port, err := pk.port()
				if err != nil {
					return bulkResult{}, err
				}
				return bulkSend(ctx, c, pk.src, port, vip, n.Name, size)
			}, out: &p.XDPMbitPerS},
			{name: "own_addr", run: func(size int64) (bulkResult, error) {
				return bulkSend(ctx, c, pk.src, 0, own, n.Name, size)
			}, out: &p.OwnAddrMbitPerS},
		}
		// A short warm-up of each: neighbours and bridge learned, and a
		// flow that reaches the wrong node fails here, before any figure.
		for _, v := range vs {
			if _, err := v.run(min(o.Bytes, 1<<20)); err != nil {
				return res, fmt.Errorf("bench throughput, %s path to %s, %s warm-up: %w", pathName(i), p.Owner, v.name, err)
			}
		}
		fwd0, err := l.xdpForwarded(ctx, holder.Name)
		if err != nil {
			return res, err
		}
		for rep := range o.Reps {
			order := slices.Clone(vs)
			if rep%2 == 1 {
				slices.Reverse(order)
			}
			for _, v := range order {
				busy0, err := busyCPU()
				if err != nil {
					return res, err
				}
				r, err := v.run(o.Bytes)
				if err != nil {
					return res, fmt.Errorf("bench throughput, %s path to %s, %s run %d: %w", pathName(i), p.Owner, v.name, rep+1, err)
				}
				busy1, err := busyCPU()
				if err != nil {
					return res, err
				}
				*v.out = append(*v.out, r.MbitPerS)
				v.cpu = append(v.cpu, float64((busy1-busy0).Milliseconds())/(float64(o.Bytes)/(1<<30)))
			}
		}
		fwd1, err := l.xdpForwarded(ctx, holder.Name)
		if err != nil {
			return res, err
		}
		p.XDPForwarded = fwd1 - fwd0
		p.XDPMedian, p.BareMedian, p.OwnAddrMedian = median(p.XDPMbitPerS), median(p.BareMbitPerS), median(p.OwnAddrMbitPerS)
		p.BareCPUMsPerGiB, p.XDPCPUMsPerGiB, p.OwnAddrCPUMsPerGiB = median(vs[0].cpu), median(vs[1].cpu), median(vs[2].cpu)
		if p.BareMedian > 0 {
			p.Ratio, p.OwnAddrRatio = p.XDPMedian/p.BareMedian, p.OwnAddrMedian/p.BareMedian
		}
	}
	res.Local = *paths[0]
	if len(paths) > 1 {
		res.Forward = paths[1]
	}
	var errs []error
	for _, f := range slices.Backward(cleanups) {
		errs = append(errs, f())
	}
	cleanups = nil
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("bench throughput: cleaning up: %w", err)
	}
	return res, nil
}

func pathName(i int) string {
	if i == 0 {
		return "local"
	}
	return "forward"
}

func (l *Lab) throughputClient(name string) (Client, error) {
	if name != "" {
		return l.Client(name)
	}
	if len(l.Plan.Clients) == 0 {
		return Client{}, errors.New("bench throughput: the lab has no client")
	}
	return l.Plan.Clients[0], nil
}

// holderAndOwners finds the one ARP holder and its view of the first
// group's bucket owners.
func (l *Lab) holderAndOwners(ctx context.Context) (Node, [model.Buckets]string, error) {
	var owners [model.Buckets]string
	var holders []Node
	for _, n := range l.Plan.Nodes {
		m, err := l.Module(ctx, n.Name)
		if err != nil {
			return Node{}, owners, fmt.Errorf("bench throughput: %w", err)
		}
		if !m.ARPHolder {
			continue
		}
		holders = append(holders, n)
		if len(m.Groups) == 0 || len(m.Groups[0].Owners) != model.Buckets {
			return Node{}, owners, fmt.Errorf("bench throughput: %s shows no owner table of 256 buckets", n.Name)
		}
		copy(owners[:], m.Groups[0].Owners)
	}
	if len(holders) != 1 {
		return Node{}, owners, fmt.Errorf("bench throughput: %d ARP holders, want 1 (is the farm UP?)", len(holders))
	}
	return holders[0], owners, nil
}

// ruleFilter reads node's module configuration, as farmd does, and returns
// the filter of the rule that decides TCP traffic to the VIP's service port.
func (l *Lab) ruleFilter(node string) (model.Filter, error) {
	clPath := filepath.Join(l.HomeDir(node), "cluster", "cluster.xml")
	ucPath := filepath.Join(l.HomeDir(node), "modules", l.Plan.Spec.Module, "conf", "userconfig.xml")
	clData, err := os.ReadFile(clPath)
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	cl, err := config.ParseCluster(clPath, clData)
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	ucData, err := os.ReadFile(ucPath)
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	mod, err := config.ParseModule(l.Plan.Spec.Module, ucPath, ucData, cl, os.LookupEnv)
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	t, err := model.FromModule(mod)
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	for _, r := range t.Rules {
		if (!r.VIP.IsValid() || r.VIP == l.Plan.VIP) && r.Proto == model.ProtoTCP && (r.Port == 0 || int(r.Port) == l.Plan.Spec.ServicePort) {
			return r.Filter, nil
		}
	}
	return 0, fmt.Errorf("bench throughput: %s has no TCP rule for %s port %d", ucPath, l.Plan.VIP, l.Plan.Spec.ServicePort)
}

// xdpForwarded sums the packets node's program forwarded, all groups.
func (l *Lab) xdpForwarded(ctx context.Context, node string) (uint64, error) {
	m, err := l.Module(ctx, node)
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	var n uint64
	for _, g := range m.Counters.XDP {
		n += g.Forwarded
	}
	return n, nil
}

// flowPicker chooses client flows whose bucket the wanted node owns: a
// source address (on_addr), and with on_port a fresh source port per
// connection (a reused port would meet its TIME_WAIT).
type flowPicker struct {
	owners   [model.Buckets]string
	want     string
	filter   model.Filter
	src      netip.Addr
	bucket   int
	nextPort int
}

// The source ports on_port flows take: below the kernel's default
// ephemeral range (32768..60999), so they never clash with its choices.
const (
	pickFirstPort = 20000
	pickLastPort  = 32767
)

func newFlowPicker(c Client, owners [model.Buckets]string, want string, filter model.Filter) (*flowPicker, error) {
	p := &flowPicker{owners: owners, want: want, filter: filter, nextPort: pickFirstPort}
	if filter == model.OnPort {
		if len(c.Sources) == 0 {
			return nil, fmt.Errorf("bench throughput: client %s has no source address", c.Name)
		}
		p.src, p.bucket = c.Sources[0], -1 // the bucket depends on the port
		return p, nil
	}
	for _, s := range c.Sources {
		b := int(model.BucketOf(s, 0, filter, false))
		if owners[b] == want {
			p.src, p.bucket = s, b
			return p, nil
		}
	}
	return nil, fmt.Errorf("bench throughput: none of the %d sources of %s hashes to a bucket of %s", len(c.Sources), c.Name, want)
}

// port returns the source port of the next connection (0: the kernel's
// choice, with on_addr).
func (p *flowPicker) port() (uint16, error) {
	if p.filter != model.OnPort {
		return 0, nil
	}
	for ; p.nextPort <= pickLastPort; p.nextPort++ {
		if p.owners[model.BucketOf(p.src, uint16(p.nextPort), p.filter, false)] == p.want {
			p.nextPort++
			return uint16(p.nextPort - 1), nil
		}
	}
	return 0, fmt.Errorf("bench throughput: no source port left in %d..%d of %s for %s", pickFirstPort, pickLastPort, p.src, p.want)
}

// busyCPU is the machine's busy CPU time since boot, all CPUs: user, nice,
// system, irq and softirq of /proc/stat (in USER_HZ ticks, 100 per second
// on Linux whatever the kernel's HZ).
func busyCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("bench throughput: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("bench throughput: /proc/stat starts %q, want the cpu line", line)
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system (idle iowait) irq softirq
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench throughput: /proc/stat field %d %q: %w", i, f[i], err)
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}

// median of samples (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
