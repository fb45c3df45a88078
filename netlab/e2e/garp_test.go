package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/netlab"
)

// arpFrame is one ARP frame seen on the wire.
type arpFrame struct {
	At       time.Time
	Op       uint16
	SHA      net.HardwareAddr
	SPA, TPA netip.Addr
}

// gratuitous: an announcement of the sender's own address (RFC 5227 §3:
// request or reply with sender and target protocol addresses equal).
func (f arpFrame) gratuitous() bool { return f.SPA == f.TPA }

// arpCapture reads every ARP frame arriving on an interface of a
// namespace through an AF_PACKET socket, as tcpdump on the client would.
type arpCapture struct {
	fd     int
	mu     sync.Mutex
	frames []arpFrame
	done   chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// captureARP opens the socket inside ns (a socket stays in the namespace
// it was made in) and reads in the background until Close.
func captureARP(ns, ifname string) (*arpCapture, error) {
	c := &arpCapture{fd: -1, done: make(chan struct{})}
	err := netlab.InNS(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to %s: %w", ifname, err)
		}
		// A read timeout, so the reader notices Close.
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	go c.read(c.fd)
	return c, nil
}

func (c *arpCapture) read(fd int) {
	defer close(c.done)
	buf := make([]byte, 1600)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			c.mu.Lock()
			closed := c.fd < 0
			c.mu.Unlock()
			if closed {
				return
			}
			continue
		}
		if err != nil {
			return // closed
		}
		if f, ok := parseARP(buf[:n]); ok {
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
		}
	}
}

// parseARP reads an Ethernet/IPv4 ARP frame.
func parseARP(b []byte) (arpFrame, bool) {
	const eth = 14
	if len(b) < eth+28 || binary.BigEndian.Uint16(b[12:14]) != unix.ETH_P_ARP {
		return arpFrame{}, false
	}
	a := b[eth:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != unix.ETH_P_IP || a[4] != 6 || a[5] != 4 {
		return arpFrame{}, false
	}
	return arpFrame{
		At:  time.Now(),
		Op:  binary.BigEndian.Uint16(a[6:8]),
		SHA: net.HardwareAddr(bytes.Clone(a[8:14])),
		SPA: netip.AddrFrom4([4]byte(a[14:18])),
		TPA: netip.AddrFrom4([4]byte(a[24:28])),
	}, true
}

// Frames returns what was captured so far.
func (c *arpCapture) Frames() []arpFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]arpFrame(nil), c.frames...)
}

// Close stops the capture.
func (c *arpCapture) Close() {
	c.mu.Lock()
	fd := c.fd
	c.fd = -1
	c.mu.Unlock()
	<-c.done // the reader wakes within its read timeout
	unix.Close(fd)
}

// holderSpecs are the Its of the ARP holder's takeover, run inside the
// three-node farm's ordered container.
func holderSpecs(l *lab) {
	It("hands the VIP to a new ARP holder, which announces it with a gratuitous ARP the client sees", func() {
		lb := l.open()
		victim := ""
		for _, n := range lb.Plan.Nodes {
			if l.isARPHolder(n.Name) {
				victim = n.Name
			}
		}
		Expect(victim).NotTo(BeEmpty(), "no ARP holder among the nodes")
		client := lb.Plan.Clients[0]
		capt, err := captureARP(client.NS, client.Iface)
		Expect(err).NotTo(HaveOccurred())
		defer capt.Close()
		vip := lb.Plan.VIP
		start := time.Now()
		l.farmlab("do", "crash "+victim)

		// A survivor takes the VIP over ...
		var holder string
		Eventually(func() string {
			holder = ""
			for _, n := range lb.Plan.Nodes {
				if n.Name != victim && l.isARPHolder(n.Name) {
					holder = n.Name
				}
			}
			return holder
		}).WithTimeout(15 * time.Second).WithPolling(100 * time.Millisecond).ShouldNot(BeEmpty())
		h, _ := lb.Plan.NodeByName(holder)
		holderMAC, err := net.ParseMAC(h.MACs[0])
		Expect(err).NotTo(HaveOccurred())
		// ... and the client's wire carries its announcement of the VIP.
		var garp arpFrame
		Eventually(func() bool {
			for _, f := range capt.Frames() {
				if f.gratuitous() && f.SPA == vip && bytes.Equal(f.SHA, holderMAC) {
					garp = f
					return true
				}
			}
			return false
		}).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(),
			"no gratuitous ARP for %v from the new holder %s (%v); frames seen: %v", vip, holder, holderMAC, capt.Frames())
		AddReportEntry(fmt.Sprintf("ARP holder %s crashed: gratuitous ARP from %s after", victim, holder), garp.At.Sub(start).String())
		// The clients are served again, none by the dead node.
		Eventually(func() int {
			sw := l.sweep("tcp")
			return sw.Failed + sw.PerNode[victim]
		}).WithTimeout(15 * time.Second).WithPolling(200 * time.Millisecond).Should(BeZero())
		l.farmlab("do", "start "+victim)
		l.waitBalanced()
	})
}
