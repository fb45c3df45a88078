package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// The heartbeat wire format, version 1. Big-endian, fixed layout, followed by
// an HMAC-SHA256 of everything before it under the cluster key:
//
//	off len  field
//	  0   2  magic "VF"
//	  2   1  version (WireVersion)
//	  3   1  flags: 1 ready, 2 member, 4 leaving, 8 target present
//	  4   4  cluster id: first 4 bytes of SHA-256("vipfarm cluster id\x00" || key)
//	  8   1  LAN index (in <farm>)
//	  9   1  sender node index
//	 10   1  module state
//	 11   1  number of groups G (≤ MaxWireGroups)
//	 12   8  incarnation
//	 20   8  sequence
//	 28   8  applied epoch
//	 36   8  hears (node set)
//	 44 32G  claims, one 256-bit bitmap per group (4 big-endian words, bucket 0 = bit 0 of word 0)
//	         if target present: 8 epoch, then 256 owner bytes per group
//	     32  HMAC-SHA256
//
// The cluster id lets a receiver tell a heartbeat of another cluster (another
// key) from a forgery, without revealing the key.

// MaxWireGroups bounds the load-balancing groups a heartbeat carries.
const MaxWireGroups = 32

const (
	wireHeaderLen = 44
	wireMACLen    = sha256.Size
	// MaxHeartbeatLen is the largest valid encoded heartbeat.
	MaxHeartbeatLen = wireHeaderLen + MaxWireGroups*32 + 8 + MaxWireGroups*Buckets + wireMACLen
)

const (
	flagReady   = 1 << 0
	flagMember  = 1 << 1
	flagLeaving = 1 << 2
	flagTarget  = 1 << 3
	flagsKnown  = flagReady | flagMember | flagLeaving | flagTarget
)

var wireMagic = [2]byte{'V', 'F'}

// clusterID is the 4-byte fingerprint of a cluster key.
func clusterID(key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte("vipfarm cluster id\x00"))
	h.Write(key)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint32(h.Sum(sum[:0]))
}

