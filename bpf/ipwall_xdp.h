/* SPDX-License-Identifier: MIT */
/*
 * What ipwall's XDP programs share (kernel side only): finding the source
 * address of an Ethernet frame, the liveness test of an entry, and the
 * verdict flow, so that the programs differ only in how they search a
 * list.
 *
 * Frames: Ethernet II with 0, 1 or 2 VLAN tags (802.1Q 0x8100 and 802.1ad
 * 0x88a8, in either position), then IPv4 or IPv6. What is judged is the
 * SOURCE address only, and it sits at a fixed place in the first header,
 * so nothing past that header is read:
 *   - IPv4: version 4, ihl >= 5, and the whole header, options included
 *     (ihl * 4 bytes), inside the frame; the total length and checksum are
 *     not checked (the stack drops such packets itself).
 *   - IPv6: version 6 and the 40-byte fixed header inside the frame; an
 *     IPv4-mapped source (::ffff:a.b.c.d) is judged as the IPv4 address,
 *     as the table folds it (include/ipwall/addr.h).
 *   - Fragments are judged like any other packet: every fragment, first
 *     or not, carries the source address in its header, so a banned
 *     source loses all of its fragments and an admitted one none. No
 *     reassembly state is needed and an attacker gains nothing by
 *     fragmenting.
 * Everything else passes: a frame too short for its headers or with a bad
 * version or ihl (IPW_PKT_MALFORMED), and a frame that is not IP, or has a
 * third VLAN tag (IPW_PKT_NOT_IP). The program never drops what it cannot
 * read.
 *
 * Every read is bounds-checked against data_end before it is made, as the
 * verifier demands; there are no loops (the two tags are unrolled).
 */
#ifndef IPWALL_BPF_IPWALL_XDP_H
#define IPWALL_BPF_IPWALL_XDP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ipwall_maps.h"

enum ipw_pkt {
	IPW_PKT_NOT_IP = 0,
	IPW_PKT_MALFORMED = 1,
	IPW_PKT_V4 = 4, /* IPv4 (or IPv4-mapped IPv6) source */
	IPW_PKT_V6 = 6, /* IPv6 source */
};

/* A source address: 16 bytes in network byte order, IPv4 as
 * ::ffff:a.b.c.d (w[3] is the IPv4 address). */
union ipw_src {
	__u32 w[4];
	__u64 d[2];
};

struct ipw_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int ipw_is_vlan(__be16 proto)
{
	return proto == bpf_htons(0x8100) || proto == bpf_htons(0x88a8);
}

/* The source address of the frame in [data, data_end) into @src; see
 * enum ipw_pkt. */
static __always_inline int ipw_parse_src(void *data, void *data_end,
					 union ipw_src *src)
{
	struct ethhdr *eth = data;
	struct ipw_vlan_hdr *vh;
	void *l3;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return IPW_PKT_MALFORMED;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (ipw_is_vlan(proto)) {
		vh = l3;
		if ((void *)(vh + 1) > data_end)
			return IPW_PKT_MALFORMED;
		proto = vh->encap_proto;
		l3 = vh + 1;
		if (ipw_is_vlan(proto)) {
			vh = l3;
			if ((void *)(vh + 1) > data_end)
				return IPW_PKT_MALFORMED;
			proto = vh->encap_proto;
			l3 = vh + 1;
		}
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			return IPW_PKT_MALFORMED;
		if (ip->version != 4 || ip->ihl < 5)
			return IPW_PKT_MALFORMED;
		if (l3 + ip->ihl * 4 > data_end)
			return IPW_PKT_MALFORMED;
		src->w[0] = 0;
		src->w[1] = 0;
		src->w[2] = bpf_htonl(0xffff);
		src->w[3] = ip->saddr;
		return IPW_PKT_V4;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return IPW_PKT_MALFORMED;
		if (ip6->version != 6)
			return IPW_PKT_MALFORMED;
		src->w[0] = ip6->saddr.in6_u.u6_addr32[0];
		src->w[1] = ip6->saddr.in6_u.u6_addr32[1];
		src->w[2] = ip6->saddr.in6_u.u6_addr32[2];
		src->w[3] = ip6->saddr.in6_u.u6_addr32[3];
		if (src->w[0] == 0 && src->w[1] == 0 &&
		    src->w[2] == bpf_htonl(0xffff))
			return IPW_PKT_V4;
		return IPW_PKT_V6;
	}
	return IPW_PKT_NOT_IP;
}

