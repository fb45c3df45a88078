package netlab

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/vipfarm/vipfarm/internal/namedns"
)

// NSPath is the bind-mount path of the named namespace.
func NSPath(name string) string { return namedns.Path(name) }

// InNS runs fn with the calling OS thread inside the named namespace.
// Sockets fn creates stay in that namespace after it returns; fn must not
// start goroutines that expect to run there.
func InNS(name string, fn func() error) error { return namedns.In(name, fn) }

// DialContext connects from inside the named namespace, optionally from the
// local address laddr (nil: the kernel chooses). The socket is created on a
// thread inside the namespace; connecting then proceeds normally.
func DialContext(ctx context.Context, ns, network, addr string, laddr net.Addr) (net.Conn, error) {
	var conn net.Conn
	err := InNS(ns, func() error {
		// Only socket(2) must run inside the namespace; with a literal
		// address the dialer creates it on this goroutine (no parallel
		// fallback dials). The connect may then block: the socket already
		// belongs to the namespace.
		d := net.Dialer{LocalAddr: laddr}
		c, err := d.DialContext(ctx, network, addr)
		conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from netns %s: %w", network, addr, ns, err)
	}
	return conn, nil
}

// ListenPacket opens a packet socket inside the named namespace.
func ListenPacket(ns, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := InNS(ns, func() error {
		c, err := net.ListenPacket(network, addr)
		pc = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in netns %s: %w", network, addr, ns, err)
	}
	return pc, nil
}

// Listen opens a stream listener inside the named namespace.
func Listen(ns, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := InNS(ns, func() error {
		c, err := net.Listen(network, addr)
		l = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in netns %s: %w", network, addr, ns, err)
	}
	return l, nil
}

// writeSysctl writes a /proc/sys value inside the named namespace (the
// net.* sysctls are per namespace, chosen by the opening thread's).
func writeSysctl(ns, key, value string) error {
	path := "/proc/sys/" + filepathFromKey(key)
	return InNS(ns, func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s in netns %s: %w", key, value, ns, err)
		}
		return nil
	})
}

func filepathFromKey(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '.' {
			b[i] = '/'
		}
	}
	return string(b)
}
