// Package dataplane loads vipfarm's XDP program (bpf/xdp_vipfarm.c) and keeps
// its maps in step with the farm: the configuration (VIPs, rules, node MACs,
// this node's index, ARP-holder duty, delivery mode), the per-group bucket
// owners, and the drain state that keeps established connections alive while
// buckets move. It also reads the per-CPU counters.
//
// The loop a driver (farmd) runs:
//
//	dp, _ := dataplane.Load(dataplane.Options{})
//	defer dp.Close()
//	dp.Configure(&tables)               // at start and at every config change
//	dp.Attach(ifindex, false)           // driver mode; true = generic (skb) mode
//	for each core.TableUpdate {
//		dp.SetOwners(u.Group, u.Owners, drainMs) // atomic switch, computes the drain state
//	}
//	c, _ := dp.Counters()               // for metrics
//
// Every per-packet decision is specified by the pure-Go model in
// dataplane/model; the differential tests hold the program to it.
package dataplane
