package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The heartbeat wire format, version 2. Big-endian, followed by an
// HMAC-SHA256 of everything before it under the cluster key:
//
//	off len  field
//	  0   2  magic "VF"
//	  2   1  version (WireVersion)
//	  3   1  flags: 1 ready, 2 member, 4 leaving, 8 target present, 16 target in nibbles
//	  4   4  cluster id: first 4 bytes of SHA-256("vipfarm cluster id\x00" || key)
//	  8   1  LAN index (in <farm>)
//	  9   1  sender node index
//	 10   1  module state
//	 11   1  number of groups G (≤ MaxWireGroups)
//	 12   8  incarnation
//	 20   8  sequence
//	 28   8  applied epoch
//	 36   1  number of LANs H of the hears rows
//	 37   1  number of relay entries R (< MaxNodes)
//	 38  8H  hears: per LAN, the node set heard on it
//	         the sender's claims block
//	         if target present: 8 epoch, then per group the 256 owners: one byte
//	         each, or (flag 16) two per byte, high nibble first, 15 = NoOwner
//	         R relay entries, ascending node, never the sender:
//	           1 node, 1 state, 1 flags (1 ready, 2 member, 4 leaving),
//	           8 incarnation, 8 sequence, 8 applied, 8H hears, claims block
//	     32  HMAC-SHA256
//
// A claims block is one mode byte per group, then 32 bytes for each group of
// mode 2: 0 = claims nothing, 1 = claims exactly what the heartbeat's target
// gives that node (the steady state: no bitmap at all), 2 = the 256-bit
// bitmap (4 big-endian words, bucket 0 = bit 0 of word 0). The encoder picks
// the first mode that fits and owners in nibbles whenever they fit, and the
// decoder refuses any other choice, so every accepted packet has exactly one
// encoding. A farm of 8 nodes on 2 LANs with 4 groups sends ~940 bytes in
// the steady state (docs/membership.md has the table).
//
// The cluster id lets a receiver tell a heartbeat of another cluster (another
// key) from a forgery, without revealing the key.

// MaxWireGroups bounds the load-balancing groups a heartbeat carries.
const MaxWireGroups = 32

const (
	wireHeaderLen   = 38 // without the hears rows
	wireEntryLen    = 27 // a relay entry without its hears rows and claims block
	wireMACLen      = sha256.Size
	wireMinLen      = wireHeaderLen + wireMACLen
	nibbleNoOwner   = 0xF
	claimsNone      = 0
	claimsAsTarget  = 1
	claimsBitmap    = 2
	bitmapWireBytes = Buckets / 8
	// MaxHeartbeatLen is the largest heartbeat this format allows, the size
	// of the daemon's receive buffer. A node trims its relay to stay below it
	// (only conceivable with dozens of nodes and groups), and the encoder
	// refuses anything longer.
	MaxHeartbeatLen = 16 << 10
)

