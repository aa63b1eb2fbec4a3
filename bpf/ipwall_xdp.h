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

/*
 * An IPv6 packet that allowlist mode must let through so that the host
 * keeps its link (*@link = 1): a link-local (fe80::/10) or unspecified
 * (::, duplicate address detection) source, or neighbour discovery
 * (ICMPv6 133-137 right after the fixed header), which also comes from
 * global addresses during address resolution. Without them an allowlist
 * would cut the host off its router and neighbours the moment it is on.
 */
static __always_inline void ipw_link_v6(struct ipv6hdr *ip6, void *data_end,
					__u8 *link)
{
	__u8 *type = (__u8 *)(ip6 + 1);
	__u32 w0 = bpf_ntohl(ip6->saddr.in6_u.u6_addr32[0]);

	if ((w0 & 0xffc00000u) == 0xfe800000u ||
	    (w0 == 0 && ip6->saddr.in6_u.u6_addr32[1] == 0 &&
	     ip6->saddr.in6_u.u6_addr32[2] == 0 &&
	     ip6->saddr.in6_u.u6_addr32[3] == 0)) {
		*link = 1;
		return;
	}
	if (ip6->nexthdr == 58 /* ICMPv6 */ && (void *)(type + 1) <= data_end &&
	    *type >= 133 && *type <= 137)
		*link = 1;
}

/* The source address of the frame in [data, data_end) into @src; see
 * enum ipw_pkt. *@link: see ipw_link_v6(). */
static __always_inline int ipw_parse_src(void *data, void *data_end,
					 union ipw_src *src, __u8 *link)
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
		ipw_link_v6(ip6, data_end, link);
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
	__uint(max_entries, IPW_BPF_HOOKS *IPW_BPF_COUNTERS);
} ipw_counters SEC(".maps");

/* What a search reads and writes besides the lengths: the source address
 * and the clock, read at most once per packet. */
struct ipw_walk {
	union ipw_src src;
	__u64 now;
};

/* Count one frame under counter @c of hook @hook (IPW_BPF_HOOK_*). */
static __always_inline void ipw_count(__u32 hook, __u32 c)
{
	__u32 i = hook * IPW_BPF_COUNTERS + c;
	__u64 *n = bpf_map_lookup_elem(&ipw_counters, &i);

	if (n)
		*n += 1;
}

/*
 * IPW_JUDGE() defines ipw_judge_@match(): 1 = drop the frame in [data,
 * data_end), 0 = pass, counted in ipw_counters under @hook. An allow that
 * matches admits; in allowlist mode nothing else does, except the IPv6
 * link traffic of ipw_link_v6(); in denylist mode a ban that matches
 * drops; everything else passes. @match(walk, cfg, v6, list) is the
 * program's way to search a list (1 = a live entry of the list covers the
 * address). The XDP and TC programs of a search share it, so they judge
 * alike.
 */
#define IPW_JUDGE(match)                                                   \
	static __always_inline int ipw_judge_##match(                      \
		void *data, void *data_end, __u32 hook)                    \
	{                                                                  \
		struct ipw_bpf_config *cfg;                                \
		struct ipw_walk w = {0};                                   \
		__u32 zero = 0;                                            \
		__u8 link = 0;                                             \
		int fam, v6;                                               \
                                                                           \
		fam = ipw_parse_src(data, data_end, &w.src, &link);        \
		if (fam == IPW_PKT_NOT_IP) {                               \
			ipw_count(hook, IPW_BPF_PASS_NOT_IP);              \
			return 0;                                          \
		}                                                          \
		if (fam == IPW_PKT_MALFORMED) {                            \
			ipw_count(hook, IPW_BPF_PASS_MALFORMED);           \
			return 0;                                          \
		}                                                          \
		cfg = bpf_map_lookup_elem(&ipw_config, &zero);             \
		if (!cfg)                                                  \
			return 0;                                          \
		v6 = fam == IPW_PKT_V6;                                    \
		if (match(&w, cfg, v6, IPW_BPF_LIST_ALLOW)) {              \
			ipw_count(hook, v6 ? IPW_BPF_PASS_ALLOWED_V6 :     \
					     IPW_BPF_PASS_ALLOWED_V4);     \
			return 0;                                          \
		}                                                          \
		if (cfg->mode == IPW_BPF_MODE_ALLOWLIST) {                 \
			if (link) {                                        \
				ipw_count(hook, IPW_BPF_PASS_LINK_V6);     \
				return 0;                                  \
			}                                                  \
			ipw_count(hook, v6 ? IPW_BPF_DROP_NOT_ALLOWED_V6 : \
					     IPW_BPF_DROP_NOT_ALLOWED_V4); \
			return 1;                                          \
		}                                                          \
		if (match(&w, cfg, v6, IPW_BPF_LIST_BAN)) {                \
			ipw_count(hook, v6 ? IPW_BPF_DROP_BAN_V6 :         \
					     IPW_BPF_DROP_BAN_V4);         \
			return 1;                                          \
		}                                                          \
		ipw_count(hook, v6 ? IPW_BPF_PASS_V6 : IPW_BPF_PASS_V4);   \
		return 0;                                                  \
	}

/* IPW_XDP_PROGRAM() defines XDP program @name judging with @match. */
#define IPW_XDP_PROGRAM(name, match)                                  \
	IPW_JUDGE(match)                                              \
	SEC("xdp") int name(struct xdp_md *ctx)                       \
	{                                                             \
		return ipw_judge_##match((void *)(long)ctx->data,     \
					 (void *)(long)ctx->data_end, \
					 IPW_BPF_HOOK_XDP) ?          \
			       XDP_DROP :                             \
			       XDP_PASS;                              \
	}

/*
 * IPW_TC_PROGRAM() defines TC (clsact ingress) program @name judging with
 * @match, after IPW_XDP_PROGRAM() of the same @match. On ingress the
 * frame starts at its Ethernet header, as in XDP; a hardware-accelerated
 * VLAN tag is already out of the frame (in skb->vlan_tci), which the
 * parser handles like a frame without it. The headers the parser reads
 * (at most 2 tags and a 40-byte IPv6 header plus one ICMPv6 byte) are
 * pulled into the linear part first, so a paged frame is judged, not
 * passed as truncated.
 */
#define IPW_TC_PROGRAM(name, match)                                           \
	SEC("tc") int name(struct __sk_buff *skb)                             \
	{                                                                     \
		__u32 want = 14 + 8 + 40 + 1;                                 \
                                                                              \
		if ((void *)(long)skb->data + want >                          \
		    (void *)(long)skb->data_end)                              \
			bpf_skb_pull_data(skb,                                \
					  skb->len < want ? skb->len : want); \
		return ipw_judge_##match((void *)(long)skb->data,             \
					 (void *)(long)skb->data_end,         \
					 IPW_BPF_HOOK_TC) ?                   \
			       2 /* TC_ACT_SHOT */ :                          \
			       0 /* TC_ACT_OK */;                             \
	}

#endif /* IPWALL_BPF_IPWALL_XDP_H */
