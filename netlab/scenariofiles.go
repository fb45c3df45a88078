package netlab

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/vipfarm/vipfarm/core/config"
	"github.com/vipfarm/vipfarm/sim"
)

// A `files:` scenario brings a real cluster.xml and userconfig.xml. The
// lab runs them as written wherever it can:
//   - the lab is built from cluster.xml: its LANs (names and order), its
//     nodes (names and order) and its heartbeat port; each node's
//     cluster.xml is the file's with the lab's addresses (node K of the file
//     gets 198.18.<lan>.(10+K)), since the file's addresses may be anything;
//   - userconfig.xml is written as is, so the module's <farm>, boot, VIP,
//     rules, powers, checkers and failover rules are the file's; its VIPs
//     must lie on the first LAN of the lab (198.18.0.0/24, fd00:198:18::/64);
//   - the scripts are the lab's (they run the demo service on the first
//     rule's port, and honour fail-script);
//   - farmd's admin port moves off any port a rule balances;
//   - delivery mode vmac_invisible becomes alias: farmd programs the XDP
//     tables for it but installs no virtual MAC, so in a lab (as on a real
//     LAN) only the ARP holder would ever receive client frames and half of
//     them would be dropped. The run says so.

// vmacTag matches an opening <virtual_interface ...> tag with attributes.
var vmacTag = regexp.MustCompile(`<virtual_interface\s[^>]*?(/?)>`)

func filesSetup(sc *sim.Scenario, base Spec) (Spec, ScenarioOptions, error) {
	var so ScenarioOptions
	if sc.Farm != nil {
		return Spec{}, so, fmt.Errorf("%s: farm: overrides with files: — the lab's farmd reads the file itself; set them in the file's <farm>", sc.Path)
	}
	cl, mod, _, uc, err := sc.Config()
	if err != nil {
		return Spec{}, so, err
	}
	spec := base
	spec.Nodes = len(cl.Nodes)
	spec.NodeNames = slices.Clone(cl.Nodes)
	spec.LANs = nil
	for _, lan := range cl.LANs {
		spec.LANs = append(spec.LANs, lan.Name)
	}
	spec.HeartbeatPort = cl.Port
	spec.Module = sim.ModuleName
	text := string(uc)
	var rulePorts []int
	if mod.VIP != nil {
		for _, it := range mod.VIP.Interfaces {
			if it.Mode == config.ModeVMACInvisible {
				so.Notes = append(so.Notes, fmt.Sprintf("userconfig.xml line %d: delivery mode vmac_invisible runs as alias in the lab (farmd installs no virtual MAC)", it.Line))
				text = vmacTag.ReplaceAllString(text, "<virtual_interface$1>")
			}
			for _, va := range it.Addrs {
				a := va.Addr
				switch {
				case a.Is4() && !spec.VIP.IsValid():
					spec.VIP = a
				case a.Is6() && !spec.VIP6.IsValid():
					spec.VIP6 = a
				}
				if !LANPrefix(0).Contains(a) && !LANPrefix6(0).Contains(a) {
					return Spec{}, so, fmt.Errorf("%s: userconfig.xml line %d: VIP %v is not on the lab's first LAN (%v or %v)", sc.Path, va.Line, a, LANPrefix(0), LANPrefix6(0))
				}
			}
		}
		for _, g := range mod.VIP.Groups {
			for _, r := range g.Rules {
				if r.Port != 0 {
					rulePorts = append(rulePorts, r.Port)
				}
			}
		}
	}
	ho := HomeOptions{Userconfig: text, Pulse: mod.Farm.Pulse, SlostCount: mod.Farm.SlostCount, MlostCount: mod.Farm.MlostCount}
	so.Proto = "tcp"
	if t := sc.Traffic; t != nil && t.Clients > 0 {
		if t.Proto != "" {
			so.Proto = t.Proto
		}
		so.IPv6 = t.IPv6
		if mod.VIP == nil || (so.IPv6 && !spec.VIP6.IsValid()) || (!so.IPv6 && !spec.VIP.IsValid()) {
			return Spec{}, so, fmt.Errorf("%s: traffic: the module of userconfig.xml has no %s VIP for the clients", sc.Path, map[bool]string{false: "IPv4", true: "IPv6"}[so.IPv6])
		}
	}
	// The demo service listens on the first port a rule of the traffic's
	// protocol balances; the rule's filter is the one traffic is judged by.
	spec.ServicePort = DefaultServicePort
	if mod.VIP != nil && len(mod.VIP.Groups) > 0 {
		g := mod.VIP.Groups[0]
		for _, r := range g.Rules {
			if r.Proto == so.Proto {
				ho.Filter = string(r.Filter)
				if r.Port != 0 {
					spec.ServicePort = r.Port
				}
				break
			}
		}
		if len(g.Hosts) > 0 {
			ho.Power = map[string]int{}
			for _, h := range g.Hosts {
				ho.Power[h.Name] = h.Power
			}
		}
	}
	spec.AdminPort = DefaultAdminPort
	for slices.Contains(rulePorts, spec.AdminPort) || spec.AdminPort == spec.ServicePort || spec.AdminPort == spec.HeartbeatPort {
		spec.AdminPort++
	}
	if spec.AdminPort != DefaultAdminPort {
		so.Notes = append(so.Notes, fmt.Sprintf("a rule balances port %d: farmd's admin server listens on port %d", DefaultAdminPort, spec.AdminPort))
	}
	// The rewritten module must still be what farmd accepts.
	noEnv := func(string) (string, bool) { return "", false }
	if _, err := config.ParseModule(spec.Module, sc.Path+": userconfig.xml as the lab writes it", []byte(text), cl, noEnv); err != nil {
		return Spec{}, so, err
	}
	so.Home = ho
	trafficSpec(sc, &spec)
	return spec, so, nil
}
