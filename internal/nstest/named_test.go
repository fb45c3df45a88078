package nstest

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/vipfarm/vipfarm/internal/namedns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestNamedLab builds a two-namespace lab the way the farmd tests do and
// checks each step through the kernel's own view: the mount, the bridge
// port, the MAC, addresses (IPv6 ones usable at once), the tx checksum
// feature, a process started inside, and the namespace gone afterwards.
func TestNamedLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	const swName, hostName = "vf-h14-sw", "vf-h14-host"
	t.Run("build", func(t *testing.T) {
		sw, host := NewNamed(t, swName), NewNamed(t, hostName)
		if _, err := os.Stat(namedns.Path(swName)); err != nil {
			t.Fatalf("no mount for %s: %v", swName, err)
		}
		if sw.Link(t, "lo").Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("lo of %s is down", swName)
		}
		sw.AddBridge(t, "br0", false)
		sw.AddVeth(t, "p0", host, "eth0")
		sw.SetMaster(t, "p0", "br0")
		sw.Up(t, "p0")
		if got, want := sw.Link(t, "p0").Attrs().MasterIndex, sw.Link(t, "br0").Attrs().Index; got != want {
			t.Errorf("p0 master index %d, want br0's %d", got, want)
		}
		br := sw.Link(t, "br0").(*netlink.Bridge)
		if br.MulticastSnooping == nil || *br.MulticastSnooping {
			t.Errorf("br0 multicast snooping %v, want off", br.MulticastSnooping)
		}
		mac := net.HardwareAddr{0x02, 0x14, 0, 0, 0, 1}
		host.SetMAC(t, "eth0", mac)
		host.AddAddr(t, "eth0", "198.18.140.1/24")
		host.AddAddr(t, "eth0", "fd00:198:18:14::1/64")
		host.Up(t, "eth0")
		if got := host.Link(t, "eth0").Attrs().HardwareAddr; got.String() != mac.String() {
			t.Errorf("eth0 MAC %s, want %s", got, mac)
		}
		all, eth0 := host.Addrs(t, ""), host.Addrs(t, "eth0")
		for _, want := range []string{"198.18.140.1/24", "fd00:198:18:14::1/64"} {
			if !slices.Contains(eth0, netip.MustParsePrefix(want)) {
				t.Errorf("eth0 addresses %v lack %s", eth0, want)
			}
		}
		if !slices.Contains(all, netip.MustParsePrefix("127.0.0.1/8")) || len(all) <= len(eth0) {
			t.Errorf("addresses of every link %v lack lo's (eth0 has %v)", all, eth0)
		}
		as, err := host.NL.AddrList(host.Link(t, "eth0"), netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.IP.Equal(net.ParseIP("fd00:198:18:14::1")) && a.Flags&unix.IFA_F_TENTATIVE != 0 {
				t.Errorf("IPv6 address still tentative (DAD not skipped): flags %#x", a.Flags)
			}
		}
		if v, err := host.ethtoolValue("eth0", ethtoolGTXCSUM, 0); err != nil || v == 0 {
			t.Fatalf("tx checksum before: %d %v, want on (a veth's default)", v, err)
		}
		if err := host.TxChecksumOff("eth0"); err != nil {
			t.Fatal(err)
		}
		if v, err := host.ethtoolValue("eth0", ethtoolGTXCSUM, 0); err != nil || v != 0 {
			t.Errorf("tx checksum after TxChecksumOff: %d %v, want off", v, err)
		}
		host.Down(t, "eth0")
		if host.Link(t, "eth0").Attrs().Flags&net.FlagUp != 0 {
			t.Errorf("eth0 still up after Down")
		}

		sleep, err := exec.LookPath("sleep")
		if err != nil {
			t.Skip("no sleep command to run inside the namespace")
		}
		cmd := exec.Command(sleep, "30")
		if err := host.Start(cmd); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		var child, want unix.Stat_t
		if err := unix.Stat(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "ns/net"), &child); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(namedns.Path(hostName), &want); err != nil {
			t.Fatal(err)
		}
		if child.Ino != want.Ino {
			t.Errorf("child's netns inode %d, want %s's %d", child.Ino, hostName, want.Ino)
		}
	})
	for _, n := range []string{swName, hostName} {
		if _, err := os.Stat(namedns.Path(n)); err == nil {
			t.Errorf("%s left behind after the test", n)
			RemoveNamed(n)
		}
	}
}
