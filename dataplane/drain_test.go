package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// drainTables: every bucket of group 0 moved from node prev to node owner,
// drain running for an hour; this node is self.
func drainTables(self, owner, prev uint8, vips ...netip.Addr) *model.Tables {
	tb := &model.Tables{
		Self: self, Mode: model.Alias, VIPs: vips,
		Rules: []model.Rule{{Proto: model.ProtoTCP, Port: 9010, Filter: model.OnAddr}},
		MACs:  [][6]byte{macA, macB, macC},
	}
	var own, pv [model.Buckets]uint8
	var until [model.Buckets]uint64
	for b := range own {
		own[b], pv[b], until[b] = owner, prev, MonotonicNs()+3600e9
	}
	tb.Owners, tb.Prev, tb.DrainUntil = [][model.Buckets]uint8{own}, [][model.Buckets]uint8{pv}, [][model.Buckets]uint64{until}
	return tb
}

// TestDrainRuleModelRealSockets checks the drain rule's socket lookup on real
// sockets: in a fresh netns the VIP and a client address sit on lo, a client
// connection to the VIP is established, and frames of that 4-tuple (found),
// of an unknown tuple and of a tuple that only matches the LISTEN socket (not
// found) go through the program and the model with the matching SocketFound.
func TestDrainRuleModelRealSockets(t *testing.T) {
	d := loadDP(t)
	inFreshNetns(t, func() {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			t.Fatalf("lo: %v", err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			t.Fatalf("lo up: %v", err)
		}
		cases := []struct{ vip, client string }{
			{"198.18.0.100", "198.18.1.5"},
			{"2001:2::100", "2001:2::5"}, // RFC 5180 benchmarking range, inside the netns only
		}
		for _, c := range cases {
			vip, cli := netip.MustParseAddr(c.vip), netip.MustParseAddr(c.client)
			for _, a := range []netip.Addr{vip, cli} {
				bits := 32
				if a.Is6() {
					bits = 128
				}
				addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}, Flags: unix.IFA_F_NODAD}
				if err := netlink.AddrAdd(lo, addr); err != nil {
					t.Fatalf("add %s to lo: %v", a, err)
				}
			}
			ln, err := net.Listen("tcp", netip.AddrPortFrom(vip, 9010).String())
			if err != nil {
				t.Fatalf("listen: %v", err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				conn, err := ln.Accept()
				if err == nil {
					accepted <- conn
				}
				close(accepted)
			}()
			dialer := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(cli, 0))}
			// A fresh IPv6 address can be briefly unroutable while the kernel
			// installs its local route: retry for a while.
			var conn net.Conn
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				conn, err = dialer.Dial("tcp", netip.AddrPortFrom(vip, 9010).String())
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("dial: %v", err)
				}
			}
			defer conn.Close()
			if sc, ok := <-accepted; ok {
				defer sc.Close()
			}
			est := netip.MustParseAddrPort(conn.LocalAddr().String())
			est = netip.AddrPortFrom(est.Addr().Unmap(), est.Port())
			unknown := netip.AddrPortFrom(cli, est.Port()+1)
			vipPort := netip.AddrPortFrom(vip, 9010)
			cliMAC := model.FrameOpts{SrcMAC: macCli, DstMAC: macA}

			frames := []struct {
				name  string
				src   netip.AddrPort
				flags uint8
				found bool
			}{
				{"established ACK", est, model.FlagACK, true},
				{"established FIN", est, model.FlagFIN | model.FlagACK, true},
				{"unknown ACK (only the listener matches)", unknown, model.FlagACK, false},
				{"new SYN", unknown, model.FlagSYN, false},
			}
			for _, role := range []struct {
				name string
				tb   *model.Tables
			}{
				{"new owner", drainTables(1, 1, 0, vip)},
				{"previous owner", drainTables(0, 1, 0, vip)},
				{"third node", drainTables(2, 1, 0, vip)},
			} {
				if err := d.Configure(role.tb); err != nil {
					t.Fatal(err)
				}
				for _, f := range frames {
					frame := model.TCPFrame(cliMAC, f.src, vipPort, f.flags)
					md := model.Decide(frame, role.tb, model.Env{NowNs: MonotonicNs(), SocketFound: f.found})
					kv, out := runFrame(t, d.Program(), frame)
					if err := compareRun(frame, md, kv, out); err != nil {
						t.Errorf("%s, %s, %s: %v", c.vip, role.name, f.name, err)
					}
					t.Logf("%s, %s, %s: %v/%v target %d lookup %v", c.vip, role.name, f.name, md.Verdict, md.Reason, md.Target, md.LookedUp)
				}
			}
			// The decisive cases, spelled out: the new owner keeps its own
			// connections, hands back the unknown, and the previous owner keeps its own.
			newOwner, prevOwner := drainTables(1, 1, 0, vip), drainTables(0, 1, 0, vip)
			ack := model.TCPFrame(cliMAC, unknown, vipPort, model.FlagACK)
			if md := model.Decide(ack, newOwner, model.Env{NowNs: MonotonicNs()}); md.Verdict != model.Tx || md.Target != 0 {
				t.Errorf("%s: new owner must hand an unknown ACK to the previous owner: %+v", c.vip, md)
			}
			ack = model.TCPFrame(cliMAC, est, vipPort, model.FlagACK)
			if md := model.Decide(ack, prevOwner, model.Env{NowNs: MonotonicNs(), SocketFound: true}); md.Verdict != model.Pass {
				t.Errorf("%s: previous owner must keep its connection: %+v", c.vip, md)
			}
		}
	})
}
