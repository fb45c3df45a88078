package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// vip reads
//
//	<vip [tcpreset] [scriptcontrol]>
//	  <interface_list>
//	    <interface [check] [name] [arpreroute] [arpinterval] [arpelapse]>
//	      <virtual_interface [type="vmac_invisible"] [addr="MAC"]>
//	        <virtual_addr addr [where="alias"] [check] [netmask] [connections]/>+
//	      </virtual_interface>
//	    </interface>+
//	  </interface_list>
//	  <loadbalancing_list>
//	    <group name>
//	      <cluster><host name [power="1"]/>*</cluster>?
//	      <rule [virtual_addr="*"] [port="*"] proto="tcp|udp" filter="on_addr|on_port"/>+
//	    </group>+
//	  </loadbalancing_list>?
//	</vip>
func (mp *moduleParser) vip(e *element) {
	p := mp.p
	v := &VIP{}
	a := p.attrs(e, "tcpreset", "scriptcontrol")
	v.TCPReset = a.onOff("tcpreset", false)
	a.onOff("scriptcontrol", false)
	a.ignored("tcpreset", "scriptcontrol")
	kids := p.children(e, false, "interface_list", "loadbalancing_list")
	vips := map[netip.Addr]int{}
	if il := p.single(e, kids, "interface_list"); il != nil {
		p.attrs(il)
		ik := p.children(il, false, "interface")
		if len(ik["interface"]) == 0 {
			p.errorf(il.line, "interface_list: no <interface>: want at least one")
		}
		names := map[string]int{}
		for _, ie := range ik["interface"] {
			if iface, ok := mp.iface(ie, vips); ok {
				if first, dup := names[iface.Name]; dup && iface.Name != "" {
					p.errorf(ie.line, "interface %q: given twice (first at line %d)", iface.Name, first)
				}
				names[iface.Name] = ie.line
				v.Interfaces = append(v.Interfaces, iface)
			}
		}
	} else {
		p.errorf(e.line, "vip: missing <interface_list>")
	}
	if ll := p.single(e, kids, "loadbalancing_list"); ll != nil {
		v.Groups = mp.groups(ll, v, vips)
	}
	mp.m.VIP = v
}

