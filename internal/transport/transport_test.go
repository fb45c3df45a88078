package transport

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vipfarm/vipfarm/core"
)

type count struct {
	mu         sync.Mutex
	sent, recv map[string]int
	rejected   map[string]int // "lan reason"
}

func newCount() *count {
	return &count{sent: map[string]int{}, recv: map[string]int{}, rejected: map[string]int{}}
}
func (c *count) Sent(l string)     { c.mu.Lock(); c.sent[l]++; c.mu.Unlock() }
func (c *count) Received(l string) { c.mu.Lock(); c.recv[l]++; c.mu.Unlock() }
func (c *count) Rejected(l, r string) {
	c.mu.Lock()
	c.rejected[l+" "+r]++
	c.mu.Unlock()
}
func (c *count) get(m map[string]int, k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[k]
}

var key = []byte("0123456789abcdef0123456789abcdef")

// freePort finds a UDP port free on both loopback addresses used.
func freePort(t *testing.T) uint16 {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

type pair struct {
	a, b   *Transport
	bRecv  chan core.Recv
	bCount *count
	port   uint16
	lans   [2][]LAN
}

// newPair builds node 0 on 127.0.0.1 and node 1 on 127.0.0.2, two LANs
// (two ports stand in for two LANs on loopback).
func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{bRecv: make(chan core.Recv, 64), bCount: newCount()}
	a0, a1 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	for lan, name := range []string{"default", "private"} {
		port := freePort(t)
		for self, addr := range []netip.Addr{a0, a1} {
			peers := []netip.AddrPort{netip.AddrPortFrom(a0, port), netip.AddrPortFrom(a1, port)}
			peers[self] = netip.AddrPort{}
			p.lans[self] = append(p.lans[self], LAN{Name: name, Local: netip.AddrPortFrom(addr, port), Peers: peers})
		}
		if lan == 0 {
			p.port = port
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ca, _ := NewCoreCodec(key, 2, 2)
	cb, _ := NewCoreCodec(key, 2, 2)
	var err error
	if p.a, err = Open(p.lans[0], 0, ca, func(core.Recv) bool { return true }, newCount(), log); err != nil {
		t.Fatal(err)
	}
	if p.b, err = Open(p.lans[1], 1, cb, func(r core.Recv) bool { p.bRecv <- r; return true }, p.bCount, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

func hb(seq uint64) *core.Heartbeat {
	return &core.Heartbeat{Version: core.WireVersion, Sender: 0, Incarnation: 42, Seq: seq, State: core.StateUp, Ready: true}
}

func (p *pair) waitReject(t *testing.T, lanReason string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for p.bCount.get(p.bCount.rejected, lanReason) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q reject; counts %v", lanReason, p.bCount.rejected)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHeartbeatOnEveryLAN(t *testing.T) {
	p := newPair(t)
	p.a.Send(core.Outgoing{LAN: -1, Msg: hb(1)})
	seen := map[int]bool{}
	for range 2 {
		select {
		case r := <-p.bRecv:
			if r.Msg.Seq != 1 || r.Msg.Sender != 0 || r.Msg.Incarnation != 42 {
				t.Fatalf("got %+v", r.Msg)
			}
			seen[r.LAN] = true
		case <-time.After(3 * time.Second):
			t.Fatal("heartbeat not received")
		}
	}
	if !seen[0] || !seen[1] {
		t.Fatalf("LANs seen %v", seen)
	}
	if p.bCount.get(p.bCount.recv, "default") != 1 || p.bCount.get(p.bCount.recv, "private") != 1 {
		t.Errorf("received counts %v", p.bCount.recv)
	}
}

// sendRaw sends pkt to node 1's LAN-0 socket from addr.
func (p *pair) sendRaw(t *testing.T, from string, pkt []byte) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort(pkt, p.lans[1][0].Local); err != nil {
		t.Fatal(err)
	}
}

func TestForgedReplayedAndMisroutedRejected(t *testing.T) {
	p := newPair(t)
	good, err := core.EncodeHeartbeat(key, 0, hb(5))
	if err != nil {
		t.Fatal(err)
	}
	p.sendRaw(t, "127.0.0.1", good)
	select {
	case <-p.bRecv:
	case <-time.After(3 * time.Second):
		t.Fatal("genuine heartbeat not received")
	}
	// The same packet again: a replay.
	p.sendRaw(t, "127.0.0.1", good)
	p.waitReject(t, "default replayed", 1)

	// A flipped bit under the HMAC: a forgery.
	forged, _ := core.EncodeHeartbeat(key, 0, hb(6))
	forged[30] ^= 1
	p.sendRaw(t, "127.0.0.1", forged)
	p.waitReject(t, "default forged", 1)

	// Another cluster's key.
	other, _ := core.EncodeHeartbeat([]byte("another key, another cluster!!!"), 0, hb(7))
	p.sendRaw(t, "127.0.0.1", other)
	p.waitReject(t, "default wrong-cluster", 1)

	// Authenticated for LAN 1 but received on LAN 0's socket.
	lan1, _ := core.EncodeHeartbeat(key, 1, hb(8))
	p.sendRaw(t, "127.0.0.1", lan1)
	p.waitReject(t, "default "+ReasonWrongLAN, 1)

	// Genuine, but not from node 0's address on the LAN.
	moved, _ := core.EncodeHeartbeat(key, 0, hb(9))
	p.sendRaw(t, "127.0.0.3", moved)
	p.waitReject(t, "default "+ReasonSource, 1)

	// Garbage.
	p.sendRaw(t, "127.0.0.1", []byte("hello"))
	p.waitReject(t, "default truncated", 1)

	select {
	case r := <-p.bRecv:
		t.Fatalf("a rejected packet reached the core: %+v", r.Msg)
	case <-time.After(50 * time.Millisecond):
	}
	if n := p.bCount.get(p.bCount.recv, "default"); n != 1 {
		t.Errorf("accepted %d heartbeats, want 1", n)
	}
}

func TestOverflowCounted(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	port := freePort(t)
	lanB := []LAN{{Name: "default", Local: netip.MustParseAddrPort("127.0.0.2:" + itoa(port)),
		Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:" + itoa(port)), {}}}}
	c := newCount()
	cb, _ := NewCoreCodec(key, 2, 1)
	b, err := Open(lanB, 1, cb, func(core.Recv) bool { return false }, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pkt, _ := core.EncodeHeartbeat(key, 0, hb(1))
	s, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	defer s.Close()
	s.WriteToUDPAddrPort(pkt, lanB[0].Local)
	deadline := time.Now().Add(3 * time.Second)
	for c.get(c.rejected, "default "+ReasonOverflow) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("overflow not counted: %v", c.rejected)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}
