package main_test

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/dataplane"
	"github.com/vipfarm/vipfarm/internal/nstest"
)

// The lab of these tests: a switch namespace with one bridge per LAN and two
// node namespaces, each with one veth per LAN. Names start with vf-h6-,
// addresses are in 198.18.60.0/24 (LAN default) and 198.18.61.0/24 (LAN
// private); the VIP is 198.18.60.100. It is built with netlink and setns
// only: no ip command.

const (
	nsSwitch = "vf-h6-sw"
	vipAddr  = "198.18.60.100"
	hbPort   = 4870
)

var nodes = []struct{ name, ns, addr0, addr1 string }{
	{"node1", "vf-h6-n1", "198.18.60.11", "198.18.61.11"},
	{"node2", "vf-h6-n2", "198.18.60.12", "198.18.61.12"},
}

// needRoot skips tests that build namespaces when not root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces, veths, bridges and attaches XDP")
	}
	if testing.Short() {
		t.Skip("lab test skipped in -short mode")
	}
}

// lab holds the namespaces of a test's lab; client is nil until a test
// adds one.
type lab struct {
	sw, client *nstest.Named
	nodes      []*nstest.Named
	farmds     []launch // how each node runs farmd
}

// buildLab makes the IPv4 lab; the namespaces go when the test ends.
func buildLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{sw: nstest.NewNamed(t, nsSwitch)}
	for lan := range 2 {
		l.sw.AddBridge(t, fmt.Sprintf("br%d", lan), true)
	}
	for i, n := range nodes {
		ns := nstest.NewNamed(t, n.ns)
		l.nodes = append(l.nodes, ns)
		l.farmds = append(l.farmds, launch{name: n.name, ns: ns, admin: n.addr0 + ":9010", stopTimeout: 20 * time.Second})
		for lan, addr := range []string{n.addr0, n.addr1} {
			host := fmt.Sprintf("eth%d", lan)
			plug(t, l.sw, fmt.Sprintf("p%d-%d", i+1, lan), fmt.Sprintf("br%d", lan), ns, host)
			ns.AddAddr(t, host, addr+"/24")
			ns.Up(t, host)
		}
	}
	return l
}

// plug cables host in ns to the bridge br of the switch sw through the
// switch port port: a veth whose switch end is enslaved and up; the host
// end is left down for the caller to address.
func plug(t *testing.T, sw *nstest.Named, port, br string, ns *nstest.Named, host string) {
	t.Helper()
	sw.AddVeth(t, port, ns, host)
	sw.SetMaster(t, port, br)
	sw.Up(t, port)
}

// attachPass puts a pass-only XDP program on a switch port until the test
// ends: XDP_TX frames reach the peer only through a switch port that runs
// an XDP program itself (NOTES.md).
func attachPass(t *testing.T, sw *nstest.Named, port string) {
	t.Helper()
	idx := sw.Link(t, port).Attrs().Index
	// The attachment names the port by ifindex, which the kernel resolves
	// in the calling thread's namespace.
	var p *dataplane.PassOnly
	err := sw.Do(func() (err error) { p, err = dataplane.AttachPassOnly(idx, false); return err })
	if err != nil {
		t.Fatalf("pass program on %s: %v", port, err)
	}
	t.Cleanup(func() { p.Close() })
}

// serveName makes ns answer every TCP connection to addr with name and a
// newline until the test ends: the farm service of the traffic tests.
func serveName(t *testing.T, ns *nstest.Named, addr, name string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", name)
			c.Close()
		}
	}()
}

// askFrom connects from the address src in ns to target (host:port) and
// returns the line the server answered, the whole exchange within timeout.
func askFrom(ns *nstest.Named, src, target string, timeout time.Duration) (string, error) {
	var answer string
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", target)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		answer, err = bufio.NewReader(c).ReadString('\n')
		answer = strings.TrimSpace(answer)
		return err
	})
	return answer, err
}

// firstAnswers asks every client address (through ask) until each has
// been answered once or within has passed, and returns who answered each;
// each, when not nil, is called after every first answer.
func firstAnswers(ask func(client string) (string, error), clients []string, within time.Duration, each func(client, who string)) map[string]string {
	served := map[string]string{}
	deadline := time.Now().Add(within)
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
			if each != nil {
				each(c, who)
			}
		}
	}
	return served
}

// perNode counts the clients each node served.
func perNode(served map[string]string) map[string]int {
	count := map[string]int{}
	for _, who := range served {
		count[who]++
	}
	return count
}

// hasAddr says whether addrs hold ip with a prefix of bits (-1: any).
func hasAddr(addrs []netip.Prefix, ip string, bits int) bool {
	want := netip.MustParseAddr(ip)
	for _, p := range addrs {
		if p.Addr() == want && (bits < 0 || p.Bits() == bits) {
			return true
		}
	}
	return false
}

const clusterXML = `<cluster>
  <lans port="4800">
    <lan name="default"><node name="node1" addr="198.18.60.11"/><node name="node2" addr="198.18.60.12"/></lan>
    <lan name="private"><node name="node1" addr="198.18.61.11"/><node name="node2" addr="198.18.61.12"/></lan>
  </lans>
</cluster>
`

// userconfig is the test module: the VIP on eth0, one group, the
// recording scripts below.
var userconfig = moduleConfig(hbPort, vipAddr, []string{"default", "private"}, `  <user nicestoptimeout="10s" forcestoptimeout="10s">
    <var name="GREETING" value="hello farm"/>
  </user>
`)

// moduleConfig is a test module's userconfig.xml: farm heartbeats on port
// over lans, vip as an alias of the LAN interface, one group balancing TCP
// 8080 by client address; user is the <user> element ("" for none).
func moduleConfig(port int, vip string, lans []string, user string) string {
	var lanXML strings.Builder
	for _, l := range lans {
		fmt.Fprintf(&lanXML, `<lan name="%s"/>`, l)
	}
	return fmt.Sprintf(`<!DOCTYPE safe>
<safe>
<service mode="farm" boot="off">
  <farm port="%d" pulse="100ms">%s</farm>
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
%s</service>
</safe>
`, port, lanXML.String(), vip, user)
}

// The scripts record their calls in $SAFEUSERVAR/calls; start_both fails
// (SafeKit's idiom: printe, stop -i start_both, exit 1) while the file
// $SAFEUSERVAR/fail-start exists.
const recordScript = `#!/bin/sh
echo "$(basename "$0") $1 $2 $3 GREETING=$GREETING" >> "$SAFEUSERVAR/calls"
`

const startBoth = recordScript + `if [ -e "$SAFEUSERVAR/fail-start" ]; then
	"$SAFE/safekit" printe "start_both failed"
	"$SAFE/safekit" stop -i start_both
	exit 1
fi
exit 0
`

// labHome is the configuration of a node of the IPv4 lab (key and token
// aside).
var labHome = map[string]string{
	"cluster/cluster.xml":            clusterXML,
	"modules/AM/conf/userconfig.xml": userconfig,
	"modules/AM/bin/prestart":        recordScript,
	"modules/AM/bin/start_both":      startBoth,
	"modules/AM/bin/stop_both":       recordScript,
	"modules/AM/bin/poststop":        recordScript,
}
