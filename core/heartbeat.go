package core

import "slices"

// WireVersion is the version of the heartbeat format, carried in every
// Heartbeat and on the wire; a receiver rejects any other. Version 2 added
// the relay of what the sender knows of the other nodes and the target it
// follows, so that a component whose nodes do not all hear each other
// behaves as one (docs/membership.md).
const WireVersion = 2

// Heartbeat is one farm heartbeat: everything a node tells its peers every
// pulse. A Heartbeat is immutable once emitted in Ready.Messages: the sender
// shares its Claims slice, the Target and the relayed Claims between
// consecutive heartbeats while they do not change, and drivers may hand the
// same pointer to several receivers.
type Heartbeat struct {
	Version     uint8  // WireVersion
	Sender      uint8  // index of the sender in Cluster.Nodes
	Incarnation uint64 // sender's Config.Incarnation: grows at every process start
	Seq         uint64 // +1 per heartbeat within one incarnation

	State   State // sender's module state
	Ready   bool  // sender's module readiness
	Member  bool  // sender is UP, start_both done, not leaving: it should hold buckets
	Leaving bool  // sender is no member any more but still serves buckets it claims

	// Applied is the epoch of the target the sender has applied (released
	// what it takes away); a receiver acquires a bucket only once every peer
	// of its component has applied its target's epoch or a newer one.
	Applied uint64
	// Hears is, per LAN of <farm>, the set of node indices the sender hears
	// directly on that LAN (bit i = node i): its rows of the adjacency
	// matrix. Two nodes are linked only while one LAN carries heartbeats
	// both ways between them, each hearing the other on it (SPEC §5).
	Hears []uint64

	Claims []Bitmap // per load-balancing group, in config order: buckets the sender owns
	// Target is the target the sender follows: the one it published when it
	// leads, else the leader's, relayed verbatim (the leader is the epoch's
	// low byte), so that a node two or more hops from the leader follows it
	// too. Nil while the sender follows none.
	Target *Target
	// Relay is what the sender knows of the other nodes whose heartbeats are
	// fresh to it, heard directly or relayed in turn, in ascending Node order
	// and never the sender itself. Each entry is the freshest copy the sender
	// has, stamped with that node's own incarnation and sequence, so a
	// receiver keeps whichever copy of a node is newest.
	Relay []PeerInfo
}

// PeerInfo is one node's state as relayed by another: the same fields as that
// node's own heartbeat carries.
type PeerInfo struct {
	Node        uint8  // index of the node described
	Incarnation uint64 // its incarnation and sequence: which copy is the freshest
	Seq         uint64
	State       State
	Ready       bool
	Member      bool
	Leaving     bool
	Applied     uint64
	Hears       []uint64 // per LAN; shared like Claims
	Claims      []Bitmap // shared with the heartbeat it was learnt from: never modified
}

// Target is the leader's wished bucket ownership. Epochs are unique per
// publishing leader (the low byte is the leader's index) and grow
// monotonically within a component.
type Target struct {
	Epoch  uint64
	Owners [][Buckets]uint8 // per group: node index of each bucket's owner (NoOwner when no member)
}

// epochLeader extracts the index of the node that published epoch e.
func epochLeader(e uint64) int { return int(e & 0xFF) }

// nextEpoch is the epoch a leader self publishes after having seen max.
func nextEpoch(max uint64, self int) uint64 { return ((max>>8)+1)<<8 | uint64(self) }

// infoOf is what hb says of its sender, in the form a relay carries.
func infoOf(hb *Heartbeat) PeerInfo {
	return PeerInfo{Node: hb.Sender, Incarnation: hb.Incarnation, Seq: hb.Seq, State: hb.State,
		Ready: hb.Ready, Member: hb.Member, Leaving: hb.Leaving, Applied: hb.Applied, Hears: hb.Hears,
		Claims: hb.Claims}
}

// newer reports whether the copy (inc, seq) of a node is fresher than (inc0, seq0).
func newer(inc, seq, inc0, seq0 uint64) bool {
	return inc > inc0 || inc == inc0 && seq > seq0
}

// sameInfo reports whether a and b describe a node the same way, sequence
// numbers aside. Claims shared by pointer compare in O(1), the common case
// within one process.
func sameInfo(a, b *PeerInfo) bool {
	return a.Incarnation == b.Incarnation && a.State == b.State && a.Ready == b.Ready &&
		a.Member == b.Member && a.Leaving == b.Leaving && a.Applied == b.Applied && slices.Equal(a.Hears, b.Hears) &&
		sameClaimList(a.Claims, b.Claims)
}

// linkedVia reports whether some LAN carries heartbeats both ways between
// nodes i and j, as their rows a (of i) and b (of j) say.
func linkedVia(a, b []uint64, i, j int) bool {
	for l := range min(len(a), len(b)) {
		if has(a[l], j) && has(b[l], i) {
			return true
		}
	}
	return false
}

// hearsAny is the set of nodes heard on any LAN.
func hearsAny(rows []uint64) nodeSet {
	var s nodeSet
	for _, r := range rows {
		s |= r
	}
	return s
}

func sameClaimList(a, b []Bitmap) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for g := range a {
		if a[g] != b[g] {
			return false
		}
	}
	return true
}

// sameHeartbeatContent reports whether b says the same of its sender as a,
// sequence number and relay aside (relay entries are compared one by one
// against what the receiver knows). It avoids comparing bulky parts when the
// sender shared them (same slice, same target).
func sameHeartbeatContent(a, b *Heartbeat) bool {
	if a.State != b.State || a.Ready != b.Ready || a.Member != b.Member || a.Leaving != b.Leaving ||
		a.Applied != b.Applied || !slices.Equal(a.Hears, b.Hears) || !sameClaimList(a.Claims, b.Claims) {
		return false
	}
	return sameTarget(a.Target, b.Target)
}

// sameTarget compares two targets by content.
func sameTarget(a, b *Target) bool {
	if a == b {
		return true
	}
	return a != nil && b != nil && a.Epoch == b.Epoch && slices.Equal(a.Owners, b.Owners)
}
