//go:build ignore

/* xdp_vipfarm.c — vipfarm's per-packet decision (SPEC §4, docs/dataplane.md).
 *
 * Every step mirrors dataplane/model/decide.go; the differential tests hold
 * the two to the same verdict, output bytes and counters. Order of a frame:
 *   Ethernet (+ one 802.1Q tag) → ARP request for a VIP: ARP holder only
 *   IPv4 / IPv6 (+ extension headers, NS for a VIP: ARP holder only)
 *   not to a VIP → XDP_PASS untouched, uncounted
 *   TCP/UDP matching a rule → bucket = hash(client) → owner:
 *     drain rule, own → PASS, peer frame → PASS, no owner → DROP,
 *     other → TX to the owner (alias) or DROP (vmac_invisible)
 *   anything else to a VIP → ARP holder only
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "vipfarm.h"

char __license[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIP_SLOTS);
	__type(key, __u32);
	__type(value, struct vip_slot);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * MAX_GROUPS);
	__type(key, __u32);
	__type(value, struct group_table);
} tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_GROUPS);
	__type(key, __u32);
	__type(value, __u32);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NODES);
	__type(key, __u32);
	__type(value, struct node_mac);
} node_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PEER_SLOTS);
	__type(key, __u32);
	__type(value, struct peer_slot);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GLOBAL_SLOT + 1);
	__type(key, __u32);
	__type(value, struct counts);
} counters SEC(".maps");

enum reason { R_NONE, R_ACCEPTED, R_FORWARDED, R_DROPPED, R_NOT_OURS };

#define ETH_P_8021Q 0x8100
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
#define ICMP6_NS 135
#define TCP_SYN 0x02
#define TCP_ACK 0x10

struct eth {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

union addr16 {
	struct vip_key key;
	__u32 w[4];
};

/* find_vip returns the VIP's slot, or NULL when a is not a VIP. */
static __always_inline struct vip_slot *find_vip(union addr16 *a)
{
	__u32 idx = ((a->w[0] ^ a->w[1] ^ a->w[2] ^ a->w[3]) * 0x9E3779B1u) >> 24;
	int i;

#pragma unroll
	for (i = 0; i < VIP_PROBES; i++) {
		__u32 k = (idx + i) & (VIP_SLOTS - 1);
		struct vip_slot *s = bpf_map_lookup_elem(&vips, &k);

		if (!s || !s->valid)
			return 0;
		if (*(__u64 *)&s->addr[0] == ((__u64)a->w[1] << 32 | a->w[0]) &&
		    *(__u64 *)&s->addr[8] == ((__u64)a->w[3] << 32 | a->w[2]))
			return s;
	}
	return 0;
}

/* is_peer: is mac (6 bytes in the low bytes of mk) another node's MAC? */
static __always_inline int is_peer(__u64 mk)
{
	__u32 idx = ((__u32)(mk >> 16) * 0x9E3779B1u) >> 24;
	int i;

#pragma unroll
	for (i = 0; i < PEER_PROBES; i++) {
		__u32 k = (idx + i) & (PEER_SLOTS - 1);
		struct peer_slot *s = bpf_map_lookup_elem(&peers, &k);

		if (!s || !s->valid)
			return 0;
		if ((*(__u64 *)s & 0xffffffffffffULL) == mk)
			return 1;
	}
	return 0;
}

static __always_inline int verdict(__u32 slot, int reason, int action)
{
	struct counts *c = bpf_map_lookup_elem(&counters, &slot);

	if (c) {
		switch (reason) {
		case R_ACCEPTED: c->accepted++; break;
		case R_FORWARDED: c->forwarded++; break;
		case R_DROPPED: c->dropped++; break;
		case R_NOT_OURS: c->not_ours++; break;
		}
	}
	return action;
}

/* ARP requests and NS for a VIP, and VIP traffic matching no rule. */
static __always_inline int holder_duty(struct settings *cfg)
{
	if (cfg->arp_holder)
		return verdict(GLOBAL_SLOT, R_ACCEPTED, XDP_PASS);
	return verdict(GLOBAL_SLOT, R_DROPPED, XDP_DROP);
}

