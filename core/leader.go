package core

import "math/bits"

// The leader is a deterministic function of the view: the lowest-indexed
// alive member (evaluate). Only the leader publishes targets; this file is
// what it does each time its view changes.

// lead decides whether the leader must publish a new target. The target it
// follows is kept while it is still balanced for the current members (so
// moves in flight never change the plan); otherwise a new one is computed
// from the current claims. A target is republished under a new epoch when
// someone has published or applied a newer epoch, so that every node, which
// ignores older epochs, follows this leader.
func (m *membership) lead() {
	m.componentEpoch()
	cand := m.follow
	keep := cand != nil && len(cand.Owners) == len(m.grp)
	for g := 0; keep && g < len(m.grp); g++ {
		keep = validTarget(&cand.Owners[g], m.members, m.grp[g].power)
	}
	if keep {
		if cand == m.published && cand.Epoch >= m.maxEpoch {
			return
		}
		m.publish(cand.Owners)
		return
	}
	owners := make([][Buckets]uint8, len(m.grp))
	for g := range m.grp {
		m.baseOwners(g, cand, &m.scratch)
		assignOwners(&m.scratch, m.members, m.grp[g].power, &owners[g])
	}
	if p := m.published; p != nil && p.Epoch >= m.maxEpoch && sameOwners(p.Owners, owners) {
		return
	}
	m.publish(owners)
}

// publish makes owners the leader's new target under a fresh epoch. Owners is
// shared, never modified afterwards.
func (m *membership) publish(owners [][Buckets]uint8) {
	e := nextEpoch(m.maxEpoch, m.self)
	m.published = &Target{Epoch: e, Owners: owners}
	m.maxEpoch = e
}

// baseOwners is the current table of group g as the leader sees it: the
// lowest-indexed member claiming each bucket (a double claim after a heal
// is resolved that way), else the member the previous target gives it to
// (released, not yet acquired), else NoOwner. Claims of non-members (a node
// leaving) and of dead nodes count as free: that is how they move.
func (m *membership) baseOwners(g int, prev *Target, base *[Buckets]uint8) {
	for b := range base {
		base[b] = NoOwner
	}
	for s := m.members; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		c := &m.claims[g]
		if i != m.self {
			c = &m.peers[i].info.Claims[g]
		}
		fillOwner(base, c, uint8(i))
	}
	if prev == nil || len(prev.Owners) != len(m.grp) {
		return
	}
	for b, o := range prev.Owners[g] {
		if base[b] == NoOwner && o != NoOwner && int(o) < MaxNodes && has(m.members, int(o)) {
			base[b] = o
		}
	}
}

// fillOwner sets owner i on every bucket of c that has no owner yet.
func fillOwner(owners *[Buckets]uint8, c *Bitmap, i uint8) {
	for w, word := range c {
		for word != 0 {
			b := w*64 + bits.TrailingZeros64(word)
			if owners[b] == NoOwner {
				owners[b] = i
			}
			word &= word - 1
		}
	}
}

func sameOwners(a, b [][Buckets]uint8) bool {
	if len(a) != len(b) {
		return false
	}
	for g := range a {
		if a[g] != b[g] {
			return false
		}
	}
	return true
}
