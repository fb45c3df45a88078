package core

import (
	"math/bits"
	"slices"
)

// The component view. SPEC §5 calls two nodes connected while heartbeats
// pass both ways and a component the transitive closure of that relation, so
// a node may share a component with a node it does not hear at all (every
// LAN cut between node1 and node3, node2 hearing both). Each heartbeat
// therefore relays the freshest copy the sender has of every other node's
// state — including its Hears, its rows of the adjacency matrix, one per
// LAN — and the target it follows. From those a node computes:
//
//   - fresh: a node whose (incarnation, sequence) grew, directly or through
//     any relay, within its timeout (slost_count pulses, mlost_count for the
//     leader). A relay repeats a dead node's last sequence until it expires
//     there too, which never makes it look fresh here: freshness is judged by
//     the node's own counter, not by who mentions it.
//   - direct: peers heard directly on a LAN whose row for that LAN says
//     they hear this node on it too.
//   - alive: the closure from direct over links between fresh nodes (j
//     hears k and k hears j on one LAN, as their rows say): this node's
//     component, which every node of it computes identically once the rows
//     have spread.
//
// Everything else of the protocol (members, leader, quotas, blocking
// acquisitions, the owner table) runs on alive, so a peer two hops away
// counts exactly as a direct one. A node follows the newest target published
// by its leader, as relayed by any direct peer.

// learn records e as node e.Node's state when it is fresher than what this
// node knows, and reports whether that changed anything (content, or a node
// coming back to freshness): only then must the node re-evaluate. A copy that
// only advances the sequence costs a comparison, the steady state.
func (m *membership) learn(now int64, e *PeerInfo) bool {
	k := &m.peers[e.Node]
	if k.known && !newer(e.Incarnation, e.Seq, k.info.Incarnation, k.info.Seq) {
		return false
	}
	k.advTick = now
	if k.known && e.Incarnation > k.info.Incarnation {
		copy(k.bootRows, k.info.Hears)
		if now <= k.bootUntil { // restarted again within the grace: keep the older rows too
			for l := range k.bootRows {
				k.bootRows[l] |= k.effRows[l]
			}
		}
		k.bootUntil = now + m.timeout(int(e.Node))
	}
	if k.known && sameInfo(&k.info, e) {
		k.info.Seq = e.Seq
		return !k.fresh
	}
	k.info = *e
	k.known = true
	if m.mustForward(int(e.Node)) {
		m.urgent = true
	}
	return true
}

// mustForward reports whether a direct peer of this node does not hear node
// j itself and so learns j's news only through relays: then the news goes
// out at the next tick, not the next pulse, so a hand-over two hops away
// takes a few more ticks instead of a few more pulses. In a farm where every
// node hears every other, nothing is forwarded early and a steady farm still
// sends one heartbeat per pulse; each change crosses every link at most once.
func (m *membership) mustForward(j int) bool {
	for s := m.direct &^ (1 << uint(j)); s != 0; s &= s - 1 {
		if !has(hearsAny(m.peers[bits.TrailingZeros64(s)].info.Hears), j) {
			return true
		}
	}
	return false
}

// rowsOf is node j's adjacency rows as the component view reads them: its
// latest, joined for a timeout after a restart by its previous
// incarnation's (see peer.bootRows).
func (m *membership) rowsOf(j int, now int64) []uint64 {
	p := &m.peers[j]
	if now > p.bootUntil {
		return p.info.Hears
	}
	for l := range p.effRows {
		p.effRows[l] = p.info.Hears[l] | p.bootRows[l]
	}
	return p.effRows
}