func (mp *moduleParser) iface(e *element, vips map[netip.Addr]int) (Interface, bool) {
	p := mp.p
	a := p.attrs(e, "check", "name", "arpreroute", "arpinterval", "arpelapse")
	it := Interface{Name: a.str("name", ""), Check: a.onOff("check", false), Line: e.line, Mode: ModeAlias}
	if a.has("name") && !isIfName(it.Name) {
		a.bad("name", "want a network interface name (1 to 15 characters, no '/', '%%' or blanks)")
	}
	it.ARPReroute = a.onOff("arpreroute", false)
	interval := a.duration("arpinterval", DefaultARPInterval, time.Second, true)
	elapse := a.duration("arpelapse", DefaultARPElapse, time.Second, false)
	if it.ARPReroute {
		it.ARPInterval, it.ARPElapse = interval, elapse
	} else {
		for _, n := range []string{"arpinterval", "arpelapse"} {
			if a.has(n) {
				p.warnf(a.line(n), "interface %s: has no effect without arpreroute=\"on\"", n)
			}
		}
	}
	kids := p.children(e, false, "virtual_interface")
	vi := p.single(e, kids, "virtual_interface")
	if vi == nil {
		p.errorf(e.line, "interface: missing <virtual_interface>")
		return it, false
	}
	va := p.attrs(vi, "type", "addr")
	// SafeKit's shipped farm modules say type="vmac_directed": frames reach
	// one node, which forwards them — exactly vipfarm's alias delivery, so it
	// is accepted as alias with a warning rather than refused.
	switch va.enum("type", "", "vmac_invisible", "vmac_directed") {
	case "vmac_invisible":
		it.Mode = ModeVMACInvisible
	case "vmac_directed":
		p.warnf(va.line("type"), `virtual_interface type "vmac_directed": delivered as alias (the ARP holder forwards by bucket)`)
	}
	if va.has("addr") {
		mac := va.str("addr", "")
		switch {
		case it.Mode != ModeVMACInvisible:
			va.bad("addr", `a virtual MAC needs type="vmac_invisible"`)
		case !isUnicastMAC(mac):
			va.bad("addr", "want a unicast MAC address such as 5a:fe:00:00:00:01")
		default:
			it.VMAC = strings.ToLower(mac)
		}
	}
	ak := p.children(vi, false, "virtual_addr")
	if len(ak["virtual_addr"]) == 0 {
		p.errorf(vi.line, "virtual_interface: no <virtual_addr>: want at least one")
	}
	var nets []netip.Prefix
	for _, ae := range ak["virtual_addr"] {
		aa := p.attrs(ae, "addr", "where", "check", "netmask", "connections")
		p.children(ae, false)
		aa.ignored("connections")
		vaddr := VirtualAddr{
			Where:   aa.enum("where", "alias", "alias"),
			Check:   aa.onOff("check", false),
			Netmask: aa.str("netmask", ""),
			Line:    ae.line,
		}
		s, ok := aa.req("addr")
		if !ok {
			continue
		}
		addr, err := parseVIP(s)
		if err != nil {
			aa.bad("addr", "%v", err)
			continue
		}
		vaddr.Addr = addr
		if first, dup := vips[addr]; dup {
			aa.bad("addr", "already a virtual address at line %d", first)
			continue
		}
		vips[addr] = ae.line
		pfx, err := network(addr, vaddr.Netmask)
		if err != nil {
			aa.bad("netmask", "%v", err)
			continue
		}
		if !sameNetwork(nets, pfx) {
			nets = append(nets, pfx.Masked())
		}
		if vaddr.Check && mp.publish("ip."+addr.String(), aa.line("check")) {
			mp.m.Checks = append(mp.m.Checks, Check{
				Kind: CheckIP, Ident: addr.String(), When: DefaultCheckWhen, Addr: addr.String(),
				Interval: DefaultCheckInterval, Timeout: DefaultCheckTimeout, Line: ae.line,
			})
		}
		it.Addrs = append(it.Addrs, vaddr)
	}
	if it.Mode == ModeVMACInvisible && it.VMAC == "" && len(it.Addrs) > 0 {
		it.VMAC = derivedVMAC(it.Addrs[0].Addr)
	}
	if it.Check {
		for _, n := range nets {
			id := n.Addr().String()
			if mp.publish("intf."+id, a.line("check")) {
				mp.m.Checks = append(mp.m.Checks, Check{
					Kind: CheckIntf, Ident: id, When: DefaultCheckWhen, Addr: n.String(), Intf: it.Name,
					Interval: DefaultCheckInterval, Timeout: DefaultCheckTimeout, Line: e.line,
				})
			}
		}
	}
	return it, true
}

// sameNetwork reports whether p's network address is already in list: the
// resource is named after the network address alone, so two VIPs whose
// masks differ but whose network addresses agree share one intf resource.
func sameNetwork(list []netip.Prefix, p netip.Prefix) bool {
	for _, x := range list {
		if x.Addr() == p.Masked().Addr() {
			return true
		}
	}
	return false
}

// derivedVMAC is the virtual MAC of a vmac_invisible interface whose
// <virtual_interface addr> is absent: locally administered unicast 5a:fe
// followed by the last four bytes of its first VIP, so every node of the
// farm derives the same one.
func derivedVMAC(a netip.Addr) string {
	b := a.As16()
	return fmt.Sprintf("5a:fe:%02x:%02x:%02x:%02x", b[12], b[13], b[14], b[15])
}

func isUnicastMAC(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return false
	}
	for i, p := range parts {
		if len(p) != 2 || !isHex(p[0]) || !isHex(p[1]) {
			return false
		}
		if i == 0 && hexVal(p[1])&1 == 1 {
			return false // multicast bit
		}
	}
	return s != "00:00:00:00:00:00"
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isIfName accepts what Linux accepts as an interface name.
func isIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/% \t\n\r:")
}

