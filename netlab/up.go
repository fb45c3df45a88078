package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is a lab that is up (or being brought up): its plan and the record of
// what it made.
type Lab struct {
	Plan  Plan
	state *stateFile
}

// State returns a copy of what the lab has made so far.
func (l *Lab) State() State { return l.state.snapshot() }

// RequireRoot returns a clear error when the process lacks the privileges
// the lab needs (namespaces, netlink, BPF).
func RequireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("farmlab needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF): run it with sudo")
	}
	return nil
}

// Up builds the topology of spec: namespaces, bridges, veths, addresses,
// XDP_PASS on switch ports. It starts no process (see StartFarm). On error
// it removes whatever it had made and returns the error.
func Up(spec Spec) (*Lab, error) {
	if err := RequireRoot(); err != nil {
		return nil, err
	}
	plan, err := NewPlan(spec)
	if err != nil {
		return nil, err
	}
	for _, ns := range plan.Namespaces() {
		if namedns.Exists(ns) {
			return nil, fmt.Errorf("namespace %s already exists: a lab with prefix %q is up or crashed; run `farmlab down` first", ns, plan.Spec.Prefix)
		}
	}
	sf, err := newState(plan)
	if err != nil {
		return nil, err
	}
	l := &Lab{Plan: plan, state: sf}
	err = namedns.EnsureDir()
	if err == nil {
		err = l.build()
	}
	if err != nil {
		if derr := Down(plan.Spec); derr != nil {
			return nil, errors.Join(err, fmt.Errorf("cleaning up after the failed up: %w", derr))
		}
		return nil, err
	}
	return l, nil
}

// Open returns the lab recorded in stateDir ("" = the default).
func Open(stateDir string) (*Lab, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	sf, err := loadState(stateDir)
	if err != nil {
		return nil, fmt.Errorf("no lab is up in %s: %w", stateDir, err)
	}
	return &Lab{Plan: sf.st.Plan, state: sf}, nil
}

func (l *Lab) build() error {
	p := l.Plan
	for _, ns := range p.Namespaces() {
		// Recorded first: a crash right after creation still leaves a trace.
		if err := l.state.addNamespace(ns); err != nil {
			return err
		}
		h, err := namedns.Create(ns)
		if err != nil {
			return err
		}
		h.Close()
	}
	if err := l.buildSwitch(); err != nil {
		return err
	}
	pass, err := loadXDPPass()
	if err != nil {
		return err
	}
	// The attached program holds its own reference; ours can go.
	defer pass.Close()
	for _, n := range p.Nodes {
		if err := l.buildNode(n, pass.FD()); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	for _, c := range p.Clients {
		if err := l.buildClient(c, pass.FD()); err != nil {
			return fmt.Errorf("client %s: %w", c.Name, err)
		}
	}
	return nil
}

func (l *Lab) buildSwitch() error {
	p := l.Plan
	// The switch has no IP stack of its own to speak of: no IPv6 link-local
	// chatter from the bridges, and bridged frames skip iptables (the
	// kernel has br_netfilter built in, which would otherwise hook them).
	for _, kv := range [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
		{"net.bridge.bridge-nf-call-iptables", "0"},
		{"net.bridge.bridge-nf-call-ip6tables", "0"},
		{"net.bridge.bridge-nf-call-arptables", "0"},
	} {
		if err := writeSysctl(p.SwitchNS, kv[0], kv[1]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	h, err := namedns.HandleAt(p.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := loUp(h, p.SwitchNS); err != nil {
		return err
	}
	// A plain switch: no IGMP/MLD snooping, so multicast (IPv6 neighbour
	// solicitations for the VIP, heartbeats if they ever go multicast)
	// floods every port whatever listener reports the bridge has or has
	// not seen — the behaviour a farm must cope with, made deterministic.
	snooping := false
	for _, name := range p.Bridges {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &snooping}
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s in %s: %w", name, p.SwitchNS, err)
		}
		if err := l.state.addLink(p.SwitchNS, name); err != nil {
			return err
		}
		if err := h.LinkSetUp(br); err != nil {
			return fmt.Errorf("set bridge %s up: %w", name, err)
		}
	}
	return nil
}

// plugVeth creates a veth pair whose switch end port joins bridge and
// carries the XDP_PASS program passFD, and whose other end peer (MAC
// peerMAC) is created directly in namespace ns.
func (l *Lab) plugVeth(sw *netlink.Handle, bridge, port, ns, peer, peerMAC string, passFD int) error {
	swNS := l.Plan.SwitchNS
	target, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer target.Close()
	hw, err := net.ParseMAC(peerMAC)
	if err != nil {
		return fmt.Errorf("MAC %q: %w", peerMAC, err)
	}
	br, err := sw.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: port, MasterIndex: br.Attrs().Index},
		PeerName:         peer,
		PeerHardwareAddr: hw,
		PeerNamespace:    netlink.NsFd(target),
	}
	if err := sw.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s (switch) / %s (%s): %w", port, peer, ns, err)
	}
	if err := l.state.addLink(swNS, port); err != nil {
		return err
	}
	link, err := sw.LinkByName(port)
	if err != nil {
		return fmt.Errorf("veth %s: %w", port, err)
	}
	// netlink has no handle-bound XDP setter, so this one runs on a thread
	// inside the switch namespace. Driver mode: veth supports native XDP,
	// and generic mode would not make the peer's XDP_TX deliver.
	if err := InNS(swNS, func() error {
		return netlink.LinkSetXdpFdWithFlags(link, passFD, nl.XDP_FLAGS_DRV_MODE)
	}); err != nil {
		return fmt.Errorf("attach XDP_PASS to %s: %w", port, err)
	}
	if err := sw.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", port, err)
	}
	return nil
}

