// Package nstest runs a test body inside a fresh network namespace with a
// veth pair, for the packages that touch links, addresses and raw sockets.
// The body runs on one locked OS thread: everything it creates (netlink
// sockets, packet sockets, /proc/sys/net files) belongs to the namespace;
// goroutines it starts do not, so tests call synchronous APIs only.
//
// Named builds multi-namespace labs (bridges, veths across namespaces,
// addresses, processes started inside a namespace) through netlink and
// setns alone: tests never shell out to ip or ethtool.
package nstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Pair is a veth pair inside the test namespace, both ends up.
type Pair struct {
	A, B netlink.Link
}

// Run calls f in a new network namespace holding a veth pair named
// vf-h6-a/vf-h6-b; it skips the test when not root.
func Run(t *testing.T, f func(p Pair)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	runtime.LockOSThread()
	// The thread is left in its own namespace only if restoring fails; an
	// unlocked thread in a foreign namespace would be reused by Go, so the
	// thread stays locked (and dies with the goroutine) in that case.
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Skipf("cannot create a network namespace: %v", err)
	}
	defer ns.Close()
	defer func() {
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vf-h6-a"}, PeerName: "vf-h6-b"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	a, _ := netlink.LinkByName("vf-h6-a")
	b, _ := netlink.LinkByName("vf-h6-b")
	for _, l := range []netlink.Link{a, b} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	a, _ = netlink.LinkByName("vf-h6-a")
	b, _ = netlink.LinkByName("vf-h6-b")
	f(Pair{A: a, B: b})
}

// AddAddr adds cidr to l or fails the test.
func AddAddr(t *testing.T, l netlink.Link, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", cidr, l.Attrs().Name, err)
	}
}
