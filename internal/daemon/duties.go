package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/dataplane/model"
	"github.com/vipfarm/vipfarm/internal/announce"
	"github.com/vipfarm/vipfarm/internal/metrics"
	"github.com/vipfarm/vipfarm/internal/vip"
)

// duties carries out a module's network duties decided by the core: the VIP
// addresses (Ready.VIP), the XDP tables (Ready.Tables) and the ARP holder's
// announcements (Ready.ARPHolder). One dataplane runs per VIP interface. A
// background loop learns the peers' MACs on those interfaces from the
// kernel's neighbour table (the heartbeats we send keep it fresh) so the
// holder can forward other nodes' buckets to them.
type duties struct {
	log     *slog.Logger
	cluster *config.Cluster
	mod     *config.Module
	self    int

	mu     sync.Mutex
	vips   *vip.Manager
	ifs    []dutyIface
	tables model.Tables // configuration + current owners, MACs and holder flag
	open   bool
	holder bool
	stop   chan struct{} // closed by close: ends learnMACs
}

type dutyIface struct {
	vip.Iface
	dp  Dataplane
	ann *announce.Announcer
}

func newDuties(log *slog.Logger, cl *config.Cluster, mod *config.Module, self int, noXDP, generic bool, factory DataplaneFactory) (*duties, error) {
	d := &duties{log: log, cluster: cl, mod: mod, self: self, stop: make(chan struct{})}
	var err error
	if d.vips, err = vip.New(mod.VIP); err != nil {
		return nil, fmt.Errorf("module %s: VIP: %w", mod.Name, err)
	}
	// A farmd that crashed left its VIPs behind; the module starts STOP, so
	// none of them may stay (a stale alias would answer ARP for the VIP).
	if err := d.vips.Close(); err != nil {
		log.Warn("removing stale VIPs", "err", err)
	}
	if d.tables, err = model.FromModule(mod); err != nil {
		return nil, err
	}
	d.tables.Self = uint8(self)
	d.tables.MACs = make([][6]byte, len(cl.Nodes))
	for _, it := range d.vips.Ifaces {
		if it.Mode == config.ModeVMACInvisible {
			log.Warn("delivery mode vmac_invisible: farmd programs the XDP tables for it but does not install the virtual MAC; use alias", "interface", it.Name)
		}
		di := dutyIface{Iface: it}
		var addrs []netip.Addr
		for _, p := range it.Addrs {
			addrs = append(addrs, p.Addr())
		}
		di.ann = &announce.Announcer{Ifname: it.Name, VIPs: addrs, Log: log}
		if it.Config.ARPReroute { // SafeKit: arpinterval/arpelapse act only with arpreroute="on"
			di.ann.Interval, di.ann.Elapse = it.Config.ARPInterval, it.Config.ARPElapse
		}
		if di.dp, err = factory(mod.Name); err != nil {
			d.close()
			return nil, err
		}
		d.ifs = append(d.ifs, di)
		if mac, err := net.InterfaceByIndex(it.Index); err == nil && len(mac.HardwareAddr) == 6 {
			d.tables.MACs[self] = [6]byte(mac.HardwareAddr)
		}
		if err := di.dp.Configure(&d.tables); err != nil {
			d.close()
			return nil, fmt.Errorf("module %s: dataplane on %s: %w", mod.Name, it.Name, err)
		}
		if err := di.dp.Attach(it.Index, generic); err != nil {
			d.close()
			return nil, fmt.Errorf("module %s: attach XDP to %s: %w (try --xdp-generic, or --no-xdp on hosts without XDP)", mod.Name, it.Name, err)
		}
		log.Info("XDP dataplane attached", "module", mod.Name, "interface", it.Name, "generic", generic, "no_xdp", noXDP)
	}
	return d, nil
}

// startLearning starts the loop that learns the peers' MACs.
func (d *duties) startLearning() { go d.learnMACs(len(d.ifs) > 0) }

// setVIP opens or closes the virtual addresses.
func (d *duties) setVIP(open bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open = open
	var err error
	if open {
		err = d.vips.Open(d.holder)
	} else {
		err = d.vips.Close()
	}
	d.announce()
	return err
}

// setTable installs a group's owners; buckets taken from a live peer drain
// to it for drainMs, buckets of a dead peer move at once.
func (d *duties) setTable(tu core.TableUpdate, alive func(node int) bool, drainMs uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if tu.Group < 0 || tu.Group >= len(d.tables.Owners) {
		return fmt.Errorf("table update for group %d, module has %d groups", tu.Group, len(d.tables.Owners))
	}
	drain := drainMs
	old := d.tables.Owners[tu.Group]
	for b, o := range tu.Owners {
		if p := old[b]; p != o && p != model.NoOwner && int(p) != d.self && !alive(int(p)) {
			drain = 0
			break
		}
	}
	d.tables.Owners[tu.Group] = tu.Owners
	var errs []error
	for _, it := range d.ifs {
		if err := it.dp.SetOwners(tu.Group, tu.Owners, drain); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.Name, err))
		}
	}
	return errors.Join(errs...)
}

// setHolder takes or drops the ARP duty.
func (d *duties) setHolder(holder bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.holder = holder
	d.tables.ARPHolder = holder
	errs := []error{d.vips.SetHolder(holder), d.reconfigure()}
	d.announce()
	return errors.Join(errs...)
}

