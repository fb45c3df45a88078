package daemon

import (
	"fmt"
	"log/slog"

	"github.com/vipfarm/vipfarm/dataplane"
	"github.com/vipfarm/vipfarm/dataplane/model"
)

// Dataplane is what the driver needs of the XDP dataplane; *dataplane.Dataplane
// (the real XDP program) satisfies it. Hosts without XDP run farmd with
// --no-xdp, which selects noDataplane and says so loudly.
type Dataplane interface {
	// Attach installs the program on an interface (the VIP's), in generic
	// (skb) mode when generic is true.
	Attach(ifindex int, generic bool) error
	// Configure replaces the whole table set (VIPs, rules, owners, MACs, holder).
	Configure(t *model.Tables) error
	// SetOwners replaces one group's owner table; buckets that move keep
	// reaching their previous owner's existing flows for drainMs.
	SetOwners(group int, owners [model.Buckets]uint8, drainMs uint32) error
	// Tables is the configuration in force (nil before Configure).
	Tables() *model.Tables
	// Counters reads the packet counters.
	Counters() (dataplane.Counters, error)
	Close() error
}

// DataplaneFactory makes a module's dataplane.
type DataplaneFactory func(module string) (Dataplane, error)

// XDP loads the real XDP program for each module.
func XDP() DataplaneFactory {
	return func(module string) (Dataplane, error) {
		d, err := dataplane.Load(dataplane.Options{})
		if err != nil {
			return nil, fmt.Errorf("module %s: %w (run with --no-xdp on hosts without XDP)", module, err)
		}
		return d, nil
	}
}

// NoDataplane is the explicit no-XDP mode: nothing filters packets, so the
// VIP's traffic all goes to the ARP holder (failover without load balancing).
func NoDataplane(log *slog.Logger) DataplaneFactory {
	return func(module string) (Dataplane, error) {
		log.Warn("NO XDP: module runs WITHOUT the XDP dataplane (--no-xdp): no load balancing, the ARP holder receives all VIP traffic", "module", module)
		return &noDataplane{}, nil
	}
}

type noDataplane struct{ t *model.Tables }

func (*noDataplane) Attach(int, bool) error                            { return nil }
func (n *noDataplane) Configure(t *model.Tables) error                 { c := *t; n.t = &c; return nil }
func (*noDataplane) SetOwners(int, [model.Buckets]uint8, uint32) error { return nil }
func (n *noDataplane) Tables() *model.Tables                           { return n.t }
func (*noDataplane) Counters() (dataplane.Counters, error)             { return dataplane.Counters{}, nil }
func (*noDataplane) Close() error                                      { return nil }
