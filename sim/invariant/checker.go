package invariant

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vipfarm/vipfarm/core"
)

// Config describes the farm observed.
type Config struct {
	Nodes  []string // node names; observations use indexes into this
	Groups []Group  // load-balancing groups, in config order
	// BoundMs is the convergence bound C of SPEC §5: how long after the last
	// disturbance the liveness invariants must hold.
	BoundMs int64
	// CheckerBoundMs is added to BoundMs after a checker change (failover
	// period + handle_time: a rule must hold that long before it acts).
	CheckerBoundMs int64
}

// Group is one load-balancing group and each node's power in it.
type Group struct {
	Name  string
	Power []int // indexed like Config.Nodes; 0 = takes no traffic
}

// Kind classifies a disturbance.
type Kind uint8

const (
	Join    Kind = iota + 1 // a planned start of a node's module
	Leave                   // a planned stop of a node's module
	Restart                 // stop_both + start_both on one node: no owner may change
	Crash                   // a node's process died (a fault)
	Boot                    // a node's process started
	Fault                   // the network degraded (cut, isolation, loss, delay)
	Heal                    // the network got better (heal, restore)
	Verdict                 // a checker verdict changed
	Other                   // any other command (stopstart, boot on|off, a failed script ...)
)

var kindNames = [...]string{"?", "join", "leave", "restart", "crash", "boot", "fault", "heal", "checker", "other"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

func (k Kind) isFault() bool { return k == Crash || k == Fault || k == Heal }

// Change is one disturbance: it ends the current stable window.
type Change struct {
	Kind Kind
	Node int // the node concerned, -1 for none
	// NetFaulty says whether, after this change, the network still differs
	// from normal (a cut, loss or delay in effect): INV-7 then does not apply.
	NetFaulty bool
	// VerdictDown says some running module holds a resource a checker reports
	// down: its failover rules may act (again) up to CheckerBoundMs after any
	// change, so the window waits for them as after a checker change.
	VerdictDown bool
}

// Violation is one broken invariant.
type Violation struct {
	TMs       int64
	Invariant string // "INV-1" .. "INV-8"
	Detail    string
}

func (v Violation) String() string { return fmt.Sprintf("t=%dms %s: %s", v.TMs, v.Invariant, v.Detail) }

type nodeObs struct {
	running bool
	state   core.State
	ready   bool
	owned   []core.Bitmap // per group
	comp    int           // component id, -1 when not running
}

// Checker judges observations; see the package comment.
type Checker struct {
	cfg   Config
	nodes []nodeObs
	comps [][]int

	degraded     string // why liveness cannot be judged now ("" = it can)
	judged       int    // stable windows whose liveness was judged
	restartMoved string // while a restart is the only change: the first bucket it lost, for INV-5
	nowMs        int64
	dirty        bool
	netFaulty    bool
	lastFaultMs  int64 // time of the last fault or heal, -inf at start
	windowMs     int64 // the stable window starts at this time
	windowSeen   bool  // the current window has been judged once
	windowOK     bool  // INV-2 and INV-3 held when the window was first judged
	reported     map[string]bool
	pending      []Change // disturbances since the last stable snapshot
	snap         *snapshot
	flows        []flow
	violations   []Violation
	instantViols []Violation
}

// snapshot is the ownership seen when a stable window was reached.
type snapshot struct {
	whole     bool // every running node was in one component
	converged bool // INV-2 and INV-3 held when it was taken
	up        []bool
	owner     [][core.Buckets]int16 // per group: owner node or -1
}

type flow struct {
	client   string
	onAddr   bool
	accepted []int
}

// New returns a checker for the farm cfg; every node starts not running.
func New(cfg Config) *Checker {
	c := &Checker{cfg: cfg, lastFaultMs: -1 << 62, reported: map[string]bool{}}
	c.nodes = make([]nodeObs, len(cfg.Nodes))
	for i := range c.nodes {
		c.nodes[i].owned = make([]core.Bitmap, len(cfg.Groups))
		c.nodes[i].comp = -1
	}
	return c
}

// Judged is the number of stable windows whose liveness invariants were
// judged (a run that never reaches one proves little about liveness).
func (c *Checker) Judged() int { return c.judged }

// Violations returns every violation found so far.
func (c *Checker) Violations() []Violation { return c.violations }

// Change records a disturbance at tMs.
func (c *Checker) Change(tMs int64, ch Change) {
	c.at(tMs)
	c.pending = append(c.pending, ch)
	c.netFaulty = ch.NetFaulty
	if ch.Kind.isFault() {
		c.lastFaultMs = tMs
	}
	bound := c.cfg.BoundMs
	if ch.Kind == Verdict || ch.VerdictDown {
		bound += c.cfg.CheckerBoundMs
	}
	c.windowMs = max(c.windowMs, tMs+bound)
	c.windowSeen = false
	if len(c.pending) > 1 {
		c.restartMoved = ""
	}
	clear(c.reported)
	c.dirty = true
}

// Running records that a node's process started (true) or died (false).
// A dead node claims nothing.
func (c *Checker) Running(tMs int64, node int, running bool) {
	c.at(tMs)
	n := &c.nodes[node]
	n.running = running
	if !running {
		n.state, n.ready = core.StateStop, false
		clear(n.owned)
	}
	c.dirty = true
}

// State records a node's module state or readiness change.
func (c *Checker) State(tMs int64, node int, s core.State, ready bool) {
	c.at(tMs)
	c.nodes[node].state, c.nodes[node].ready = s, ready
	c.dirty = true
}

// Buckets records the complete set of buckets a node claims in a group.
func (c *Checker) Buckets(tMs int64, node, group int, owned core.Bitmap) {
	c.at(tMs)
	c.nodes[node].owned[group] = owned
	c.dirty = true
}

// Components records the connectivity components of the running nodes
// (each a list of node indexes).
func (c *Checker) Components(tMs int64, comps [][]int) {
	c.at(tMs)
	c.comps = comps
	for i := range c.nodes {
		c.nodes[i].comp = -1
	}
	for ci, comp := range comps {
		for _, n := range comp {
			c.nodes[n].comp = ci
		}
	}
	c.dirty = true
}

// Degraded records a network condition under which SPEC §5 promises no
// convergence, with the reason ("" when it ends): a partial cut (A-B and B-C
// connected, A-C not: components are not cliques), or loss heavy enough that
// slost_count consecutive heartbeats may be lost on every LAN of a pair.
// Liveness invariants are not judged while it lasts; safety still is.
func (c *Checker) Degraded(tMs int64, reason string) {
	c.at(tMs)
	c.degraded = reason
	c.dirty = true
}

// Packet records where one client packet to the VIP was accepted (the nodes
// whose dataplane passed it up). onAddr says the rule hashes the client
// address only, so every packet of that client must land on one node.
func (c *Checker) Packet(tMs int64, client string, onAddr bool, accepted []int) {
	c.at(tMs)
	c.flows = append(c.flows, flow{client: client, onAddr: onAddr, accepted: slices.Clone(accepted)})
	c.dirty = true
}

// Stable reports whether tMs lies in a stable window (the convergence bound
// has passed since the last disturbance): the time to send test traffic.
func (c *Checker) Stable(tMs int64) bool { return tMs >= c.windowMs }

func (c *Checker) at(tMs int64) {
	if tMs < c.nowMs {
		panic(fmt.Sprintf("invariant: observation at %dms after %dms", tMs, c.nowMs))
	}
	c.nowMs = tMs
}

// EndInstant judges the observations of instant tMs and returns the
// violations found now (also kept for Violations).
func (c *Checker) EndInstant(tMs int64) []Violation {
	c.at(tMs)
	c.instantViols = c.instantViols[:0]
	stable := tMs >= c.windowMs
	if !c.dirty && (!stable || c.windowSeen) {
		return nil
	}
	c.dirty = false
	c.watchRestart()
	c.checkClaimsOnlyWhileUp()
	if !c.netFaulty && tMs-c.lastFaultMs >= c.cfg.BoundMs {
		c.checkNoDoubleClaim()
	}
	if stable {
		c.checkStable()
	}
	c.flows = c.flows[:0]
	return c.instantViols
}

func (c *Checker) violate(inv, format string, args ...any) {
	v := Violation{TMs: c.nowMs, Invariant: inv, Detail: fmt.Sprintf(format, args...)}
	c.violations = append(c.violations, v)
	c.instantViols = append(c.instantViols, v)
}

// once reports a liveness violation only the first time in a window: it
// would otherwise repeat at every later instant of the window.
func (c *Checker) once(key string) bool {
	if c.reported[key] {
		return false
	}
	c.reported[key] = true
	return true
}

// watchRestart notes, while a restart is the only change since a stable
// snapshot, whether the restarting node has let go of a bucket it held: a
// restart keeps its buckets throughout (INV-5), not only in the end. It is
// reported at the next stable window if the restart succeeded (a failed
// start_both stops the module, which is a leave).
func (c *Checker) watchRestart() {
	if c.restartMoved != "" || c.snap == nil || len(c.pending) != 1 || c.pending[0].Kind != Restart {
		return
	}
	x := c.pending[0].Node
	if x < 0 || !c.snap.up[x] {
		return
	}
	for g := range c.cfg.Groups {
		for b, o := range c.snap.owner[g] {
			if int(o) == x && !c.nodes[x].owned[g].Has(b) {
				c.restartMoved = fmt.Sprintf("at %dms %s no longer claimed bucket %d of %s", c.nowMs, c.cfg.Nodes[x], b, c.cfg.Groups[g].Name)
				return
			}
		}
	}
}

// INV-1: a node claims buckets only while its module is UP.
func (c *Checker) checkClaimsOnlyWhileUp() {
	for i := range c.nodes {
		n := &c.nodes[i]
		if n.state == core.StateUp && n.running {
			continue
		}
		for g := range n.owned {
			if k := n.owned[g].Count(); k > 0 {
				c.violate("INV-1", "%s claims %d buckets of %s while %s", c.cfg.Nodes[i], k, c.cfg.Groups[g].Name, c.stateName(i))
			}
		}
	}
}

func (c *Checker) stateName(i int) string {
	if !c.nodes[i].running {
		return "down"
	}
	return c.nodes[i].state.String()
}

// claimed is the union of the buckets nodes claim in group g, and those
// claimed by two or more of them.
func (c *Checker) claimed(nodes []int, g int) (all, dup core.Bitmap) {
	for _, n := range nodes {
		o := &c.nodes[n].owned[g]
		for w := range o {
			dup[w] |= all[w] & o[w]
			all[w] |= o[w]
		}
	}
	return all, dup
}

// INV-7: no two nodes of one component claim one bucket (no faults lately).
func (c *Checker) checkNoDoubleClaim() {
	for _, comp := range c.comps {
		for g := range c.cfg.Groups {
			if _, dup := c.claimed(comp, g); !dup.Empty() {
				c.violate("INV-7", "group %s: buckets %s claimed by two nodes at once (%s) during planned changes",
					c.cfg.Groups[g].Name, short(dup.List()), c.claimants(comp, g, dup.List()[0]))
			}
		}
	}
}

func (c *Checker) claimants(comp []int, g, b int) string {
	var names []string
	for _, n := range comp {
		if c.nodes[n].owned[g].Has(b) {
			names = append(names, c.cfg.Nodes[n])
		}
	}
	return fmt.Sprintf("bucket %d: %s", b, strings.Join(names, ","))
}

func short(l []int) string {
	if len(l) > 8 {
		return fmt.Sprintf("%v... (%d)", l[:8], len(l))
	}
	return fmt.Sprint(l)
}