// EncodeHeartbeat serializes hb, sent on LAN lan, and authenticates it with key.
func EncodeHeartbeat(key []byte, lan int, hb *Heartbeat) ([]byte, error) {
	switch {
	case len(key) == 0:
		return nil, errors.New("core: encode heartbeat: empty cluster key")
	case hb == nil:
		return nil, errors.New("core: encode heartbeat: nil heartbeat")
	case lan < 0 || lan > 0xFF:
		return nil, fmt.Errorf("core: encode heartbeat: LAN index %d out of range 0..255", lan)
	case hb.Version != 0 && hb.Version != WireVersion:
		return nil, fmt.Errorf("core: encode heartbeat: version %d, this encoder writes %d", hb.Version, WireVersion)
	case hb.State > StateUp:
		return nil, fmt.Errorf("core: encode heartbeat: invalid module state %d", hb.State)
	case len(hb.Claims) > MaxWireGroups:
		return nil, fmt.Errorf("core: encode heartbeat: %d groups, at most %d", len(hb.Claims), MaxWireGroups)
	case hb.Target != nil && len(hb.Target.Owners) != len(hb.Claims):
		return nil, fmt.Errorf("core: encode heartbeat: target has %d groups, claims %d", len(hb.Target.Owners), len(hb.Claims))
	}
	ng := len(hb.Claims)
	n := wireHeaderLen + 32*ng + wireMACLen
	var flags byte
	if hb.Ready {
		flags |= flagReady
	}
	if hb.Member {
		flags |= flagMember
	}
	if hb.Leaving {
		flags |= flagLeaving
	}
	if hb.Target != nil {
		flags |= flagTarget
		n += 8 + Buckets*ng
	}
	buf := make([]byte, wireHeaderLen, n)
	copy(buf, wireMagic[:])
	buf[2] = WireVersion
	buf[3] = flags
	binary.BigEndian.PutUint32(buf[4:], clusterID(key))
	buf[8] = byte(lan)
	buf[9] = hb.Sender
	buf[10] = byte(hb.State)
	buf[11] = byte(ng)
	binary.BigEndian.PutUint64(buf[12:], hb.Incarnation)
	binary.BigEndian.PutUint64(buf[20:], hb.Seq)
	binary.BigEndian.PutUint64(buf[28:], hb.Applied)
	binary.BigEndian.PutUint64(buf[36:], hb.Hears)
	for g := range hb.Claims {
		for _, w := range hb.Claims[g] {
			buf = binary.BigEndian.AppendUint64(buf, w)
		}
	}
	if t := hb.Target; t != nil {
		buf = binary.BigEndian.AppendUint64(buf, t.Epoch)
		for g := range t.Owners {
			buf = append(buf, t.Owners[g][:]...)
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(buf)
	return mac.Sum(buf), nil
}

// RejectReason says why a Verifier refused a packet.
type RejectReason uint8

const (
	RejectTruncated        RejectReason = iota // shorter than its header or than its groups need
	RejectOversized                            // longer than MaxHeartbeatLen
	RejectNotHeartbeat                         // wrong magic: not a vipfarm heartbeat
	RejectWrongVersion                         // a format version this node does not speak
	RejectWrongCluster                         // another cluster's key (cluster id differs)
	RejectUnknownSender                        // sender index not in cluster.xml
	RejectUnknownLAN                           // LAN index not in <farm>
	RejectMalformed                            // authenticated but inconsistent (flags, state, owners, trailing bytes)
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

// Decode checks and parses one received packet. On success it returns the
// heartbeat and the LAN index the sender stamped; otherwise a *RejectError.
func (v *Verifier) Decode(pkt []byte) (hb *Heartbeat, lan int, err error) {
	if len(pkt) < wireHeaderLen+wireMACLen {
		return v.reject(RejectTruncated, "%d bytes, a heartbeat has at least %d", len(pkt), wireHeaderLen+wireMACLen)
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
	flags, lan, sender, ng := pkt[3], int(pkt[8]), int(pkt[9]), int(pkt[11])
	if sender >= v.nodes {
		return v.reject(RejectUnknownSender, "sender index %d, cluster has %d nodes", sender, v.nodes)
	}
	if lan >= v.lans {
		return v.reject(RejectUnknownLAN, "LAN index %d from node %d, farm has %d LANs", lan, sender, v.lans)
	}
	if ng > MaxWireGroups {
		return v.reject(RejectMalformed, "%d groups from node %d, at most %d", ng, sender, MaxWireGroups)
	}
	want := wireHeaderLen + 32*ng + wireMACLen
	if flags&flagTarget != 0 {
		want += 8 + Buckets*ng
	}
	if len(pkt) < want {
		return v.reject(RejectTruncated, "%d bytes from node %d, its %d groups need %d", len(pkt), sender, ng, want)
	}
	if len(pkt) > want {
		return v.reject(RejectMalformed, "%d bytes from node %d, its %d groups need %d", len(pkt), sender, ng, want)
	}
	body := pkt[:want-wireMACLen]
	v.mac.Reset()
	v.mac.Write(body)
	if !hmac.Equal(v.mac.Sum(v.sum[:0]), pkt[want-wireMACLen:]) {
		return v.reject(RejectForged, "bad HMAC on a heartbeat claiming node %d, LAN %d", sender, lan)
	}
	// Authenticated from here on.
	if flags&^flagsKnown != 0 {
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
		Hears:       binary.BigEndian.Uint64(pkt[36:]),
		Claims:      make([]Bitmap, ng),
	}
	off := wireHeaderLen
	for g := range hb.Claims {
		for w := range hb.Claims[g] {
			hb.Claims[g][w] = binary.BigEndian.Uint64(pkt[off:])
			off += 8
		}
	}
	if flags&flagTarget != 0 {
		t := &Target{Epoch: binary.BigEndian.Uint64(pkt[off:]), Owners: make([][Buckets]uint8, ng)}
		off += 8
		for g := range t.Owners {
			copy(t.Owners[g][:], pkt[off:off+Buckets])
			for b, o := range t.Owners[g] {
				if o != NoOwner && int(o) >= v.nodes {
					return v.reject(RejectMalformed, "node %d target epoch %d group %d bucket %d: owner %d out of range", sender, t.Epoch, g, b, o)
				}
			}
			off += Buckets
		}
		hb.Target = t
	}
	*rs = replayState{seen: true, inc: inc, seq: seq}
	return hb, lan, nil
}
