package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vipfarm/vipfarm/netlab"
)

// The admin interface is used the way a cloud load balancer or an operator
// would: over HTTP from a client namespace, to a node's admin address.

// open opens the suite's running lab.
func (l lab) open() *netlab.Lab {
	GinkgoHelper()
	lb, err := netlab.Open(l.state)
	Expect(err).NotTo(HaveOccurred())
	return lb
}

// httpFrom is an HTTP client whose connections start in namespace ns.
func httpFrom(ns string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return netlab.DialContext(ctx, ns, network, addr, nil)
			},
		},
	}
}

// reply is an HTTP status and body.
type reply struct {
	Code int
	Body string
}

func (r reply) String() string { return fmt.Sprintf("%d %q", r.Code, r.Body) }

// adminCall sends method to node's admin server from client1, with the
// bearer token tok ("" for none).
func (l lab) adminCall(method, node, path, tok string) (reply, error) {
	lb := l.open()
	n, ok := lb.Plan.NodeByName(node)
	Expect(ok).To(BeTrue(), node)
	req, err := http.NewRequest(method, lb.AdminURL(n)+path, nil)
	Expect(err).NotTo(HaveOccurred())
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := httpFrom(lb.Plan.Clients[0].NS).Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return reply{resp.StatusCode, strings.TrimSpace(string(b))}, err
}

// ready is GET /var/modules/AM/ready.txt on node.
func (l lab) ready(node string) reply {
	GinkgoHelper()
	r, err := l.adminCall(http.MethodGet, node, "/var/modules/AM/ready.txt", "")
	Expect(err).NotTo(HaveOccurred())
	return r
}

// token is the lab's admin token (every node shares it).
func (l lab) token(node string) string {
	GinkgoHelper()
	b, err := os.ReadFile(l.open().TokenPath(node))
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(string(b))
}

// nodeState is node's module state as its farmd reports it.
func (l lab) nodeState(node string) string {
	for _, n := range l.status().Nodes {
		if n.Name == node {
			return n.State
		}
	}
	return "?"
}

// waitBalanced waits until every node is UP with its third.
func (l lab) waitBalanced() {
	GinkgoHelper()
	Eventually(func() []int {
		var b []int
		for _, n := range l.status().Nodes {
			if n.State == "UP" {
				b = append(b, n.Buckets)
			}
		}
		return b
	}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(ConsistOf(
		BeNumerically("~", 85, 1), BeNumerically("~", 85, 1), BeNumerically("~", 85, 1)))
}

// adminSpecs are the Its of the admin interface, run inside the
// three-node farm's ordered container.
func adminSpecs(l *lab) {
	It("answers the health check: 200 OK on an UP node, 404 NOT FOUND on a stopped one", func() {
		Expect(l.ready("node1")).To(Equal(reply{200, "OK"}))
		l.farmlab("do", "stop node3")
		Eventually(func() string { return l.nodeState("node3") }).WithTimeout(10 * time.Second).Should(Equal("STOP"))
		Expect(l.ready("node3")).To(Equal(reply{404, "NOT FOUND"}))
		Expect(l.ready("node1")).To(Equal(reply{200, "OK"}), "the nodes that stay keep answering OK")
		l.farmlab("do", "start node3")
		Eventually(func() reply { return l.ready("node3") }).WithTimeout(10 * time.Second).Should(Equal(reply{200, "OK"}))
		l.waitBalanced()
	})

	It("accepts a mutating call only with the admin token", func() {
		const stop = "/api/v1/modules/AM/stop"
		for _, tok := range []string{"", "not-the-token", l.token("node2") + "x"} {
			r, err := l.adminCall(http.MethodPost, "node2", stop, tok)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Code).To(Equal(http.StatusUnauthorized), "POST %s with token %q: %v", stop, tok, r)
		}
		Expect(l.nodeState("node2")).To(Equal("UP"), "a refused call changed nothing")
		r, err := l.adminCall(http.MethodPost, "node2", stop, l.token("node2"))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Code/100).To(Equal(2), "POST %s with the token: %v", stop, r)
		Eventually(func() string { return l.nodeState("node2") }).WithTimeout(10 * time.Second).Should(Equal("STOP"))
		r, err = l.adminCall(http.MethodPost, "node2", "/api/v1/modules/AM/start", l.token("node2"))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Code/100).To(Equal(2), "start with the token: %v", r)
		l.waitBalanced()
	})
}
