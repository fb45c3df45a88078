package core

import (
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// The farm membership half of a Node: heartbeats, the view of this node's
// component, the leader, and this node's bucket claims per load-balancing
// group. The design (docs/membership.md) in one paragraph: every heartbeat
// carries the sender's claims and relays the freshest copy it has of every
// other node's, so the union of what a node knows is the current table of its
// component, even when not all of its nodes hear each other
// (membership_view.go); the leader (lowest-indexed member of the component)
// turns that table into a balanced target with the fewest moves and publishes
// it with a new epoch, which followers relay verbatim; every node releases at
// once what the target takes from it and acquires what it gives only when no
// peer of its component still claims the bucket and every one has applied
// that epoch (release before acquire, INV-7). A peer that left the component
// no longer blocks anything: that is how failures and isolations move buckets.

// Default farm parameters (SafeKit's), used when the config leaves them zero.
const (
	defaultPulse      = 100 * time.Millisecond
	defaultSlostCount = 10
	defaultMlostCount = 20
)

// peer is what this node knows of another node.
type peer struct {
	heard   []int64 // per LAN of <farm>: tick of the last heartbeat, -1 = never
	lastAny int64   // max of heard, -1 = never
	inc     uint64  // incarnation of hb
	seq     uint64  // sequence of hb
	hb      *Heartbeat
	hearing bool // heard directly on some LAN within its timeout at the last refresh

	// info is the freshest copy of the node's state, from its own heartbeat
	// or relayed by another node, whichever has the newest (incarnation,
	// sequence); advTick is the tick at which that pair last grew.
	info    PeerInfo
	known   bool
	advTick int64
	fresh   bool // info advanced within the node's timeout at the last refresh
	alive   bool // in this node's component (reachable over two-way links)

	// A node that restarts hears nobody for its first pulse, so taken
	// literally its new rows would cut every path through it at once — two
	// nodes linked only through a relay that merely restarted would split
	// for a moment and each claim everything. Until bootUntil its rows
	// are read together with those of its previous incarnation (bootRows):
	// a link through it then ends by the same timeout as any other.
	bootRows  []uint64
	bootUntil int64
	effRows   []uint64 // scratch for rowsOf
}

// groupInfo is one load-balancing group as the membership sees it.
type groupInfo struct {
	name  string
	power []int // per node index
}

type membership struct {
	cfg   *Config
	out   *Ready
	self  int
	nodes int
	lans  int
	grp   []groupInfo

	pulseTicks int64
	slostTicks int64
	mlostTicks int64
	nextPulse  int64
	// graceEnd is the first tick at which this process may be a member: a
	// fresh process stays out of the farm for slost_count pulses even when
	// its module is UP, as long as the failure detector needs to call a
	// silent peer offline. Until then, not having heard a peer proves nothing
	// and taking buckets could double-claim them when nodes start together.
	graceEnd int64
	inGrace  bool
	seq      uint64

	local Local
	hook  *Local // tests only: replaces what the module half says

	peers    []peer
	rows     []uint64 // per LAN: the peers heard on it within their timeout (advertised as Hears)
	sentRows []uint64 // immutable copy shared by emitted heartbeats
	direct   nodeSet  // peers linked to this node both ways, self excluded
	alive    nodeSet  // peers of this node's component (direct or through others), self excluded
	members  nodeSet  // alive members, self included when it is one
	leader   int      // -1 = none
	arp      bool

	claims     []Bitmap // what this node owns, per group
	sentClaims []Bitmap // immutable copy shared by emitted heartbeats
	follow     *Target  // the target this node applies (and relays)
	published  *Target  // the last target this node published as leader
	maxEpoch   uint64   // highest epoch seen in this node's component (componentEpoch)

	leaving    bool  // no member any more, still serving until the target takes its buckets
	leaveTick  int64 // tick of the last progress while leaving
	leaveCount int   // buckets still claimed at the last progress

	dirty      bool       // something changed since the last evaluate
	urgent     bool       // peers wait for news of ours: send it at the next tick, not the next pulse
	lastSent   *Heartbeat // the last heartbeat emitted
	pending    bool       // the followed target gives this node buckets it has not acquired yet
	view       [][Buckets]uint8
	logMembers nodeSet
	logged     bool
	logCount   []int

	scratch [Buckets]uint8
}

func newMembership(cfg *Config, self int, out *Ready) (*membership, error) {
	nodes := len(cfg.Cluster.Nodes)
	m := &membership{cfg: cfg, out: out, self: self, nodes: nodes, leader: -1}
	f := cfg.Module.Farm
	pulse := f.Pulse
	if pulse <= 0 {
		pulse = defaultPulse
	}
	tick := time.Duration(cfg.TickMs) * time.Millisecond
	m.pulseTicks = max(1, int64((pulse+tick-1)/tick))
	slost, mlost := f.SlostCount, f.MlostCount
	if slost <= 0 {
		slost = defaultSlostCount
	}
	if mlost <= 0 {
		mlost = defaultMlostCount
	}
	m.slostTicks = int64(slost) * m.pulseTicks
	m.mlostTicks = int64(mlost) * m.pulseTicks
	m.lans = max(1, len(f.LANs))
	if vip := cfg.Module.VIP; vip != nil {
		if len(vip.Groups) > MaxWireGroups {
			return nil, fmt.Errorf("core: %d load-balancing groups, at most %d", len(vip.Groups), MaxWireGroups)
		}
		for _, g := range vip.Groups {
			gi := groupInfo{name: g.Name, power: make([]int, nodes)}
			if len(g.Hosts) == 0 {
				for i := range gi.power {
					gi.power[i] = 1
				}
			}
			for _, h := range g.Hosts {
				i := slices.Index(cfg.Cluster.Nodes, h.Name)
				if i < 0 {
					return nil, fmt.Errorf("core: group %q: host %q is not a node of cluster.xml (line %d)", g.Name, h.Name, g.Line)
				}
				gi.power[i] = max(0, h.Power)
			}
			m.grp = append(m.grp, gi)
		}
	}
	ng := len(m.grp)
	m.claims = make([]Bitmap, ng)
	m.sentClaims = make([]Bitmap, ng)
	m.view = make([][Buckets]uint8, ng)
	for g := range m.view {
		for b := range m.view[g] {
			m.view[g][b] = NoOwner
		}
	}
	m.logCount = make([]int, ng)
	m.peers = make([]peer, nodes)
	m.rows = make([]uint64, m.lans)
	m.sentRows = make([]uint64, m.lans)
	for i := range m.peers {
		p := &m.peers[i]
		p.heard = make([]int64, m.lans)
		for l := range p.heard {
			p.heard[l] = -1
		}
		p.lastAny = -1
		p.bootRows = make([]uint64, m.lans)
		p.effRows = make([]uint64, m.lans)
		p.bootUntil = -1
	}
	m.nextPulse = 1
	m.graceEnd = 1 + m.slostTicks
	m.inGrace = true
	return m, nil
}

// isMember is what this node advertises as Member.
func (m *membership) isMember() bool {
	return m.local.Member && m.local.State == StateUp && !m.inGrace
}

// tick sends pulses and expires peers. Between pulses it does nothing: peers
// are declared offline with a resolution of one pulse.
func (m *membership) tick(now int64) {
	if now < m.nextPulse {
		if m.urgent {
			m.emit()
		}
		return
	}
	m.nextPulse = now + m.pulseTicks
	if m.inGrace && now >= m.graceEnd {
		m.inGrace = false
		m.dirty = true
	}
	// Pending acquisitions and a leave in progress are re-evaluated every
	// pulse: cheap insurance that no missed trigger can stall them.
	if m.refreshAlive(now) || m.leaving || m.pending {
		m.dirty = true
	}
	if m.dirty {
		m.evaluate(now)
	}
	m.emit()
}

// recv handles one authenticated heartbeat. A heartbeat from an older
// incarnation is ignored; an already seen sequence only proves that its LAN
// works. The sender's own state and every relayed entry are learnt only when
// fresher than what this node knows (learn); only a change of content makes
// the node re-evaluate: the steady state costs a few comparisons per entry.
func (m *membership) recv(now int64, r Recv) error {
	hb := r.Msg
	if hb == nil {
		return fmt.Errorf("core: heartbeat on LAN %d: no message", r.LAN)
	}
	if r.LAN < 0 || r.LAN >= m.lans {
		return fmt.Errorf("core: heartbeat from node index %d: LAN %d out of range (farm has %d)", hb.Sender, r.LAN, m.lans)
	}
	if int(hb.Sender) >= m.nodes {
		return fmt.Errorf("core: heartbeat on LAN %d: sender index %d out of range (cluster has %d nodes)", r.LAN, hb.Sender, m.nodes)
	}
	if int(hb.Sender) == m.self {
		return nil // our own heartbeat looped back
	}
	p := &m.peers[hb.Sender]
	if p.hb != nil && hb.Incarnation < p.inc {
		return nil // a late packet of a dead process proves nothing
	}
	if p.hb != nil && hb.Incarnation == p.inc && hb.Seq <= p.seq {
		// The copy from another LAN, or a late one: that LAN works.
		p.heard[r.LAN] = now
		p.lastAny = now
		if !has(m.rows[r.LAN], int(hb.Sender)) {
			m.dirty = true // a LAN came back: maybe a link
			m.evaluate(now)
		}
		return nil
	}
	changed := p.hb == nil || hb.Incarnation != p.inc || !sameHeartbeatContent(p.hb, hb)
	if changed {
		if err := m.check(hb); err != nil {
			return err
		}
	}
	if err := m.checkRelay(hb); err != nil {
		return err
	}
	p.heard[r.LAN] = now
	p.lastAny = now
	p.inc, p.seq = hb.Incarnation, hb.Seq
	p.hb = hb
	info := infoOf(hb)
	if m.learn(now, &info) {
		changed = true
	}
	for i := range hb.Relay {
		if e := &hb.Relay[i]; int(e.Node) != m.self && m.learn(now, e) {
			changed = true
		}
	}
	if changed || !has(m.rows[r.LAN], int(hb.Sender)) {
		m.dirty = true
		m.evaluate(now)
	}
	return nil
}

// check validates the parts of a heartbeat this node will index with.
func (m *membership) check(hb *Heartbeat) error {
	name := m.cfg.Cluster.Nodes[hb.Sender]
	if hb.Version != WireVersion {
		return fmt.Errorf("core: heartbeat from %s: version %d, want %d", name, hb.Version, WireVersion)
	}
	if len(hb.Claims) != len(m.grp) {
		return fmt.Errorf("core: heartbeat from %s: %d groups, module %s has %d", name, len(hb.Claims), m.cfg.Module.Name, len(m.grp))
	}
	if len(hb.Hears) != m.lans {
		return fmt.Errorf("core: heartbeat from %s: hears on %d LANs, the farm of module %s has %d", name, len(hb.Hears), m.cfg.Module.Name, m.lans)
	}
	if t := hb.Target; t != nil {
		if len(t.Owners) != len(m.grp) {
			return fmt.Errorf("core: heartbeat from %s: target of %d groups, module %s has %d", name, len(t.Owners), m.cfg.Module.Name, len(m.grp))
		}
		for g := range t.Owners {
			for b, o := range t.Owners[g] {
				if o != NoOwner && int(o) >= m.nodes {
					return fmt.Errorf("core: heartbeat from %s: target epoch %d group %s bucket %d: owner index %d out of range", name, t.Epoch, m.grp[g].name, b, o)
				}
			}
		}
	}
	return nil
}

// checkRelay validates the relay entries of a heartbeat before any is learnt:
// a few comparisons per entry, done for every heartbeat since entries are not
// part of the content comparison.
func (m *membership) checkRelay(hb *Heartbeat) error {
	for i := range hb.Relay {
		e := &hb.Relay[i]
		if int(e.Node) >= m.nodes || e.Node == hb.Sender || len(e.Claims) != len(m.grp) || len(e.Hears) != m.lans {
			return m.relayError(hb, i)
		}
	}
	return nil
}

func (m *membership) relayError(hb *Heartbeat, i int) error {
	name := m.cfg.Cluster.Nodes[hb.Sender]
	e := &hb.Relay[i]
	switch {
	case int(e.Node) >= m.nodes:
		return fmt.Errorf("core: heartbeat from %s: relay entry %d: node index %d out of range (cluster has %d nodes)", name, i, e.Node, m.nodes)
	case e.Node == hb.Sender:
		return fmt.Errorf("core: heartbeat from %s: relay entry %d describes the sender itself", name, i)
	case len(e.Hears) != m.lans:
		return fmt.Errorf("core: heartbeat from %s: relay entry %d (%s): hears on %d LANs, the farm has %d",
			name, i, m.cfg.Cluster.Nodes[e.Node], len(e.Hears), m.lans)
	}
	return fmt.Errorf("core: heartbeat from %s: relay entry %d (%s): %d groups, module %s has %d",
		name, i, m.cfg.Cluster.Nodes[e.Node], len(e.Claims), m.cfg.Module.Name, len(m.grp))
}

// setLocal tells the membership the module's state and whether it should hold buckets.
func (m *membership) setLocal(now int64, l Local) {
	if m.hook != nil {
		l = *m.hook
	}
	if l == m.local {
		return
	}
	wasMember := m.isMember()
	m.local = l
	if wasMember && !m.isMember() && l.State == StateUp && m.claimCount() > 0 {
		m.leaving = true
		m.leaveTick, m.leaveCount = now, m.claimCount()
	}
	if m.isMember() {
		m.leaving = false
	}
	m.dirty = true
	m.evaluate(now)
}

// drained reports whether this node holds no bucket and asks for none.
func (m *membership) drained() bool { return !m.isMember() && m.claimCount() == 0 }

func (m *membership) claimCount() int {
	n := 0
	for g := range m.claims {
		n += m.claims[g].Count()
	}
	return n
}

// timeout is how long peer j may stay silent before it is declared offline:
// longer for the leader, as SafeKit chooses a new leader only after mlost_count.
func (m *membership) timeout(j int) int64 {
	if j == m.leader {
		return m.mlostTicks
	}
	return m.slostTicks
}

// evaluate runs the protocol on the current view: members, leader, target,
// claims, then what the driver must see (tables, ARP duty, log lines).
func (m *membership) evaluate(now int64) {
	m.dirty = false
	// The leader's timeout is the longer one, so the view depends on who
	// leads: iterate until both agree. A leader change only ever shortens a
	// former leader's timeout, which cannot change the lowest member again,
	// so the second round is final.
	leader := m.leader
	for range 3 {
		m.refreshAlive(now)
		m.members = m.memberSet()
		leader = -1
		if m.members != 0 {
			leader = bits.TrailingZeros64(m.members)
		}
		if leader == m.leader {
			break
		}
		m.leader = leader
	}
	if leader == m.self {
		m.lead()
		m.follow = m.published
	} else if leader >= 0 {
		m.followLeader(leader)
	}
	m.apply(now)
	m.setARP(leader == m.self)
	m.updateViews()
	m.logChanges()
	m.urgent = m.urgent || m.newsForPeers()
}

// newsForPeers reports whether this node's state changed in a way peers are
// waiting for: a release or an acknowledgement (someone may acquire), a new
// target, joining or leaving. Such news goes out at the next tick instead of
// the next pulse, so a planned move takes a few ticks, not a few pulses;
// acquisitions are not news (nobody waits for them), so triggered
// heartbeats cannot echo back and forth.
func (m *membership) newsForPeers() bool {
	last := m.lastSent
	if last == nil {
		return false // the first pulse is near anyway
	}
	if last.Member != m.isMember() || last.Applied != m.applied() || last.Target != m.follow {
		return true // a follower's new target is news too: it relays it to nodes farther away
	}
	for g := range m.claims {
		for w := range m.claims[g] {
			if last.Claims[g][w]&^m.claims[g][w] != 0 {
				return true
			}
		}
	}
	return false
}

// memberSet is this node (when it is one) and the peers of its component advertising Member.
func (m *membership) memberSet() nodeSet {
	var members nodeSet
	if m.isMember() {
		members |= 1 << uint(m.self)
	}
	for s := m.alive; s != 0; s &= s - 1 {
		j := bits.TrailingZeros64(s)
		if m.peers[j].info.Member {
			members |= 1 << uint(j)
		}
	}
	return members
}

// apply moves this node's claims toward the followed target.
func (m *membership) apply(now int64) {
	m.pending = false
	if m.local.State != StateUp {
		m.releaseAll() // INV-1: no claim outside UP, whatever else is going on
		m.leaving = false
		return
	}
	t := m.follow
	if !m.isMember() {
		if !m.leaving {
			m.releaseAll()
			return
		}
		if t != nil {
			for g := range m.claims {
				m.claims[g] = andMine(m.claims[g], &t.Owners[g], m.self)
			}
		}
		n := m.claimCount()
		switch {
		case n == 0 || m.members == 0:
			// Nobody else can take them over: stop serving now.
			m.releaseAll()
			m.leaving = false
		case n < m.leaveCount:
			m.leaveTick, m.leaveCount = now, n
		case now-m.leaveTick >= m.mlostTicks:
			m.releaseAll() // no progress: do not hold the stop forever
			m.leaving = false
		}
		return
	}
	if t == nil {
		return
	}
	acked := true
	for s := m.alive; s != 0; s &= s - 1 {
		if m.peers[bits.TrailingZeros64(s)].info.Applied < t.Epoch {
			acked = false
			break
		}
	}
	for g := range m.claims {
		mine := ownedBy(&t.Owners[g], m.self)
		c := m.claims[g]
		for w := range c {
			c[w] &= mine[w]
		}
		if acked {
			var blocked Bitmap
			for s := m.alive; s != 0; s &= s - 1 {
				pc := &m.peers[bits.TrailingZeros64(s)].info.Claims[g]
				for w := range blocked {
					blocked[w] |= pc[w]
				}
			}
			for w := range c {
				c[w] |= mine[w] &^ blocked[w]
			}
		}
		if c != mine {
			m.pending = true
		}
		m.claims[g] = c
	}
}

// applied is the epoch this node advertises as applied.
func (m *membership) applied() uint64 {
	if m.follow == nil {
		return 0
	}
	return m.follow.Epoch
}

func (m *membership) releaseAll() {
	for g := range m.claims {
		m.claims[g] = Bitmap{}
	}
}

// ownedBy is the set of buckets owners gives to node i.
func ownedBy(owners *[Buckets]uint8, i int) Bitmap {
	var s Bitmap
	for b, o := range owners {
		if int(o) == i {
			s.Set(b)
		}
	}
	return s
}

func andMine(c Bitmap, owners *[Buckets]uint8, i int) Bitmap {
	mine := ownedBy(owners, i)
	for w := range c {
		c[w] &= mine[w]
	}
	return c
}

func (m *membership) setARP(holder bool) {
	if holder == m.arp {
		return
	}
	m.arp = holder
	v := holder
	m.out.ARPHolder = &v
}

// emit appends a heartbeat to Ready: every pulse, and at the next tick after news.
func (m *membership) emit() {
	if !sameClaims(m.claims, m.sentClaims) {
		m.sentClaims = append([]Bitmap(nil), m.claims...)
	}
	if !slices.Equal(m.rows, m.sentRows) {
		m.sentRows = append([]uint64(nil), m.rows...)
	}
	m.seq++
	hb := &Heartbeat{
		Version:     WireVersion,
		Sender:      uint8(m.self),
		Incarnation: m.cfg.Incarnation,
		Seq:         m.seq,
		State:       m.local.State,
		Ready:       m.local.Ready,
		Member:      m.isMember(),
		Leaving:     !m.isMember() && m.claimCount() > 0,
		Applied:     m.applied(),
		Hears:       m.sentRows,
		Claims:      m.sentClaims,
		Target:      m.follow,
	}
	hb.Relay = m.relayList(hb)
	m.out.Messages = append(m.out.Messages, Outgoing{LAN: -1, Msg: hb})
	m.lastSent = hb
	m.urgent = false
}

func sameClaims(a, b []Bitmap) bool {
	for g := range a {
		if a[g] != b[g] {
			return false
		}
	}
	return true
}

// status fills the membership's part of a Status.
func (m *membership) status(s *Status) {
	s.Groups = make([]GroupStatus, len(m.grp))
	for g := range m.grp {
		s.Groups[g] = GroupStatus{Name: m.grp[g].name, Owned: m.claims[g], Owners: m.view[g]}
	}
	for j, name := range m.cfg.Cluster.Nodes {
		if j == m.self {
			continue
		}
		p := &m.peers[j]
		ps := PeerStatus{Name: name, Alive: p.alive, LastHeardTick: append([]int64(nil), p.heard...)}
		if p.known {
			ps.State, ps.Ready = p.info.State, p.info.Ready
		}
		s.Peers = append(s.Peers, ps)
	}
	if m.leader >= 0 {
		s.Leader = m.cfg.Cluster.Nodes[m.leader]
	}
	s.ARPHolder = m.arp
	s.Epoch = m.applied()
}
