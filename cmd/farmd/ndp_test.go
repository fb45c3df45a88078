package main_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipfarm/vipfarm/dataplane"
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

var ndpUserconfig = fmt.Sprintf(`<!DOCTYPE safe>
<safe>
<service mode="farm" boot="off">
  <farm port="%d" pulse="100ms"><lan name="default"/></farm>
  <vip>
    <interface_list>
      <interface check="on">
        <virtual_interface>
          <virtual_addr addr="%s" where="alias" check="on"/>
        </virtual_interface>
      </interface>
    </interface_list>
    <loadbalancing_list>
      <group name="FarmProto"><rule port="8080" proto="tcp" filter="on_addr"/></group>
    </loadbalancing_list>
  </vip>
</service>
</safe>
`, ndpPort, ndpVIP)

func ndpTeardown() {
	for _, ns := range []string{ndpSwitch, ndpClient, ndpNodes[0].ns, ndpNodes[1].ns} {
		execQuiet("ip", "netns", "del", ns)
	}
}

// buildNDPLab makes the namespaces; it returns the nodes' eth0 MACs.
func buildNDPLab(t *testing.T, clients []string) []net.HardwareAddr {
	t.Helper()
	ndpTeardown()
	t.Cleanup(ndpTeardown)
	sh(t, "ip", "netns", "add", ndpSwitch)
	sh(t, "ip", "-n", ndpSwitch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	sh(t, "ip", "-n", ndpSwitch, "link", "set", "br0", "up")
	var macs []net.HardwareAddr
	for i, n := range ndpNodes {
		mac := net.HardwareAddr{0x02, 0x10, 0, 0, 0, byte(i + 1)}
		macs = append(macs, mac)
		sh(t, "ip", "netns", "add", n.ns)
		sh(t, "ip", "-n", n.ns, "link", "set", "lo", "up")
		sh(t, "ip", "-n", ndpSwitch, "link", "add", n.port, "type", "veth", "peer", "name", "eth0", "netns", n.ns)
		sh(t, "ip", "-n", ndpSwitch, "link", "set", n.port, "master", "br0")
		sh(t, "ip", "-n", ndpSwitch, "link", "set", n.port, "up")
		sh(t, "ip", "-n", n.ns, "link", "set", "eth0", "address", mac.String())
		sh(t, "ip", "-n", n.ns, "addr", "add", n.addr4+"/24", "dev", "eth0")
		sh(t, "ip", "-n", n.ns, "addr", "add", n.addr6+"/64", "dev", "eth0", "nodad")
		sh(t, "ip", "-n", n.ns, "link", "set", "eth0", "up")
		// XDP_TX frames reach the peer only through a switch port that
		// runs an XDP program itself (NOTES.md).
		err := inNS(ndpSwitch, func() error {
			l, err := netlink.LinkByName(n.port)
			if err != nil {
				return err
			}
			p, err := dataplane.AttachPassOnly(l.Attrs().Index, false)
			if err != nil {
				return err
			}
			t.Cleanup(func() { p.Close() })
			return nil
		})
		if err != nil {
			t.Fatalf("pass program on %s: %v", n.port, err)
		}
	}
	sh(t, "ip", "netns", "add", ndpClient)
	sh(t, "ip", "-n", ndpClient, "link", "set", "lo", "up")
	sh(t, "ip", "-n", ndpSwitch, "link", "add", "pc", "type", "veth", "peer", "name", "eth0", "netns", ndpClient)
	sh(t, "ip", "-n", ndpSwitch, "link", "set", "pc", "master", "br0")
	sh(t, "ip", "-n", ndpSwitch, "link", "set", "pc", "up")
	for _, c := range clients {
		sh(t, "ip", "-n", ndpClient, "addr", "add", c+"/64", "dev", "eth0", "nodad")
	}
	sh(t, "ip", "-n", ndpClient, "link", "set", "eth0", "up")
	if err := txChecksumOff(ndpClient, "eth0"); err != nil {
		t.Fatal(err)
	}
	return macs
}

// startNDPFarmd runs farmd in node i's namespace of the NDP lab.
func startNDPFarmd(t *testing.T, i int, root string, key []byte) *farmd {
	t.Helper()
	n := ndpNodes[i]
	f := &farmd{t: t, name: n.name, ns: n.ns, home: filepath.Join(root, n.name, "home"),
		state: filepath.Join(root, n.name, "state"), admin: n.addr4 + ":9010", log: &syncBuffer{}, exited: make(chan error, 1)}
	f.socket = filepath.Join(f.state, "farmd.sock")
	for path, data := range map[string]string{
		"cluster/cluster.xml":            ndpCluster,
		"modules/AM/conf/userconfig.xml": ndpUserconfig,
		"cluster/key":                    string(key),
		"admin.token":                    token + "\n",
	} {
		p := filepath.Join(f.home, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.cmd = exec.Command("ip", "netns", "exec", n.ns, filepath.Join(binaries(t), "farmd"), "--home", f.home,
		"--state", f.state, "--admin", f.admin, "--stop-timeout", "10s")
	f.cmd.Stdout, f.cmd.Stderr = f.log, f.log
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.exited <- f.cmd.Wait() }()
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-f.exited:
			case <-time.After(20 * time.Second):
				f.cmd.Process.Kill()
				<-f.exited
			}
		}
		if t.Failed() || os.Getenv("VF_FARMD_LOGS") != "" {
			t.Logf("farmd %s log:\n%s", f.name, f.log.String())
		}
	})
	f.waitFor(10*time.Second, "control socket", func() bool {
		c, err := net.Dial("unix", f.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return f
}

// clientVIPNeighbour is the client's neighbour entry for the VIP: its MAC
// ("" when there is none) and state.
func clientVIPNeighbour(t *testing.T) (string, string) {
	t.Helper()
	mac, state := "", ""
	err := inNS(ndpClient, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		neigh, err := netlink.NeighList(l.Attrs().Index, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, n := range neigh {
			if a, ok := netip.AddrFromSlice(n.IP); ok && a == netip.MustParseAddr(ndpVIP) {
				mac, state = n.HardwareAddr.String(), neighState(n.State)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client neighbour table: %v", err)
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
	macs := buildNDPLab(t, clients)
	for _, n := range ndpNodes {
		var ln net.Listener
		if err := inNS(n.ns, func() (err error) { ln, err = net.Listen("tcp", "[::]:8080"); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func(name string) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%s\n", name)
				c.Close()
			}
		}(n.name)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := []byte(hex.EncodeToString(raw) + "\n")
	root := t.TempDir()
	var f [2]*farmd
	for i := range ndpNodes {
		f[i] = startNDPFarmd(t, i, root, key)
		if code, out := f[i].farmctl("-m", "AM", "start"); code != 0 {
			t.Fatalf("start %s: %s", ndpNodes[i].name, out)
		}
	}
	for i := range f {
		f[i].waitState(15*time.Second, "UP", true, 128)
	}
	holder, other := 0, 1
	if !f[0].module().ARPHolder {
		holder, other = 1, 0
	}
	if !f[holder].module().ARPHolder || f[other].module().ARPHolder {
		t.Fatalf("ARP holder: node1 %v, node2 %v", f[0].module().ARPHolder, f[1].module().ARPHolder)
	}

	ask := func(client string) (string, error) {
		var answer string
		err := inNS(ndpClient, func() error {
			d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
			c, err := d.Dial("tcp", "["+ndpVIP+"]:8080")
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Second))
			answer, err = bufio.NewReader(c).ReadString('\n')
			answer = strings.TrimSpace(answer)
			return err
		})
		return answer, err
	}

	// Every client address reaches one node; the non-holder serves some of
	// them, so it has resolved those clients, and after each of its
	// answers the client still resolves the VIP to the holder.
	served := map[string]string{}
	deadline := time.Now().Add(15 * time.Second)
	for len(served) < len(clients) && time.Now().Before(deadline) {
		for _, c := range clients {
			if _, ok := served[c]; ok {
				continue
			}
			who, err := ask(c)
			if err != nil {
				continue
			}
			served[c] = who
			if mac, state := clientVIPNeighbour(t); mac != macs[holder].String() {
				t.Fatalf("after %s served %s the client resolves the VIP to %s (%s), want the holder %s's %s",
					who, c, mac, state, ndpNodes[holder].name, macs[holder])
			}
		}
	}
	if len(served) != len(clients) {
		mac, state := clientVIPNeighbour(t)
		t.Fatalf("%d of %d client addresses served within 15s: %v; the client resolves the VIP to %s (%s), the holder %s is %s",
			len(served), len(clients), served, mac, state, ndpNodes[holder].name, macs[holder])
	}
	count := map[string]int{}
	for _, who := range served {
		count[who]++
	}
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
	if mac, state := clientVIPNeighbour(t); mac != macs[holder].String() {
		t.Fatalf("after two rounds the client resolves the VIP to %s (%s), want the holder's %s", mac, state, macs[holder])
	}
	// The non-holder carries the VIP on lo, not on its LAN interface.
	if out := sh(t, "ip", "-n", ndpNodes[other].ns, "-6", "addr", "show", "dev", "eth0"); strings.Contains(out, ndpVIP) {
		t.Errorf("non-holder %s has the VIP on eth0:\n%s", ndpNodes[other].name, out)
	}
	if out := sh(t, "ip", "-n", ndpNodes[other].ns, "-6", "addr", "show", "dev", "lo"); !strings.Contains(out, ndpVIP+"/128") {
		t.Errorf("non-holder %s lacks the VIP on lo:\n%s", ndpNodes[other].name, out)
	}

	// The holder dies as a machine does: cable pulled, farmd killed. The
	// client stays silent: only the survivor's unsolicited NA can move its
	// neighbour entry.
	sh(t, "ip", "-n", ndpSwitch, "link", "set", ndpNodes[holder].port, "down")
	f[holder].cmd.Process.Kill()
	<-f[holder].exited
	start := time.Now()
	f[other].waitState(10*time.Second, "UP", true, 256)
	f[other].waitFor(5*time.Second, "the ARP duty", func() bool { return f[other].module().ARPHolder })
	took := time.Since(start)
	f[other].waitFor(5*time.Second, "the client's neighbour entry for the VIP to name the survivor", func() bool {
		mac, _ := clientVIPNeighbour(t)
		return mac == macs[other].String()
	})
	t.Logf("holder killed: survivor took the ARP duty after %s; the client's VIP entry named it %s later",
		took.Round(10*time.Millisecond), (time.Since(start) - took).Round(10*time.Millisecond))
	if out := sh(t, "ip", "-n", ndpNodes[other].ns, "-6", "addr", "show", "dev", "eth0"); !strings.Contains(out, ndpVIP+"/64") {
		t.Errorf("new holder %s lacks the VIP on eth0:\n%s", ndpNodes[other].name, out)
	}
	for _, c := range clients {
		f[other].waitFor(3*time.Second, "client "+c+" served by the survivor", func() bool {
			who, err := ask(c)
			return err == nil && who == ndpNodes[other].name
		})
	}
}
