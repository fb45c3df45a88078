package netlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces are bind-mounted, as `ip netns` does,
// so `ip netns exec vf-node1 ...` works on a lab for a human debugging it.
const netnsDir = "/run/netns"

// NSPath is the bind-mount path of the named namespace.
func NSPath(name string) string { return filepath.Join(netnsDir, name) }

// ensureNetnsDir makes /run/netns a shared mount point of its own, exactly
// as iproute2's `ip netns add` does. Done before our first namespace, it
// keeps a later `ip netns add` (anyone's) from stacking a fresh bind mount
// on /run/netns, which would hide our namespace mounts beneath it and make
// them impossible to unmount by path.
func ensureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s on itself: %w", netnsDir, err)
		}
		err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", netnsDir, err)
	}
	return nil
}

// createNS makes a named network namespace. netns.NewNamed switches the
// calling thread into the new namespace, so it runs on a locked thread that
// is switched back before it is unlocked.
func createNS(name string) error {
	return onLockedThread(func() error {
		if _, err := netns.NewNamed(name); err != nil {
			return fmt.Errorf("create netns %s: %w", name, err)
		}
		return nil
	})
}

// deleteNS unmounts and removes a named namespace; a missing one is fine.
// The kernel frees the namespace (and the veths in it) once no process and
// no open handle refers to it any more.
func deleteNS(name string) error {
	p := NSPath(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete netns %s: unmount %s: %w", name, p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("delete netns %s: %w: its mount is hidden under a mount stacked on %s after it was made (see /proc/self/mountinfo); unmount that one when no namespace is under it and run down again", name, err, netnsDir)
		}
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// nsExists says whether the named namespace is mounted.
func nsExists(name string) bool {
	_, err := os.Stat(NSPath(name))
	return err == nil
}

// onLockedThread runs fn on a goroutine locked to its OS thread and restores
// that thread's network namespace afterwards. If the namespace cannot be
// restored the thread is left locked, so the Go runtime discards it with the
// goroutine instead of reusing a thread in the wrong namespace.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return // thread stays locked: discarded
		}
		defer orig.Close()
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// InNS runs fn with the calling OS thread inside the named namespace.
// Sockets fn creates stay in that namespace after it returns; fn must not
// start goroutines that expect to run there.
func InNS(name string, fn func() error) error {
	return onLockedThread(func() error {
		h, err := netns.GetFromName(name)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", name, err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return fmt.Errorf("enter netns %s: %w", name, err)
		}
		return fn()
	})
}

// handleAt returns a netlink handle whose sockets live in the named
// namespace: netlink calls through it need no thread switching.
func handleAt(name string) (*netlink.Handle, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	return h, nil
}

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
