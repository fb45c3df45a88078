package dataplane

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// Configure writes a whole configuration: node MACs, VIPs with their rules,
// every group's owners and drain state (t.Prev/t.DrainUntil; missing = no
// drain), then this node's index, ARP-holder duty and mode. Invalid tables
// are refused before any map is touched. The switch is not atomic across
// maps (VIPs appear one by one); the owner tables are, per group.
func (d *Dataplane) Configure(t *model.Tables) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("dataplane: configure: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cp := cloneTables(t)
	// Refuse before any map is touched.
	vips, err := vipLayout(cp)
	if err != nil {
		return err
	}
	peers, err := peerLayout(cp)
	if err != nil {
		return err
	}
	if err := d.writeMACs(cp, &peers); err != nil {
		return err
	}
	if err := d.writeVIPs(&vips); err != nil {
		return err
	}
	for g := 0; g < model.MaxGroups; g++ {
		gt := vipfarmGroupTable{Owner: model.Unowned(), Prev: model.Unowned()}
		if g < len(cp.Owners) {
			gt.Owner = cp.Owners[g]
			if g < len(cp.Prev) {
				gt.Prev = cp.Prev[g]
			}
			if g < len(cp.DrainUntil) {
				gt.DrainUntil = cp.DrainUntil[g]
			}
		}
		if err := d.switchTable(g, &gt); err != nil {
			return err
		}
	}
	// Keep the Go copy's drain state complete so SetOwners can update it.
	for len(cp.Prev) < len(cp.Owners) {
		cp.Prev = append(cp.Prev, model.Unowned())
	}
	for len(cp.DrainUntil) < len(cp.Owners) {
		cp.DrainUntil = append(cp.DrainUntil, [model.Buckets]uint64{})
	}
	s := vipfarmSettings{Configured: 1, Self: cp.Self, Mode: uint8(cp.Mode)}
	if cp.ARPHolder {
		s.ArpHolder = 1
	}
	if int(cp.Self) < len(cp.MACs) {
		s.SelfMac = cp.MACs[cp.Self]
	}
	if err := d.objs.Config.Put(uint32(0), &s); err != nil {
		return fmt.Errorf("dataplane: configure: write settings: %w", err)
	}
	d.tables = cp
	return nil
}

// writeMACs writes every node's MAC (for forwarding) and the peer table
// slots, laid out by peerLayout (to recognise frames another node forwarded).
// As with the VIPs, every slot is rewritten, and rewriting a slot with the
// same content is harmless.
func (d *Dataplane) writeMACs(t *model.Tables, slots *[peerSlots]vipfarmPeerSlot) error {
	for i := 0; i < model.MaxNodes; i++ {
		var nm vipfarmNodeMac
		if i < len(t.MACs) && t.MACs[i] != ([6]byte{}) {
			nm.Addr, nm.Valid = t.MACs[i], 1
		}
		if err := d.objs.NodeMacs.Put(uint32(i), &nm); err != nil {
			return fmt.Errorf("dataplane: configure: write MAC of node %d: %w", i, err)
		}
	}
	for k := range slots {
		if err := d.objs.Peers.Put(uint32(k), &slots[k]); err != nil {
			return fmt.Errorf("dataplane: configure: write peer slot %d: %w", k, err)
		}
	}
	return nil
}

// writeVIPs rewrites every slot of the VIP table, laid out by vipLayout. Rewriting a slot with the
// same content is harmless to a concurrent reader, so an unchanged VIP set
// never disappears even briefly.
func (d *Dataplane) writeVIPs(slots *[vipSlots]vipfarmVipSlot) error {
	for k := range slots {
		if err := d.objs.Vips.Put(uint32(k), &slots[k]); err != nil {
			return fmt.Errorf("dataplane: configure: write VIP slot %d: %w", k, err)
		}
	}
	return nil
}

// switchTable writes group g's table into its inactive slot, then makes that
// slot active: a packet sees either the old table or the new one, never a
// mix. (A reader still on the old slot finishes within microseconds; the
// next switch rewrites that slot at the earliest one membership change later.)
func (d *Dataplane) switchTable(g int, gt *vipfarmGroupTable) error {
	next := d.slots[g] ^ 1
	key := next*model.MaxGroups + uint32(g)
	if err := d.objs.Tables.Put(key, gt); err != nil {
		return fmt.Errorf("dataplane: write owner table of group %d: %w", g, err)
	}
	if err := d.objs.Active.Put(uint32(g), next); err != nil {
		return fmt.Errorf("dataplane: activate owner table of group %d: %w", g, err)
	}
	d.slots[g] = next
	return nil
}

// SetOwners installs group's new owner table atomically. Every bucket whose
// owner changes from a node to another remembers that node as its previous
// owner, with a drain deadline drainMs from now (0: no drain — pass 0 when the
// previous owner left by failure: nobody holds its connections any more).
// Buckets that do not move keep their drain state.
func (d *Dataplane) SetOwners(group int, owners [model.Buckets]uint8, drainMs uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables == nil {
		return fmt.Errorf("dataplane: set owners of group %d: not configured", group)
	}
	if group < 0 || group >= len(d.tables.Owners) {
		return fmt.Errorf("dataplane: set owners: group %d out of range 0..%d", group, len(d.tables.Owners)-1)
	}
	for b, o := range owners {
		if o != model.NoOwner && int(o) >= model.MaxNodes {
			return fmt.Errorf("dataplane: set owners of group %d: bucket %d has node index %d", group, b, o)
		}
	}
	now := MonotonicNs()
	cur := d.tables.Owners[group]
	prev, until := d.tables.Prev[group], d.tables.DrainUntil[group]
	for b := range owners {
		if cur[b] != owners[b] && cur[b] != model.NoOwner {
			prev[b] = cur[b]
			until[b] = 0
			if drainMs > 0 {
				until[b] = now + uint64(drainMs)*1e6
			}
		}
	}
	gt := vipfarmGroupTable{Owner: owners, Prev: prev, DrainUntil: until}
	if err := d.switchTable(group, &gt); err != nil {
		return err
	}
	d.tables.Owners[group], d.tables.Prev[group], d.tables.DrainUntil[group] = owners, prev, until
	return nil
}

// Tables is a copy of what the program currently decides with (nil before
// Configure): feed it to model.Decide to predict a verdict.
func (d *Dataplane) Tables() *model.Tables {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables == nil {
		return nil
	}
	return cloneTables(d.tables)
}

// MonotonicNs is CLOCK_MONOTONIC in nanoseconds, the clock of the program's
// bpf_ktime_get_ns and of drain deadlines.
func MonotonicNs() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0 // cannot fail on Linux with a valid clock id
	}
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec)
}

func cloneTables(t *model.Tables) *model.Tables {
	c := *t
	c.VIPs = append([]netip.Addr(nil), t.VIPs...)
	c.Rules = append([]model.Rule(nil), t.Rules...)
	c.Owners = append([][model.Buckets]uint8(nil), t.Owners...)
	c.MACs = append([][6]byte(nil), t.MACs...)
	c.Prev = append([][model.Buckets]uint8(nil), t.Prev...)
	c.DrainUntil = append([][model.Buckets]uint64(nil), t.DrainUntil...)
	return &c
}