static __always_inline int malformed(void)
{
	return verdict(GLOBAL_SLOT, R_DROPPED, XDP_DROP);
}

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3_x86_32 block step on one 32-bit word (see model/hash.go). */
static __always_inline __u32 murmur_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 bucket_of(union addr16 *src, int v6, __u16 sport, int use_port)
{
	__u32 h = 0, n;

	if (!v6) {
		h = murmur_word(h, bpf_ntohl(src->w[3]));
		n = 1;
	} else {
		h = murmur_word(h, bpf_ntohl(src->w[0]));
		h = murmur_word(h, bpf_ntohl(src->w[1]));
		h = murmur_word(h, bpf_ntohl(src->w[2]));
		h = murmur_word(h, bpf_ntohl(src->w[3]));
		n = 4;
	}
	if (use_port) {
		h = murmur_word(h, sport);
		n++;
	}
	h ^= 4 * n;
	return fmix32(h) & 0xff;
}

static __always_inline void v4_key(union addr16 *a, __u32 be_addr)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0x0000ffff);
	a->w[3] = be_addr;
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] &&
	       a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline int mac_zero(const __u8 *a)
{
	return (a[0] | a[1] | a[2] | a[3] | a[4] | a[5]) == 0;
}

/* Rewrite the MACs toward node `to`: destination its MAC, source ours (or
 * the switch learns the client's MAC on our port), and send it back out. */
static __always_inline int forward(struct eth *eth, struct settings *cfg, __u32 to, __u32 slot)
{
	struct node_mac *m = bpf_map_lookup_elem(&node_macs, &to);

	if (!m || !m->valid || mac_zero(cfg->self_mac))
		return verdict(slot, R_DROPPED, XDP_DROP);
	__builtin_memcpy(eth->dst, m->addr, 6);
	__builtin_memcpy(eth->src, cfg->self_mac, 6);
	return verdict(slot, R_FORWARDED, XDP_TX);
}

/* Is there a local, non-LISTEN TCP socket for this 4-tuple? A SYN would match
 * the listener, an established flow its own socket. Always released. */
static __always_inline int sock_found(struct xdp_md *ctx, union addr16 *src, union addr16 *dst,
				      int v6, __be16 sport, __be16 dport)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	int found;

	if (!v6) {
		t.ipv4.saddr = src->w[3];
		t.ipv4.daddr = dst->w[3];
		t.ipv4.sport = sport;
		t.ipv4.dport = dport;
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, src->w, 16);
		__builtin_memcpy(t.ipv6.daddr, dst->w, 16);
		t.ipv6.sport = sport;
		t.ipv6.dport = dport;
		size = sizeof(t.ipv6);
	}
	sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	found = sk->state != BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return found;
}

struct pkt {
	union addr16 src;
	union addr16 dst;
	__u32 l4;
	__u8 proto;
	__u8 v6;
	__u8 frag;
};

