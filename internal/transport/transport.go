package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vipfarm/vipfarm/core"
)

// Codec encodes and authenticates heartbeats (the core's wire codec).
// Decode must be safe for concurrent use (every LAN reads on its own
// goroutine).
type Codec interface {
	Encode(lan int, hb *core.Heartbeat) ([]byte, error)
	// Decode authenticates pkt and returns the heartbeat and the LAN index
	// the sender addressed it to.
	Decode(pkt []byte) (*core.Heartbeat, int, error)
	// Reason names a Decode error for counting (forged, replay, ...).
	Reason(err error) string
}

// Reasons counted by the transport itself, beside the codec's.
const (
	ReasonWrongLAN = "wrong_lan" // authenticated for another LAN than the socket's
	ReasonSource   = "source"    // not sent from the sender's address on this LAN
	ReasonSelf     = "self"      // claims to come from this node
	ReasonOverflow = "overflow"  // the module's event queue was full
)

// LAN is one LAN of the module's <farm>.
type LAN struct {
	Name  string
	Local netip.AddrPort   // this node's address and the module's port
	Peers []netip.AddrPort // indexed like Cluster.Nodes; invalid at this node's index
}

// Counter receives the transport's counts (metrics and the JSON API).
type Counter interface {
	Sent(lan string)
	Received(lan string)
	Rejected(lan, reason string)
}

// Transport is a module's set of heartbeat sockets.
type Transport struct {
	lans    []LAN
	conns   []*net.UDPConn
	codec   Codec
	self    int
	deliver func(core.Recv) bool // false: queue full
	count   Counter
	log     *slog.Logger
	wg      sync.WaitGroup

	errMu   sync.Mutex
	lastErr map[string]time.Time // rate limit of send error logs per peer
}

// MaxDatagram bounds a heartbeat: the wire format's own maximum.
const MaxDatagram = core.MaxHeartbeatLen

// Open binds one socket per LAN and starts reading. deliver is called from
// the reading goroutines with every accepted heartbeat.
func Open(lans []LAN, self int, codec Codec, deliver func(core.Recv) bool, count Counter, log *slog.Logger) (*Transport, error) {
	t := &Transport{lans: lans, codec: codec, self: self, deliver: deliver, count: count, log: log, lastErr: map[string]time.Time{}}
	for i, l := range lans {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(l.Local))
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("heartbeat socket on LAN %s (%s): %w", l.Name, l.Local, err)
		}
		_ = c.SetReadBuffer(1 << 20)
		t.conns = append(t.conns, c)
		t.wg.Add(1)
		go t.read(i, c)
	}
	return t, nil
}

// Send sends o on its LAN, or on every LAN when o.LAN < 0, to every peer.
func (t *Transport) Send(o core.Outgoing) {
	if o.LAN >= len(t.lans) {
		t.log.Error("heartbeat for an unknown LAN index", "lan", o.LAN)
		return
	}
	for i := range t.lans {
		if o.LAN >= 0 && i != o.LAN {
			continue
		}
		pkt, err := t.codec.Encode(i, o.Msg)
		if err != nil {
			t.log.Error("encode heartbeat", "lan", t.lans[i].Name, "err", err)
			continue
		}
		for n, p := range t.lans[i].Peers {
			if n == t.self || !p.IsValid() {
				continue
			}
			if _, err := t.conns[i].WriteToUDPAddrPort(pkt, p); err != nil {
				t.sendError(t.lans[i].Name, p, err)
				continue
			}
			t.count.Sent(t.lans[i].Name)
		}
	}
}

// sendError logs a failed send at most every 10 s per peer: a dead LAN
// fails every pulse and must not flood the log.
func (t *Transport) sendError(lan string, p netip.AddrPort, err error) {
	k := lan + " " + p.String()
	t.errMu.Lock()
	last, seen := t.lastErr[k]
	now := time.Now()
	if !seen || now.Sub(last) > 10*time.Second {
		t.lastErr[k] = now
		t.errMu.Unlock()
		t.log.Warn("heartbeat send failed", "lan", lan, "peer", p, "err", err)
		return
	}
	t.errMu.Unlock()
}

func (t *Transport) read(i int, c *net.UDPConn) {
	defer t.wg.Done()
	buf := make([]byte, MaxDatagram+1)
	lan := t.lans[i]
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("heartbeat read", "lan", lan.Name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if reason := t.accept(i, buf[:n], src); reason != "" {
			t.count.Rejected(lan.Name, reason)
		}
	}
}

// accept checks one datagram received on LAN i; it returns the reject
// reason, or "" when the heartbeat went to the core.
func (t *Transport) accept(i int, pkt []byte, src netip.AddrPort) string {
	if len(pkt) > MaxDatagram {
		return core.RejectOversized.String()
	}
	hb, lan, err := t.codec.Decode(pkt)
	if err != nil {
		return t.codec.Reason(err)
	}
	if lan != i {
		return ReasonWrongLAN
	}
	s := int(hb.Sender)
	if s == t.self {
		return ReasonSelf
	}
	peers := t.lans[i].Peers
	if s >= len(peers) || peers[s].Addr() != src.Addr().Unmap() {
		return ReasonSource
	}
	if !t.deliver(core.Recv{LAN: i, Msg: hb}) {
		return ReasonOverflow
	}
	t.count.Received(t.lans[i].Name)
	return ""
}

// Close closes the sockets and waits for the readers.
func (t *Transport) Close() {
	for _, c := range t.conns {
		c.Close()
	}
	t.wg.Wait()
}
