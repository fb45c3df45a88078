package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The bulk transfer of the throughput benchmark: a sink listening in a
// node's namespace (in this process, on a thread inside that namespace) and
// a client connection from a client namespace that writes a fixed number of
// bytes.
//
//	sink → client:  "vipfarm-sink NODE\n"   (who got the connection)
//	client → sink:  N bytes, then a half close
//	sink → client:  "RECEIVED\n"            (bytes read before EOF)
//
// The client times from its first byte to the sink's count, so the figure
// covers delivery of every byte, not just the copy into the socket buffer.

const sinkGreeting = "vipfarm-sink "

// bulkBufBytes is the size of one write and one read: large enough that the
// syscalls cost little next to the path under test.
const bulkBufBytes = 256 << 10

// sink accepts bulk transfers in a node's namespace until closed.
type sink struct {
	node string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startSink(n Node, port int) (*sink, error) {
	// Plain TCP, not Go's default MPTCP for listeners: an MPTCP socket
	// cannot go into a sockmap (the steering), and its fallback for plain
	// TCP clients would add its own cost to every read.
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	addr := netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)).String()
	var ln net.Listener
	err := InNS(n.NS, func() error {
		var err error
		ln, err = lc.Listen(context.Background(), "tcp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench sink on %s: listen %s in netns %s: %w", n.Name, addr, n.NS, err)
	}
	s := &sink{node: n.Name, ln: ln}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *sink) accept() {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		conns.Go(func() {
			defer c.Close()
			s.serve(c)
		})
	}
}

func (s *sink) serve(c net.Conn) {
	if _, err := io.WriteString(c, sinkGreeting+s.node+"\n"); err != nil {
		return
	}
	buf := make([]byte, bulkBufBytes)
	var n int64
	for {
		// A stalled client must not hold the sink forever.
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		k, err := c.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return // the client sees its transfer fail
		}
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, strconv.FormatInt(n, 10)+"\n")
}

func (s *sink) close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// bulkResult is one transfer.
type bulkResult struct {
	Bytes    int64         // acknowledged by the sink
	Elapsed  time.Duration // first byte written → count received
	MbitPerS float64
}

// bulkSend connects from client c (source src, port srcPort; 0 = any) to
// dst, checks that the sink on wantNode answered, writes size bytes and
// waits for the sink's count, which must equal size.
func bulkSend(ctx context.Context, c Client, src netip.Addr, srcPort uint16, dst netip.AddrPort, wantNode string, size int64) (bulkResult, error) {
	var res bulkResult
	laddr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, srcPort))
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	conn, err := DialContext(dctx, c.NS, "tcp4", dst.String(), laddr)
	cancel()
	if err != nil {
		return res, err
	}
	defer conn.Close()
	// An interrupted bench must not wait for the transfer's deadline.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	// Bound the whole transfer: 256 MiB at a (very slow) 100 Mbit/s is 21 s.
	deadline := time.Now().Add(30*time.Second + time.Duration(size/(10<<20))*time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("bulk %s → %s: no sink greeting: %w", src, dst, err)
	}
	got, ok := strings.CutPrefix(strings.TrimSpace(line), sinkGreeting)
	if !ok {
		return res, fmt.Errorf("bulk %s → %s: answered by %q, not the bench sink (the flow reached a node without it: not the intended owner)", src, dst, strings.TrimSpace(line))
	}
	if got != wantNode {
		return res, fmt.Errorf("bulk %s → %s: the sink on %s answered, want %s", src, dst, got, wantNode)
	}
	buf := make([]byte, bulkBufBytes)
	for i := range buf {
		buf[i] = byte(i) // not all zeros: nothing on the path may shortcut them
	}
	start := time.Now()
	left := size
	for left > 0 {
		chunk := buf
		if left < int64(len(chunk)) {
			chunk = chunk[:left]
		}
		k, err := conn.Write(chunk)
		left -= int64(k)
		if err != nil {
			return res, fmt.Errorf("bulk %s → %s: write after %d of %d bytes: %w", src, dst, size-left, size, err)
		}
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return res, fmt.Errorf("bulk %s → %s: half close: %w", src, dst, err)
	}
	line, err = r.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("bulk %s → %s: no count from the sink: %w", src, dst, err)
	}
	res.Elapsed = time.Since(start)
	res.Bytes, err = strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return res, fmt.Errorf("bulk %s → %s: sink count %q: %w", src, dst, strings.TrimSpace(line), err)
	}
	if res.Bytes != size {
		return res, fmt.Errorf("bulk %s → %s: the sink received %d bytes of %d", src, dst, res.Bytes, size)
	}
	res.MbitPerS = float64(size) * 8 / res.Elapsed.Seconds() / 1e6
	return res, nil
}
