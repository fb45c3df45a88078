package netlab

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Faults are applied on the switch, never inside a node, so a node's own
// configuration (and what farmd's checkers see of it) is that of a real
// host whose cable or switch misbehaves.
//
// This kernel (and many CI kernels) is built without sch_netem and
// cls_flower, so partitions and loss are a cls_bpf direct-action program on
// the egress of each switch port of the LAN (see bpfprog.go). Delay needs
// sch_netem: SetDelay reports clearly when the kernel lacks it.

// ErrNoNetem is the reason the lab cannot delay frames on this kernel.
var ErrNoNetem = errors.New("this kernel has no sch_netem (CONFIG_NET_SCH_NETEM), so the lab cannot delay frames")

// NetemAvailable says whether the switch can delay frames: it sets a 1 ms
// delay on the first switch port and removes it again. A nil result means
// yes; ErrNoNetem (wrapped) means the kernel lacks sch_netem.
func (l *Lab) NetemAvailable() error {
	if len(l.Plan.Nodes) == 0 {
		return fmt.Errorf("lab: no node, no switch port to try a delay on")
	}
	h, err := namedns.HandleAt(l.Plan.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	port := l.Plan.Nodes[0].Ports[0]
	if err := applyDelay(h, port, time.Millisecond); err != nil {
		return err
	}
	return applyDelay(h, port, 0)
}

// Cut pulls node's cable on lan: its switch port goes down, so the node
// sees carrier loss on that interface.
func (l *Lab) Cut(lan, node string) error { return l.setPort(lan, node, false) }

// Restore plugs node's cable on lan back in.
func (l *Lab) Restore(lan, node string) error { return l.setPort(lan, node, true) }

func (l *Lab) setPort(lan, node string, up bool) error {
	i, ok := l.Plan.LANIndex(lan)
	if !ok {
		return fmt.Errorf("lab: no LAN called %q (LANs: %v)", lan, l.Plan.Spec.LANs)
	}
	n, ok := l.Plan.NodeByName(node)
	if !ok {
		return fmt.Errorf("lab: no node called %q", node)
	}
	h, err := namedns.HandleAt(l.Plan.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(n.Ports[i])
	if err != nil {
		return fmt.Errorf("switch port %s: %w", n.Ports[i], err)
	}
	if up {
		err = h.LinkSetUp(link)
	} else {
		err = h.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("set switch port %s up=%v: %w", n.Ports[i], up, err)
	}
	ref := PortRef{LAN: lan, Node: node}
	return l.state.update(func(s *State) {
		s.Cuts = slices.DeleteFunc(s.Cuts, func(c PortRef) bool { return c == ref })
		if !up {
			s.Cuts = append(s.Cuts, ref)
		}
	})
}

// Partition splits the nodes on lan into groups: no frame crosses between
// nodes of different groups (heartbeats, forwarded client frames, ARP),
// while clients and nodes named in no group still reach every node.
// Partition with no groups heals the LAN.
func (l *Lab) Partition(lan string, groups ...[]string) error {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, name := range g {
			if _, ok := l.Plan.NodeByName(name); !ok {
				return fmt.Errorf("lab: partition of %s: no node called %q", lan, name)
			}
			if seen[name] {
				return fmt.Errorf("lab: partition of %s: node %s is in two groups", lan, name)
			}
			seen[name] = true
		}
	}
	return l.changeLAN(lan, func(f *LANFault) { f.Groups = groups })
}

// Heal removes lan's partition (loss and delay stay).
func (l *Lab) Heal(lan string) error { return l.Partition(lan) }

// Isolate partitions every LAN into the same groups; HealAll undoes it.
func (l *Lab) Isolate(groups ...[]string) error {
	for _, lan := range l.Plan.Spec.LANs {
		if err := l.Partition(lan, groups...); err != nil {
			return err
		}
	}
	return nil
}

// HealAll removes every partition and restores every cut port.
func (l *Lab) HealAll() error {
	var errs []error
	for _, lan := range l.Plan.Spec.LANs {
		errs = append(errs, l.Heal(lan))
	}
	for _, c := range l.State().Cuts {
		errs = append(errs, l.Restore(c.LAN, c.Node))
	}
	return errors.Join(errs...)
}

// SetLoss drops pct percent (0..100) of the frames the switch delivers on
// lan, in every direction; 0 stops the loss.
func (l *Lab) SetLoss(lan string, pct float64) error {
	if pct < 0 || pct > 100 {
		return fmt.Errorf("lab: loss on %s: %v%% is not within 0..100", lan, pct)
	}
	return l.changeLAN(lan, func(f *LANFault) { f.LossPct = pct })
}

// SetDelay delays every frame the switch delivers on lan by d (one way);
// 0 removes the delay. It needs sch_netem in the kernel.
func (l *Lab) SetDelay(lan string, d time.Duration) error {
	if d < 0 || d > time.Minute {
		return fmt.Errorf("lab: delay on %s: %v is not within 0..1m", lan, d)
	}
	return l.changeLAN(lan, func(f *LANFault) { f.DelayMs = d.Milliseconds() })
}

// changeLAN applies edit to lan's fault record, reprograms every switch
// port of lan from the result, and saves it.
func (l *Lab) changeLAN(lan string, edit func(*LANFault)) error {
	i, ok := l.Plan.LANIndex(lan)
	if !ok {
		return fmt.Errorf("lab: no LAN called %q (LANs: %v)", lan, l.Plan.Spec.LANs)
	}
	st := l.State()
	f := LANFault{}
	if old := st.LANFaults[lan]; old != nil {
		f = *old
	}
	prevDelayMs := f.DelayMs
	edit(&f)
	h, err := namedns.HandleAt(l.Plan.SwitchNS)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, port := range l.portsOf(i, f) {
		if err := applyPortFilter(h, port.name, port.filter); err != nil {
			return err
		}
		if f.DelayMs != prevDelayMs {
			if err := applyDelay(h, port.name, time.Duration(f.DelayMs)*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return l.state.update(func(s *State) {
		if s.LANFaults == nil {
			s.LANFaults = map[string]*LANFault{}
		}
		if f.empty() {
			delete(s.LANFaults, lan)
		} else {
			s.LANFaults[lan] = &f
		}
	})
}

type portPlan struct {
	name   string
	filter portFilter
}

// portsOf returns every switch port of LAN i with the filter fault f asks
// for on it.
func (l *Lab) portsOf(i int, f LANFault) []portPlan {
	groupOf := map[string]int{}
	for gi, g := range f.Groups {
		for _, n := range g {
			groupOf[n] = gi
		}
	}
	var out []portPlan
	for _, n := range l.Plan.Nodes {
		pf := portFilter{LossPct: f.LossPct}
		if gi, ok := groupOf[n.Name]; ok {
			for _, o := range l.Plan.Nodes {
				if og, ok := groupOf[o.Name]; ok && og != gi {
					hw, _ := net.ParseMAC(o.MACs[i]) // the plan made it
					pf.Blocked = append(pf.Blocked, hw)
				}
			}
		}
		out = append(out, portPlan{name: n.Ports[i], filter: pf})
	}
	if i == 0 {
		for _, c := range l.Plan.Clients {
			out = append(out, portPlan{name: c.Port, filter: portFilter{LossPct: f.LossPct}})
		}
	}
	return out
}

func clsact(index int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.HANDLE_CLSACT, Handle: netlink.MakeHandle(0xffff, 0)},
		QdiscType:  "clsact",
	}
}

// applyPortFilter installs (or replaces, atomically) the egress filter of a
// switch port, or removes it with its clsact qdisc when f is empty.
func applyPortFilter(h *netlink.Handle, port string, f portFilter) error {
	link, err := h.LinkByName(port)
	if err != nil {
		return fmt.Errorf("switch port %s: %w", port, err)
	}
	idx := link.Attrs().Index
	if f.empty() {
		err := h.QdiscDel(clsact(idx))
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("remove filter of %s: %w", port, err)
		}
		return nil
	}
	if err := h.QdiscReplace(clsact(idx)); err != nil {
		return fmt.Errorf("clsact qdisc on %s: %w", port, err)
	}
	prog, err := f.load()
	if err != nil {
		return err
	}
	defer prog.Close() // the filter holds its own reference
	flt := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: idx,
			Parent:    netlink.HANDLE_MIN_EGRESS,
			Handle:    1,
			Priority:  1,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog.FD(),
		Name:         "vf-lab-port",
		DirectAction: true,
	}
	if err := h.FilterReplace(flt); err != nil {
		return fmt.Errorf("egress filter on %s: %w", port, err)
	}
	return nil
}

// applyDelay sets (d > 0) or removes a netem root qdisc on a switch port.
func applyDelay(h *netlink.Handle, port string, d time.Duration) error {
	link, err := h.LinkByName(port)
	if err != nil {
		return fmt.Errorf("switch port %s: %w", port, err)
	}
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)}
	if d == 0 {
		err := h.QdiscDel(netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{}))
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("remove delay on %s: %w", port, err)
		}
		return nil
	}
	q := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{Latency: uint32(d.Microseconds()), Limit: 10000})
	if err := h.QdiscReplace(q); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("delay on %s: %w (%w)", port, ErrNoNetem, err)
		}
		return fmt.Errorf("delay on %s: %w", port, err)
	}
	return nil
}
