// Package view holds what farmd shows of itself — the JSON shapes of the
// HTTP API and of the control socket — and the Farm interface through which
// those front ends reach the daemon. It exists so the HTTP server, the
// control socket and farmctl share one vocabulary without importing the
// daemon (whose state lives on the module goroutines).
package view

import (
	"context"
	"errors"

	"github.com/vipfarm/vipfarm/internal/console"

	"github.com/vipfarm/vipfarm/core"
)

// ErrNoModule is returned for a module name the daemon does not run.
var ErrNoModule = errors.New("no such module")

// Farm is the daemon as its front ends see it. Every call that touches a
// module is a message to that module's goroutine; ctx bounds the wait.
type Farm interface {
	// Node is this node's name in cluster.xml.
	Node() string
	// Modules lists the module names, sorted.
	Modules() []string
	// Module returns a snapshot of one module.
	Module(ctx context.Context, name string) (Module, error)
	// Do applies an administrative or identified command.
	Do(ctx context.Context, name string, cmd core.Command) error
	// SetResource publishes a resource verdict (farmctl set, custom checkers).
	SetResource(ctx context.Context, name, resource string, st core.ResourceState) error
	// Print writes a line to the module log (farmctl printi/printe).
	Print(ctx context.Context, name string, level core.LogLevel, msg string) error
	// Log returns the last lines of the module log (all when lines <= 0).
	Log(name string, lines int) ([]string, error)
}

// Module is one module's snapshot (GET /api/v1/modules/<AM>, farmctl state -v).
// Its JSON is a superset of the web console's console.ModuleView (same
// names for the fields the page reads), so the page reads the API as is.
type Module struct {
	Name      string     `json:"module"`
	Node      string     `json:"node"`
	State     string     `json:"state"` // STOP | WAIT | UP
	Ready     bool       `json:"ready"`
	Color     string     `json:"color"` // green | orange | red (SafeKit console colours)
	Rule      string     `json:"rule,omitempty"`
	Boot      bool       `json:"boot"`
	Leader    string     `json:"leader,omitempty"`
	ARPHolder bool       `json:"arp_holder"`
	Epoch     uint64     `json:"epoch"`
	Resources []Resource `json:"resources"`
	Groups    []Group    `json:"groups"`
	Peers     []Peer     `json:"peers"`
	Counters  Counters   `json:"counters"`
	Log       []string   `json:"log"` // recent module log lines, oldest first
}

// Resource is one checker resource.
type Resource struct {
	Name  string `json:"name"`
	State string `json:"state"` // init | up | down | unknown
}

// Group is this node's share of one load-balancing group.
type Group struct {
	Name    string `json:"name"`
	Buckets int    `json:"buckets"` // owned bucket count out of 256
	Share   int    `json:"share"`   // rounded percent
	Owned   []int  `json:"owned"`   // owned bucket numbers, ascending
	// Owners is this node's view of every bucket's owner (node name, "" for
	// none): 256 entries.
	Owners []string `json:"owners"`
}

// Peer is what this node knows of another node.
type Peer struct {
	Name  string `json:"name"`
	Alive bool   `json:"alive"`
	State string `json:"state"`
	Ready bool   `json:"ready"`
	// LastHeartbeatMs is, per LAN name of <farm>, how long ago a heartbeat
	// was last accepted from the peer; -1 when never.
	LastHeartbeatMs map[string]int64 `json:"last_heartbeat_ms"`
}

// Counters are the module's traffic and script counters.
type Counters struct {
	HeartbeatsSent     map[string]uint64            `json:"heartbeats_sent"`     // per LAN
	HeartbeatsReceived map[string]uint64            `json:"heartbeats_received"` // per LAN
	HeartbeatsRejected map[string]map[string]uint64 `json:"heartbeats_rejected"` // per LAN, per reason
	ScriptRuns         map[string]uint64            `json:"script_runs"`         // per script name
	XDP                []GroupCounters              `json:"xdp,omitempty"`
}

// GroupCounters are the dataplane's packet counters of one group.
type GroupCounters struct {
	Group     string `json:"group"`
	Accepted  uint64 `json:"accepted"`
	Forwarded uint64 `json:"forwarded"`
	Dropped   uint64 `json:"dropped"`
}

// Color is the SafeKit console colour of a state (SPEC §3): UP ready green;
// UP not ready, or a WAIT still waiting for its resources to be known,
// orange; STOP and a WAIT held by a failover rule red. The web console
// draws its cards by the same rule (console.Colour), so both say one thing.
func Color(st core.State, ready bool, rule string) string {
	return console.Colour(st.String(), ready, rule)
}

// ParseAction reads an admin action on a module (farmctl and the HTTP API):
// start|stop|restart|stopstart.
func ParseAction(s string) (core.Verb, bool) {
	switch s {
	case "start":
		return core.VerbStart, true
	case "stop":
		return core.VerbStop, true
	case "restart":
		return core.VerbRestart, true
	case "stopstart":
		return core.VerbStopStart, true
	}
	return 0, false
}

// ParseResourceState reads up|down|init|unknown.
func ParseResourceState(s string) (core.ResourceState, error) {
	switch s {
	case "up":
		return core.ResUp, nil
	case "down":
		return core.ResDown, nil
	case "init":
		return core.ResInit, nil
	case "unknown":
		return core.ResUnknown, nil
	}
	return 0, errors.New("resource value " + quote(s) + ": want up|down|init|unknown")
}

func quote(s string) string { return "\"" + s + "\"" }
