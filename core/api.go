package core

import (
	"github.com/vipfarm/vipfarm/core/config"
)

// Buckets is the number of hash buckets of every load-balancing group
// (SafeKit's 256-bit bitmap).
const Buckets = 256

// NoOwner marks a bucket nobody owns in an owner table.
const NoOwner = 0xFF

// MaxNodes bounds the nodes of one cluster (owner tables hold one byte).
const MaxNodes = 64

// Config is what a driver hands to New.
type Config struct {
	Self        string          // this node's name, as in cluster.xml
	Cluster     *config.Cluster // validated cluster.xml
	Module      *config.Module  // validated userconfig.xml
	TickMs      int             // duration of one Tick in milliseconds (default 10)
	Incarnation uint64          // strictly greater at every process start of this node (replay protection)
}

// State is a module state (SPEC §3).
type State uint8

const (
	StateStop State = iota
	StateWait
	StateUp
)

func (s State) String() string {
	switch s {
	case StateStop:
		return "STOP"
	case StateWait:
		return "WAIT"
	case StateUp:
		return "UP"
	}
	return "?"
}

// ResourceState is a checker resource's value.
type ResourceState uint8

const (
	ResInit ResourceState = iota
	ResUp
	ResDown
	ResUnknown
)

func (r ResourceState) String() string {
	switch r {
	case ResInit:
		return "init"
	case ResUp:
		return "up"
	case ResDown:
		return "down"
	case ResUnknown:
		return "unknown"
	}
	return "?"
}

// ---- events (inputs to Step) ----

// Event is an input to Step.
type Event interface{ isEvent() }

// Verb is an administrative or checker-initiated action.
type Verb uint8

const (
	VerbStart Verb = iota + 1
	VerbStop
	VerbRestart
	VerbStopStart
	VerbBootOn
	VerbBootOff
)

// Boot tells the core its process has just started (power on, farmd start).
// With boot="on" the module starts.
type Boot struct{}

// Command is an action asked by the administrator (Ident == "") or, with an
// identity (`-i ID`: a script, a checker), counted toward maxloop.
type Command struct {
	Verb  Verb
	Ident string
}

// ScriptDone reports the end of a script started by a ScriptRun action.
type ScriptDone struct {
	ID       uint64
	ExitCode int  // 0 = success
	Killed   bool // ended by a Kill action or by a signal
}

// ResourceEvent is a checker's verdict on a resource (e.g. "intf.198.18.0.0").
type ResourceEvent struct {
	Name  string
	State ResourceState
}

// Recv is a heartbeat received and authenticated by the driver on LAN index LAN
// (index into Module.Farm.LANs).
type Recv struct {
	LAN int
	Msg *Heartbeat
}

func (Boot) isEvent()          {}
func (Command) isEvent()       {}
func (ScriptDone) isEvent()    {}
func (ResourceEvent) isEvent() {}
func (Recv) isEvent()          {}

// ---- actions (outputs in Ready) ----

// Ready is the batch of actions the driver must carry out, in field order.
type Ready struct {
	Messages  []Outgoing    // heartbeats to send
	Scripts   []ScriptRun   // scripts to start
	Kills     []uint64      // running scripts to kill (nice stop timed out)
	VIP       *bool         // open (true) or close (false) the virtual addresses
	Tables    []TableUpdate // new owner tables, one per changed group
	ARPHolder *bool         // take (true) or drop (false) the ARP/NS duty for the VIPs
	States    []StateChange // module state or readiness changes, in order
	Logs      []LogLine     // module log lines
}

// Outgoing is one heartbeat to send on LAN (index into Module.Farm.LANs), or
// on every LAN when LAN < 0.
type Outgoing struct {
	LAN int
	Msg *Heartbeat // immutable once emitted: drivers may share it
}

// ScriptRun asks the driver to run <module>/bin/<Name> with Args
// (`<current> <next> <action>`, or `force <next> <action>` for a forced stop).
type ScriptRun struct {
	ID   uint64
	Name string // prestart | start_both | stop_both | poststop
	Args [3]string
}

// TableUpdate is a group's complete owner table: Owners[b] is the index in
// Cluster.Nodes of bucket b's owner, or NoOwner.
type TableUpdate struct {
	Group  int
	Name   string
	Owners [Buckets]uint8
}

// StateChange is emitted at every state or readiness change.
type StateChange struct {
	State State
	Ready bool
	Rule  string // failover rule holding a WAIT node
}

// LogLevel of a module log line.
type LogLevel uint8

const (
	LogInfo LogLevel = iota
	LogError
)

// LogLine is one module log line (`farm load: 128/256`, `Local state UP Ready`, ...).
type LogLine struct {
	Level LogLevel
	Text  string
}

// ---- read-only view ----

// Status is a snapshot for APIs, consoles and simulator expectations.
type Status struct {
	Node      string
	Module    string
	State     State
	Ready     bool
	Rule      string
	Boot      bool
	Resources []ResourceStatus // sorted by name
	Groups    []GroupStatus    // in config order
	Peers     []PeerStatus     // other nodes, in cluster order
	Leader    string           // "" when none known
	ARPHolder bool
	Epoch     uint64
}

// ResourceStatus is one resource and its value.
type ResourceStatus struct {
	Name  string
	State ResourceState
}

// GroupStatus is this node's view of one load-balancing group.
type GroupStatus struct {
	Name   string
	Owned  Bitmap         // buckets this node claims
	Owners [Buckets]uint8 // this node's view of every bucket's owner
}

// Count is the number of buckets this node claims.
func (g GroupStatus) Count() int { return g.Owned.Count() }

// Share is the rounded percentage of the 256 buckets this node claims.
func (g GroupStatus) Share() int { return (g.Owned.Count()*100 + Buckets/2) / Buckets }

// PeerStatus is what this node knows of another node.
type PeerStatus struct {
	Name          string
	Alive         bool  // in this node's component: heard directly or through a relay within the timeout
	State         State // last advertised
	Ready         bool
	LastHeardTick []int64 // per LAN of <farm>, -1 = never
}
