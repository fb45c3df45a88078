package config

import (
	"net/netip"
	"time"
)

// Cluster is cluster.xml: the nodes of the farm and the LANs that join them.
// Node order is the order of first appearance in the first <lan>; a node's
// index in Nodes is its identity on the wire and in the dataplane tables.
type Cluster struct {
	Port  int      // <lans port>, default 4800: base UDP port of heartbeats
	LANs  []LAN    // in file order
	Nodes []string // node names, in order of the first <lan>

	Warnings []Warning // accepted SafeKit attributes that vipfarm does not act on
}

// LAN is one <lan> of cluster.xml: every node has exactly one address on it.
type LAN struct {
	Name  string
	Addrs []netip.Addr // indexed like Cluster.Nodes
	Line  int
}

// Module is one userconfig.xml after macro expansion and validation. Every
// optional value is already defaulted (see Defaults), so consumers never
// re-derive a default.
type Module struct {
	Name     string // module name (directory name, e.g. "AM")
	Macros   map[string]string
	Service  Service
	Farm     Farm
	VIP      *VIP  // nil when <vip> is absent (nodes behind a cloud load balancer)
	User     *User // nil: no script runs
	Errd     *Errd // nil: no process monitoring
	Checks   []Check
	Failover Failover
	Warnings []Warning // accepted SafeKit attributes that vipfarm does not act on
}

// Warning is a non-fatal remark about the configuration, located like an error.
type Warning struct {
	File string
	Line int
	Msg  string
}

// Boot is <service boot>.
type Boot string

const (
	BootOff    Boot = "off"
	BootOn     Boot = "on"
	BootAuto   Boot = "auto"
	BootIgnore Boot = "ignore"
)

// Service is <service mode="farm" ...>.
type Service struct {
	Mode            string        // always "farm" for vipfarm
	Boot            Boot          // default off
	MaxLoop         int           // default 3: checker/script actions tolerated within LoopInterval
	LoopInterval    time.Duration // default 24h
	BootDelay       time.Duration // accepted, warned
	AutomaticReboot bool          // accepted, warned
}

// Farm is <farm>: heartbeat parameters and LANs.
type Farm struct {
	Port       int           // UDP port of this module's heartbeats; 0 = derived from Cluster.Port
	Pulse      time.Duration // default 100ms
	SlostCount int           // default 10: pulses lost before a follower is declared offline
	MlostCount int           // default 20: pulses lost before a new leader is chosen
	LANs       []string      // names from cluster.xml, at least one
}

// DeliveryMode is how frames for the VIP reach the nodes (SPEC §4).
type DeliveryMode string

const (
	ModeAlias         DeliveryMode = "alias"
	ModeVMACInvisible DeliveryMode = "vmac_invisible"
)

// VIP is <vip>.
type VIP struct {
	Interfaces []Interface
	Groups     []Group
	TCPReset   bool // accepted, warned
}

// Interface is one <interface> with its <virtual_interface>.
type Interface struct {
	Name        string // interface name; "" = the interface holding the VIP's subnet
	Check       bool   // publishes intf.<network>
	ARPReroute  bool
	ARPInterval time.Duration // periodic gratuitous ARP from the ARP holder; 0 = off
	ARPElapse   time.Duration // how long the periodic gratuitous ARP lasts
	Mode        DeliveryMode  // from <virtual_interface type>; default alias
	VMAC        string        // <virtual_interface addr>, for vmac_invisible
	Addrs       []VirtualAddr
	Line        int
}

// VirtualAddr is one <virtual_addr>.
type VirtualAddr struct {
	Addr    netip.Addr
	Where   string // "alias"
	Check   bool   // publishes ip.<addr>
	Netmask string // dotted mask or prefix length; sets the network of the intf.<network> resource (default /24, IPv6 /64)
	Line    int
}

