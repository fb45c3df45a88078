package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// DefaultClusterPort is <lans port>'s default: SafeKit's base UDP port.
const DefaultClusterPort = 4800

// maxNodes bounds the nodes of a cluster: the dataplane's owner tables hold
// one byte per bucket (core.MaxNodes; config cannot import core).
const maxNodes = 64

// maxNameLen bounds node, LAN, group and checker names.
const maxNameLen = 64

// ParseCluster reads cluster.xml:
//
//	<cluster>
//	  <lans [port="4800"]>
//	    <lan name="default" [command="on"] [framework="on"]>
//	      <node name="node1" addr="198.18.0.11"/>  (one per node)
//	    </lan>  (one per LAN)
//	  </lans>
//	</cluster>
//
// Every LAN lists the same nodes, each with one address; Cluster.Nodes is in
// the order of the first LAN and every LAN's Addrs is indexed like it.
func ParseCluster(file string, data []byte) (*Cluster, error) {
	root, err := parseXML(file, data)
	if err != nil {
		return nil, err
	}
	p := &problems{file: file}
	c := &Cluster{Port: DefaultClusterPort}
	if root.name != "cluster" {
		p.errorf(root.line, "root element <%s>: want <cluster>", root.name)
		return nil, p.first()
	}
	p.attrs(root)
	kids := p.children(root, false, "lans")
	lans := p.single(root, kids, "lans")
	if lans == nil {
		p.errorf(root.line, "cluster: missing <lans>")
		return nil, p.first()
	}
	la := p.attrs(lans, "port")
	c.Port = la.intIn("port", DefaultClusterPort, 1, 65535)
	lanKids := p.children(lans, false, "lan")
	if len(lanKids["lan"]) == 0 {
		p.errorf(lans.line, "lans: no <lan>: want at least one")
	}

	type nodeAt struct {
		node, lan string
		line      int
	}
	byAddr := map[netip.Addr]nodeAt{}
	lanLine := map[string]int{}
	for li, le := range lanKids["lan"] {
		a := p.attrs(le, "name", "command", "framework")
		a.ignored("command", "framework")
		name, ok := a.req("name")
		if ok && !isName(name, maxNameLen) {
			a.bad("name", "want letters, digits, '.', '_' or '-'")
		}
		if l, dup := lanLine[name]; ok && dup {
			p.errorf(a.line("name"), "lan %q: defined twice (first at line %d)", name, l)
		}
		lanLine[name] = le.line
		lan := LAN{Name: name, Line: le.line}
		nk := p.children(le, false, "node")
		if len(nk["node"]) == 0 {
			p.errorf(le.line, "lan %q: no <node>: want every node of the cluster", name)
		}
		seen := map[string]int{}
		var names []string
		addrs := map[string]netip.Addr{}
		for _, ne := range nk["node"] {
			na := p.attrs(ne, "name", "addr")
			nn, okn := na.req("name")
			if okn && !isName(nn, maxNameLen) {
				na.bad("name", "want letters, digits, '.', '_' or '-'")
				okn = false
			}
			as, oka := na.req("addr")
			var addr netip.Addr
			if oka {
				var err error
				if addr, err = parseIP(as); err != nil {
					na.bad("addr", "%v", err)
					oka = false
				}
			}
			if !okn {
				continue
			}
			if l, dup := seen[nn]; dup {
				p.errorf(na.line("name"), "lan %q: node %q listed twice (first at line %d)", name, nn, l)
				continue
			}
			seen[nn] = ne.line
			names = append(names, nn)
			addrs[nn] = addr
			if oka {
				if prev, dup := byAddr[addr]; dup {
					na.bad("addr", "already the address of node %q on lan %q (line %d)", prev.node, prev.lan, prev.line)
				} else {
					byAddr[addr] = nodeAt{nn, name, ne.line}
				}
			}
		}
		if li == 0 {
			c.Nodes = names
			if len(names) > maxNodes {
				p.errorf(le.line, "lan %q: %d nodes, at most %d", name, len(names), maxNodes)
			}
		} else {
			for _, n := range names {
				if !slices.Contains(c.Nodes, n) {
					p.errorf(seen[n], "lan %q: node %q is not on lan %q (every LAN joins the same nodes)", name, n, c.LANs[0].Name)
				}
			}
			for _, n := range c.Nodes {
				if _, ok := seen[n]; !ok {
					p.errorf(le.line, "lan %q: node %q of lan %q is missing (every LAN joins the same nodes)", name, n, c.LANs[0].Name)
				}
			}
		}
		for _, n := range c.Nodes {
			lan.Addrs = append(lan.Addrs, addrs[n])
		}
		c.LANs = append(c.LANs, lan)
	}
	if err := p.first(); err != nil {
		return nil, err
	}
	c.Warnings = p.warnings()
	return c, nil
}

// Validate checks the invariants every consumer of a Cluster relies on; a
// Cluster from ParseCluster always passes. Tests and fuzzers use it, and so
// can a driver that builds a Cluster in code.
func (c *Cluster) Validate() error {
	if c == nil {
		return fmt.Errorf("cluster: nil")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("cluster: port %d out of range", c.Port)
	}
	if len(c.LANs) == 0 || len(c.Nodes) == 0 || len(c.Nodes) > maxNodes {
		return fmt.Errorf("cluster: %d LANs and %d nodes: want at least one of each, at most %d nodes", len(c.LANs), len(c.Nodes), maxNodes)
	}
	nodes := map[string]bool{}
	for _, n := range c.Nodes {
		if !isName(n, maxNameLen) || nodes[n] {
			return fmt.Errorf("cluster: node name %q invalid or repeated", n)
		}
		nodes[n] = true
	}
	lans := map[string]bool{}
	addrs := map[netip.Addr]bool{}
	for _, l := range c.LANs {
		if !isName(l.Name, maxNameLen) || lans[l.Name] {
			return fmt.Errorf("cluster: lan name %q invalid or repeated", l.Name)
		}
		lans[l.Name] = true
		if len(l.Addrs) != len(c.Nodes) {
			return fmt.Errorf("cluster: lan %q has %d addresses for %d nodes", l.Name, len(l.Addrs), len(c.Nodes))
		}
		for _, a := range l.Addrs {
			if !a.IsValid() || addrs[a] {
				return fmt.Errorf("cluster: lan %q address %v invalid or repeated", l.Name, a)
			}
			addrs[a] = true
		}
	}
	return nil
}

// lan returns the LAN of that name.
func (c *Cluster) lan(name string) (LAN, bool) {
	for _, l := range c.LANs {
		if l.Name == name {
			return l, true
		}
	}
	return LAN{}, false
}
