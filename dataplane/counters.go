package dataplane

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vipfarm/vipfarm/dataplane/model"
)

// Counters are the program's decision counters, summed over CPUs.
type Counters struct {
	Total  model.Counts // every counted decision
	Global model.Counts // decisions without a bucket: ARP/NS duty, no rule, malformed
	Groups []GroupCounters
}

// GroupCounters are one load-balancing group's counters.
type GroupCounters struct {
	Total   model.Counts
	Buckets [model.Buckets]model.Counts
}

const globalSlot = model.MaxGroups * model.Buckets

// Counters reads every counter (one map read per slot: 256 per configured
// group plus one, up to 2,049 syscalls; for metrics scrapes, not per
// packet). Groups has one entry per configured group.
func (d *Dataplane) Counters() (Counters, error) {
	d.mu.Lock()
	ngroups := 0
	if d.tables != nil {
		ngroups = len(d.tables.Owners)
	}
	d.mu.Unlock()
	var c Counters
	c.Groups = make([]GroupCounters, ngroups)
	var per []vipfarmCounts
	sum := func(slot uint32) (model.Counts, error) {
		if err := d.objs.Counters.Lookup(slot, &per); err != nil {
			return model.Counts{}, fmt.Errorf("dataplane: read counters slot %d: %w", slot, err)
		}
		var s model.Counts
		for _, p := range per {
			s = s.Plus(model.Counts{Accepted: p.Accepted, Forwarded: p.Forwarded, Dropped: p.Dropped, NotOurs: p.NotOurs})
		}
		return s, nil
	}
	for g := 0; g < ngroups; g++ {
		for b := 0; b < model.Buckets; b++ {
			s, err := sum(uint32(g*model.Buckets + b))
			if err != nil {
				return c, err
			}
			c.Groups[g].Buckets[b] = s
			c.Groups[g].Total = c.Groups[g].Total.Plus(s)
		}
		c.Total = c.Total.Plus(c.Groups[g].Total)
	}
	s, err := sum(globalSlot)
	if err != nil {
		return c, err
	}
	c.Global = s
	c.Total = c.Total.Plus(s)
	return c, nil
}

// ResetCounters sets every counter to zero.
func (d *Dataplane) ResetCounters() error {
	zero := make([]vipfarmCounts, ebpf.MustPossibleCPU())
	for slot := uint32(0); slot <= globalSlot; slot++ {
		if err := d.objs.Counters.Put(slot, zero); err != nil {
			return fmt.Errorf("dataplane: reset counters slot %d: %w", slot, err)
		}
	}
	return nil
}
