package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vipfarm/vipfarm/netlab"
)

// probesFromPorts sends n probes of proto from client's own address, each
// from a new source port (the kernel picks an ephemeral port per socket),
// and counts the answers per node; unanswered probes count under "".
func probesFromPorts(lb *netlab.Lab, client, proto string, n int) map[string]int {
	GinkgoHelper()
	c, err := lb.Client(client)
	Expect(err).NotTo(HaveOccurred())
	dst := netip.AddrPortFrom(lb.Plan.VIP, uint16(lb.Plan.Spec.ServicePort))
	per := map[string]int{}
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var p netlab.Probe
		if proto == "udp" {
			p = lb.ProbeUDP(ctx, c, c.Addr, dst, time.Second)
		} else {
			p = lb.ProbeTCP(ctx, c, c.Addr, dst, time.Second)
		}
		cancel()
		per[p.Node]++
	}
	return per
}

var _ = Describe("a farm whose rules hash on_port, and its removal", Ordered, func() {
	var l lab

	BeforeAll(func() {
		l = lab{state: filepath.Join(GinkgoT().TempDir(), "lab")}
		_, _ = l.try("down")
		l.farmlab("up", "--nodes", "2", "--clients", "1", "--sources", "4", "--lans", "default", "--filter", "on_port", "--timeout", "60s")
		DeferCleanup(func() { _, _ = l.try("down") }) // the last spec downs it; this is for a failure before
	})

	for _, proto := range []string{"udp", "tcp"} {
		It(fmt.Sprintf("spreads one client's %s flows from different source ports over both nodes", proto), func() {
			lb := l.open()
			// Start only once the farm is balanced and stable: a bucket
			// moving under the probes would make them fail for the
			// wrong reason.
			Eventually(func() []int {
				var b []int
				for _, n := range l.status().Nodes {
					b = append(b, n.Buckets)
				}
				return b
			}).WithTimeout(20 * time.Second).Should(Equal([]int{128, 128}))
			var per map[string]int
			// 40 source ports all on one node would happen by chance once
			// in 2^39 runs; a few unanswered probes on a loaded machine
			// are retried as a whole.
			Eventually(func() map[string]int {
				per = probesFromPorts(lb, "client1", proto, 40)
				return per
			}).WithTimeout(40*time.Second).Should(And(
				HaveKeyWithValue("node1", BeNumerically(">", 0)),
				HaveKeyWithValue("node2", BeNumerically(">", 0)),
				Not(HaveKey("")),
			), "answers per node of 40 %s probes from one address", proto)
			AddReportEntry("on_port: one client address, 40 source ports, "+proto, per)
		})
	}

	It("farmlab down leaves nothing behind: no namespace, no process, no state", func() {
		lb := l.open()
		procs, err := netlab.LabProcs(lb.Plan)
		Expect(err).NotTo(HaveOccurred())
		Expect(procs).NotTo(BeEmpty(), "the lab runs farmd and the demo services")
		l.farmlab("down")
		left, _ := filepath.Glob("/run/netns/" + prefix + "*")
		Expect(left).To(BeEmpty(), "namespaces left by farmlab down")
		for _, p := range procs {
			Expect(p.Alive()).To(BeFalse(), "process %d (%s) survived farmlab down", p.PID, p.Role)
		}
		// No process anywhere still runs from the lab's files.
		ents, err := os.ReadDir("/proc")
		Expect(err).NotTo(HaveOccurred())
		for _, e := range ents {
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && bytes.Contains(cmdline, []byte(l.state)) {
				Fail(fmt.Sprintf("process %s still runs from the lab: %q", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
		}
		_, err = os.Stat(l.state)
		Expect(os.IsNotExist(err)).To(BeTrue(), "state directory %s left by farmlab down (%v)", l.state, err)
		// And down is idempotent: a second one finds nothing and succeeds.
		l.farmlab("down")
	})
})