/* An entry is live unless it has an expiry at or before now. The clock is
 * read once per packet, and only when an expiring entry is met. */
static __always_inline int ipw_live(__u64 expires, __u64 *now)
{
	if (expires == 0)
		return 1;
	if (*now == 0)
		*now = bpf_ktime_get_boot_ns();
	return expires > *now;
}

/* The maps every program has (ipwall_maps.h): the mode and the length
 * masks, and the packet counters. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ipw_bpf_config);
	__uint(max_entries, 1);
} ipw_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, IPW_BPF_COUNTERS);
} ipw_counters SEC(".maps");

/* What a search reads and writes besides the lengths: the source address
 * and the clock, read at most once per packet. */
struct ipw_walk {
	union ipw_src src;
	__u64 now;
};

/* Count one frame under counter @c; @verdict, for returning. */
static __always_inline int ipw_count(__u32 c, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&ipw_counters, &c);

	if (n)
		*n += 1;
	return verdict;
}

/*
 * IPW_XDP_PROGRAM() defines XDP program @name: the verdict of a frame,
 * counted in ipw_counters. An allow that matches admits; in allowlist
 * mode nothing else does; in denylist mode a ban that matches drops;
 * everything else passes. @match(walk, cfg, v6, list) is the program's way
 * to search a list (1 = a live entry of the list covers the address).
 */
#define IPW_XDP_PROGRAM(name, match)                                        \
	SEC("xdp") int name(struct xdp_md *ctx)                             \
	{                                                                   \
		void *data = (void *)(long)ctx->data;                       \
		void *data_end = (void *)(long)ctx->data_end;               \
		struct ipw_bpf_config *cfg;                                 \
		struct ipw_walk w = {0};                                    \
		__u32 zero = 0;                                             \
		int fam, v6;                                                \
                                                                            \
		fam = ipw_parse_src(data, data_end, &w.src);                \
		if (fam == IPW_PKT_NOT_IP)                                  \
			return ipw_count(IPW_BPF_PASS_NOT_IP, XDP_PASS);    \
		if (fam == IPW_PKT_MALFORMED)                               \
			return ipw_count(IPW_BPF_PASS_MALFORMED, XDP_PASS); \
		cfg = bpf_map_lookup_elem(&ipw_config, &zero);              \
		if (!cfg)                                                   \
			return XDP_PASS;                                    \
		v6 = fam == IPW_PKT_V6;                                     \
		if (match(&w, cfg, v6, IPW_BPF_LIST_ALLOW))                 \
			return ipw_count(v6 ? IPW_BPF_PASS_V6 :             \
					      IPW_BPF_PASS_V4,              \
					 XDP_PASS);                         \
		if (cfg->mode == IPW_BPF_MODE_ALLOWLIST)                    \
			return ipw_count(v6 ? IPW_BPF_DROP_NOT_ALLOWED_V6 : \
					      IPW_BPF_DROP_NOT_ALLOWED_V4,  \
					 XDP_DROP);                         \
		if (match(&w, cfg, v6, IPW_BPF_LIST_BAN))                   \
			return ipw_count(v6 ? IPW_BPF_DROP_BAN_V6 :         \
					      IPW_BPF_DROP_BAN_V4,          \
					 XDP_DROP);                         \
		return ipw_count(v6 ? IPW_BPF_PASS_V6 : IPW_BPF_PASS_V4,    \
				 XDP_PASS);                                 \
	}

#endif /* IPWALL_BPF_IPWALL_XDP_H */
