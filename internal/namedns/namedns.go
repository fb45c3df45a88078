// Package namedns makes, enters and removes named network namespaces the
// way iproute2's `ip netns` does — bind mounts under /run/netns — without
// iproute2, which a fresh machine may lack. The lab (netlab) and the test
// helpers (internal/nstest) share it, so both agree on where namespaces live
// and on the thread discipline entering one needs.
package namedns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named namespaces are bind-mounted, as `ip netns` does, so a
// human can still `ip netns exec NAME …` into a lab or a test's namespace.
const Dir = "/run/netns"

// Path is the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// EnsureDir makes Dir a shared mount point of its own, exactly as
// `ip netns add` does before its first namespace. Done before ours, it keeps
// a later `ip netns add` (anyone's) from stacking a fresh bind mount on Dir,
// which would hide our namespace mounts beneath it and make them impossible
// to unmount by path.
func EnsureDir() error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", Dir, err)
	}
	share := func() error { return unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "") }
	err := share()
	if errors.Is(err, unix.EINVAL) { // not a mount point yet: make it one
		if err = unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s on itself: %w", Dir, err)
		}
		err = share()
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount point: %w", Dir, err)
	}
	return nil
}

// Create makes the named namespace and returns a handle on it (the caller
// closes it). netns.NewNamed moves the calling thread into the new
// namespace, so it runs on a locked thread that is switched back.
func Create(name string) (netns.NsHandle, error) {
	var h netns.NsHandle
	err := OnLockedThread(func() (err error) {
		h, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}

// Remove unmounts and removes a named namespace; a missing one is fine.
// The kernel frees the namespace (and the veths in it) once no process and
// no open handle refers to it any more.
func Remove(name string) error {
	p := Path(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete netns %s: unmount %s: %w", name, p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("delete netns %s: %w: its mount is hidden under a mount stacked on %s after it was made (see /proc/self/mountinfo); unmount that one when no namespace is under it and try again", name, err, Dir)
		}
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// Exists says whether the named namespace is mounted.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}

// OnLockedThread runs fn on a fresh goroutine locked to its OS thread and
// puts that thread back in its namespace afterwards. If that fails the
// thread stays locked, so the Go runtime discards it with the goroutine
// instead of reusing a thread left in a foreign namespace.
func OnLockedThread(fn func() error) error {
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

// In runs fn on a thread inside the named namespace. Sockets fn creates stay
// in that namespace after it returns, and a process fn starts (exec.Cmd.Start
// forks from this thread) lives in it; goroutines fn starts do not run there.
func In(name string, fn func() error) error {
	return OnLockedThread(func() error {
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

// HandleAt returns a netlink handle whose sockets live in the named
// namespace: netlink calls through it need no thread switching.
func HandleAt(name string) (*netlink.Handle, error) {
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
