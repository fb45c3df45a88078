package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Receiving heartbeats: authentication, replay protection and the strict
// parse of the format described in wire.go.

// RejectReason says why a Verifier refused a packet.
type RejectReason uint8

const (
	RejectTruncated        RejectReason = iota // shorter than its header or than its groups and relay need
	RejectOversized                            // longer than MaxHeartbeatLen
	RejectNotHeartbeat                         // wrong magic: not a vipfarm heartbeat
	RejectWrongVersion                         // a format version this node does not speak
	RejectWrongCluster                         // another cluster's key (cluster id differs)
	RejectUnknownSender                        // sender index not in cluster.xml
	RejectUnknownLAN                           // LAN index not in <farm>
	RejectMalformed                            // inconsistent (flags, state, owners, relay entries, non-canonical encoding, trailing bytes)
	RejectForged                               // HMAC does not verify
	RejectReplayed                             // sequence not newer than the last accepted for this sender, LAN and incarnation
	RejectStaleIncarnation                     // an incarnation older than one already accepted
	numRejectReasons
)

// RejectReasonCount is the number of RejectReason values (the length of Rejects()).
const RejectReasonCount = int(numRejectReasons)

var rejectNames = [...]string{
	RejectTruncated:        "truncated",
	RejectOversized:        "oversized",
	RejectNotHeartbeat:     "not-heartbeat",
	RejectWrongVersion:     "wrong-version",
	RejectWrongCluster:     "wrong-cluster",
	RejectUnknownSender:    "unknown-sender",
	RejectUnknownLAN:       "unknown-lan",
	RejectMalformed:        "malformed",
	RejectForged:           "forged",
	RejectReplayed:         "replayed",
	RejectStaleIncarnation: "stale-incarnation",
}

func (r RejectReason) String() string {
	if int(r) < len(rejectNames) {
		return rejectNames[r]
	}
	return fmt.Sprintf("reject(%d)", uint8(r))
}

// RejectError is the error Verifier.Decode returns for a refused packet.
type RejectError struct {
	Reason RejectReason
	Detail string
}

func (e *RejectError) Error() string {
	return "core: heartbeat rejected (" + e.Reason.String() + "): " + e.Detail
}

// Verifier authenticates the heartbeats one node receives and rejects
// replays. It remembers, per sender and LAN, the last accepted (incarnation,
// sequence); that state advances only once the HMAC has verified, so a forger
// can never make genuine heartbeats look replayed. Not safe for concurrent use.
type Verifier struct {
	clusterID uint32
	nodes     int
	lans      int
	mac       hash.Hash
	sum       [sha256.Size]byte
	last      []replayState // [sender*lans + lan]
	rejects   [RejectReasonCount]uint64
}

type replayState struct {
	seen bool
	inc  uint64
	seq  uint64
}

// NewVerifier returns a Verifier for a cluster of nodes nodes whose module
// sends heartbeats on lans LANs, authenticated with key.
func NewVerifier(key []byte, nodes, lans int) (*Verifier, error) {
	switch {
	case len(key) == 0:
		return nil, errors.New("core: heartbeat verifier: empty cluster key")
	case nodes <= 0 || nodes > MaxNodes:
		return nil, fmt.Errorf("core: heartbeat verifier: %d nodes, want 1..%d", nodes, MaxNodes)
	case lans <= 0 || lans > 0xFF:
		return nil, fmt.Errorf("core: heartbeat verifier: %d LANs, want 1..255", lans)
	}
	return &Verifier{
		clusterID: clusterID(key),
		nodes:     nodes,
		lans:      lans,
		mac:       hmac.New(sha256.New, key),
		last:      make([]replayState, nodes*lans),
	}, nil
}

// Rejects returns how many packets were refused, indexed by RejectReason.
func (v *Verifier) Rejects() [RejectReasonCount]uint64 { return v.rejects }

