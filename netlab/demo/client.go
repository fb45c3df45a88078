package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ReadName reads the one-line answer of the server on c.
func ReadName(c net.Conn, timeout time.Duration) (string, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	line, err := bufio.NewReaderSize(c, maxLineBytes).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("demo: read answer from %s: %w", c.RemoteAddr(), err)
	}
	name := strings.TrimSuffix(line, "\n")
	if name == "" {
		return "", errors.New("demo: empty answer")
	}
	return name, nil
}

// AskUDP sends one datagram on c (a connected UDP socket) and returns the
// name in the answer.
func AskUDP(ctx context.Context, c net.Conn, timeout time.Duration) (string, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if _, err := c.Write([]byte("who\n")); err != nil {
		return "", fmt.Errorf("demo: send to %s: %w", c.RemoteAddr(), err)
	}
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return "", fmt.Errorf("demo: answer from %s: %w", c.RemoteAddr(), err)
	}
	name := strings.TrimSuffix(string(buf[:n]), "\n")
	if name == "" {
		return "", errors.New("demo: empty answer")
	}
	return name, nil
}
