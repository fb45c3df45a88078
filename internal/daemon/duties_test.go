package daemon

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/dataplane"
	"github.com/vipfarm/vipfarm/dataplane/model"
	"github.com/vipfarm/vipfarm/internal/nstest"
	"github.com/vipfarm/vipfarm/internal/vip"
)

// recordingDataplane is a Dataplane that keeps what the driver asked.
type recordingDataplane struct {
	attached  int
	configs   []model.Tables
	setOwners []string // "group drainMs"
	t         *model.Tables
}

func (r *recordingDataplane) Attach(ifindex int, generic bool) error {
	r.attached = ifindex
	return nil
}
func (r *recordingDataplane) Configure(t *model.Tables) error {
	c := *t
	r.configs = append(r.configs, c)
	r.t = &c
	return nil
}
func (r *recordingDataplane) SetOwners(g int, o [model.Buckets]uint8, drainMs uint32) error {
	r.setOwners = append(r.setOwners, strconv.Itoa(g)+" "+strconv.Itoa(int(drainMs)))
	r.t.Owners[g] = o
	return nil
}
func (r *recordingDataplane) Tables() *model.Tables                 { c := *r.t; return &c }
func (r *recordingDataplane) Counters() (dataplane.Counters, error) { return dataplane.Counters{}, nil }
func (r *recordingDataplane) Close() error                          { return nil }

func TestDutiesDriveTheDataplane(t *testing.T) {
	nstest.Run(t, func(p nstest.Pair) {
		nstest.AddAddr(t, p.A, "198.18.70.1/24")
		cl := &config.Cluster{Nodes: []string{"node1", "node2", "node3"}, LANs: []config.LAN{{Name: "default",
			Addrs: []netip.Addr{netip.MustParseAddr("198.18.70.1"), netip.MustParseAddr("198.18.70.2"), netip.MustParseAddr("198.18.70.3")}}}}
		mod := &config.Module{Name: "AM", VIP: &config.VIP{
			Interfaces: []config.Interface{{Addrs: []config.VirtualAddr{{Addr: netip.MustParseAddr("198.18.70.100"), Where: "alias"}}}},
			Groups:     []config.Group{{Name: "FarmProto", Rules: []config.Rule{{Port: 8080, Proto: "tcp", Filter: config.OnAddr}}}},
		}}
		dp := &recordingDataplane{}
		d, err := newDuties(slog.New(slog.NewTextHandler(io.Discard, nil)), cl, mod, 0, false, false,
			func(string) (Dataplane, error) { return dp, nil })
		if err != nil {
			t.Fatal(err)
		}
		defer d.close()
		if dp.attached != p.A.Attrs().Index || len(dp.configs) != 1 || dp.configs[0].Self != 0 {
			t.Fatalf("attach %d, configs %+v", dp.attached, dp.configs)
		}
		// The peer node2 is a neighbour on the VIP interface: its MAC reaches the tables.
		mac2, _ := net.ParseMAC("02:00:00:00:00:02")
		if err := netlink.NeighAdd(&netlink.Neigh{LinkIndex: p.A.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP("198.18.70.2"), HardwareAddr: mac2}); err != nil {
			t.Fatal(err)
		}
		if complete := d.refreshMACs(); complete {
			t.Error("node3's MAC is unknown, yet the refresh says complete")
		}
		last := dp.configs[len(dp.configs)-1]
		if last.MACs[1] != [6]byte(mac2) || last.MACs[0] != [6]byte(p.A.Attrs().HardwareAddr) || last.MACs[2] != ([6]byte{}) {
			t.Fatalf("MACs %x", last.MACs)
		}
		// Owners: buckets moving away from a live peer drain, from a dead one they do not.
		var owners [core.Buckets]uint8
		for b := range owners {
			owners[b] = uint8(b % 2) // node1 and node2
		}
		alive := map[int]bool{0: true, 1: true}
		if err := d.setTable(core.TableUpdate{Group: 0, Name: "FarmProto", Owners: owners}, func(n int) bool { return alive[n] }, 3000); err != nil {
			t.Fatal(err)
		}
		for b := range owners {
			owners[b] = 0
		}
		alive[1] = false
		d.setTable(core.TableUpdate{Group: 0, Owners: owners}, func(n int) bool { return alive[n] }, 3000)
		for b := range owners {
			owners[b] = uint8(b % 3)
		}
		alive[1], alive[2] = true, true
		d.setTable(core.TableUpdate{Group: 0, Owners: owners}, func(n int) bool { return alive[n] }, 3000)
		if got := strings.Join(dp.setOwners, ","); got != "0 3000,0 0,0 3000" {
			t.Errorf("SetOwners calls %q, want no drain only when a dead peer's buckets move", got)
		}
		if err := d.setTable(core.TableUpdate{Group: 5}, func(int) bool { return true }, 0); err == nil {
			t.Error("unknown group accepted")
		}
		// The ARP duty is pushed with the current owners kept.
		if err := d.setHolder(true); err != nil {
			t.Fatal(err)
		}
		last = dp.configs[len(dp.configs)-1]
		if !last.ARPHolder || last.Owners[0] != owners {
			t.Errorf("holder config: holder %v, owners kept %v", last.ARPHolder, last.Owners[0] == owners)
		}
		if err := d.setVIP(true); err != nil {
			t.Fatal(err)
		}
		if ok, _ := vip.Present(netip.MustParseAddr("198.18.70.100")); !ok {
			t.Error("VIP not added")
		}
		if !hasAddr(t, p.A.Attrs().Name, "198.18.70.100/24") {
			t.Error("the ARP holder's VIP is not on the interface")
		}
		// Losing the ARP duty parks the VIP on lo (XDP mode too): still
		// local for the node's buckets, never the source of its NS/ARP.
		if err := d.setHolder(false); err != nil {
			t.Fatal(err)
		}
		if hasAddr(t, p.A.Attrs().Name, "198.18.70.100/24") || !hasAddr(t, "lo", "198.18.70.100/32") {
			t.Error("a non-holder's VIP is not on lo only")
		}
		d.setVIP(false)
		if ok, _ := vip.Present(netip.MustParseAddr("198.18.70.100")); ok {
			t.Error("VIP not removed")
		}
	})
}

// hasAddr reports whether link name carries cidr.
func hasAddr(t *testing.T, name, cidr string) bool {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.IPNet.String() == cidr {
			return true
		}
	}
	return false
}
