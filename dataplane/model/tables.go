package model

import (
	"fmt"
	"net/netip"

	"github.com/vipfarm/vipfarm/core/config"
)

// Limits shared with the XDP program (bpf/vipfarm.h). Configurations beyond
// them are refused by Validate rather than silently truncated.
const (
	Buckets     = 256  // buckets per load-balancing group
	NoOwner     = 0xFF // owner byte of a bucket nobody owns
	MaxNodes    = 64   // node indexes 0..63
	MaxGroups   = 8    // load-balancing groups per module
	MaxVIPs     = 64   // virtual addresses
	MaxVIPRules = 16   // rules that apply to one VIP (its own plus the "*" ones)
)

// Filter selects what a rule hashes (SPEC §4).
type Filter uint8

const (
	OnAddr Filter = iota // client address only: session affinity
	OnPort               // client address and port: no affinity
)

func (f Filter) String() string {
	switch f {
	case OnAddr:
		return "on_addr"
	case OnPort:
		return "on_port"
	}
	return fmt.Sprintf("filter(%d)", uint8(f))
}

// Mode is the delivery mode of the VIP (SPEC §4).
type Mode uint8

const (
	Alias         Mode = iota // the ARP holder receives, keeps its buckets, forwards the rest
	VMACInvisible             // every node receives every frame, keeps its buckets, drops the rest
)

