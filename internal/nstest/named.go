package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"unsafe"

	"github.com/vipfarm/vipfarm/internal/namedns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Named is a named network namespace made for a test, with a netlink
// handle whose socket lives in it: links, addresses and neighbours are
// managed through NL without switching any thread. It is built without
// iproute2, which a fresh CI machine may lack.
type Named struct {
	Name string
	NL   *netlink.Handle
	fd   netns.NsHandle
}

// NewNamed makes the named namespace (removing a leftover of a crashed
// run first), brings its lo up and removes it when the test ends. Links in
// it go with it once no process and no handle refers to it any more.
func NewNamed(t testing.TB, name string) *Named {
	t.Helper()
	if err := RemoveNamed(name); err != nil {
		t.Fatal(err)
	}
	if err := namedns.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	fd, err := namedns.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		fd.Close()
		RemoveNamed(name)
		t.Fatalf("netlink handle in netns %s: %v", name, err)
	}
	n := &Named{Name: name, NL: h, fd: fd}
	t.Cleanup(func() {
		h.Close()
		fd.Close()
		if err := RemoveNamed(name); err != nil {
			t.Error(err)
		}
	})
	n.Up(t, "lo")
	return n
}

// RemoveNamed unmounts and removes a named namespace; a missing one is
// fine.
func RemoveNamed(name string) error { return namedns.Remove(name) }

// In runs fn on a thread inside the named namespace. Sockets fn makes
// stay in that namespace after it returns; goroutines fn starts do not run
// there.
func In(name string, fn func() error) error { return namedns.In(name, fn) }

// Do runs fn on a thread inside n (see In).
func (n *Named) Do(fn func() error) error { return In(n.Name, fn) }

// Start starts cmd as a process of namespace n: the fork happens on a
// thread inside n and the child inherits its namespace, as with
// `ip netns exec` (without its private /sys, which no caller reads).
func (n *Named) Start(cmd *exec.Cmd) error {
	if err := n.Do(cmd.Start); err != nil {
		return fmt.Errorf("start %s in netns %s: %w", cmd.Path, n.Name, err)
	}
	return nil
}

// Link returns the link called dev in n or fails the test.
func (n *Named) Link(t testing.TB, dev string) netlink.Link {
	t.Helper()
	l, err := n.NL.LinkByName(dev)
	if err != nil {
		t.Fatalf("netns %s: link %s: %v", n.Name, dev, err)
	}
	return l
}

// Up brings dev up or fails the test.
func (n *Named) Up(t testing.TB, dev string) {
	t.Helper()
	if err := n.NL.LinkSetUp(n.Link(t, dev)); err != nil {
		t.Fatalf("netns %s: set %s up: %v", n.Name, dev, err)
	}
}

// Down takes dev down (a pulled cable) or fails the test.
func (n *Named) Down(t testing.TB, dev string) {
	t.Helper()
	if err := n.NL.LinkSetDown(n.Link(t, dev)); err != nil {
		t.Fatalf("netns %s: set %s down: %v", n.Name, dev, err)
	}
}

// AddBridge makes an up bridge named br; mcastSnooping false makes it
// flood multicast (IPv6 NS and NA) to every port.
func (n *Named) AddBridge(t testing.TB, br string, mcastSnooping bool) {
	t.Helper()
	if err := n.NL.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}, MulticastSnooping: &mcastSnooping}); err != nil {
		t.Fatalf("netns %s: add bridge %s: %v", n.Name, br, err)
	}
	n.Up(t, br)
}

// AddVeth makes a veth pair, dev in n and peerDev in peer, both down.
func (n *Named) AddVeth(t testing.TB, dev string, peer *Named, peerDev string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: dev}, PeerName: peerDev, PeerNamespace: netlink.NsFd(peer.fd)}
	if err := n.NL.LinkAdd(v); err != nil {
		t.Fatalf("netns %s: add veth %s (peer %s in %s): %v", n.Name, dev, peerDev, peer.Name, err)
	}
}

// SetMaster enslaves dev to the bridge br.
func (n *Named) SetMaster(t testing.TB, dev, br string) {
	t.Helper()
	if err := n.NL.LinkSetMaster(n.Link(t, dev), n.Link(t, br)); err != nil {
		t.Fatalf("netns %s: set %s master %s: %v", n.Name, dev, br, err)
	}
}

// SetMAC sets the hardware address of dev.
func (n *Named) SetMAC(t testing.TB, dev string, mac net.HardwareAddr) {
	t.Helper()
	if err := n.NL.LinkSetHardwareAddr(n.Link(t, dev), mac); err != nil {
		t.Fatalf("netns %s: set %s address %s: %v", n.Name, dev, mac, err)
	}
}

// AddAddr adds cidr to dev. IPv6 addresses skip duplicate address
// detection (`nodad`): lab addresses are unique by construction, and DAD
// would keep them tentative, unusable, for a second or more.
func (n *Named) AddAddr(t testing.TB, dev, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatalf("netns %s: address %q: %v", n.Name, cidr, err)
	}
	if a.IP.To4() == nil {
		a.Flags |= unix.IFA_F_NODAD
	}
	if err := n.NL.AddrAdd(n.Link(t, dev), a); err != nil {
		t.Fatalf("netns %s: add %s to %s: %v", n.Name, cidr, dev, err)
	}
}

// Addrs lists the addresses of dev ("" = of every link) with their
// prefix lengths, as `ip addr show` does.
func (n *Named) Addrs(t testing.TB, dev string) []netip.Prefix {
	t.Helper()
	var l netlink.Link
	if dev != "" {
		l = n.Link(t, dev)
	}
	as, err := n.NL.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("netns %s: addresses of %q: %v", n.Name, dev, err)
	}
	var out []netip.Prefix
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			t.Fatalf("netns %s: address %v of %q", n.Name, a.IP, dev)
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out
}

// Legacy ethtool commands (linux/ethtool.h): STXCSUM with 0 clears every
// tx checksum feature bit (and TSO with them), as `ethtool -K DEV tx off`.
const (
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

// TxChecksumOff is `ethtool -K dev tx off` in n, by the SIOCETHTOOL ioctl.
// Labs turn it off on client veths: a locally built packet on a veth
// carries a partial checksum, which an XDP_TX forward loses (NOTES.md).
func (n *Named) TxChecksumOff(dev string) error {
	_, err := n.ethtoolValue(dev, ethtoolSTXCSUM, 0)
	return err
}

// ethtoolValue runs one SIOCETHTOOL get or set of a struct ethtool_value
// on dev in n and returns the value the kernel left in it.
func (n *Named) ethtoolValue(dev string, cmd, data uint32) (uint32, error) {
	if len(dev) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("ethtool %#x on %q: interface name too long", cmd, dev)
	}
	v := struct{ cmd, data uint32 }{cmd, data}
	err := n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer unix.Close(fd)
		var ifr struct { // struct ifreq with ifr_data: 40 bytes on 64-bit
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [24 - unsafe.Sizeof(uintptr(0))]byte
		}
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&v)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ethtool %#x on %s in netns %s: %w", cmd, dev, n.Name, err)
	}
	return v.data, nil
}