// reconfigure pushes the holder flag and MACs, keeping the dataplane's own
// owners and drain state. Called with mu held.
func (d *duties) reconfigure() error {
	var errs []error
	for _, it := range d.ifs {
		t := it.dp.Tables()
		if t == nil {
			c := d.tables
			t = &c
		}
		t.ARPHolder = d.tables.ARPHolder
		t.MACs = slices.Clone(d.tables.MACs)
		if err := it.dp.Configure(t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.Name, err))
		}
	}
	return errors.Join(errs...)
}

// announce runs the announcers exactly while the VIP is open and we hold
// the ARP duty. Called with mu held.
func (d *duties) announce() {
	for _, it := range d.ifs {
		if d.open && d.holder {
			it.ann.Start()
		} else {
			it.ann.Stop()
		}
	}
}

// learnMACs refreshes the peers' MACs: every second until all are known,
// then every 15 s.
func (d *duties) learnMACs(any bool) {
	if !any {
		<-d.stop
		return
	}
	for {
		complete := d.refreshMACs()
		wait := time.Second
		if complete {
			wait = 15 * time.Second
		}
		select {
		case <-d.stop:
			return
		case <-time.After(wait):
		}
	}
}

func (d *duties) refreshMACs() bool {
	d.mu.Lock()
	ifs := slices.Clone(d.ifs)
	d.mu.Unlock()
	macs := make([][6]byte, len(d.cluster.Nodes))
	complete := true
	for _, it := range ifs {
		neigh, err := netlink.NeighList(it.Index, netlink.FAMILY_ALL)
		if err != nil {
			d.log.Warn("neighbour table", "interface", it.Name, "err", err)
			return false
		}
		if l, err := net.InterfaceByIndex(it.Index); err == nil && len(l.HardwareAddr) == 6 {
			macs[d.self] = [6]byte(l.HardwareAddr)
		}
		lan, ok := d.lanOn(it.Index)
		if !ok {
			continue
		}
		for node := range d.cluster.Nodes {
			if node == d.self {
				continue
			}
			addr := lan.Addrs[node].Unmap()
			found := false
			for _, n := range neigh {
				ip, _ := netip.AddrFromSlice(n.IP)
				if ip.Unmap() == addr && len(n.HardwareAddr) == 6 && n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0 {
					macs[node] = [6]byte(n.HardwareAddr)
					found = true
				}
			}
			if !found {
				complete = false
				poke(addr) // makes the kernel resolve it for the next round
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.Equal(macs, d.tables.MACs) {
		return complete
	}
	d.tables.MACs = macs
	if err := d.reconfigure(); err != nil {
		d.log.Error("dataplane: update MACs", "err", err)
	}
	return complete
}

// lanOn finds the first LAN whose local address sits on interface ifindex:
// its peers are layer-2 neighbours there.
func (d *duties) lanOn(ifindex int) (config.LAN, bool) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return config.LAN{}, false
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return config.LAN{}, false
	}
	for _, lan := range d.cluster.LANs {
		mine := lan.Addrs[d.self].Unmap()
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == mine {
				return lan, true
			}
		}
	}
	return config.LAN{}, false
}

// poke sends one datagram to the discard port: the kernel resolves the
// neighbour to deliver it.
func poke(a netip.Addr) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
	if err != nil {
		return
	}
	c.Write([]byte{0})
	c.Close()
}

// counters reads every dataplane's per-bucket counters.
func (d *duties) counters() ([]metrics.BucketCounters, error) {
	d.mu.Lock()
	ifs := slices.Clone(d.ifs)
	d.mu.Unlock()
	var out []metrics.BucketCounters
	for _, it := range ifs {
		c, err := it.dp.Counters()
		if err != nil {
			return nil, err
		}
		for g, gc := range c.Groups {
			name := groupName(d.mod, g)
			for b, bc := range gc.Buckets {
				if bc == (model.Counts{}) {
					continue
				}
				out = append(out, metrics.BucketCounters{Group: name, Bucket: b, Accepted: bc.Accepted, Forwarded: bc.Forwarded, Dropped: bc.Dropped})
			}
		}
	}
	return out, nil
}

// groupName is group g's name in mod's VIP, or its index when unnamed.
func groupName(mod *config.Module, g int) string {
	if mod.VIP != nil && g < len(mod.VIP.Groups) {
		return mod.VIP.Groups[g].Name
	}
	return fmt.Sprint(g)
}

// groupTotals sums each group's counters over the interfaces.
func (d *duties) groupTotals() []model.Counts {
	d.mu.Lock()
	ifs := slices.Clone(d.ifs)
	d.mu.Unlock()
	var out []model.Counts
	for _, it := range ifs {
		c, err := it.dp.Counters()
		if err != nil {
			continue
		}
		for g, gc := range c.Groups {
			for len(out) <= g {
				out = append(out, model.Counts{})
			}
			out[g] = out[g].Plus(gc.Total)
		}
	}
	return out
}

// close drops everything: VIPs, announcers, dataplanes.
func (d *duties) close() error {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	d.open, d.holder = false, false
	d.announce()
	errs = append(errs, d.vips.Close())
	for _, it := range d.ifs {
		if it.dp != nil {
			errs = append(errs, it.dp.Close())
		}
	}
	d.ifs = nil
	return errors.Join(errs...)
}
