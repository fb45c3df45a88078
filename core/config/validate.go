package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// Validate checks the invariants consumers of a Module rely on, against its
// cluster: what ParseModule guarantees, restated on the model so that a
// module built in code (the simulator's inline clusters) is held to the same
// rules, and so the fuzz test can check that whatever the parser accepts is
// coherent. It returns the first violation.
func (m *Module) Validate(cl *Cluster) error {
	if m == nil {
		return fmt.Errorf("module: nil")
	}
	if err := cl.Validate(); err != nil {
		return err
	}
	if !isName(m.Name, maxNameLen) {
		return fmt.Errorf("module name %q invalid", m.Name)
	}
	s := m.Service
	if s.Mode != "farm" || !slices.Contains([]string{"on", "off", "auto", "ignore"}, string(s.Boot)) ||
		s.MaxLoop < 1 || s.LoopInterval <= 0 || s.BootDelay < 0 {
		return fmt.Errorf("module %s: service %+v invalid", m.Name, s)
	}
	f := m.Farm
	if f.Port < 0 || f.Port > 65535 || f.Pulse <= 0 || f.SlostCount < 1 || f.MlostCount < 1 || len(f.LANs) == 0 {
		return fmt.Errorf("module %s: farm %+v invalid", m.Name, f)
	}
	seen := map[string]bool{}
	for _, l := range f.LANs {
		if _, ok := cl.lan(l); !ok || seen[l] {
			return fmt.Errorf("module %s: farm lan %q unknown or repeated", m.Name, l)
		}
		seen[l] = true
	}
	if err := m.validateVIP(cl); err != nil {
		return err
	}
	if u := m.User; u != nil {
		if u.NiceStopTimeout <= 0 || u.ForceStopTimeout <= 0 || (u.Logging != "userlog" && u.Logging != "none") {
			return fmt.Errorf("module %s: user %+v invalid", m.Name, *u)
		}
		vars := map[string]bool{}
		for _, v := range u.Vars {
			if !isMacroName(v.Name) || vars[v.Name] {
				return fmt.Errorf("module %s: var %q invalid or repeated", m.Name, v.Name)
			}
			vars[v.Name] = true
		}
	}
	resources := map[string]bool{}
	if e := m.Errd; e != nil {
		if e.PollTimer <= 0 {
			return fmt.Errorf("module %s: errd polltimer %v", m.Name, e.PollTimer)
		}
		for _, p := range e.Procs {
			if p.Name == "" || p.AtLeast < 0 || !slices.Contains([]string{"restart", "stopstart", "stop", "wait"}, p.Action) ||
				resources["proc."+p.Name] {
				return fmt.Errorf("module %s: proc %+v invalid or repeated", m.Name, p)
			}
			resources["proc."+p.Name] = true
		}
	}
	for _, c := range m.Checks {
		if !slices.Contains(ResourceKinds, string(c.Kind)) || c.Kind == "proc" || !isIdent(c.Ident) || resources[c.Resource()] ||
			c.Interval <= 0 || c.Timeout <= 0 {
			return fmt.Errorf("module %s: check %s invalid or repeated", m.Name, c.Resource())
		}
		if c.Kind == CheckCustom && c.Program == "" || c.Kind == CheckTCP && (c.Port < 1 || c.Port > 65535 || c.Addr == "") {
			return fmt.Errorf("module %s: check %s incomplete", m.Name, c.Resource())
		}
		resources[c.Resource()] = true
	}
	return m.Failover.validate(m.Name, resources)
}

func (m *Module) validateVIP(cl *Cluster) error {
	v := m.VIP
	if v == nil {
		return nil
	}
	if len(v.Interfaces) == 0 {
		return fmt.Errorf("module %s: vip without interface", m.Name)
	}
	vips := map[netip.Addr]bool{}
	for _, it := range v.Interfaces {
		if len(it.Addrs) == 0 || (it.Mode != ModeAlias && it.Mode != ModeVMACInvisible) ||
			it.Mode == ModeVMACInvisible && !isUnicastMAC(it.VMAC) || it.ARPInterval < 0 || it.ARPElapse < 0 {
			return fmt.Errorf("module %s: interface %q (line %d) invalid", m.Name, it.Name, it.Line)
		}
		for _, a := range it.Addrs {
			if _, err := parseVIP(a.Addr.String()); err != nil || vips[a.Addr] || a.Where != "alias" {
				return fmt.Errorf("module %s: virtual_addr %v invalid or repeated", m.Name, a.Addr)
			}
			vips[a.Addr] = true
		}
	}
	groups := map[string]bool{}
	for _, g := range v.Groups {
		if !isName(g.Name, maxNameLen) || groups[g.Name] || len(g.Rules) == 0 || len(g.Hosts) != len(cl.Nodes) {
			return fmt.Errorf("module %s: group %q invalid, repeated, without rule or without every node", m.Name, g.Name)
		}
		groups[g.Name] = true
		sum := 0
		for i, h := range g.Hosts {
			if h.Name != cl.Nodes[i] || h.Power < 0 {
				return fmt.Errorf("module %s: group %s host %+v invalid", m.Name, g.Name, h)
			}
			sum += h.Power
		}
		if sum == 0 {
			return fmt.Errorf("module %s: group %s: every power is 0", m.Name, g.Name)
		}
		for _, r := range g.Rules {
			if r.VirtualAddr.IsValid() && !vips[r.VirtualAddr] || r.Port < 0 || r.Port > 65535 ||
				(r.Proto != "tcp" && r.Proto != "udp") || (r.Filter != OnAddr && r.Filter != OnPort) {
				return fmt.Errorf("module %s: group %s rule %+v invalid", m.Name, g.Name, r)
			}
		}
	}
	return nil
}

func (f Failover) validate(module string, resources map[string]bool) error {
	if f.Period <= 0 || f.HandleTime < 0 {
		return fmt.Errorf("module %s: failover period %v handle_time %v", module, f.Period, f.HandleTime)
	}
	n := len(f.Rules)
	if n < 3 {
		return fmt.Errorf("module %s: failover rules lack the built-in ones", module)
	}
	labels := map[string]bool{}
	for i, r := range f.Rules {
		if r.BuiltIn != (i >= n-3) || labels[r.Label] || !isLabel(r.Label) {
			return fmt.Errorf("module %s: failover rule %q misplaced or repeated", module, r.Label)
		}
		labels[r.Label] = true
		want := ruleActions
		if r.BuiltIn {
			want = append(append([]string(nil), ruleActions...), ActionWakeup)
		}
		if !slices.Contains(want, r.Action) {
			return fmt.Errorf("module %s: failover rule %q action %q", module, r.Label, r.Action)
		}
		var bad error
		count := 0
		walkCmps(r.Cond, func(c Cmp) {
			count++
			kind, ident, _ := cutResource(c.Resource)
			switch {
			case checkResourceName(c.Resource) != nil:
				bad = fmt.Errorf("resource %q malformed", c.Resource)
			case !slices.Contains(ruleValues, c.Value):
				bad = fmt.Errorf("value %q", c.Value)
			case ident != "?" && ident != "*" && !resources[c.Resource]:
				bad = fmt.Errorf("resource %q (kind %s) published by no checker", c.Resource, kind)
			}
		})
		if count == 0 {
			bad = fmt.Errorf("no condition")
		}
		if bad != nil {
			return fmt.Errorf("module %s: failover rule %q: %w", module, r.Label, bad)
		}
	}
	return nil
}
