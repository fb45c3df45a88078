package dataplane

import (
	"encoding/binary"
	"fmt"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// The VIP and peer-MAC tables are direct-mapped arrays with linear probing
// (bpf/vipfarm.h): an array lookup is inlined by the verifier where a hash-map
// lookup is a helper call, on every packet (BenchmarkXDPDecision measured 59 ns
// per SYN with hash maps, 34 ns with these tables: docs/dataplane.md). The
// layouts below must place each key exactly where the program's probe
// sequence looks for it.

// VIP table geometry (bpf/vipfarm.h): direct-mapped with linear probing.
const (
	vipSlots  = 256
	vipProbes = 8
)

// vipSlotOf is the first slot probed for a VIP, as find_vip computes it: the
// XOR of the address's four 32-bit words in host (little-endian) order,
// times 0x9E3779B1, top 8 bits.
func vipSlotOf(a [16]byte) uint32 {
	w := binary.LittleEndian.Uint32(a[0:]) ^ binary.LittleEndian.Uint32(a[4:]) ^
		binary.LittleEndian.Uint32(a[8:]) ^ binary.LittleEndian.Uint32(a[12:])
	return (w * 0x9E3779B1) >> 24
}

// vipLayout places the VIPs of t into the probe table, in VIPs order.
func vipLayout(t *model.Tables) ([vipSlots]vipfarmVipSlot, error) {
	var slots [vipSlots]vipfarmVipSlot
	for _, v := range t.VIPs {
		key := v.As16()
		vs := vipfarmVipSlot{Addr: key, Valid: 1}
		for _, r := range t.Rules {
			if r.VIP.IsValid() && r.VIP.As16() != key {
				continue
			}
			vs.Rules[vs.Nrules] = vipfarmRule{Proto: r.Proto, Filter: uint8(r.Filter), Group: r.Group, Port: r.Port}
			vs.Nrules++
		}
		first, placed := vipSlotOf(key), false
		for i := uint32(0); i < vipProbes && !placed; i++ {
			k := (first + i) % vipSlots
			if slots[k].Valid == 0 {
				slots[k], placed = vs, true
			}
		}
		if !placed {
			return slots, fmt.Errorf("dataplane: configure: VIP %s: its %d probe slots from %d are taken by other VIPs", v, vipProbes, first)
		}
	}
	return slots, nil
}

// Peer table geometry (bpf/vipfarm.h): direct-mapped with linear probing.
const (
	peerSlots  = 256
	peerProbes = 8
)

// peerSlotOf is the first slot probed for a MAC, as is_peer computes it.
func peerSlotOf(m [6]byte) uint32 {
	return (binary.LittleEndian.Uint32(m[2:6]) * 0x9E3779B1) >> 24
}

// peerLayout places every other node's known MAC into the probe table.
func peerLayout(t *model.Tables) ([peerSlots]vipfarmPeerSlot, error) {
	var slots [peerSlots]vipfarmPeerSlot
	for i, m := range t.MACs {
		if i == int(t.Self) || m == ([6]byte{}) {
			continue
		}
		first, placed := peerSlotOf(m), false
		for p := uint32(0); p < peerProbes && !placed; p++ {
			k := (first + p) % peerSlots
			if slots[k].Valid == 0 {
				slots[k], placed = vipfarmPeerSlot{Mac: m, Valid: 1, Node: uint8(i)}, true
			}
		}
		if !placed {
			return slots, fmt.Errorf("dataplane: configure: MAC %x of node %d: its %d probe slots from %d are taken", m, i, peerProbes, first)
		}
	}
	return slots, nil
}