static __always_inline int decide_transport(struct xdp_md *ctx, struct settings *cfg,
					    struct vip_slot *vi, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct eth *eth = data;
	__be16 sport_be = 0, dport_be = 0;
	__u16 dport = 0;
	__u8 flags = 0;
	int use_port, found;
	__u32 g, b, key, slot, n, i;
	__u32 *act;
	struct rule *r = 0;
	struct group_table *tb;
	__u8 owner, prev, self;

	if (p->proto != PROTO_TCP && p->proto != PROTO_UDP)
		return holder_duty(cfg);
	if (!p->frag) {
		__u32 off = p->l4;
		void *l4;

		if (off > MAX_L4_OFF)
			return malformed();
		l4 = data + off;
		if (p->proto == PROTO_TCP) {
			if (l4 + 20 > data_end)
				return malformed();
			flags = *(__u8 *)(l4 + 13);
		} else if (l4 + 8 > data_end) {
			return malformed();
		}
		sport_be = *(__be16 *)l4;
		dport_be = *(__be16 *)(l4 + 2);
		dport = bpf_ntohs(dport_be);
	}

	n = vi->nrules;
	for (i = 0; i < MAX_VIP_RULES; i++) {
		if (i >= n)
			break;
		if (vi->rules[i].proto == p->proto &&
		    (p->frag || vi->rules[i].port == 0 || vi->rules[i].port == dport)) {
			r = &vi->rules[i];
			break;
		}
	}
	if (!r)
		return holder_duty(cfg);
	g = r->group;
	if (g >= MAX_GROUPS)
		return malformed();
	use_port = r->filter == FILTER_ON_PORT && !p->frag;
	b = bucket_of(&p->src, p->v6, bpf_ntohs(sport_be), use_port);
	slot = g * BUCKETS + b;

	act = bpf_map_lookup_elem(&active, &g);
	if (!act)
		return malformed();
	key = (*act & 1) * MAX_GROUPS + g;
	tb = bpf_map_lookup_elem(&tables, &key);
	if (!tb)
		return malformed();
	owner = tb->owner[b];
	prev = tb->prev[b];
	self = cfg->self;

	/* Drain rule: during a moved bucket's drain window the previous owner
	 * keeps its established connections and the new owner hands unknown
	 * non-SYN segments back to it (GLB "second chance"). */
	if (p->proto == PROTO_TCP && !p->frag && (flags & (TCP_SYN | TCP_ACK)) != TCP_SYN &&
	    prev != NO_OWNER && prev != owner && (prev == self || owner == self) &&
	    bpf_ktime_get_ns() < tb->drain_until[b]) {
		found = sock_found(ctx, &p->src, &p->dst, p->v6, sport_be, dport_be);
		if (prev == self && found)
			return verdict(slot, R_ACCEPTED, XDP_PASS);
		if (owner == self && !found) {
			__u32 pk = prev;
			struct node_mac *pm;

			if (cfg->mode == MODE_VMAC_INVISIBLE)
				return verdict(slot, R_NOT_OURS, XDP_DROP);
			/* refresh after the helper call: it invalidates packet pointers */
			data = (void *)(long)ctx->data;
			data_end = (void *)(long)ctx->data_end;
			eth = data;
			if ((void *)(eth + 1) > data_end)
				return malformed();
			pm = bpf_map_lookup_elem(&node_macs, &pk);
			if (pm && pm->valid && mac_eq(pm->addr, eth->src))
				return verdict(slot, R_ACCEPTED, XDP_PASS);
			return forward(eth, cfg, pk, slot);
		}
	}
	if (owner == self)
		return verdict(slot, R_ACCEPTED, XDP_PASS);
	if (cfg->mode == MODE_VMAC_INVISIBLE) {
		if (owner == NO_OWNER)
			return verdict(slot, R_DROPPED, XDP_DROP);
		return verdict(slot, R_NOT_OURS, XDP_DROP);
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return malformed();
	{
		__u64 mk = 0;

		__builtin_memcpy(&mk, eth->src, 6);
		if (is_peer(mk))
			return verdict(slot, R_ACCEPTED, XDP_PASS); /* forwarded once: never again */
	}
	if (owner == NO_OWNER)
		return verdict(slot, R_DROPPED, XDP_DROP);
	return forward(eth, cfg, owner, slot);
}

static __always_inline int decide_arp(void *data, void *data_end, __u32 l3, struct settings *cfg)
{
	__u8 *a = data + l3;
	union addr16 tpa;

	if ((void *)(a + 28) > data_end)
		return XDP_PASS;
	if (a[0] != 0 || a[1] != 1 || a[2] != 0x08 || a[3] != 0x00 || a[4] != 6 || a[5] != 4 ||
	    a[6] != 0 || a[7] != 1)
		return XDP_PASS;
	v4_key(&tpa, *(__u32 *)(a + 24));
	if (!find_vip(&tpa))
		return XDP_PASS;
	return holder_duty(cfg);
}

static __always_inline int decide_ipv4(struct xdp_md *ctx, __u32 l3, struct settings *cfg)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *ip = data + l3;
	struct vip_slot *vi;
	struct pkt p = {};
	__u32 ihl;

	if ((void *)(ip + 20) > data_end)
		return XDP_PASS;
	if ((ip[0] >> 4) != 4)
		return XDP_PASS;
	v4_key(&p.dst, *(__u32 *)(ip + 16));
	vi = find_vip(&p.dst);
	if (!vi)
		return XDP_PASS;
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20 || (void *)(ip + ihl) > data_end)
		return malformed();
	v4_key(&p.src, *(__u32 *)(ip + 12));
	p.proto = ip[9];
	p.frag = (bpf_ntohs(*(__be16 *)(ip + 6)) & 0x3fff) != 0;
	p.l4 = l3 + ihl;
	return decide_transport(ctx, cfg, vi, &p);
}

