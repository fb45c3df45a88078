package transport

import (
	"errors"
	"sync"

	"github.com/vipfarm/vipfarm/core"
)

// CoreCodec is the core's wire codec as a Codec. The Verifier keeps
// replay state and is not safe for concurrent use; every LAN's reader goes
// through the mutex.
type CoreCodec struct {
	key []byte
	mu  sync.Mutex
	v   *core.Verifier
}

// NewCoreCodec returns the codec of a cluster of nodes nodes whose module
// uses lans LANs, authenticated with key.
func NewCoreCodec(key []byte, nodes, lans int) (*CoreCodec, error) {
	v, err := core.NewVerifier(key, nodes, lans)
	if err != nil {
		return nil, err
	}
	return &CoreCodec{key: key, v: v}, nil
}

// Encode stamps hb for LAN lan and authenticates it.
func (c *CoreCodec) Encode(lan int, hb *core.Heartbeat) ([]byte, error) {
	return core.EncodeHeartbeat(c.key, lan, hb)
}

// Decode authenticates and parses a received packet.
func (c *CoreCodec) Decode(pkt []byte) (*core.Heartbeat, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v.Decode(pkt)
}

// Reason is the core's reject reason of a Decode error.
func (c *CoreCodec) Reason(err error) string {
	var re *core.RejectError
	if errors.As(err, &re) {
		return re.Reason.String()
	}
	return "error"
}
