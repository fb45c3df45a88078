package console

import (
	"fmt"
	"slices"
)

// Buckets is the size of a load-balancing group's bucket map (SafeKit's
// 256-bit bitmap); the console draws it as 16×16.
const Buckets = 256

// ModuleView is one module on one node as the console reads it from
// GET /api/v1/modules/<AM>. farmd serves this very struct, so the JSON tags
// are the contract between the daemon and the page (console.js reads exactly
// these names).
type ModuleView struct {
	Node      string         `json:"node"`           // this node's name in cluster.xml
	Module    string         `json:"module"`         // module name, e.g. "AM"
	State     string         `json:"state"`          // STOP | WAIT | UP
	Ready     bool           `json:"ready"`          // false while transient, and in a WAIT held by a rule
	Rule      string         `json:"rule,omitempty"` // the failover rule holding a WAIT (not ready: red)
	Resources []ResourceView `json:"resources"`      // sorted by name
	Groups    []GroupView    `json:"groups"`         // in userconfig.xml order
	Peers     []PeerView     `json:"peers"`          // the other nodes, in cluster.xml order
	Log       []string       `json:"log"`            // recent module log lines, oldest first
}

// ResourceView is one checker resource (intf.198.18.0.0, ip.198.18.0.100, custom.x).
type ResourceView struct {
	Name  string `json:"name"`
	State string `json:"state"` // init | up | down | unknown
}

// GroupView is one load-balancing group as this node sees it.
type GroupView struct {
	Name  string `json:"name"`
	Share int    `json:"share"` // this node's rounded percentage: len(Owned) × 100 / 256
	Owned []int  `json:"owned"` // buckets this node claims, ascending
	// Owners is this node's table: the owner of every bucket, "" for none.
	// Either 256 entries or empty (the console then draws the map from what
	// each node claims).
	Owners []string `json:"owners"`
}

// PeerView is what this node knows of another node of the farm.
type PeerView struct {
	Name  string `json:"name"`
	Alive bool   `json:"alive"` // heard within slost_count pulses on some LAN
	State string `json:"state"` // last advertised: STOP | WAIT | UP
	Ready bool   `json:"ready"`
	Rule  string `json:"rule,omitempty"` // the failover rule holding a WAIT peer, when advertised
	// LastHeartbeatMs is, per LAN name of <farm>, how long ago the last
	// authenticated heartbeat from this peer arrived; -1 when never.
	LastHeartbeatMs map[string]int64 `json:"last_heartbeat_ms"`
}

// Colour is the SafeKit console colour of a module state (SPEC §3): UP ready
// green; UP or WAIT transient orange; STOP and WAIT not ready red. As core
// reports it, a WAIT is not ready (red, "NotReady" in the module log) when a
// failover rule holds it, and transient (orange) while it waits for
// resources still in init. A node the console cannot reach is red too
// (ERROR), which the page decides itself.
func Colour(state string, ready bool, rule string) string {
	switch {
	case state == "UP" && ready:
		return "green"
	case state == "UP" && !ready, state == "WAIT" && !ready && rule == "":
		return "orange"
	}
	return "red"
}

var states = []string{"STOP", "WAIT", "UP"}

var resourceStates = []string{"init", "up", "down", "unknown"}

// Validate checks what the page relies on, so farmd's tests can assert that
// what it serves is drawable. Errors name the field.
func (m ModuleView) Validate() error {
	if m.Node == "" || m.Module == "" {
		return fmt.Errorf("module view: node %q, module %q: both are required", m.Node, m.Module)
	}
	if !slices.Contains(states, m.State) {
		return fmt.Errorf("module view %s/%s: state %q, want STOP|WAIT|UP", m.Node, m.Module, m.State)
	}
	for _, r := range m.Resources {
		if !slices.Contains(resourceStates, r.State) {
			return fmt.Errorf("module view %s/%s: resource %q state %q, want init|up|down|unknown", m.Node, m.Module, r.Name, r.State)
		}
	}
	for _, g := range m.Groups {
		if len(g.Owners) != 0 && len(g.Owners) != Buckets {
			return fmt.Errorf("module view %s/%s: group %q has %d owners, want %d or none", m.Node, m.Module, g.Name, len(g.Owners), Buckets)
		}
		if g.Share < 0 || g.Share > 100 {
			return fmt.Errorf("module view %s/%s: group %q share %d, want 0..100", m.Node, m.Module, g.Name, g.Share)
		}
		for i, b := range g.Owned {
			if b < 0 || b >= Buckets || (i > 0 && b <= g.Owned[i-1]) {
				return fmt.Errorf("module view %s/%s: group %q owned bucket %d at index %d: want ascending 0..%d", m.Node, m.Module, g.Name, b, i, Buckets-1)
			}
		}
	}
	for _, p := range m.Peers {
		if !slices.Contains(states, p.State) {
			return fmt.Errorf("module view %s/%s: peer %q state %q, want STOP|WAIT|UP", m.Node, m.Module, p.Name, p.State)
		}
	}
	return nil
}
