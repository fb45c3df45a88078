// Package demo is the lab's demo service: the application a farm module
// starts on every node (`farmlab serve --name NODE`). It answers every TCP
// connection and every UDP datagram on the VIP port with the name of the
// node that served it, one line each, so a client can tell which node its
// packets reached:
//
//	TCP: on connect the server sends "NAME\n"; then every line the client
//	     sends is answered with "NAME\n" until the client closes. A client
//	     that keeps the connection and sends a line now and then is the
//	     long-lived connection of the planned-stop benchmark: an error on
//	     it means the connection was reset.
//	UDP: every datagram is answered with "NAME\n" to its sender.
package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// maxLineBytes bounds a client line; a longer one ends the connection.
const maxLineBytes = 4096

// Server answers with Name on the listeners it serves.
type Server struct {
	Name string
	// IdleTimeout closes a TCP connection that sent nothing for that long;
	// 0 = never (long-lived connections).
	IdleTimeout time.Duration
}

// Serve answers on tcp (may be nil) and on every udp socket until ctx ends,
// then closes them and every open connection, and returns nil; it returns an
// error only when a listener fails on its own. Give one UDP socket per
// family ("udp4" and "udp6"): each answer leaves from the address its
// datagram was sent to (the VIP), which a dual-stack socket cannot promise
// for IPv4.
func (s Server) Serve(ctx context.Context, tcp net.Listener, udp ...net.PacketConn) error {
	if s.Name == "" {
		return errors.New("demo: empty node name")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1+len(udp))
	n := 0
	if tcp != nil {
		n++
		wg.Go(func() { errc <- s.serveTCP(ctx, tcp) })
	}
	for _, pc := range udp {
		n++
		wg.Go(func() { errc <- s.serveUDP(ctx, pc) })
	}
	go func() {
		<-ctx.Done()
		if tcp != nil {
			tcp.Close()
		}
		for _, pc := range udp {
			pc.Close()
		}
	}()
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	wg.Wait()
	return first
}

func (s Server) serveTCP(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	go func() {
		<-ctx.Done()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("demo: accept on %s: %w", l.Addr(), err)
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			return nil
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			s.answer(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		})
	}
}

// answer greets a connection and answers each of its lines.
func (s Server) answer(c net.Conn) {
	line := []byte(s.Name + "\n")
	if _, err := c.Write(line); err != nil {
		return
	}
	r := bufio.NewReaderSize(c, maxLineBytes)
	for {
		if s.IdleTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		}
		_, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			return // a reset, a timeout or an over-long line: done either way
		}
		if _, err := c.Write(line); err != nil {
			return
		}
	}
}

// udpReplier reads datagrams with their destination address and answers
// from that address. A socket bound to the wildcard address would
// otherwise answer from the route's preferred source (the node's own
// address), and a client that sent to the VIP drops such an answer.
type udpReplier interface {
	read(buf []byte) (n int, from net.Addr, dst net.IP, err error)
	reply(b []byte, to net.Addr, src net.IP) error
}

type v4Replier struct{ c *ipv4.PacketConn }

func (r v4Replier) read(buf []byte) (int, net.Addr, net.IP, error) {
	n, cm, from, err := r.c.ReadFrom(buf)
	var dst net.IP
	if cm != nil {
		dst = cm.Dst
	}
	return n, from, dst, err
}

func (r v4Replier) reply(b []byte, to net.Addr, src net.IP) error {
	var cm *ipv4.ControlMessage
	if src != nil {
		cm = &ipv4.ControlMessage{Src: src}
	}
	_, err := r.c.WriteTo(b, cm, to)
	return err
}

type v6Replier struct{ c *ipv6.PacketConn }

func (r v6Replier) read(buf []byte) (int, net.Addr, net.IP, error) {
	n, cm, from, err := r.c.ReadFrom(buf)
	var dst net.IP
	if cm != nil {
		dst = cm.Dst
	}
	return n, from, dst, err
}

func (r v6Replier) reply(b []byte, to net.Addr, src net.IP) error {
	var cm *ipv6.ControlMessage
	if src != nil {
		cm = &ipv6.ControlMessage{Src: src}
	}
	_, err := r.c.WriteTo(b, cm, to)
	return err
}

func newReplier(pc net.PacketConn) (udpReplier, error) {
	la, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("demo: %T is not a UDP socket", pc)
	}
	if la.IP.To4() != nil {
		c := ipv4.NewPacketConn(pc)
		if err := c.SetControlMessage(ipv4.FlagDst, true); err != nil {
			return nil, fmt.Errorf("demo: IP_PKTINFO on %s: %w", la, err)
		}
		return v4Replier{c}, nil
	}
	c := ipv6.NewPacketConn(pc)
	if err := c.SetControlMessage(ipv6.FlagDst, true); err != nil {
		return nil, fmt.Errorf("demo: IPV6_RECVPKTINFO on %s: %w", la, err)
	}
	return v6Replier{c}, nil
}

func (s Server) serveUDP(ctx context.Context, pc net.PacketConn) error {
	r, err := newReplier(pc)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	line := []byte(s.Name + "\n")
	for {
		_, from, dst, err := r.read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo: read on %s: %w", pc.LocalAddr(), err)
		}
		// A lost answer is the client's to retry, as with any UDP service.
		_ = r.reply(line, from, dst)
	}
}
