//go:build ignore

/* vipfarm.h — limits and map value layouts shared by xdp_vipfarm.c and the Go
 * loader (dataplane/, through bpf2go -type). Keep in step with
 * dataplane/model/tables.go and docs/dataplane.md. */
#ifndef VIPFARM_H
#define VIPFARM_H

#include <linux/types.h>

#define BUCKETS 256
#define NO_OWNER 0xFF
#define MAX_NODES 64
#define MAX_GROUPS 8
#define MAX_VIPS 64
#define MAX_VIP_RULES 16
#define MAX_EXT_HDRS 8
/* No single-buffer XDP frame is longer than a page, so an offset beyond this
 * is beyond the frame: the model's length checks give the same verdict. */
#define MAX_L4_OFF 4096
/* Counter slot of decisions that have no group/bucket (ARP/NS, no rule,
 * malformed). Slots 0..MAX_GROUPS*BUCKETS-1 are group*256+bucket. */
#define GLOBAL_SLOT (MAX_GROUPS * BUCKETS)

enum vf_mode { MODE_ALIAS = 0, MODE_VMAC_INVISIBLE = 1 };
enum vf_filter { FILTER_ON_ADDR = 0, FILTER_ON_PORT = 1 };

/* config: single-entry array. configured == 0 → every frame passes. */
struct settings {
	__u8 configured;
	__u8 self;
	__u8 arp_holder;
	__u8 mode;
	__u8 self_mac[6];
	__u8 pad[2];
};

/* One load-balancing rule, in a VIP's ordered rule list. */
struct rule {
	__u8 proto;  /* 6 tcp, 17 udp */
	__u8 filter; /* enum vf_filter */
	__u8 group;
	__u8 pad;
	__u16 port; /* host byte order; 0 = any */
	__u16 pad2;
};

/* vips: direct-mapped array of VIP_SLOTS with linear probing (an inlined
 * array lookup costs ~2 ns where a hash-map lookup costs ~15-20 ns on every
 * packet). Slot of an address: fold its four 32-bit words, read in host
 * (little-endian) order, by XOR; multiply by 0x9E3779B1; keep the top 8 bits;
 * probe that slot and the next VIP_PROBES-1 (mod VIP_SLOTS) until the address
 * or an empty slot is found. Each slot holds the rules applying to its VIP in
 * config order ("*" rules included). */
#define VIP_SLOTS 256
#define VIP_PROBES 8
struct vip_key {
	__u8 addr[16];
};
struct vip_slot {
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u32 valid;
	__u32 nrules;
	struct rule rules[MAX_VIP_RULES];
};

/* tables: array of 2*MAX_GROUPS, key = slot*MAX_GROUPS + group; the active
 * slot of each group is in the `active` array (double buffering). */
struct group_table {
	__u8 owner[BUCKETS];
	__u8 prev[BUCKETS];
	__u64 drain_until[BUCKETS]; /* CLOCK_MONOTONIC ns */
};

/* peers: the MACs of the other nodes, direct-mapped like the VIPs. Slot of
 * a MAC: its bytes 2..5 as a host-order (little-endian) u32, times
 * 0x9E3779B1, top 8 bits; up to PEER_PROBES linear probes; an empty slot
 * ends the search. */
#define PEER_SLOTS 256
#define PEER_PROBES 8
struct peer_slot {
	__u8 mac[6];
	__u8 valid;
	__u8 node;
};

/* node_macs: array of MAX_NODES. */
struct node_mac {
	__u8 addr[6];
	__u8 valid;
	__u8 pad;
};

/* counters: per-CPU array of GLOBAL_SLOT+1. */
struct counts {
	__u64 accepted;
	__u64 forwarded;
	__u64 dropped;
	__u64 not_ours;
};

#endif
