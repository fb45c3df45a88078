package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// Defaults of a Spec; a zero field takes its default in Spec.withDefaults.
const (
	DefaultPrefix           = "vf-"
	DefaultStateDir         = "/run/vipfarm-lab"
	DefaultNodes            = 3
	DefaultClients          = 2
	DefaultSourcesPerClient = 64
	DefaultModule           = "AM"
	DefaultServicePort      = 9000 // the VIP port of the demo service
	DefaultAdminPort        = 9010 // farmd's admin port (SPEC §8)
	DefaultHeartbeatPort    = 4800 // cluster.xml <lans port> (SPEC §2)

	maxNodes            = 50  // node K lives at .10+K: stays below the VIP (.100)
	maxClients          = 50  // client J lives at .200+J
	maxSourcesPerClient = 254 // 198.19.J.1 .. 198.19.J.254
	maxLANs             = 8
)

// Spec describes a lab. The zero value of every field means its default.
type Spec struct {
	// Prefix starts the name of every namespace the lab makes; Down finds
	// leftovers by it. Lowercase letters, digits and '-', at most 8 bytes.
	Prefix string `json:"prefix"`
	// StateDir holds state.json, the nodes' farmd homes and the logs.
	StateDir string `json:"state_dir"`
	Nodes    int    `json:"nodes"`
	Clients  int    `json:"clients"` // 0 = DefaultClients, -1 = none
	// LANs are the LAN names, in cluster.xml order; the first one carries
	// the clients and the VIP.
	LANs []string `json:"lans"`
	// SourcesPerClient is how many extra source addresses each client has
	// (198.19.J.1..N), so that one client namespace can stand for many
	// client addresses when rules hash on_addr.
	SourcesPerClient int `json:"sources_per_client"`
	// NoIPv6 leaves out the IPv6 addresses (the IPv6 VIP included).
	NoIPv6 bool `json:"no_ipv6,omitempty"`
	// NodeNames names the nodes in order (default node1..nodeN); a
	// scenario's cluster.xml brings its own. The namespaces and switch ports
	// stay nodeK whatever the name, so Down finds them by pattern.
	NodeNames []string `json:"node_names,omitempty"`
	// VIP (VIP6) replaces the default VIP 198.18.0.100 (fd00:198:18::100),
	// for a module whose userconfig.xml names its own; it must lie on the
	// first LAN of the plan.
	VIP  netip.Addr `json:"vip,omitzero"`
	VIP6 netip.Addr `json:"vip6,omitzero"`
	// Module is the farm module's name.
	Module        string `json:"module"`
	ServicePort   int    `json:"service_port"`
	AdminPort     int    `json:"admin_port"`
	HeartbeatPort int    `json:"heartbeat_port"`
}

var (
	prefixRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,7}$`)
	lanRE    = regexp.MustCompile(`^[a-z][a-z0-9]{0,10}$`) // br-<lan> must fit IFNAMSIZ
	moduleRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,31}$`)
)

