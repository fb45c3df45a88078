package core

// WireVersion is the version of the heartbeat format, carried in every
// Heartbeat and on the wire; a receiver rejects any other.
const WireVersion = 1

// Heartbeat is one farm heartbeat: everything a node tells its peers every
// pulse. A Heartbeat is immutable once emitted in Ready.Messages: the sender
// shares its Claims slice and Target between consecutive heartbeats while they
// do not change, and drivers may hand the same pointer to several receivers.
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
	// what it takes away); a receiver acquires a bucket only once every alive
	// peer has applied its target's epoch or a newer one.
	Applied uint64
	// Hears is the set of node indices the sender currently hears (bit i =
	// node i). Two nodes count each other alive only while both hear each
	// other: SPEC §5 calls them connected while heartbeats pass both ways.
	Hears uint64

	Claims []Bitmap // per load-balancing group, in config order: buckets the sender owns
	Target *Target  // non-nil only when the sender is the leader
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

// sameHeartbeatContent reports whether b says the same as a except for the
// sequence number, the thing a receiver checks on every heartbeat. It avoids
// comparing bulky parts when the sender shared them (same slice, same target).
func sameHeartbeatContent(a, b *Heartbeat) bool {
	if a.State != b.State || a.Ready != b.Ready || a.Member != b.Member || a.Leaving != b.Leaving ||
		a.Applied != b.Applied || a.Hears != b.Hears || len(a.Claims) != len(b.Claims) {
		return false
	}
	if len(a.Claims) > 0 && &a.Claims[0] != &b.Claims[0] {
		for g := range a.Claims {
			if a.Claims[g] != b.Claims[g] {
				return false
			}
		}
	}
	return sameTarget(a.Target, b.Target)
}

// sameTarget compares two targets by content.
func sameTarget(a, b *Target) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Epoch != b.Epoch || len(a.Owners) != len(b.Owners) {
		return false
	}
	for g := range a.Owners {
		if a.Owners[g] != b.Owners[g] {
			return false
		}
	}
	return true
}
