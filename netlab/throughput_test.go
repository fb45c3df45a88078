package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/mdlayher/arp"
	"github.com/vipfarm/vipfarm/dataplane/model"
	"github.com/vishvananda/netlink"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestFlowPicker(t *testing.T) {
	var owners [model.Buckets]string
	for b := range owners {
		owners[b] = []string{"node1", "node2"}[b%2]
	}
	c := Client{Name: "client1", Sources: []netip.Addr{
		netip.MustParseAddr("198.19.1.1"), netip.MustParseAddr("198.19.1.2"),
		netip.MustParseAddr("198.19.1.3"), netip.MustParseAddr("198.19.1.4"),
	}}
	for _, want := range []string{"node1", "node2"} {
		p, err := newFlowPicker(c, owners, want, model.OnAddr)
		if err != nil {
			t.Fatal(err)
		}
		if got := owners[model.BucketOf(p.src, 0, model.OnAddr, false)]; got != want || p.bucket < 0 {
			t.Errorf("on_addr pick %s (bucket %d) is owned by %s, want %s", p.src, p.bucket, got, want)
		}
		if port, err := p.port(); err != nil || port != 0 {
			t.Errorf("on_addr port = %d, %v; want 0 (the kernel's choice)", port, err)
		}
		p, err = newFlowPicker(c, owners, want, model.OnPort)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint16]bool{}
		for range 20 {
			port, err := p.port()
			if err != nil {
				t.Fatal(err)
			}
			if seen[port] || port < pickFirstPort || port > pickLastPort {
				t.Fatalf("on_port pick %d: reused or out of %d..%d", port, pickFirstPort, pickLastPort)
			}
			seen[port] = true
			if got := owners[model.BucketOf(p.src, port, model.OnPort, false)]; got != want {
				t.Errorf("on_port pick %s:%d is owned by %s, want %s", p.src, port, got, want)
			}
		}
	}
	var none [model.Buckets]string
	if _, err := newFlowPicker(c, none, "node1", model.OnAddr); err == nil || !strings.Contains(err.Error(), "node1") {
		t.Errorf("no source of node1: err = %v, want one naming node1", err)
	}
}