// withDefaults returns s with every zero field defaulted, or an error naming
// the first bad field.
func (s Spec) withDefaults() (Spec, error) {
	if s.Prefix == "" {
		s.Prefix = DefaultPrefix
	}
	if s.StateDir == "" {
		s.StateDir = DefaultStateDir
	}
	if s.Nodes == 0 {
		s.Nodes = DefaultNodes
		if len(s.NodeNames) > 0 {
			s.Nodes = len(s.NodeNames)
		}
	}
	if s.Clients == 0 {
		s.Clients = DefaultClients
	}
	if len(s.LANs) == 0 {
		s.LANs = []string{"default", "private"}
	}
	if s.SourcesPerClient == 0 {
		s.SourcesPerClient = DefaultSourcesPerClient
	}
	if s.Module == "" {
		s.Module = DefaultModule
	}
	if s.ServicePort == 0 {
		s.ServicePort = DefaultServicePort
	}
	if s.AdminPort == 0 {
		s.AdminPort = DefaultAdminPort
	}
	if s.HeartbeatPort == 0 {
		s.HeartbeatPort = DefaultHeartbeatPort
	}
	switch {
	case !prefixRE.MatchString(s.Prefix):
		return s, fmt.Errorf("lab spec: prefix %q: want a lowercase letter then up to 7 of [a-z0-9-]", s.Prefix)
	case !strings.HasPrefix(s.StateDir, "/"):
		return s, fmt.Errorf("lab spec: state dir %q must be an absolute path", s.StateDir)
	case strings.ContainsAny(s.StateDir, "\"'<>&$`\\ \t\n"):
		// Paths under it are written into the nodes' scripts and XML.
		return s, fmt.Errorf("lab spec: state dir %q holds a character that sh or XML would read specially", s.StateDir)
	case s.Nodes < 1 || s.Nodes > maxNodes:
		return s, fmt.Errorf("lab spec: %d nodes: want 1..%d", s.Nodes, maxNodes)
	case s.Clients < -1 || s.Clients > maxClients:
		return s, fmt.Errorf("lab spec: %d clients: want 1..%d, or -1 for none", s.Clients, maxClients)
	case len(s.LANs) > maxLANs:
		return s, fmt.Errorf("lab spec: %d LANs: want at most %d", len(s.LANs), maxLANs)
	case s.SourcesPerClient < 0 || s.SourcesPerClient > maxSourcesPerClient:
		return s, fmt.Errorf("lab spec: %d sources per client: want 0..%d", s.SourcesPerClient, maxSourcesPerClient)
	case !moduleRE.MatchString(s.Module):
		return s, fmt.Errorf("lab spec: module name %q: want a letter then letters, digits or '_'", s.Module)
	}
	if err := s.checkNames(); err != nil {
		return s, err
	}
	seen := map[string]bool{}
	for _, l := range s.LANs {
		if !lanRE.MatchString(l) {
			return s, fmt.Errorf("lab spec: LAN name %q: want a lowercase letter then up to 10 of [a-z0-9]", l)
		}
		if seen[l] {
			return s, fmt.Errorf("lab spec: LAN %q listed twice", l)
		}
		seen[l] = true
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"service port", s.ServicePort}, {"admin port", s.AdminPort}, {"heartbeat port", s.HeartbeatPort}} {
		if p.v < 1 || p.v > 65535 {
			return s, fmt.Errorf("lab spec: %s %d: want 1..65535", p.name, p.v)
		}
	}
	if s.ServicePort == s.AdminPort {
		return s, fmt.Errorf("lab spec: service port and admin port are both %d", s.ServicePort)
	}
	return s, nil
}

var nodeNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,31}$`)

// checkNames validates NodeNames and the VIP overrides.
func (s Spec) checkNames() error {
	if len(s.NodeNames) > 0 && len(s.NodeNames) != s.Nodes {
		return fmt.Errorf("lab spec: %d node names for %d nodes", len(s.NodeNames), s.Nodes)
	}
	seen := map[string]bool{}
	for _, n := range s.NodeNames {
		if !nodeNameRE.MatchString(n) {
			return fmt.Errorf("lab spec: node name %q: want a letter then up to 31 of [A-Za-z0-9_.-]", n)
		}
		if seen[n] || strings.HasPrefix(n, "client") || n == "switch" || n == "sw" {
			return fmt.Errorf("lab spec: node name %q is listed twice or names a client or the switch", n)
		}
		seen[n] = true
	}
	if s.VIP.IsValid() && (!s.VIP.Is4() || !LANPrefix(0).Contains(s.VIP) || s.VIP.As4()[3] <= 10+maxNodes || s.VIP.As4()[3] >= 200) {
		return fmt.Errorf("lab spec: VIP %v: want an IPv4 address of the first LAN %v between the nodes (.11..) and the clients (.201..)", s.VIP, LANPrefix(0))
	}
	if s.VIP6.IsValid() && (!s.VIP6.Is6() || !LANPrefix6(0).Contains(s.VIP6)) {
		return fmt.Errorf("lab spec: IPv6 VIP %v: want an address of the first LAN %v", s.VIP6, LANPrefix6(0))
	}
	return nil
}

// Node is one farm node of the plan.
type Node struct {
	Name  string       `json:"name"`
	NS    string       `json:"netns"`
	Index int          `json:"index"`  // 1-based: nodeK
	Addrs []netip.Addr `json:"addrs"`  // IPv4, one per LAN, indexed like Spec.LANs
	Addr6 []netip.Addr `json:"addrs6"` // IPv6, one per LAN (empty with NoIPv6)
	MACs  []string     `json:"macs"`   // of eth<i>, one per LAN
	// Ifaces are the node-side interface names (eth0, eth1, ...), and Ports
	// the switch-side ones, indexed like Spec.LANs.
	Ifaces []string `json:"ifaces"`
	Ports  []string `json:"ports"`
}

// Client is one client namespace on the first LAN.
type Client struct {
	Name     string       `json:"name"`
	NS       string       `json:"netns"`
	Index    int          `json:"index"`
	Addr     netip.Addr   `json:"addr"`
	Addr6    netip.Addr   `json:"addr6,omitzero"`
	Sources  []netip.Addr `json:"sources"`            // extra source addresses (IPv4)
	Sources6 []netip.Addr `json:"sources6,omitempty"` // the same number in IPv6
	MAC      string       `json:"mac"`
	Iface    string       `json:"iface"`
	Port     string       `json:"port"` // switch side
}

// Plan is the addressing and naming plan of a Spec: everything Up makes,
// derived without touching the system, so tests and the status command can
// name things before (or without) building them.
type Plan struct {
	Spec     Spec       `json:"spec"`
	SwitchNS string     `json:"switch_netns"`
	Bridges  []string   `json:"bridges"` // indexed like Spec.LANs
	Nodes    []Node     `json:"nodes"`
	Clients  []Client   `json:"clients"`
	VIP      netip.Addr `json:"vip"`
	VIP6     netip.Addr `json:"vip6,omitzero"`
	// ClientSourceNet (ClientSourceNet6) is the prefix of the clients'
	// extra sources; nodes route it on-link on the first LAN.
	ClientSourceNet  netip.Prefix `json:"client_source_net"`
	ClientSourceNet6 netip.Prefix `json:"client_source_net6,omitzero"`
}

// The addressing plan (SPEC §7: everything on 198.18.0.0/15).
var (
	clientSourceNet  = netip.MustParsePrefix("198.19.0.0/16")
	clientSourceNet6 = netip.MustParsePrefix("fd00:198:19::/48")
	vip4             = netip.MustParseAddr("198.18.0.100")
	vip6             = netip.MustParseAddr("fd00:198:18::100")
)

// LANPrefix is the IPv4 prefix of LAN i: 198.18.i.0/24.
func LANPrefix(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24)
}

// LANPrefix6 is the IPv6 prefix of LAN i: fd00:198:18:i::/64.
func LANPrefix6(i int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%x::/64", i))
}

// host6 is the address of LAN i whose last group reads like the decimal
// host number (node1 = ::11), so IPv4 and IPv6 plans read alike.
func host6(i, host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:198:18:%x::%d", i, host))
}

// mac is a locally administered MAC: 02:56:46 ("VF"), LAN, role, index.
func mac(lan int, role byte, index int) string {
	return net.HardwareAddr{0x02, 0x56, 0x46, byte(lan), role, byte(index)}.String()
}

const (
	roleNode   = 1
	roleClient = 2
)

// NewPlan validates spec, applies defaults and derives the plan.
func NewPlan(spec Spec) (Plan, error) {
	s, err := spec.withDefaults()
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Spec: s, SwitchNS: s.Prefix + "sw", VIP: vip4, ClientSourceNet: clientSourceNet}
	if s.VIP.IsValid() {
		p.VIP = s.VIP
	}
	if !s.NoIPv6 {
		p.VIP6, p.ClientSourceNet6 = vip6, clientSourceNet6
		if s.VIP6.IsValid() {
			p.VIP6 = s.VIP6
		}
	}
	for _, l := range s.LANs {
		p.Bridges = append(p.Bridges, "br-"+l)
	}
	for k := 1; k <= s.Nodes; k++ {
		n := Node{Name: fmt.Sprintf("node%d", k), Index: k}
		n.NS = s.Prefix + n.Name
		if len(s.NodeNames) > 0 {
			n.Name = s.NodeNames[k-1]
		}
		for i := range s.LANs {
			n.Addrs = append(n.Addrs, netip.AddrFrom4([4]byte{198, 18, byte(i), byte(10 + k)}))
			if !s.NoIPv6 {
				n.Addr6 = append(n.Addr6, host6(i, 10+k))
			}
			n.MACs = append(n.MACs, mac(i, roleNode, k))
			n.Ifaces = append(n.Ifaces, fmt.Sprintf("eth%d", i))
			n.Ports = append(n.Ports, fmt.Sprintf("node%d-e%d", k, i))
		}
		p.Nodes = append(p.Nodes, n)
	}
	for j := 1; j <= s.Clients; j++ {
		c := Client{Name: fmt.Sprintf("client%d", j), Index: j, Iface: "eth0"}
		c.NS = s.Prefix + c.Name
		c.Port = c.Name + "-e0"
		c.Addr = netip.AddrFrom4([4]byte{198, 18, 0, byte(200 + j)})
		if !s.NoIPv6 {
			c.Addr6 = host6(0, 200+j)
		}
		c.MAC = mac(0, roleClient, j)
		for h := 1; h <= s.SourcesPerClient; h++ {
			c.Sources = append(c.Sources, netip.AddrFrom4([4]byte{198, 19, byte(j), byte(h)}))
			if !s.NoIPv6 {
				c.Sources6 = append(c.Sources6, netip.MustParseAddr(fmt.Sprintf("fd00:198:19:%x::%d", j, h)))
			}
		}
		p.Clients = append(p.Clients, c)
	}
	return p, nil
}

// NodeByName returns the node called name.
func (p Plan) NodeByName(name string) (Node, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// ClientByName returns the client called name.
func (p Plan) ClientByName(name string) (Client, bool) {
	for _, c := range p.Clients {
		if c.Name == name {
			return c, true
		}
	}
	return Client{}, false
}

// LANIndex returns the index of the LAN called name.
func (p Plan) LANIndex(name string) (int, bool) {
	for i, l := range p.Spec.LANs {
		if l == name {
			return i, true
		}
	}
	return -1, false
}

// Namespaces lists every namespace of the plan: switch, nodes, clients.
func (p Plan) Namespaces() []string {
	out := []string{p.SwitchNS}
	for _, n := range p.Nodes {
		out = append(out, n.NS)
	}
	for _, c := range p.Clients {
		out = append(out, c.NS)
	}
	return out
}

// NamespaceOf returns the namespace of a node or client called name.
func (p Plan) NamespaceOf(name string) (string, error) {
	if n, ok := p.NodeByName(name); ok {
		return n.NS, nil
	}
	if c, ok := p.ClientByName(name); ok {
		return c.NS, nil
	}
	if name == "switch" || name == "sw" {
		return p.SwitchNS, nil
	}
	return "", fmt.Errorf("lab: no node or client called %q", name)
}

// labNSPattern matches exactly the namespace names a lab with this prefix
// makes, so that a scan for leftovers never touches another lab's (or
// anyone else's) namespaces that merely share the first letters.
func labNSPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `(sw|node[0-9]+|client[0-9]+)$`)
}
