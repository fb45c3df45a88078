package core

import (
	"fmt"
	"slices"
)

// Node is one module on one node of the farm: the module life cycle glued to
// the farm membership. It follows etcd raft's RawNode contract:
// Tick / Step / Ready / Advance.
type Node struct {
	cfg Config
	now int64 // ticks since New
	mod *module
	mem *membership
	out Ready
}

// New validates cfg and returns a node whose module is STOP.
func New(cfg Config) (*Node, error) {
	if cfg.Cluster == nil || cfg.Module == nil {
		return nil, fmt.Errorf("core: config needs a cluster and a module")
	}
	if cfg.TickMs <= 0 {
		cfg.TickMs = 10
	}
	self := slices.Index(cfg.Cluster.Nodes, cfg.Self)
	if self < 0 {
		return nil, fmt.Errorf("core: node %q is not in cluster.xml (nodes %v)", cfg.Self, cfg.Cluster.Nodes)
	}
	if len(cfg.Cluster.Nodes) > MaxNodes {
		return nil, fmt.Errorf("core: %d nodes, at most %d", len(cfg.Cluster.Nodes), MaxNodes)
	}
	n := &Node{cfg: cfg}
	var err error
	if n.mod, err = newModule(&n.cfg, &n.out); err != nil {
		return nil, err
	}
	if n.mem, err = newMembership(&n.cfg, self, &n.out); err != nil {
		return nil, err
	}
	n.sync()
	return n, nil
}

// Tick advances time by one tick (Config.TickMs).
func (n *Node) Tick() {
	n.now++
	n.mod.tick(n.now)
	n.mem.tick(n.now)
	n.sync()
}

// Step feeds one event. It returns an error only for an event that makes no
// sense (an unknown resource, a script id never started); the node is unchanged then.
func (n *Node) Step(ev Event) error {
	var err error
	switch ev := ev.(type) {
	case Recv:
		err = n.mem.recv(n.now, ev)
	case Boot, Command, ScriptDone, ResourceEvent:
		err = n.mod.step(n.now, ev)
	default: // only nil: Event cannot be implemented outside core
		return fmt.Errorf("core: nil event")
	}
	n.sync()
	return err
}

// sync carries the two halves' decisions to each other until they agree:
// the module says whether this node should hold buckets, the membership says
// whether it has let go of all of them (a planned stop waits for that, so
// buckets are released before another node acquires them).
func (n *Node) sync() {
	for range 4 {
		st := n.mod.local()
		n.mem.setLocal(n.now, st)
		if !n.mod.setDrained(n.now, n.mem.drained()) {
			return
		}
	}
}

// HasReady reports whether Ready has anything to do.
func (n *Node) HasReady() bool {
	o := &n.out
	return len(o.Messages) > 0 || len(o.Scripts) > 0 || len(o.Kills) > 0 || o.VIP != nil ||
		len(o.Tables) > 0 || o.ARPHolder != nil || len(o.States) > 0 || len(o.Logs) > 0
}

// Ready returns the pending actions. They stay pending until Advance.
func (n *Node) Ready() Ready { return n.out }

// Advance acknowledges that the last Ready was carried out.
func (n *Node) Advance() {
	n.out = Ready{
		Messages: n.out.Messages[:0],
		Scripts:  n.out.Scripts[:0],
		Kills:    n.out.Kills[:0],
		Tables:   n.out.Tables[:0],
		States:   n.out.States[:0],
		Logs:     n.out.Logs[:0],
	}
}

// Now is the number of ticks since New.
func (n *Node) Now() int64 { return n.now }

// Status returns a snapshot of the node.
func (n *Node) Status() Status {
	s := Status{Node: n.cfg.Self, Module: n.cfg.Module.Name}
	n.mod.status(&s)
	n.mem.status(&s)
	return s
}

// Local is what the module half tells the membership half at every step.
type Local struct {
	State  State
	Ready  bool
	Member bool // this node should hold its share of buckets (UP and start_both succeeded, not leaving)
}