// refreshAlive recomputes which peers are heard on which LAN, fresh, linked
// directly and in the component; it reports a change.
func (m *membership) refreshAlive(now int64) bool {
	changed := false
	for l := range m.rows {
		m.rows[l] = 0
	}
	for j := range m.peers {
		if j == m.self {
			continue
		}
		p := &m.peers[j]
		timeout := m.timeout(j)
		for l, t := range p.heard {
			if t >= 0 && now-t <= timeout {
				m.rows[l] |= 1 << uint(j)
			}
		}
		hearing := p.lastAny >= 0 && now-p.lastAny <= timeout
		if hearing != p.hearing {
			p.hearing = hearing
			changed = true
		}
		p.fresh = p.known && now-p.advTick <= timeout
	}
	if !slices.Equal(m.rows, m.sentRows) {
		changed = true
	}
	var direct nodeSet
	for s := hearsAny(m.rows); s != 0; s &= s - 1 {
		j := bits.TrailingZeros64(s)
		if p := &m.peers[j]; p.fresh && linkedVia(m.rows, m.rowsOf(j, now), m.self, j) {
			direct |= 1 << uint(j)
		}
	}
	reach, frontier := direct, direct
	nodes := ^nodeSet(0)
	if m.nodes < MaxNodes {
		nodes = 1<<uint(m.nodes) - 1
	}
	for frontier != 0 {
		j := bits.TrailingZeros64(frontier)
		frontier &= frontier - 1
		rj := m.rowsOf(j, now)
		for s := hearsAny(rj) & nodes &^ reach &^ (1 << uint(m.self)); s != 0; s &= s - 1 {
			k := bits.TrailingZeros64(s)
			if pk := &m.peers[k]; pk.fresh && linkedVia(rj, m.rowsOf(k, now), j, k) {
				reach |= 1 << uint(k)
				frontier |= 1 << uint(k)
			}
		}
	}
	if reach != m.alive || direct != m.direct {
		m.alive, m.direct = reach, direct
		for j := range m.peers {
			m.peers[j].alive = has(reach, j)
		}
		changed = true
	}
	return changed
}

// followLeader adopts the newest target the leader published, as carried by
// any direct peer: the leader itself, or a node relaying the target it
// follows. The epoch's low byte names the publisher, so a stale target of a
// former leader is never taken for the current one's.
func (m *membership) followLeader(leader int) {
	for s := m.direct; s != 0; s &= s - 1 {
		t := m.peers[bits.TrailingZeros64(s)].hb.Target
		if t != nil && epochLeader(t.Epoch) == leader && (m.follow == nil || t.Epoch > m.follow.Epoch) {
			m.follow = t
		}
	}
}

// relayList is what hb relays: the freshest copy of every other node that is
// fresh here, in index order. Copies are shared, never modified. Should the
// heartbeat exceed MaxHeartbeatLen (dozens of nodes and groups, far beyond
// real farms) the highest-indexed entries are left out.
func (m *membership) relayList(hb *Heartbeat) []PeerInfo {
	n := 0
	for j := range m.peers {
		if j != m.self && m.peers[j].fresh {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	r := make([]PeerInfo, 0, n)
	for j := range m.peers {
		if j != m.self && m.peers[j].fresh {
			r = append(r, m.peers[j].info)
		}
	}
	hb.Relay = r
	for len(hb.Relay) > 0 && wireLenBound(hb) > MaxHeartbeatLen && wireLen(hb) > MaxHeartbeatLen {
		hb.Relay = hb.Relay[:len(hb.Relay)-1]
	}
	return hb.Relay
}

// componentEpoch raises maxEpoch to the highest epoch this node's component
// has applied or relays as followed: a leader publishes above it, so that
// every node of the component, which ignores older epochs, follows it. Only
// the component counts: a node heard one way, or known only through a relay,
// that leads another component would otherwise push both leaders to outbid
// each other for ever.
func (m *membership) componentEpoch() uint64 {
	if m.follow != nil {
		m.maxEpoch = max(m.maxEpoch, m.follow.Epoch)
	}
	for s := m.alive; s != 0; s &= s - 1 {
		j := bits.TrailingZeros64(s)
		p := &m.peers[j]
		m.maxEpoch = max(m.maxEpoch, p.info.Applied)
		if has(m.direct, j) && p.hb.Target != nil {
			m.maxEpoch = max(m.maxEpoch, p.hb.Target.Epoch)
		}
	}
	return m.maxEpoch
}