func (mp *moduleParser) groups(e *element, v *VIP, vips map[netip.Addr]int) []Group {
	p := mp.p
	p.attrs(e)
	kids := p.children(e, false, "group")
	if len(kids["group"]) == 0 {
		p.errorf(e.line, "loadbalancing_list: no <group>: want at least one")
	}
	var groups []Group
	names := map[string]int{}
	type ruleKey struct {
		vip   netip.Addr
		port  int
		proto string
	}
	rules := map[ruleKey]int{}
	for _, ge := range kids["group"] {
		ga := p.attrs(ge, "name")
		g := Group{Line: ge.line}
		name, ok := ga.req("name")
		if ok && !isName(name, maxNameLen) {
			ga.bad("name", "want letters, digits, '.', '_' or '-'")
		} else if ok {
			if first, dup := names[name]; dup {
				ga.bad("name", "group defined twice (first at line %d)", first)
			}
			names[name] = ge.line
		}
		g.Name = name
		gk := p.children(ge, false, "cluster", "rule")
		g.Hosts = mp.hosts(g.Name, p.single(ge, gk, "cluster"))
		if len(gk["rule"]) == 0 {
			p.errorf(ge.line, "group %q: no <rule>: want at least one", name)
		}
		for _, re := range gk["rule"] {
			ra := p.attrs(re, "virtual_addr", "port", "proto", "filter")
			p.children(re, false)
			r := Rule{Line: re.line}
			good := true
			if s := ra.str("virtual_addr", "*"); s != "*" {
				addr, err := parseIP(s)
				switch {
				case err != nil:
					ra.bad("virtual_addr", "%v, or *", err)
					good = false
				case vips[addr] == 0:
					ra.bad("virtual_addr", "not a <virtual_addr> of this module (have %s)", vipList(v))
					good = false
				default:
					r.VirtualAddr = addr
				}
			}
			if s := ra.str("port", "*"); s != "*" {
				r.Port = ra.intIn("port", -1, 1, 65535)
				good = good && r.Port > 0
			}
			if proto, ok := ra.req("proto"); ok {
				r.Proto = ra.enum("proto", "", "tcp", "udp")
				good = good && r.Proto == proto
			} else {
				good = false
			}
			if _, ok := ra.req("filter"); ok {
				r.Filter = Filter(ra.enum("filter", "", string(OnAddr), string(OnPort)))
				good = good && r.Filter != ""
			}
			if good {
				k := ruleKey{r.VirtualAddr, r.Port, r.Proto}
				if first, dup := rules[k]; dup {
					p.errorf(re.line, "rule: same virtual_addr, port and proto as the rule at line %d (a packet must match one rule)", first)
				}
				rules[k] = re.line
			}
			g.Rules = append(g.Rules, r)
		}
		groups = append(groups, g)
	}
	return groups
}

func vipList(v *VIP) string {
	var s []string
	for _, it := range v.Interfaces {
		for _, a := range it.Addrs {
			s = append(s, a.Addr.String())
		}
	}
	return orList(append(s, "*"))
}

// hosts reads a group's <cluster>. The result lists every node of cluster.xml
// in its order: without <cluster> each with power 1 (SafeKit's even
// balancing); with it, a node it does not list gets power 0 (no traffic),
// with a warning since that is rarely meant.
func (mp *moduleParser) hosts(group string, e *element) []Host {
	p := mp.p
	power := map[string]int{}
	if e == nil {
		for _, n := range mp.cl.Nodes {
			power[n] = 1
		}
	} else {
		p.attrs(e)
		kids := p.children(e, false, "host")
		line := map[string]int{}
		for _, he := range kids["host"] {
			ha := p.attrs(he, "name", "power")
			p.children(he, false)
			name, ok := ha.req("name")
			pw := ha.intIn("power", 1, 0, math.MaxInt32)
			if !ok {
				continue
			}
			if !slices.Contains(mp.cl.Nodes, name) {
				ha.bad("name", "no such node in cluster.xml (have %s)", orList(mp.cl.Nodes))
				continue
			}
			if first, dup := line[name]; dup {
				ha.bad("name", "listed twice (first at line %d)", first)
				continue
			}
			line[name] = he.line
			power[name] = pw
		}
		if len(kids["host"]) > 0 {
			for _, n := range mp.cl.Nodes {
				if _, ok := power[n]; !ok {
					p.warnf(e.line, "group %q: node %q is not in <cluster>: it takes no traffic (power 0)", group, n)
				}
			}
		} else {
			for _, n := range mp.cl.Nodes {
				power[n] = 1
			}
		}
	}
	hosts := make([]Host, 0, len(mp.cl.Nodes))
	sum := 0
	for _, n := range mp.cl.Nodes {
		hosts = append(hosts, Host{Name: n, Power: power[n]})
		sum += power[n]
	}
	if sum == 0 && e != nil {
		p.errorf(e.line, "group %q: every host has power 0: nobody would take its traffic", group)
	}
	return hosts
}
