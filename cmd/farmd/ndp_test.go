package main_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/internal/nstest"
)

// The IPv6 VIP lab: a switch namespace with one bridge, two farmd nodes and
// one client, all named vf-h10-ts-* (not vf-h10-sw &c.: a farmlab lab with
// prefix vf-h10- may be up on the same machine). Heartbeats use 198.18.110.0/24; the VIP
// is fd00:198:18::100 on fd00:198:18::/64.

const (
	ndpSwitch = "vf-h10-ts-sw"
	ndpClient = "vf-h10-ts-c1"
	ndpVIP    = "fd00:198:18::100"
	ndpPort   = 4871
)

var ndpNodes = []struct{ name, ns, port, addr4, addr6 string }{
	{"node1", "vf-h10-ts-n1", "p1", "198.18.110.11", "fd00:198:18::11"},
	{"node2", "vf-h10-ts-n2", "p2", "198.18.110.12", "fd00:198:18::12"},
}

var ndpCluster = fmt.Sprintf(`<cluster>
  <lans port="4800">
    <lan name="default"><node name="node1" addr="%s"/><node name="node2" addr="%s"/></lan>
  </lans>
</cluster>
`, ndpNodes[0].addr4, ndpNodes[1].addr4)

var ndpUserconfig = moduleConfig(ndpPort, ndpVIP, []string{"default"}, "")

// buildNDPLab makes the namespaces, the client with the addresses
// clients; it returns the lab and the nodes' eth0 MACs.
func buildNDPLab(t *testing.T, clients []string) (*lab, []net.HardwareAddr) {
	t.Helper()
	l := &lab{sw: nstest.NewNamed(t, ndpSwitch)}
	l.sw.AddBridge(t, "br0", false)
	var macs []net.HardwareAddr
	for i, n := range ndpNodes {
		mac := net.HardwareAddr{0x02, 0x10, 0, 0, 0, byte(i + 1)}
		macs = append(macs, mac)
		ns := nstest.NewNamed(t, n.ns)
		l.nodes = append(l.nodes, ns)
		l.farmds = append(l.farmds, launch{name: n.name, ns: ns, admin: n.addr4 + ":9010", stopTimeout: 10 * time.Second})
		plug(t, l.sw, n.port, "br0", ns, "eth0")
		ns.SetMAC(t, "eth0", mac)
		ns.AddAddr(t, "eth0", n.addr4+"/24")
		ns.AddAddr(t, "eth0", n.addr6+"/64")
		ns.Up(t, "eth0")
		// XDP_TX frames reach the peer only through a switch port that
		// runs an XDP program itself (NOTES.md).
		attachPass(t, l.sw, n.port)
	}
	l.client = nstest.NewNamed(t, ndpClient)
	plug(t, l.sw, "pc", "br0", l.client, "eth0")
	for _, c := range clients {
		l.client.AddAddr(t, "eth0", c+"/64")
	}
	l.client.Up(t, "eth0")
	if err := l.client.TxChecksumOff("eth0"); err != nil {
		t.Fatal(err)
	}
	return l, macs
}

// ndpHome is the configuration of a node of the NDP lab (key and token
// aside).
var ndpHome = map[string]string{
	"cluster/cluster.xml":            ndpCluster,
	"modules/AM/conf/userconfig.xml": ndpUserconfig,
}

// clientVIPNeighbour is the client's neighbour entry for the VIP: its MAC
// ("" when there is none) and state.
func clientVIPNeighbour(t *testing.T, client *nstest.Named) (string, string) {
	t.Helper()
	mac, state := "", ""
	neigh, err := client.NL.NeighList(client.Link(t, "eth0").Attrs().Index, netlink.FAMILY_V6)
	if err != nil {
		t.Fatalf("client neighbour table: %v", err)
	}
	for _, n := range neigh {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a == netip.MustParseAddr(ndpVIP) {
			mac, state = n.HardwareAddr.String(), neighState(n.State)
		}
	}
	return mac, state
}

func neighState(s int) string {
	for bit, name := range map[int]string{netlink.NUD_INCOMPLETE: "INCOMPLETE", netlink.NUD_REACHABLE: "REACHABLE",
		netlink.NUD_STALE: "STALE", netlink.NUD_DELAY: "DELAY", netlink.NUD_PROBE: "PROBE", netlink.NUD_FAILED: "FAILED",
		netlink.NUD_NOARP: "NOARP", netlink.NUD_PERMANENT: "PERMANENT"} {
		if s&bit != 0 {
			return name
		}
	}
	return fmt.Sprintf("state %#x", s)
}

