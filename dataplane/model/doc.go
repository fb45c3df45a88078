// Package model is the pure-Go reference of vipfarm's XDP packet decision
// (bpf/xdp_vipfarm.c). It imports no eBPF library, reads no clock and keeps
// no state, so the simulator can ask it which node accepts a client packet
// (INV-8) and the dataplane tests can compare it, frame by frame, with the
// real program run through BPF_PROG_TEST_RUN.
//
// The shape is one function:
//
//	d := model.Decide(frame, &tables, model.Env{NowNs: now, SocketFound: false})
//	// d.Verdict (Pass, Tx, Drop), d.Reason (which counter), d.Group, d.Bucket,
//	// d.Out (the rewritten frame when d.Verdict == Tx)
//
// Tables is everything the XDP program reads from its maps: this node's index,
// its ARP-holder duty, the delivery mode, the VIPs and load-balancing rules, the
// per-group bucket owners, every node's MAC, and the drain state (previous
// owner and deadline per bucket). Hash and BucketOf are the bucket hash, bit
// for bit the one the C program computes (docs/dataplane.md spells it out).
package model