func (v *Verifier) reject(r RejectReason, format string, args ...any) (*Heartbeat, int, error) {
	v.rejects[r]++
	return nil, -1, &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// claimsBlockLen is the length of the claims block of ng groups at off, or -1
// when pkt ends first. Unknown modes count as bitmap-less here; the parse
// after authentication refuses them.
func claimsBlockLen(pkt []byte, off, ng int) int {
	if off+ng > len(pkt) {
		return -1
	}
	n := ng
	for _, mode := range pkt[off : off+ng] {
		if mode == claimsBitmap {
			n += bitmapWireBytes
		}
	}
	return n
}

// Decode checks and parses one received packet. On success it returns the
// heartbeat and the LAN index the sender stamped; otherwise a *RejectError.
func (v *Verifier) Decode(pkt []byte) (hb *Heartbeat, lan int, err error) {
	if len(pkt) < wireMinLen {
		return v.reject(RejectTruncated, "%d bytes, a heartbeat has at least %d", len(pkt), wireMinLen)
	}
	if len(pkt) > MaxHeartbeatLen {
		return v.reject(RejectOversized, "%d bytes, at most %d", len(pkt), MaxHeartbeatLen)
	}
	if pkt[0] != wireMagic[0] || pkt[1] != wireMagic[1] {
		return v.reject(RejectNotHeartbeat, "magic %#02x%02x", pkt[0], pkt[1])
	}
	if pkt[2] != WireVersion {
		return v.reject(RejectWrongVersion, "version %d, want %d", pkt[2], WireVersion)
	}
	if id := binary.BigEndian.Uint32(pkt[4:]); id != v.clusterID {
		return v.reject(RejectWrongCluster, "cluster id %08x, ours %08x", id, v.clusterID)
	}
	flags, lan, sender, ng, nh, nr := pkt[3], int(pkt[8]), int(pkt[9]), int(pkt[11]), int(pkt[36]), int(pkt[37])
	if sender >= v.nodes {
		return v.reject(RejectUnknownSender, "sender index %d, cluster has %d nodes", sender, v.nodes)
	}
	if lan >= v.lans {
		return v.reject(RejectUnknownLAN, "LAN index %d from node %d, farm has %d LANs", lan, sender, v.lans)
	}
	if ng > MaxWireGroups {
		return v.reject(RejectMalformed, "%d groups from node %d, at most %d", ng, sender, MaxWireGroups)
	}
	if nr >= v.nodes {
		return v.reject(RejectMalformed, "%d relay entries from node %d, a cluster of %d nodes has at most %d", nr, sender, v.nodes, v.nodes-1)
	}
	// Walk the layout to find where the body ends; nothing is trusted yet.
	body := len(pkt) - wireMACLen
	off := wireHeaderLen + 8*nh
	short := func() (*Heartbeat, int, error) {
		return v.reject(RejectTruncated, "%d bytes from node %d: its %d groups, %d LANs and %d relay entries need more", len(pkt), sender, ng, nh, nr)
	}
	cOff := off
	if off > body {
		return short()
	}
	n := claimsBlockLen(pkt[:body], off, ng)
	if n < 0 {
		return short()
	}
	off += n
	tOff := off
	if flags&flagTarget != 0 {
		if flags&flagNibbles != 0 {
			off += 8 + ng*Buckets/2
		} else {
			off += 8 + ng*Buckets
		}
	}
	rOff := off
	for range nr {
		if off += wireEntryLen + 8*nh; off > body {
			return short()
		}
		if n = claimsBlockLen(pkt[:body], off, ng); n < 0 {
			return short()
		}
		off += n
	}
	if off > body {
		return short()
	}
	if off < body {
		return v.reject(RejectMalformed, "%d bytes from node %d, its %d groups, %d LANs and %d relay entries need %d", len(pkt), sender, ng, nh, nr, off+wireMACLen)
	}
	v.mac.Reset()
	v.mac.Write(pkt[:body])
	if !hmac.Equal(v.mac.Sum(v.sum[:0]), pkt[body:]) {
		return v.reject(RejectForged, "bad HMAC on a heartbeat claiming node %d, LAN %d", sender, lan)
	}
	// Authenticated from here on.
	if flags&^flagsKnown != 0 || flags&flagNibbles != 0 && flags&flagTarget == 0 {
		return v.reject(RejectMalformed, "unknown flags %#02x from node %d", flags, sender)
	}
	if State(pkt[10]) > StateUp {
		return v.reject(RejectMalformed, "module state %d from node %d", pkt[10], sender)
	}
	inc := binary.BigEndian.Uint64(pkt[12:])
	seq := binary.BigEndian.Uint64(pkt[20:])
	rs := &v.last[sender*v.lans+lan]
	if rs.seen {
		if inc < rs.inc {
			return v.reject(RejectStaleIncarnation, "node %d LAN %d: incarnation %d, already saw %d", sender, lan, inc, rs.inc)
		}
		if inc == rs.inc && seq <= rs.seq {
			return v.reject(RejectReplayed, "node %d LAN %d incarnation %d: sequence %d, already saw %d", sender, lan, inc, seq, rs.seq)
		}
	}
	// One backing array for the claims of the sender and of every relayed
	// node, one for their hears rows.
	all := make([]Bitmap, (nr+1)*ng)
	rows := make([]uint64, (nr+1)*nh)
	hb = &Heartbeat{
		Version:     WireVersion,
		Sender:      uint8(sender),
		Incarnation: inc,
		Seq:         seq,
		State:       State(pkt[10]),
		Ready:       flags&flagReady != 0,
		Member:      flags&flagMember != 0,
		Leaving:     flags&flagLeaving != 0,
		Applied:     binary.BigEndian.Uint64(pkt[28:]),
		Hears:       readRows(pkt[wireHeaderLen:], rows[:nh:nh]),
		Claims:      all[:ng:ng],
	}
	if flags&flagTarget != 0 {
		t, msg := v.parseTarget(pkt[tOff:rOff], ng, flags&flagNibbles != 0)
		if msg != "" {
			return v.reject(RejectMalformed, "node %d: %s", sender, msg)
		}
		hb.Target = t
	}
	if msg := parseClaims(pkt, cOff, hb.Claims, hb.Target, sender); msg != "" {
		return v.reject(RejectMalformed, "node %d claims: %s", sender, msg)
	}
	if nr > 0 {
		hb.Relay = make([]PeerInfo, nr)
	}
	off = rOff
	prev := -1
	for i := range hb.Relay {
		e := &hb.Relay[i]
		node, st, ef := int(pkt[off]), State(pkt[off+1]), pkt[off+2]
		switch {
		case node >= v.nodes || node <= prev || node == sender:
			return v.reject(RejectMalformed, "node %d relay entry %d: node %d (after %d) is not another node in ascending order", sender, i, node, prev)
		case st > StateUp:
			return v.reject(RejectMalformed, "node %d relay entry %d (node %d): module state %d", sender, i, node, st)
		case ef&^entryFlags != 0:
			return v.reject(RejectMalformed, "node %d relay entry %d (node %d): unknown flags %#02x", sender, i, node, ef)
		}
		prev = node
		*e = PeerInfo{
			Node:        uint8(node),
			State:       st,
			Ready:       ef&flagReady != 0,
			Member:      ef&flagMember != 0,
			Leaving:     ef&flagLeaving != 0,
			Incarnation: binary.BigEndian.Uint64(pkt[off+3:]),
			Seq:         binary.BigEndian.Uint64(pkt[off+11:]),
			Applied:     binary.BigEndian.Uint64(pkt[off+19:]),
			Hears:       readRows(pkt[off+wireEntryLen:], rows[(i+1)*nh:(i+2)*nh:(i+2)*nh]),
			Claims:      all[(i+1)*ng : (i+2)*ng : (i+2)*ng],
		}
		off += wireEntryLen + 8*nh
		if msg := parseClaims(pkt, off, e.Claims, hb.Target, node); msg != "" {
			return v.reject(RejectMalformed, "node %d relay entry %d (node %d) claims: %s", sender, i, node, msg)
		}
		off += claimsBlockLen(pkt, off, ng)
	}
	*rs = replayState{seen: true, inc: inc, seq: seq}
	return hb, lan, nil
}

// parseTarget decodes the target section p (epoch and owners).
func (v *Verifier) parseTarget(p []byte, ng int, nibbles bool) (*Target, string) {
	t := &Target{Epoch: binary.BigEndian.Uint64(p), Owners: make([][Buckets]uint8, ng)}
	p = p[8:]
	for g := range t.Owners {
		o := &t.Owners[g]
		if nibbles {
			for b := 0; b < Buckets; b += 2 {
				x := p[g*Buckets/2+b/2]
				o[b], o[b+1] = x>>4, x&0xF
			}
			for b := range o {
				if o[b] == nibbleNoOwner {
					o[b] = NoOwner
				}
			}
		} else {
			copy(o[:], p[g*Buckets:])
		}
		for b, x := range o {
			if x != NoOwner && int(x) >= v.nodes {
				return nil, fmt.Sprintf("target epoch %d group %d bucket %d: owner %d out of range", t.Epoch, g, b, x)
			}
		}
	}
	if !nibbles && nibblesFit(t) {
		return nil, fmt.Sprintf("target epoch %d in bytes although every owner fits in a nibble", t.Epoch)
	}
	return t, ""
}

// parseClaims decodes the claims block at off into out, refusing unknown
// modes and any mode the encoder would not have chosen.
func parseClaims(pkt []byte, off int, out []Bitmap, t *Target, node int) string {
	words := off + len(out)
	for g := range out {
		switch mode := pkt[off+g]; mode {
		case claimsNone:
		case claimsAsTarget:
			if t == nil {
				return fmt.Sprintf("group %d: claims as the target, and there is no target", g)
			}
			out[g] = ownedBy(&t.Owners[g], node)
		case claimsBitmap:
			for w := range out[g] {
				out[g][w] = binary.BigEndian.Uint64(pkt[words:])
				words += 8
			}
		default:
			return fmt.Sprintf("group %d: unknown claims mode %d", g, mode)
		}
		if claimsMode(&out[g], t, g, node) != pkt[off+g] {
			return fmt.Sprintf("group %d: claims mode %d is not the canonical one", g, pkt[off+g])
		}
	}
	return ""
}

// readRows decodes len(out) hears rows from p into out (nil when none).
func readRows(p []byte, out []uint64) []uint64 {
	if len(out) == 0 {
		return nil
	}
	for l := range out {
		out[l] = binary.BigEndian.Uint64(p[8*l:])
	}
	return out
}
