// SPDX-License-Identifier: MIT
/*
 * ipwall's XDP enforcement program: drop a frame when the ban table's
 * verdict for its source address is "blocked", with the table's semantics
 * (include/ipwall/table.h):
 *   - an allow that is live and covers the address admits it, whatever
 *     the bans (an allowed hole inside a banned range stays open);
 *   - allowlist mode: anything no live allow covers is dropped;
 *   - denylist mode: dropped iff a live ban covers it;
 *   - an entry whose expiry (CLOCK_BOOTTIME ns) is at or before now never
 *     matches; a longer prefix that expired falls through to a shorter one
 *     that is live;
 *   - IPv4-mapped IPv6 sources are judged as IPv4;
 *   - fragments are judged by their source address like any packet (it
 *     is in every fragment's header, first or not);
 *   - anything truncated, malformed or not IP passes.
 * bpf/ipwall_xdp.h says what is parsed and why.
 *
 * Matching: a hash per prefix length instead of BPF_MAP_TYPE_LPM_TRIE.
 * Every entry sits in one hash map (ipw_entries) under the key {list,
 * length, address masked to the length}, IPv4 as IPv4-mapped IPv6, and
 * ipw_config holds, per list and family, the set of lengths in use as a
 * bitmask. A lookup walks the lengths in use from the longest down, masks
 * the source address to each and probes the hash: for the allow list the
 * first live hit admits; for the ban list the first live hit drops. Since
 * any live match decides a list, an expired entry just lets the walk go on
 * to the next shorter length. A probe costs the same at 1 entry and at a
 * million (jhash of the 24-byte key, one bucket), against the trie's walk
 * down as many nodes as the prefixes branch; but there is one probe per
 * length in use, so the walk loses when many lengths are (a blocklist feed
 * uses all of /12../32).
 *
 * Two programs share these maps and differ in which lengths they probe:
 *   ipwall_xdp        every length in use in the list (ipw_config);
 *   ipwall_xdp_cells  only the lengths present near the address: those in
 *                     its IPv4 /16 (ipw_cells4, an array: no probe to
 *                     find them) or in its IPv6 /32 (ipw_groups6, one
 *                     hash probe), plus the IPv6 lengths up to /32 from
 *                     ipw_config. A miss from an address no entry is near
 *                     costs an array read or one probe, whatever the mix.
 *                     A list with a single length in use for the family
 *                     (an exact-address list) skips the summary and
 *                     probes that length at once: the summary would be a
 *                     second random memory access for nothing (measured:
 *                     IPv6 exact hits at 1M cost 2x the plain walk with
 *                     the group probe).
 * User space keeps the masks of both (bpf/ipwall_bpf.c). Which one the
 * backend attaches is for bench/bpf/bench_bpf.c's numbers to decide. The
 * kernel's hash uses a random seed per map, so crafted addresses cannot
 * lengthen the bucket chains (HashDoS).
 *
 * Walking the bits: the masks are stored reversed (bit i = length 32 - i,
 * or 128 - 64w - i in word w) so that the lowest set bit, x & -x, is the
 * longest length; its index is the popcount of (bit - 1), done with
 * shifts and masks because clang 14 crashes on ctz/clz for BPF. The
 * address is masked as two 64-bit words with masks computed without a
 * branch. One walk is a global function, ipw_walk(), taking one 64-bit
 * word of lengths: the verifier checks it once instead of once per path
 * into it (inlined, the 2 lists x 4 words of loops did not verify within
 * the 1M instruction budget). Its loop is bounded by 64, the most bits a
 * word can hold, so the bound never cuts a walk short.
 *
 * Concurrency: user space changes entries with map updates (RCU inside the
 * kernel) and the masks and mode with single-word atomic stores into the
 * mmapped config, setting a length's bit after inserting the first entry
 * of that length and clearing it after deleting the last (ipwall_maps.h).
 * A packet racing with a write sees the table before or after it, per
 * entry. The per-entry drop counter is incremented atomically; the packet
 * counters are per CPU and need no atomics.
 */
#include "ipwall_xdp.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipw_bpf_key);
	__type(value, struct ipw_bpf_value);
	__uint(max_entries, IPW_BPF_DEFAULT_ENTRIES);
} ipw_entries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, IPW_BPF_NCELLS);
} ipw_cells4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipw_bpf_group_key);
	__type(value, struct ipw_bpf_group);
	__uint(max_entries, IPW_BPF_DEFAULT_ENTRIES);
} ipw_groups6 SEC(".maps");

/* The index of the single set bit of @bit: popcount(bit - 1). */
static __always_inline __u64 bit_index(__u64 bit)
{
	__u64 x = bit - 1;

	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (x * 0x0101010101010101ull) >> 56;
}

/*
 * @k->addr = @src masked to @len bits (0..128), without a branch. In host
 * order the mask's high word is all ones from 64 bits on ((len + 64) >> 7
 * is 1 exactly then) and else ~(~0 >> len); the low word is zero below 64
 * bits, all ones at 128 and else ~(~0 >> (len - 64)). Shifts stay below 64.
 */