static __always_inline int decide_ipv6(struct xdp_md *ctx, __u32 l3, struct settings *cfg)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *ip = data + l3;
	struct vip_slot *vi;
	struct pkt p = {};
	__u32 off, i;
	__u8 nh;
	int done = 0;

	if ((void *)(ip + 40) > data_end)
		return XDP_PASS;
	if ((ip[0] >> 4) != 6)
		return XDP_PASS;
	nh = ip[6];
	__builtin_memcpy(&p.dst, ip + 24, 16);
	vi = find_vip(&p.dst);
	if (!vi) {
		/* NS for a VIP travel to its solicited-node address: look at the
		 * target of an NS right after the fixed header. */
		__u8 *icmp = ip + 40;
		union addr16 target;

		if (nh != PROTO_ICMPV6 || (void *)(icmp + 24) > data_end || icmp[0] != ICMP6_NS)
			return XDP_PASS;
		__builtin_memcpy(&target, icmp + 8, 16);
		if (!find_vip(&target))
			return XDP_PASS;
		return holder_duty(cfg);
	}
	__builtin_memcpy(&p.src, ip + 8, 16);
	p.v6 = 1;
	off = l3 + 40;
#pragma unroll
	for (i = 0; i < MAX_EXT_HDRS; i++) {
		__u8 *h;

		if (nh != 0 && nh != 43 && nh != 60 && nh != 51 && nh != 44) {
			done = 1;
			break;
		}
		if (off > MAX_L4_OFF)
			return malformed();
		h = data + off;
		if ((void *)(h + 8) > data_end)
			return malformed();
		if (nh == 44) {
			/* stop at the Fragment header: its next header is the
			 * protocol of every fragment of the datagram */
			p.frag = 1;
			nh = h[0];
			off += 8;
			done = 1;
			break;
		}
		if (nh == 51)
			off += ((__u32)h[1] + 2) * 4;
		else
			off += ((__u32)h[1] + 1) * 8;
		nh = h[0];
	}
	if (!done)
		return malformed();
	p.proto = nh;
	p.l4 = off;
	return decide_transport(ctx, cfg, vi, &p);
}

SEC("xdp")
int xdp_vipfarm(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct eth *eth = data;
	struct settings *cfg;
	__u32 zero = 0, l3 = sizeof(struct eth);
	__u16 etype;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->configured)
		return XDP_PASS;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	etype = bpf_ntohs(eth->proto);
	if (etype == ETH_P_8021Q) {
		if (data + sizeof(struct eth) + 4 > data_end)
			return XDP_PASS;
		etype = bpf_ntohs(*(__be16 *)(data + 16));
		l3 += 4;
	}
	switch (etype) {
	case ETH_P_ARP:
		return decide_arp(data, data_end, l3, cfg);
	case ETH_P_IP:
		return decide_ipv4(ctx, l3, cfg);
	case ETH_P_IPV6:
		return decide_ipv6(ctx, l3, cfg);
	}
	return XDP_PASS;
}

/* xdp_pass is attached by the lab on the switch-side veth of each node: a veth
 * delivers XDP_TX frames only when its peer runs an XDP program (NOTES.md). */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
