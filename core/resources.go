package core

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// resources is the table of the checker resources a module publishes and
// their current values. Names are kept sorted so that every walk over the
// table (status, rule evaluation) is in one deterministic order.
type resources struct {
	names  []string // sorted
	index  map[string]int
	states []ResourceState // indexed like names
}

func newResources(names []string) *resources {
	r := &resources{names: slices.Clone(names), index: make(map[string]int, len(names))}
	slices.Sort(r.names)
	r.names = slices.Compact(r.names)
	r.states = make([]ResourceState, len(r.names)) // every resource starts init
	for i, n := range r.names {
		r.index[n] = i
	}
	return r
}

// lookup returns the index of the named resource.
func (r *resources) lookup(name string) (int, bool) {
	i, ok := r.index[name]
	return i, ok
}

// ofKind returns, in name order, the indices of the resources of one kind
// ("intf" matches "intf.198.18.0.0").
func (r *resources) ofKind(kind string) []int {
	var out []int
	for i, n := range r.names {
		if resourceKind(n) == kind {
			out = append(out, i)
		}
	}
	return out
}

// snapshot returns the resources and their values, sorted by name.
func (r *resources) snapshot() []ResourceStatus {
	out := make([]ResourceStatus, len(r.names))
	for i, n := range r.names {
		out[i] = ResourceStatus{Name: n, State: r.states[i]}
	}
	return out
}

// resourceKind is the part of a resource name before its first dot: the
// checker kind ("intf", "ip", "tcp", "custom", ...).
func resourceKind(name string) string {
	kind, _, _ := strings.Cut(name, ".")
	return kind
}

// parseResourceState reads a value as written in failover rules.
func parseResourceState(s string) (ResourceState, error) {
	switch s {
	case "init":
		return ResInit, nil
	case "up":
		return ResUp, nil
	case "down":
		return ResDown, nil
	case "unknown":
		return ResUnknown, nil
	}
	return 0, fmt.Errorf("resource value %q is not up, down, init or unknown", s)
}

// durationTicks converts a configured duration to ticks of tickMs
// milliseconds, rounding up, and never below one tick: a timer of zero
// ticks would fire before the thing it guards had any chance to happen.
func durationTicks(d time.Duration, tickMs int) int64 {
	tick := time.Duration(tickMs) * time.Millisecond
	if d <= 0 || tick <= 0 {
		return 1
	}
	n := int64((d + tick - 1) / tick)
	if n < 1 {
		n = 1
	}
	return n
}