static __always_inline void mask_addr(struct ipw_bpf_key *k,
				      const union ipw_src *src, __u64 len)
{
	__u64 full_hi = -((len + 64) >> 7), full_lo = -(len >> 7);
	__u64 part = ~(~0ull >> (len & 63));

	k->addr[0] = src->d[0] & bpf_cpu_to_be64(full_hi | part);
	k->addr[1] = src->d[1] & bpf_cpu_to_be64(full_hi & (full_lo | part));
}

/*
 * Is the packet's address covered by a live entry of @list among the
 * lengths in @lens, one word of ipw_bpf_config's masks, whose bit i is
 * length @top - i (top = 128 for lens4 and lens6[][0] (an IPv4 length L is
 * 96 + L), 64 for lens6[][1], 0 for lens6[][2])? The longest length is
 * probed first; a ban's match counts a drop on its entry (atomically: every
 * CPU shares it). A global function: verified once (see the top).
 */
__noinline int ipw_walk(struct ipw_walk *w, __u64 lens, __u32 top, __u32 list)
{
	struct ipw_bpf_key k = {.list = (__u8)list};
	struct ipw_bpf_value *v;
	__u32 i;

	if (!w) /* the verifier checks a global function for any argument */
		return 0;
	for (i = 0; i < 64; i++) {
		__u64 bit = lens & -lens;
		__u64 len;

		if (!bit)
			break;
		lens ^= bit;
		len = (top - bit_index(bit)) & 255;
		k.plen = (__u8)len;
		mask_addr(&k, &w->src, len);
		v = bpf_map_lookup_elem(&ipw_entries, &k);
		if (v && ipw_live(v->expires_ns, &w->now)) {
			if (list == IPW_BPF_LIST_BAN)
				__sync_fetch_and_add(&v->drops, 1);
			return 1;
		}
	}
	return 0;
}

/* Does a live entry of @list cover the packet's address? */
static __always_inline int
match(struct ipw_walk *w, const struct ipw_bpf_config *cfg, int v6, __u32 list)
{
	const __u64 *l = cfg->lens6[list];

	if (!v6)
		return cfg->lens4[list] &&
		       ipw_walk(w, cfg->lens4[list], 128, list);
	return (l[0] && ipw_walk(w, l[0], 128, list)) ||
	       (l[1] && ipw_walk(w, l[1], 64, list)) ||
	       ((l[2] & 1) && ipw_walk(w, 1, 0, list));
}

/*
 * As match(), probing only the lengths present near the address: for
 * IPv4 those of the address's /16 cell (which also has the lengths of the
 * entries covering the whole /16); for IPv6 those of its /32 group (one
 * more hash probe, skipped when the list has nothing longer than /32),
 * then the list's lengths up to /32 from the global mask. Same verdicts.
 */
static __always_inline int match_cells(struct ipw_walk *w,
				       const struct ipw_bpf_config *cfg, int v6,
				       __u32 list)
{
	const __u64 *l = cfg->lens6[list];
	struct ipw_bpf_group_key gk = {.list = (__u8)list};
	struct ipw_bpf_group *g;
	__u64 *cell, shorter;
	__u32 idx;

	if (!v6) {
		__u64 lens = cfg->lens4[list];

		if (!lens)
			return 0;
		if (!(lens & (lens - 1))) /* one length: probe it at once */
			return ipw_walk(w, lens, 128, list);
		idx = IPW_BPF_CELL(list, bpf_ntohl(w->src.w[3]) >> 16);
		cell = bpf_map_lookup_elem(&ipw_cells4, &idx);
		return cell && *cell && ipw_walk(w, *cell, 128, list);
	}
	/* One length in use in the whole list: probe it at once, without
	 * the /32 group's hash (an exact-address list is the common one). */
	if (l[0] && !(l[0] & (l[0] - 1)) && !l[1] && !l[2])
		return ipw_walk(w, l[0], 128, list);
	if (!l[0] && l[1] && !(l[1] & (l[1] - 1)) && !l[2])
		return ipw_walk(w, l[1], 64, list);
	if (l[0] | (l[1] & 0xffffffffull)) { /* lengths 33..128 in use */
		gk.prefix = w->src.w[0];
		g = bpf_map_lookup_elem(&ipw_groups6, &gk);
		if (g && ((g->lens[0] && ipw_walk(w, g->lens[0], 128, list)) ||
			  (g->lens[1] && ipw_walk(w, g->lens[1], 64, list))))
			return 1;
	}
	shorter = l[1] & ~0xffffffffull; /* lengths 1..32 */
	return (shorter && ipw_walk(w, shorter, 64, list)) ||
	       ((l[2] & 1) && ipw_walk(w, 1, 0, list));
}

IPW_XDP_PROGRAM(ipwall_xdp, match)
IPW_XDP_PROGRAM(ipwall_xdp_cells, match_cells)
IPW_TC_PROGRAM(ipwall_tc_cells, match_cells)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