func (l *Lab) buildNode(n Node, passFD int) error {
	p := l.Plan
	sw, err := namedns.HandleAt(p.SwitchNS)
	if err != nil {
		return err
	}
	defer sw.Close()
	for i := range p.Spec.LANs {
		if err := l.plugVeth(sw, p.Bridges[i], n.Ports[i], n.NS, n.Ifaces[i], n.MACs[i], passFD); err != nil {
			return err
		}
	}
	h, err := namedns.HandleAt(n.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := loUp(h, n.NS); err != nil {
		return err
	}
	for i := range p.Spec.LANs {
		addrs := []netip.Prefix{netip.PrefixFrom(n.Addrs[i], 24)}
		if len(n.Addr6) > i {
			addrs = append(addrs, netip.PrefixFrom(n.Addr6[i], 64))
		}
		if err := ifaceUp(h, n.NS, n.Ifaces[i], addrs); err != nil {
			return err
		}
	}
	// The clients' extra sources live on the first LAN: on-link, so a node
	// answers them directly (ARP) like any neighbour, and rp_filter agrees.
	eth0, err := h.LinkByName(n.Ifaces[0])
	if err != nil {
		return fmt.Errorf("%s in %s: %w", n.Ifaces[0], n.NS, err)
	}
	for _, dst := range []netip.Prefix{p.ClientSourceNet, p.ClientSourceNet6} {
		if !dst.IsValid() {
			continue
		}
		r := &netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: prefixToIPNet(dst), Scope: netlink.SCOPE_LINK}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("route %s dev %s in %s: %w", dst, n.Ifaces[0], n.NS, err)
		}
	}
	return nil
}

func (l *Lab) buildClient(c Client, passFD int) error {
	p := l.Plan
	sw, err := namedns.HandleAt(p.SwitchNS)
	if err != nil {
		return err
	}
	defer sw.Close()
	if err := l.plugVeth(sw, p.Bridges[0], c.Port, c.NS, c.Iface, c.MAC, passFD); err != nil {
		return err
	}
	h, err := namedns.HandleAt(c.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := loUp(h, c.NS); err != nil {
		return err
	}
	addrs := []netip.Prefix{netip.PrefixFrom(c.Addr, 24)}
	if c.Addr6.IsValid() {
		addrs = append(addrs, netip.PrefixFrom(c.Addr6, 64))
	}
	for _, s := range c.Sources {
		addrs = append(addrs, netip.PrefixFrom(s, 24))
	}
	for _, s := range c.Sources6 {
		addrs = append(addrs, netip.PrefixFrom(s, 64))
	}
	if err := ifaceUp(h, c.NS, c.Iface, addrs); err != nil {
		return err
	}
	if err := setTxChecksum(c.NS, c.Iface, false); err != nil {
		return err
	}
	// Let gratuitous ARP from a new ARP holder create neighbour entries too,
	// not only refresh existing ones.
	for _, k := range []string{"net.ipv4.conf.all.arp_accept", "net.ipv4.conf." + c.Iface + ".arp_accept"} {
		if err := writeSysctl(c.NS, k, "1"); err != nil {
			return err
		}
	}
	return nil
}

func loUp(h *netlink.Handle, ns string) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo in %s: %w", ns, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up in %s: %w", ns, err)
	}
	return nil
}

// ifaceUp adds addrs to dev and sets it up. IPv6 addresses skip duplicate
// address detection: the plan makes them unique, and DAD would hold them
// "tentative" (unusable) for a second or more after every up.
func ifaceUp(h *netlink.Handle, ns, dev string, addrs []netip.Prefix) error {
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	for _, a := range addrs {
		na := &netlink.Addr{IPNet: prefixToIPNet(a)}
		na.IPNet.IP = net.IP(a.Addr().AsSlice())
		if a.Addr().Is6() {
			na.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, na); err != nil {
			return fmt.Errorf("add %s to %s in %s: %w", a, dev, ns, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up in %s: %w", dev, ns, err)
	}
	return nil
}

// prefixToIPNet converts a prefix to the net.IPNet netlink wants; the
// address is masked (a route destination).
func prefixToIPNet(p netip.Prefix) *net.IPNet {
	m := p.Masked()
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(m.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
