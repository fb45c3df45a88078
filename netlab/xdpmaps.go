package netlab

import (
	"errors"
	"fmt"
	"os"

	"github.com/vipfarm/vipfarm/internal/namedns"

	"github.com/cilium/ebpf"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/dataplane/model"
)

// What a node's dataplane would accept is read from the XDP program's own
// maps, not from farmd's API: a trace's `buckets` line is then the kernel's
// truth (SPEC §5 defines a claim as what the dataplane would accept). The
// maps are found from the program attached to the node's interface
// (IFLA_XDP's program id, then the program's map ids), so the lab needs no
// pinning and no help from farmd.

// xdpProgName is the kernel name of farmd's XDP program (bpf/xdp_vipfarm.c).
const xdpProgName = "xdp_vipfarm"

// Offsets in the program's structures (bpf/xdp_vipfarm.c, mirrored by the
// generated dataplane types): struct settings starts {u8 configured; u8
// self; ...}; struct group_table starts with u8 owner[256].
const (
	settingsConfiguredOff = 0
	settingsSelfOff       = 1
)

// XDPOwned returns, per load-balancing group 0..groups-1, the buckets node's
// XDP program accepts as its own: owner[b] == self in the active table. A
// node without the program (crashed, farmd not started, no VIP) owns none:
// the result is nil with no error.
func (l *Lab) XDPOwned(node string, groups int) ([]core.Bitmap, error) {
	n, ok := l.Plan.NodeByName(node)
	if !ok {
		return nil, fmt.Errorf("lab: no node called %q", node)
	}
	if groups < 0 || groups > model.MaxGroups {
		return nil, fmt.Errorf("lab: %d groups: want 0..%d", groups, model.MaxGroups)
	}
	progID, err := l.xdpProgID(n)
	if err != nil || progID == 0 {
		return nil, err
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(progID))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil // detached between the two calls
		}
		return nil, fmt.Errorf("%s: XDP program %d: %w", node, progID, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return nil, fmt.Errorf("%s: XDP program %d: info: %w", node, progID, err)
	}
	if info.Name != xdpProgName {
		return nil, nil // not farmd's program
	}
	ids, ok := info.MapIDs()
	if !ok {
		return nil, fmt.Errorf("%s: XDP program %d: the kernel does not list its maps", node, progID)
	}
	maps := map[string]*ebpf.Map{}
	defer func() {
		for _, m := range maps {
			m.Close()
		}
	}()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			return nil, fmt.Errorf("%s: XDP map %d: %w", node, id, err)
		}
		mi, err := m.Info()
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("%s: XDP map %d: info: %w", node, id, err)
		}
		switch mi.Name {
		case "config", "active", "tables":
			maps[mi.Name] = m
		default:
			m.Close()
		}
	}
	for _, name := range []string{"config", "active", "tables"} {
		if maps[name] == nil {
			return nil, fmt.Errorf("%s: XDP program %d has no map %q", node, progID, name)
		}
	}
	settings := make([]byte, maps["config"].ValueSize())
	if err := maps["config"].Lookup(uint32(0), settings); err != nil {
		return nil, fmt.Errorf("%s: XDP settings: %w", node, err)
	}
	if settings[settingsConfiguredOff] == 0 {
		return make([]core.Bitmap, groups), nil
	}
	self := settings[settingsSelfOff]
	out := make([]core.Bitmap, groups)
	table := make([]byte, maps["tables"].ValueSize())
	for g := range groups {
		var slot uint32
		if err := maps["active"].Lookup(uint32(g), &slot); err != nil {
			return nil, fmt.Errorf("%s: XDP active slot of group %d: %w", node, g, err)
		}
		key := slot*model.MaxGroups + uint32(g)
		if err := maps["tables"].Lookup(key, table); err != nil {
			return nil, fmt.Errorf("%s: XDP owner table %d of group %d: %w", node, key, g, err)
		}
		for b := range core.Buckets {
			if table[b] == self {
				out[g].Set(b)
			}
		}
	}
	return out, nil
}

// xdpProgID is the id of the XDP program on node's first interface that
// carries one (0: none).
func (l *Lab) xdpProgID(n Node) (uint32, error) {
	h, err := namedns.HandleAt(n.NS)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	for _, ifname := range n.Ifaces {
		link, err := h.LinkByName(ifname)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", n.Name, ifname, err)
		}
		if x := link.Attrs().Xdp; x != nil && x.ProgId != 0 {
			return x.ProgId, nil
		}
	}
	return 0, nil
}