func TestThroughputOptions(t *testing.T) {
	p, err := NewPlan(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var o ThroughputOptions
	if err := o.defaults(p); err != nil || o.Bytes != 256<<20 || o.Reps != 5 || o.SinkPort != p.Spec.ServicePort+100 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, bad := range []ThroughputOptions{{Bytes: -1}, {Reps: -2}, {SinkPort: 70000}, {SinkPort: p.Spec.AdminPort}, {SinkPort: p.Spec.ServicePort}} {
		if err := bad.defaults(p); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// buildLabBinaries builds farmd and farmlab (the demo service of the
// module's scripts) into a temporary directory.
func buildLabBinaries(t *testing.T) (farmd, farmlab string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds farmd and farmlab and runs a farm: not with -short")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/farmd", "./cmd/farmlab")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build farmd farmlab: %v\n%s", err, out)
	}
	return filepath.Join(dir, "farmd"), filepath.Join(dir, "farmlab")
}

// TestBenchThroughput runs the throughput comparison briefly on a real
// two-node farm and checks the result is sane: every transfer delivered
// every byte (a short one fails the run), each ratio is positive, the
// forwarded flow really was XDP_TXed by the holder (its counter) and the
// local one was not, and the bench leaves no interface, address or state
// entry behind. No figure is judged against a bar: that is `farmlab bench`.
func TestBenchThroughput(t *testing.T) {
	needRoot(t)
	farmd, farmlab := buildLabBinaries(t)
	spec := Spec{Prefix: "vf-h13tp", StateDir: t.TempDir() + "/lab", Nodes: 2, Clients: 1, SourcesPerClient: 32, NoIPv6: true}
	l, err := Up(spec)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := Down(spec); err != nil {
			t.Errorf("Down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.StartFarm(ctx, FarmOptions{Farmd: farmd, Farmlab: farmlab, StartModules: true}); err != nil {
		t.Fatalf("StartFarm: %v", err)
	}
	const size, reps = 4 << 20, 2
	res, err := l.BenchThroughput(ctx, ThroughputOptions{Bytes: size, Reps: reps})
	if err != nil {
		t.Fatalf("BenchThroughput: %v", err)
	}
	t.Logf("local %s: ratio %.2f (%v / %v); forward: %+v", res.Local.Owner, res.Local.Ratio, res.Local.XDPMbitPerS, res.Local.BareMbitPerS, res.Forward)
	if res.Filter != "on_addr" || res.BytesPerRun != size || res.Reps != reps {
		t.Errorf("result header: filter %s, %d bytes, %d reps", res.Filter, res.BytesPerRun, res.Reps)
	}
	if res.Forward == nil {
		t.Fatal("no forward path on a two-node farm")
	}
	for _, p := range []*PathThroughput{&res.Local, res.Forward} {
		for name, xs := range map[string][]float64{"xdp": p.XDPMbitPerS, "bare": p.BareMbitPerS, "own_addr": p.OwnAddrMbitPerS} {
			if len(xs) != reps || slices.ContainsFunc(xs, func(x float64) bool { return !(x > 0) }) {
				t.Errorf("%s → %s, %s samples %v: want %d positive", p.Via, p.Owner, name, xs, reps)
			}
		}
		if !(p.Ratio > 0) || !(p.OwnAddrRatio > 0) {
			t.Errorf("%s → %s: ratios %v, %v: want > 0", p.Via, p.Owner, p.Ratio, p.OwnAddrRatio)
		}
	}
	if res.Local.Owner != res.Local.Via || res.Forward.Owner == res.Forward.Via {
		t.Errorf("local path %s via %s, forward path %s via %s", res.Local.Owner, res.Local.Via, res.Forward.Owner, res.Forward.Via)
	}
	if res.Local.XDPForwarded != 0 {
		t.Errorf("local path: the holder forwarded %d packets, want 0", res.Local.XDPForwarded)
	}
	// Every data segment of every measured transfer to the VIP (MSS below
	// 1500 bytes) went through the holder's XDP_TX.
	if wantMin := uint64(reps * size / 1500); res.Forward.XDPForwarded < wantMin {
		t.Errorf("forward path: the holder forwarded %d packets, want >= %d", res.Forward.XDPForwarded, wantMin)
	}
	// The bench interfaces never answered ARP for the VIP: the client
	// still reaches it at the holder's MAC, not at a bench MAC.
	holderNode, _ := l.Plan.NodeByName(res.Local.Owner)
	if err := checkVIPNeighbour(l, holderNode); err != nil {
		t.Error(err)
	}
	// Nothing of the bench is left.
	for _, n := range l.Plan.Nodes {
		h, err := namedns.HandleAt(n.NS)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.LinkByName(bareIface); err == nil {
			t.Errorf("%s still has %s", n.Name, bareIface)
		}
		h.Close()
	}
	for _, ln := range l.State().Links {
		if strings.HasSuffix(ln.Name, "-b0") {
			t.Errorf("state still records bench link %s", ln.Name)
		}
	}
	ch, err := namedns.HandleAt(l.Plan.Clients[0].NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	addrs, err := ch.AddrList(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == bareAddr(200+l.Plan.Clients[0].Index) {
			t.Errorf("client still has its bench address %s", ip)
		}
	}
}

// checkVIPNeighbour: the first client's neighbour entry of the VIP, if it
// has one, names holder's eth0.
func checkVIPNeighbour(l *Lab, holder Node) error {
	c := l.Plan.Clients[0]
	h, err := namedns.HandleAt(c.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	neighs, err := h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, n := range neighs {
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == l.Plan.VIP && n.HardwareAddr.String() != holder.MACs[0] {
			return fmt.Errorf("%s reaches the VIP at %s, not at the holder %s's %s", c.Name, n.HardwareAddr, holder.Name, holder.MACs[0])
		}
	}
	return nil
}

// TestBareInterfaceQuiet: a node holds the VIP as a local address (on lo
// when it is not the ARP holder), and Linux answers ARP for any local
// address on any interface unless told not to. The bench interface must
// never answer for the VIP (it did once, and the holder's duplicate-address
// check restarted the module); eth0, left at the default here (no farmd),
// shows the probe can see an answer.
func TestBareInterfaceQuiet(t *testing.T) {
	needRoot(t)
	l := upLab(t, "vf-h13tq", 1, 1)
	n, c := l.Plan.Nodes[0], l.Plan.Clients[0]
	h, err := namedns.HandleAt(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	vip := &netlink.Addr{IPNet: prefixToIPNet(netip.PrefixFrom(l.Plan.VIP, 32))}
	if err := h.AddrAdd(lo, vip); err != nil {
		t.Fatal(err)
	}
	b, err := l.plugBare(n, c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.unplug(); err != nil {
			t.Error(err)
		}
	}()
	var cl *arp.Client
	if err := InNS(c.NS, func() error {
		ifi, err := net.InterfaceByName(c.Iface)
		if err != nil {
			return err
		}
		cl, err = arp.Dial(ifi)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Request(l.Plan.VIP); err != nil {
		t.Fatal(err)
	}
	_ = cl.SetReadDeadline(time.Now().Add(time.Second))
	var answers []string
	for {
		p, _, err := cl.Read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			t.Fatal(err)
		}
		if p.Operation == arp.OperationReply && p.SenderIP == l.Plan.VIP {
			answers = append(answers, p.SenderHardwareAddr.String())
		}
	}
	bench := mac(bareLAN, roleNode, n.Index)
	if slices.Contains(answers, bench) {
		t.Errorf("the bench interface (%s) answered ARP for the VIP; answers %v", bench, answers)
	}
	if !slices.Contains(answers, n.MACs[0]) {
		t.Errorf("eth0 (%s) did not answer ARP for the VIP: the probe sees nothing; answers %v", n.MACs[0], answers)
	}
}
