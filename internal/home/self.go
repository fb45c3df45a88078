package home

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vipfarm/vipfarm/core/config"
)

// Self names this node: explicit when given (it must be in cluster.xml),
// else the one node whose address on some LAN is a local address. Zero or
// several matches are errors naming the candidates.
func Self(c *config.Cluster, explicit string, local []netip.Addr) (string, error) {
	if explicit != "" {
		if !slices.Contains(c.Nodes, explicit) {
			return "", fmt.Errorf("--node %s: not in cluster.xml (nodes: %s)", explicit, strings.Join(c.Nodes, " "))
		}
		return explicit, nil
	}
	var found []string
	for i, n := range c.Nodes {
		for _, lan := range c.LANs {
			if i < len(lan.Addrs) && slices.Contains(local, lan.Addrs[i].Unmap()) {
				if !slices.Contains(found, n) {
					found = append(found, n)
				}
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no address of cluster.xml is local to this host; give --node NAME")
	}
	return "", fmt.Errorf("local addresses match several nodes (%s); give --node NAME", strings.Join(found, " "))
}

// LocalAddrs lists the addresses configured on this host's interfaces.
func LocalAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("local addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}