// TestIPv6VIPNeighbourIsTheHolder is the regression test of the IPv6 VIP
// resolving to a non-holder: a non-holder that answers a client from the
// VIP must resolve the client, and with the VIP an address of its LAN
// interface Linux sent that NS from the VIP with its own MAC, which moved
// the client's neighbour entry for the VIP to the non-holder (whose XDP
// program then dropped the client's other buckets, and the client's NA to
// the VIP). Clients served by both nodes must keep the VIP on the holder's
// MAC; after the holder dies, the survivor's unsolicited NA alone (the
// client sends nothing meanwhile) must move the entry to the survivor.
func TestIPv6VIPNeighbourIsTheHolder(t *testing.T) {
	needRoot(t)
	binaries(t)
	var clients []string
	for i := range 16 {
		clients = append(clients, fmt.Sprintf("fd00:198:18::%x", 0x201+i))
	}
	l, macs := buildNDPLab(t, clients)
	for i, n := range ndpNodes {
		serveName(t, l.nodes[i], "[::]:8080", n.name)
	}
	f := startFarm(t, t.TempDir(), newKey(), ndpHome, l.farmds)
	startModules(t, f)
	holder, other := 0, 1
	if !f[0].module().ARPHolder {
		holder, other = 1, 0
	}
	if !f[holder].module().ARPHolder || f[other].module().ARPHolder {
		t.Fatalf("ARP holder: node1 %v, node2 %v", f[0].module().ARPHolder, f[1].module().ARPHolder)
	}

	ask := func(client string) (string, error) {
		return askFrom(l.client, client, net.JoinHostPort(ndpVIP, "8080"), time.Second)
	}

	// Every client address reaches one node; the non-holder serves some of
	// them, so it has resolved those clients, and after each of its
	// answers the client still resolves the VIP to the holder.
	served := firstAnswers(ask, clients, 15*time.Second, func(c, who string) {
		if mac, state := clientVIPNeighbour(t, l.client); mac != macs[holder].String() {
			t.Fatalf("after %s served %s the client resolves the VIP to %s (%s), want the holder %s's %s",
				who, c, mac, state, ndpNodes[holder].name, macs[holder])
		}
	})
	if len(served) != len(clients) {
		mac, state := clientVIPNeighbour(t, l.client)
		t.Fatalf("%d of %d client addresses served within 15s: %v; the client resolves the VIP to %s (%s), the holder %s is %s",
			len(served), len(clients), served, mac, state, ndpNodes[holder].name, macs[holder])
	}
	count := perNode(served)
	if count[ndpNodes[other].name] == 0 || count[ndpNodes[holder].name] == 0 {
		t.Fatalf("IPv6 traffic not spread over both nodes: %v", count)
	}
	t.Logf("client addresses per node: %v (holder %s)", count, ndpNodes[holder].name)
	// on_addr: a second round lands every address on the same node again.
	for _, c := range clients {
		if who, err := ask(c); err != nil || who != served[c] {
			t.Errorf("client %s: %q %v, first served by %s", c, who, err, served[c])
		}
	}
	if mac, state := clientVIPNeighbour(t, l.client); mac != macs[holder].String() {
		t.Fatalf("after two rounds the client resolves the VIP to %s (%s), want the holder's %s", mac, state, macs[holder])
	}
	// The non-holder carries the VIP on lo, not on its LAN interface.
	if addrs := l.nodes[other].Addrs(t, "eth0"); hasAddr(addrs, ndpVIP, -1) {
		t.Errorf("non-holder %s has the VIP on eth0: %v", ndpNodes[other].name, addrs)
	}
	if addrs := l.nodes[other].Addrs(t, "lo"); !hasAddr(addrs, ndpVIP, 128) {
		t.Errorf("non-holder %s lacks the VIP on lo: %v", ndpNodes[other].name, addrs)
	}

	// The holder dies as a machine does: cable pulled, farmd killed. The
	// client stays silent: only the survivor's unsolicited NA can move its
	// neighbour entry.
	l.sw.Down(t, ndpNodes[holder].port)
	f[holder].cmd.Process.Kill()
	<-f[holder].exited
	start := time.Now()
	f[other].waitState(10*time.Second, "UP", true, 256)
	f[other].waitFor(5*time.Second, "the ARP duty", func() bool { return f[other].module().ARPHolder })
	took := time.Since(start)
	f[other].waitFor(5*time.Second, "the client's neighbour entry for the VIP to name the survivor", func() bool {
		mac, _ := clientVIPNeighbour(t, l.client)
		return mac == macs[other].String()
	})
	t.Logf("holder killed: survivor took the ARP duty after %s; the client's VIP entry named it %s later",
		took.Round(10*time.Millisecond), (time.Since(start) - took).Round(10*time.Millisecond))
	if addrs := l.nodes[other].Addrs(t, "eth0"); !hasAddr(addrs, ndpVIP, 64) {
		t.Errorf("new holder %s lacks the VIP on eth0: %v", ndpNodes[other].name, addrs)
	}
	for _, c := range clients {
		f[other].waitFor(3*time.Second, "client "+c+" served by the survivor", func() bool {
			who, err := ask(c)
			return err == nil && who == ndpNodes[other].name
		})
	}
}
