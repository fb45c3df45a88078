package demo

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, s Server) (tcpAddr string, port int) {
	t.Helper()
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = tl.Addr().(*net.TCPAddr).Port
	u4, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Skipf("UDP port %d taken: %v", port, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, tl, u4) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return tl.Addr().String(), port
}

func TestTCPGreetsAndAnswersEveryLine(t *testing.T) {
	addr, _ := startServer(t, Server{Name: "node7"})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if name, err := ReadName(c, 2*time.Second); name != "node7" || err != nil {
		t.Fatalf("greeting %q %v", name, err)
	}
	// Long-lived use: every line gets an answer on the same connection.
	for i := range 3 {
		if _, err := fmt.Fprintf(c, "ping %d\n", i); err != nil {
			t.Fatal(err)
		}
		if name, err := ReadName(c, 2*time.Second); name != "node7" || err != nil {
			t.Fatalf("answer %d: %q %v", i, name, err)
		}
	}
}

// The answer must leave from the address the datagram was sent to: a
// wildcard socket asked on 127.0.0.2 would otherwise answer from 127.0.0.1
// and a connected client (like one talking to a VIP) would never see it.
func TestUDPAnswersFromTheAddressAsked(t *testing.T) {
	_, port := startServer(t, Server{Name: "node3"})
	for _, dst := range []string{"127.0.0.1", "127.0.0.2"} {
		c, err := net.Dial("udp4", net.JoinHostPort(dst, fmt.Sprint(port)))
		if err != nil {
			t.Fatal(err)
		}
		name, err := AskUDP(context.Background(), c, 2*time.Second)
		c.Close()
		if name != "node3" || err != nil {
			t.Errorf("UDP to %s: %q %v", dst, name, err)
		}
	}
}

func TestShutdownClosesConnections(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (Server{Name: "n"}).Serve(ctx, tl) }()
	c, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := ReadName(c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := ReadName(c, 2*time.Second); err == nil {
		t.Error("the connection is still open after shutdown")
	}
}

func TestBadInput(t *testing.T) {
	if err := (Server{}).Serve(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "name") {
		t.Errorf("empty name: %v", err)
	}
	// An over-long line ends the connection instead of growing a buffer.
	addr, _ := startServer(t, Server{Name: "x"})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := ReadName(c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte(strings.Repeat("a", 3*maxLineBytes)))
	if _, err := ReadName(c, 2*time.Second); err == nil {
		t.Error("an over-long line got an answer")
	}
}
