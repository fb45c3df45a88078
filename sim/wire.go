package sim

import (
	"encoding/binary"

	"github.com/vipfarm/vipfarm/core"
)

// wireCodec round-trips every heartbeat through the real wire format
// (core.EncodeHeartbeat, core.Verifier.Decode) with a cluster key drawn from
// the seed, so the codec, its HMAC and its replay window are exercised end to
// end: a duplicated datagram must be rejected, a reordered older one too.
type wireCodec struct {
	key      []byte
	nodes    int
	rejected uint64
}

func newWireCodec(seed uint64, nodes int) (*wireCodec, error) {
	r := newRNG(subSeed(seed, "cluster-key"))
	key := make([]byte, 32)
	for i := 0; i < len(key); i += 8 {
		binary.LittleEndian.PutUint64(key[i:], r.next())
	}
	return &wireCodec{key: key, nodes: nodes}, nil
}

// encode serializes hb as sent on farm LAN lan; nil when the core emitted
// a heartbeat the codec refuses (the caller reports it).
func (c *wireCodec) encode(lan int, hb *core.Heartbeat) []byte {
	b, err := core.EncodeHeartbeat(c.key, lan, hb)
	if err != nil {
		return nil
	}
	return b
}

func (c *wireCodec) newVerifier(lans int) *core.Verifier {
	v, err := core.NewVerifier(c.key, c.nodes, lans)
	if err != nil {
		return nil
	}
	return v
}

// decode authenticates a datagram for node n; false when rejected.
func (c *wireCodec) decode(n *simNode, pkt []byte, lan int) (*core.Heartbeat, bool) {
	if n.verifier == nil {
		return nil, false
	}
	hb, got, err := n.verifier.Decode(pkt)
	if err != nil || got != lan {
		c.rejected++
		return nil, false
	}
	return hb, true
}