const (
	flagReady   = 1 << 0
	flagMember  = 1 << 1
	flagLeaving = 1 << 2
	flagTarget  = 1 << 3
	flagNibbles = 1 << 4
	flagsKnown  = flagReady | flagMember | flagLeaving | flagTarget | flagNibbles
	entryFlags  = flagReady | flagMember | flagLeaving
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

func stateFlags(ready, member, leaving bool) byte {
	var f byte
	if ready {
		f |= flagReady
	}
	if member {
		f |= flagMember
	}
	if leaving {
		f |= flagLeaving
	}
	return f
}

// claimsMode is how a claims block carries c, the claims of node in group g,
// under target t (nil when none).
func claimsMode(c *Bitmap, t *Target, g, node int) byte {
	if c.Empty() {
		return claimsNone
	}
	if t != nil && *c == ownedBy(&t.Owners[g], node) {
		return claimsAsTarget
	}
	return claimsBitmap
}

// nibblesFit reports whether every owner of t fits in a nibble.
func nibblesFit(t *Target) bool {
	for g := range t.Owners {
		for _, o := range t.Owners[g] {
			if o >= nibbleNoOwner && o != NoOwner {
				return false
			}
		}
	}
	return true
}

// wireLenBound is an upper bound of hb's encoded length that costs nothing
// to compute: every claim as a bitmap, owners in bytes.
func wireLenBound(hb *Heartbeat) int {
	ng, rows := len(hb.Claims), 8*len(hb.Hears)
	n := wireMinLen + rows + ng*(1+bitmapWireBytes) + len(hb.Relay)*(wireEntryLen+rows+ng*(1+bitmapWireBytes))
	if hb.Target != nil {
		n += 8 + ng*Buckets
	}
	return n
}

// wireLen is hb's exact encoded length (hb already validated).
func wireLen(hb *Heartbeat) int {
	ng, rows := len(hb.Claims), 8*len(hb.Hears)
	t := hb.Target
	n := wireMinLen + rows + ng + len(hb.Relay)*(wireEntryLen+rows+ng)
	for g := range hb.Claims {
		if claimsMode(&hb.Claims[g], t, g, int(hb.Sender)) == claimsBitmap {
			n += bitmapWireBytes
		}
	}
	if t != nil {
		n += 8 + ng*Buckets
		if nibblesFit(t) {
			n -= ng * Buckets / 2
		}
	}
	for i := range hb.Relay {
		e := &hb.Relay[i]
		for g := range e.Claims {
			if claimsMode(&e.Claims[g], t, g, int(e.Node)) == claimsBitmap {
				n += bitmapWireBytes
			}
		}
	}
	return n
}

// validateForWire checks what the format cannot carry.
func validateForWire(hb *Heartbeat) error {
	ng := len(hb.Claims)
	switch {
	case hb.Version != 0 && hb.Version != WireVersion:
		return fmt.Errorf("version %d, this encoder writes %d", hb.Version, WireVersion)
	case hb.State > StateUp:
		return fmt.Errorf("invalid module state %d", hb.State)
	case int(hb.Sender) >= MaxNodes:
		return fmt.Errorf("sender index %d, at most %d", hb.Sender, MaxNodes-1)
	case ng > MaxWireGroups:
		return fmt.Errorf("%d groups, at most %d", ng, MaxWireGroups)
	case hb.Target != nil && len(hb.Target.Owners) != ng:
		return fmt.Errorf("target has %d groups, claims %d", len(hb.Target.Owners), ng)
	case len(hb.Hears) > 0xFF:
		return fmt.Errorf("hears on %d LANs, at most 255", len(hb.Hears))
	case len(hb.Relay) >= MaxNodes:
		return fmt.Errorf("%d relay entries, at most %d", len(hb.Relay), MaxNodes-1)
	}
	prev := -1
	for i := range hb.Relay {
		e := &hb.Relay[i]
		switch {
		case int(e.Node) >= MaxNodes || int(e.Node) <= prev:
			return fmt.Errorf("relay entry %d: node %d not in ascending order below %d", i, e.Node, MaxNodes)
		case e.Node == hb.Sender:
			return fmt.Errorf("relay entry %d: the sender %d itself", i, e.Node)
		case e.State > StateUp:
			return fmt.Errorf("relay entry %d (node %d): invalid module state %d", i, e.Node, e.State)
		case len(e.Claims) != ng:
			return fmt.Errorf("relay entry %d (node %d): %d groups, the heartbeat has %d", i, e.Node, len(e.Claims), ng)
		case len(e.Hears) != len(hb.Hears):
			return fmt.Errorf("relay entry %d (node %d): hears on %d LANs, the heartbeat on %d", i, e.Node, len(e.Hears), len(hb.Hears))
		}
		prev = int(e.Node)
	}
	return nil
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
	}
	if err := validateForWire(hb); err != nil {
		return nil, fmt.Errorf("core: encode heartbeat of node %d: %w", hb.Sender, err)
	}
	n := wireLen(hb)
	if n > MaxHeartbeatLen {
		return nil, fmt.Errorf("core: encode heartbeat of node %d: %d bytes (%d groups, %d relay entries), at most %d",
			hb.Sender, n, len(hb.Claims), len(hb.Relay), MaxHeartbeatLen)
	}
	ng := len(hb.Claims)
	t := hb.Target
	flags := stateFlags(hb.Ready, hb.Member, hb.Leaving)
	nibbles := t != nil && nibblesFit(t)
	if t != nil {
		flags |= flagTarget
	}
	if nibbles {
		flags |= flagNibbles
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
	buf[36] = byte(len(hb.Hears))
	buf[37] = byte(len(hb.Relay))
	for _, r := range hb.Hears {
		buf = binary.BigEndian.AppendUint64(buf, r)
	}
	buf = appendClaims(buf, hb.Claims, t, int(hb.Sender))
	if t != nil {
		buf = binary.BigEndian.AppendUint64(buf, t.Epoch)
		for g := range t.Owners {
			if !nibbles {
				buf = append(buf, t.Owners[g][:]...)
				continue
			}
			for b := 0; b < Buckets; b += 2 {
				buf = append(buf, nibble(t.Owners[g][b])<<4|nibble(t.Owners[g][b+1]))
			}
		}
	}
	for i := range hb.Relay {
		e := &hb.Relay[i]
		buf = append(buf, e.Node, byte(e.State), stateFlags(e.Ready, e.Member, e.Leaving))
		buf = binary.BigEndian.AppendUint64(buf, e.Incarnation)
		buf = binary.BigEndian.AppendUint64(buf, e.Seq)
		buf = binary.BigEndian.AppendUint64(buf, e.Applied)
		for _, r := range e.Hears {
			buf = binary.BigEndian.AppendUint64(buf, r)
		}
		buf = appendClaims(buf, e.Claims, t, int(e.Node))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(buf)
	return mac.Sum(buf), nil
}

func nibble(o uint8) byte {
	if o == NoOwner {
		return nibbleNoOwner
	}
	return o
}

// appendClaims writes the claims block of node under target t.
func appendClaims(buf []byte, claims []Bitmap, t *Target, node int) []byte {
	modes := len(buf)
	for g := range claims {
		buf = append(buf, claimsMode(&claims[g], t, g, node))
	}
	for g := range claims {
		if buf[modes+g] != claimsBitmap {
			continue
		}
		for _, w := range claims[g] {
			buf = binary.BigEndian.AppendUint64(buf, w)
		}
	}
	return buf
}
