package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultSocket is the control socket of a farmd run with the default state
// directory; with --state DIR the socket is DIR/farmd.sock.
const DefaultSocket = "/run/vipfarm/farmd.sock"

// SocketPath picks the socket farmctl talks to: an explicit path, else
// $SAFEVAR/farmd.sock when farmctl runs from a module script (SAFEVAR is
// in the scripts' clean environment), else DefaultSocket.
func SocketPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if v := os.Getenv("SAFEVAR"); v != "" {
		p := filepath.Join(v, "farmd.sock")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return DefaultSocket
}

// Call sends one request to the socket at path and returns the response.
// A response with OK false is returned as an error too.
func Call(path string, req Request, timeout time.Duration) (Response, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return Response{}, fmt.Errorf("farmd control socket %s: %w (is farmd running? are you root?)", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return Response{}, fmt.Errorf("farmd control socket: send: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("farmd control socket: reply: %w", err)
	}
	if !resp.OK {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}
