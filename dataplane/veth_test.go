package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket is a raw AF_PACKET socket bound to one interface.
func packetSocket(t *testing.T, ifindex int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("packet socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		t.Fatalf("bind packet socket: %v", err)
	}
	tv := unix.Timeval{Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return fd
}

// receiveIncoming waits up to 2 s for a frame arriving on fd (not one we
// sent) that matches keep.
func receiveIncoming(fd int, keep func([]byte) bool) []byte {
	buf := make([]byte, 2048)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if keep(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	return nil
}

// TestVethForwardModel attaches the program in driver mode to one end of a
// veth and the pass-only program to the other, injects client frames on the
// switch side and checks that the frame of another node's bucket comes back
// rewritten exactly as the model says (XDP_TX), and that the counters agree.
func TestVethForwardModel(t *testing.T) {
	needRoot(t)
	inFreshNetns(t, func() {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vf-h4-n"}, PeerName: "vf-h4-s"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Fatalf("add veth: %v", err)
		}
		n, err := netlink.LinkByName("vf-h4-n")
		if err != nil {
			t.Fatal(err)
		}
		s, err := netlink.LinkByName("vf-h4-s")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []netlink.Link{n, s} {
			if err := netlink.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
		self := [6]byte(n.Attrs().HardwareAddr)
		tb := drainTables(0, 1, model.NoOwner, vip4)
		tb.MACs = [][6]byte{self, macB}
		tb.ARPHolder = true
		half := ownedBy(1)
		for b := 0; b < model.Buckets; b += 2 {
			half[b] = 0
		}
		tb.Owners[0] = half

		d, err := Load(Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if err := d.Configure(tb); err != nil {
			t.Fatal(err)
		}
		if err := d.Attach(n.Attrs().Index, false); err != nil {
			t.Fatal(err)
		}
		p, err := AttachPassOnly(s.Attrs().Index, false)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()

		fd := packetSocket(t, s.Attrs().Index)
		want := map[int]model.Counts{}
		sent := 0
		for i := 1; i <= 40; i++ {
			cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), uint16(30000+i))
			f := model.TCPFrame(model.FrameOpts{SrcMAC: macCli, DstMAC: self}, cli, netip.AddrPortFrom(vip4, 9010), model.FlagSYN)
			md := model.Decide(f, tb, model.Env{NowNs: MonotonicNs()})
			if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: s.Attrs().Index, Halen: 6, Addr: [8]byte(append(self[:], 0, 0))}); err != nil {
				t.Fatalf("send: %v", err)
			}
			sent++
			c := want[slotOf(md)]
			c.Add(md.Reason)
			want[slotOf(md)] = c
			if md.Verdict != model.Tx {
				continue
			}
			got := receiveIncoming(fd, func(b []byte) bool { return len(b) >= len(f) && string(b[12:len(f)]) == string(f[12:]) })
			if got == nil {
				t.Fatalf("client %v: the forwarded frame never came back on the switch side", cli)
			}
			if string(got[:len(f)]) != string(md.Out) {
				t.Fatalf("client %v: forwarded frame\n got %x\nwant %x", cli, got[:len(f)], md.Out)
			}
		}
		// The veth's NAPI poll may run a little after the last send (softirq,
		// ksoftirqd under load): wait for the counters to settle.
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			err := compareCounters(d, want, 1)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
		c, _ := d.Counters()
		if c.Total.Forwarded == 0 || c.Total.Accepted == 0 {
			t.Fatalf("expected both forwarded and accepted frames among %d: %+v", sent, c.Total)
		}
		t.Logf("%d frames: %+v", sent, c.Total)
	})
}
