package main_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/dataplane"
)

const nsClient = "vf-h6-c1"

// TestTrafficSpreadsOverNodes sends TCP connections from 24 client
// addresses to the VIP through the real XDP dataplane: the ARP holder keeps
// its buckets and forwards the others to the peer MAC farmd learned, so
// both nodes answer; each client address always reaches the same node
// (on_addr); after one node stops, the other answers every client.
func TestTrafficSpreadsOverNodes(t *testing.T) {
	needRoot(t)
	binaries(t)
	buildLab(t)
	t.Cleanup(func() { execQuiet("ip", "netns", "del", nsClient) })
	// The switch ports of the nodes need an XDP program for XDP_TX frames
	// to be delivered through them (NOTES.md).
	for i := range nodes {
		port := fmt.Sprintf("p%d-0", i+1)
		err := inNS(nsSwitch, func() error {
			l, err := netlink.LinkByName(port)
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
			t.Fatalf("pass program on %s: %v", port, err)
		}
	}
	sh(t, "ip", "netns", "add", nsClient)
	sh(t, "ip", "-n", nsClient, "link", "set", "lo", "up")
	sh(t, "ip", "-n", nsSwitch, "link", "add", "pc-0", "type", "veth", "peer", "name", "eth0", "netns", nsClient)
	sh(t, "ip", "-n", nsSwitch, "link", "set", "pc-0", "master", "br0")
	sh(t, "ip", "-n", nsSwitch, "link", "set", "pc-0", "up")
	var clients []string
	for i := range 24 {
		a := fmt.Sprintf("198.18.60.%d", 150+i)
		clients = append(clients, a)
		sh(t, "ip", "-n", nsClient, "addr", "add", a+"/24", "dev", "eth0")
	}
	sh(t, "ip", "-n", nsClient, "link", "set", "eth0", "up")
	if err := txChecksumOff(nsClient, "eth0"); err != nil {
		t.Fatal(err)
	}

	// Each node serves its name on VIP:8080 (bound to any address: the
	// VIP is an alias of eth0 once the module is UP).
	for _, n := range nodes {
		var ln net.Listener
		if err := inNS(n.ns, func() (err error) { ln, err = net.Listen("tcp", ":8080"); return err }); err != nil {
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

	root := t.TempDir()
	raw := make([]byte, 32)
	rand.Read(raw)
	key := []byte(hex.EncodeToString(raw) + "\n")
	var f [2]*farmd
	for i := range nodes {
		writeHome(t, filepath.Join(root, nodes[i].name, "home"), key)
		f[i] = startFarmd(t, i, root)
		if code, out := f[i].farmctl("-m", "AM", "start"); code != 0 {
			t.Fatalf("start: %s", out)
		}
	}
	for i := range f {
		f[i].waitState(15*time.Second, "UP", true, 128)
	}

	ask := func(client string) (string, error) {
		var answer string
		err := inNS(nsClient, func() error {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
			c, err := d.Dial("tcp", vipAddr+":8080")
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			answer, err = bufio.NewReader(c).ReadString('\n')
			answer = strings.TrimSpace(answer)
			return err
		})
		return answer, err
	}
	// Peers' MACs are learned within a second or two of the heartbeats.
	served := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for len(served) < len(clients) && time.Now().Before(deadline) {
		for _, c := range clients {
			if _, ok := served[c]; ok {
				continue
			}
			if who, err := ask(c); err == nil {
				served[c] = who
			}
		}
	}
	if len(served) != len(clients) {
		t.Fatalf("%d of %d clients served: %v", len(served), len(clients), served)
	}
	count := map[string]int{}
	for _, who := range served {
		count[who]++
	}
	if count["node1"] == 0 || count["node2"] == 0 {
		t.Fatalf("traffic not spread: %v", count)
	}
	t.Logf("clients per node: %v", count)
	// on_addr: the same client address lands on the same node every time.
	for _, c := range clients[:8] {
		if who, err := ask(c); err != nil || who != served[c] {
			t.Errorf("client %s: %q %v, first served by %s", c, who, err, served[c])
		}
	}
	m := f[0].module()
	fwd := uint64(0)
	for _, g := range m.Counters.XDP {
		fwd += g.Forwarded
	}
	h := f[1].module()
	for _, g := range h.Counters.XDP {
		fwd += g.Forwarded
	}
	if fwd == 0 {
		t.Errorf("no packet forwarded by the ARP holder's XDP program: %+v %+v", m.Counters.XDP, h.Counters.XDP)
	}

	holder, other := 0, 1
	if !f[0].module().ARPHolder {
		holder, other = 1, 0
	}
	// The node without the ARP duty stops: the holder serves everybody.
	if code, out := f[other].farmctl("-m", "AM", "stop"); code != 0 {
		t.Fatal(out)
	}
	f[holder].waitState(10*time.Second, "UP", true, 256)
	allServedBy(t, ask, clients, nodes[holder].name, 2*time.Second)

	// It comes back, then the ARP holder stops: the other node takes the
	// duty, announces the VIP with gratuitous ARP, and the clients (whose
	// ARP caches still name the old holder) reach it.
	if code, out := f[other].farmctl("-m", "AM", "start"); code != 0 {
		t.Fatal(out)
	}
	f[other].waitState(10*time.Second, "UP", true, 128)
	if code, out := f[holder].farmctl("-m", "AM", "stop"); code != 0 {
		t.Fatal(out)
	}
	start := time.Now()
	f[other].waitState(10*time.Second, "UP", true, 256)
	allServedBy(t, ask, clients, nodes[other].name, 3*time.Second)
	t.Logf("ARP holder stopped: all clients served by the new holder after %s", time.Since(start).Round(10*time.Millisecond))
	if !f[other].module().ARPHolder {
		t.Errorf("%s serves everybody but does not hold the ARP duty", nodes[other].name)
	}

	// The stopped node comes back; then the new ARP holder's farmd is
	// killed (SIGKILL: no clean stop, its VIP alias stays behind): the
	// survivor notices the silence, takes every bucket and the ARP duty.
	if code, out := f[holder].farmctl("-m", "AM", "start"); code != 0 {
		t.Fatal(out)
	}
	f[holder].waitState(10*time.Second, "UP", true, 128)
	f[other].waitState(10*time.Second, "UP", true, 128)
	victim, survivor := other, holder
	f[victim].cmd.Process.Kill()
	<-f[victim].exited
	start = time.Now()
	allServedBy(t, ask, clients, nodes[survivor].name, 6*time.Second)
	t.Logf("ARP holder's farmd killed: all clients served by the survivor after %s", time.Since(start).Round(10*time.Millisecond))

	// farmd restarted on the victim removes the VIP its predecessor left.
	if out := sh(t, "ip", "-n", nodes[victim].ns, "addr", "show", "dev", "eth0"); !strings.Contains(out, vipAddr) {
		t.Logf("(the killed farmd left no VIP behind)")
	}
	f[victim] = startFarmd(t, victim, root)
	f[victim].waitState(5*time.Second, "STOP", true, 0)
	if out := sh(t, "ip", "-n", nodes[victim].ns, "addr", "show", "dev", "eth0"); strings.Contains(out, vipAddr) {
		t.Errorf("restarted farmd kept the stale VIP:\n%s", out)
	}
	allServedBy(t, ask, clients, nodes[survivor].name, 2*time.Second)
}

// allServedBy waits until every client is answered by node.
func allServedBy(t *testing.T, ask func(string) (string, error), clients []string, node string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, c := range clients {
		for {
			who, err := ask(c)
			if err == nil && who == node {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %s: %q %v, want %s within %s", c, who, err, node, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func execQuiet(args ...string) { _ = runQuiet(args...) }

// txChecksumOff is `ethtool -K dev tx off` in namespace ns: a locally built
// packet on a veth carries a partial checksum, which an XDP_TX forward loses
// (NOTES.md), so the lab's client computes full checksums.
func txChecksumOff(ns, dev string) error {
	return inNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		v := struct{ cmd, data uint32 }{cmd: 0x17} // ETHTOOL_STXCSUM, data 0
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [24 - unsafe.Sizeof(uintptr(0))]byte
		}
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&v)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("ethtool tx off on %s: %w", dev, errno)
		}
		return nil
	})
}