func (m Mode) String() string {
	switch m {
	case Alias:
		return "alias"
	case VMACInvisible:
		return "vmac_invisible"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Protocol numbers a rule may name.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Rule is one load-balancing rule. Rules are tried in order; the first that
// matches a packet's VIP, protocol and destination port decides its group.
type Rule struct {
	VIP    netip.Addr // invalid = every VIP ("*")
	Proto  uint8      // ProtoTCP or ProtoUDP
	Port   uint16     // destination port; 0 = any
	Filter Filter
	Group  uint8 // index into Tables.Owners
}

// Tables is everything the XDP program reads from its maps.
type Tables struct {
	Self      uint8 // this node's index (cluster.xml order)
	ARPHolder bool  // this node answers ARP/NS for the VIPs and takes traffic matching no rule
	Mode      Mode
	VIPs      []netip.Addr
	Rules     []Rule
	// Owners[g][b] is the node index owning bucket b of group g, or NoOwner.
	Owners [][Buckets]uint8
	// MACs[i] is node i's MAC on the VIP's interface; all zero = unknown.
	MACs [][6]byte
	// Prev[g][b] is the owner bucket b had before its last move (NoOwner =
	// none) and DrainUntil[g][b] the CLOCK_MONOTONIC nanosecond until which
	// the drain rule applies to it. Either may be nil or shorter than Owners:
	// a missing group has no drain state.
	Prev       [][Buckets]uint8
	DrainUntil [][Buckets]uint64
}

// Validate reports the first inconsistency in t, naming what and where.
func (t *Tables) Validate() error {
	if t == nil {
		return fmt.Errorf("tables: nil")
	}
	if int(t.Self) >= MaxNodes {
		return fmt.Errorf("tables: self index %d out of range 0..%d", t.Self, MaxNodes-1)
	}
	if t.Mode != Alias && t.Mode != VMACInvisible {
		return fmt.Errorf("tables: unknown delivery mode %d", t.Mode)
	}
	if len(t.VIPs) > MaxVIPs {
		return fmt.Errorf("tables: %d VIPs, at most %d", len(t.VIPs), MaxVIPs)
	}
	seen := make(map[[16]byte]int, len(t.VIPs))
	for i, v := range t.VIPs {
		if !v.IsValid() {
			return fmt.Errorf("tables: VIP %d is not a valid address", i)
		}
		k := v.As16()
		if j, dup := seen[k]; dup {
			return fmt.Errorf("tables: VIP %d (%s) duplicates VIP %d", i, v, j)
		}
		seen[k] = i
	}
	if len(t.Owners) > MaxGroups {
		return fmt.Errorf("tables: %d groups, at most %d", len(t.Owners), MaxGroups)
	}
	for i, r := range t.Rules {
		if r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			return fmt.Errorf("tables: rule %d: protocol %d is neither tcp (6) nor udp (17)", i, r.Proto)
		}
		if r.Filter != OnAddr && r.Filter != OnPort {
			return fmt.Errorf("tables: rule %d: unknown filter %d", i, r.Filter)
		}
		if int(r.Group) >= len(t.Owners) {
			return fmt.Errorf("tables: rule %d: group %d but only %d groups have owners", i, r.Group, len(t.Owners))
		}
		if r.VIP.IsValid() {
			if _, ok := seen[r.VIP.As16()]; !ok {
				return fmt.Errorf("tables: rule %d: VIP %s is not among the VIPs", i, r.VIP)
			}
		}
	}
	for _, v := range t.VIPs {
		n := 0
		for _, r := range t.Rules {
			if ruleAppliesTo(r, v.As16()) {
				n++
			}
		}
		if n > MaxVIPRules {
			return fmt.Errorf("tables: VIP %s has %d rules, at most %d", v, n, MaxVIPRules)
		}
	}
	for g := range t.Owners {
		if err := checkOwners(fmt.Sprintf("owners of group %d", g), &t.Owners[g]); err != nil {
			return err
		}
	}
	if len(t.Prev) > len(t.Owners) || len(t.DrainUntil) > len(t.Owners) {
		return fmt.Errorf("tables: drain state for %d/%d groups but only %d groups", len(t.Prev), len(t.DrainUntil), len(t.Owners))
	}
	for g := range t.Prev {
		if err := checkOwners(fmt.Sprintf("previous owners of group %d", g), &t.Prev[g]); err != nil {
			return err
		}
	}
	if len(t.MACs) > MaxNodes {
		return fmt.Errorf("tables: %d MACs, at most %d", len(t.MACs), MaxNodes)
	}
	macs := make(map[[6]byte]int, len(t.MACs))
	for i, m := range t.MACs {
		if m == ([6]byte{}) {
			continue
		}
		if m[0]&1 != 0 {
			return fmt.Errorf("tables: MAC of node %d (%x) is a multicast address", i, m)
		}
		if j, dup := macs[m]; dup {
			return fmt.Errorf("tables: MAC of node %d duplicates node %d's (%x)", i, j, m)
		}
		macs[m] = i
	}
	return nil
}

func checkOwners(what string, o *[Buckets]uint8) error {
	for b, n := range o {
		if n != NoOwner && int(n) >= MaxNodes {
			return fmt.Errorf("tables: %s: bucket %d has node index %d, out of range 0..%d or 0x%X", what, b, n, MaxNodes-1, NoOwner)
		}
	}
	return nil
}

func ruleAppliesTo(r Rule, vip [16]byte) bool {
	return !r.VIP.IsValid() || r.VIP.As16() == vip
}

// Unowned is an owner table where no bucket has an owner.
func Unowned() [Buckets]uint8 {
	var t [Buckets]uint8
	for b := range t {
		t[b] = NoOwner
	}
	return t
}

// FromModule builds the configuration part of Tables (mode, VIPs, rules, one
// empty owner table per group) from a validated module. The caller fills in
// Self, ARPHolder, MACs and the owners. A module without <vip> gives empty
// tables: nothing is a VIP, every frame passes untouched.
func FromModule(m *config.Module) (Tables, error) {
	var t Tables
	if m == nil {
		return t, fmt.Errorf("tables: nil module")
	}
	if m.VIP == nil {
		return t, nil
	}
	for i, itf := range m.VIP.Interfaces {
		if itf.Mode == config.ModeVMACInvisible {
			t.Mode = VMACInvisible
		} else if itf.Mode != "" && itf.Mode != config.ModeAlias {
			return t, fmt.Errorf("module %s: interface %d (line %d): unknown delivery mode %q", m.Name, i, itf.Line, itf.Mode)
		}
		for _, a := range itf.Addrs {
			t.VIPs = append(t.VIPs, a.Addr.Unmap())
		}
	}
	for g, grp := range m.VIP.Groups {
		t.Owners = append(t.Owners, Unowned())
		for _, r := range grp.Rules {
			mr := Rule{Group: uint8(g)}
			if r.VirtualAddr.IsValid() {
				mr.VIP = r.VirtualAddr.Unmap()
			}
			switch r.Proto {
			case "tcp":
				mr.Proto = ProtoTCP
			case "udp":
				mr.Proto = ProtoUDP
			default:
				return t, fmt.Errorf("module %s: group %s rule line %d: protocol %q", m.Name, grp.Name, r.Line, r.Proto)
			}
			if r.Port < 0 || r.Port > 65535 {
				return t, fmt.Errorf("module %s: group %s rule line %d: port %d", m.Name, grp.Name, r.Line, r.Port)
			}
			mr.Port = uint16(r.Port)
			switch r.Filter {
			case config.OnAddr, "":
				mr.Filter = OnAddr
			case config.OnPort:
				mr.Filter = OnPort
			default:
				return t, fmt.Errorf("module %s: group %s rule line %d: filter %q", m.Name, grp.Name, r.Line, r.Filter)
			}
			t.Rules = append(t.Rules, mr)
		}
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("module %s: %w", m.Name, err)
	}
	return t, nil
}