// Group is a load-balancing <group>: 256 buckets shared by its hosts.
type Group struct {
	Name  string
	Hosts []Host // from <cluster><host>; empty = every node with power 1
	Rules []Rule
	Line  int
}

// Host is <host name power>: power is a relative weight, 0 = no traffic.
type Host struct {
	Name  string
	Power int
}

// Filter selects what a rule hashes.
type Filter string

const (
	OnAddr Filter = "on_addr" // client address: session affinity
	OnPort Filter = "on_port" // client address and port: no affinity
)

// Rule is one load-balancing <rule>.
type Rule struct {
	VirtualAddr netip.Addr // invalid (zero) = every VIP ("*")
	Port        int        // 0 = any port ("*")
	Proto       string     // "tcp" or "udp"
	Filter      Filter
	Line        int
}

// User is <user>: scripts run only when it is present.
type User struct {
	NiceStopTimeout  time.Duration // default 300s
	ForceStopTimeout time.Duration // default 300s
	Logging          string        // "userlog" (default) or "none"
	Vars             []Var         // in file order; exported to scripts
}

// Var is <var name value>.
type Var struct{ Name, Value string }

// Errd is <errd>: process monitoring.
type Errd struct {
	PollTimer time.Duration // default 30s
	Procs     []Proc
}

// Proc is <proc name atleast action class>.
type Proc struct {
	Name    string
	AtLeast int    // default 1
	Action  string // restart|stopstart|stop|wait (default restart)
	Class   string // default "both" (the guide: "both" for a farm module, "prim" for a mirror)
	Line    int
}

// CheckKind is the kind of a <check> child.
type CheckKind string

const (
	CheckTCP    CheckKind = "tcp"
	CheckPing   CheckKind = "ping"
	CheckIntf   CheckKind = "intf"
	CheckIP     CheckKind = "ip"
	CheckCustom CheckKind = "custom"
)

// Check is one checker; it publishes the resource Resource() = "<kind>.<ident>".
type Check struct {
	Kind     CheckKind
	Ident    string
	When     string // "prim"/"both"/... as in SafeKit; default "both"
	Action   string // action when down (restart|stopstart|stop|wait); "" = only the failover rules react
	Addr     string // <to addr>; for an intf check made by <interface check="on">, the network ("198.18.0.0/24")
	Port     int    // <to port>
	Interval time.Duration
	Timeout  time.Duration
	Program  string // custom: the program to run (<custom exec>)
	Args     string // custom: its argument string (<custom arg>), split by the driver like a shell would
	Intf     string // intf: the interface name (<to name>); "" = the interface holding the network in Addr
	Line     int
}

// Resource is the name of the resource this checker publishes.
func (c Check) Resource() string { return string(c.Kind) + "." + c.Ident }

// Failover is <failover>: rules evaluated every Period; an action fires after its
// condition held for HandleTime.
type Failover struct {
	Period     time.Duration  // default 5s
	HandleTime time.Duration  // default 15s
	Rules      []FailoverRule // configured rules then the built-in ones
}

// FailoverRule is `label: if (expr) then action;`.
type FailoverRule struct {
	Label   string
	Cond    Expr
	Action  string // stop | stopstart | wait | restart (or wakeup for built-ins)
	BuiltIn bool
	Line    int
}

// Expr is a failover rule condition.
type Expr interface{ isExpr() }

// Cmp compares resources to a value. Resource may end in "?" (any resource of
// that kind matches) or "*" (every resource of that kind must match).
type Cmp struct {
	Resource string // e.g. "intf.?", "ip.*", "custom.x"
	Neg      bool   // "!=" instead of "=="
	Value    string // up | down | init | unknown
}

// Not is `! expr`.
type Not struct{ X Expr }

// And is `l && r`.
type And struct{ L, R Expr }

// Or is `l || r`.
type Or struct{ L, R Expr }

func (Cmp) isExpr() {}
func (Not) isExpr() {}
func (And) isExpr() {}
func (Or) isExpr()  {}
