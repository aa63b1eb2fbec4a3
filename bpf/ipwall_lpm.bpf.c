// SPDX-License-Identifier: MIT
/*
 * The reference for bpf/ipwall.bpf.c: the same XDP verdicts, with the
 * entries in the kernel's BPF_MAP_TYPE_LPM_TRIE instead of a hash per
 * prefix length. Used by the benchmark (bench/bpf/bench_bpf.c) and by the
 * tests, which check that every program agrees with the library's table;
 * never by the daemon.
 *
 * Four tries, one per list and family, keyed by the address in its own
 * family's width (IPv4 keys are 4 bytes), which is the trie's best case.
 * The mode and the per-list "has entries" test come from an ipw_config of
 * the same layout as the main program's (user space keeps its length
 * masks for this one too), the counters are an ipw_counters of the same
 * layout, and parsing and the verdict flow are the same
 * (IPW_XDP_PROGRAM(), bpf/ipwall_xdp.h), so the programs differ only in
 * how they search a list.
 *
 * Expiry: a trie lookup returns only the longest matching prefix. When
 * that entry has expired the lookup is repeated with the key's prefix
 * length set just below the entry's own (a trie lookup considers only
 * prefixes no longer than the key's), until a live entry, no entry, or
 * length 0: at most 33 or 129 lookups, strictly decreasing, hence the loop
 * bounds. The entry's length is in its value, since a lookup returns no
 * key.
 */
#include "ipwall_xdp.h"

#define LPM_MAP(name, keytype)                                \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);          \
		__uint(map_flags, BPF_F_NO_PREALLOC);         \
		__type(key, keytype);                         \
		__type(value, struct ipw_bpf_lpm_value);      \
		__uint(max_entries, IPW_BPF_DEFAULT_ENTRIES); \
	} name SEC(".maps")

LPM_MAP(ipw_lpm_ban4, struct ipw_bpf_lpm4_key);
LPM_MAP(ipw_lpm_allow4, struct ipw_bpf_lpm4_key);
LPM_MAP(ipw_lpm_ban6, struct ipw_bpf_lpm6_key);
LPM_MAP(ipw_lpm_allow6, struct ipw_bpf_lpm6_key);

/*
 * Is @key's address covered by a live entry of trie @map? @key->prefixlen
 * starts at the family's width; @iters is that width plus one. A ban's
 * match counts a drop on its entry. One copy per trie (the map must be a
 * constant at each lookup for the verifier to inline it).
 */
#define LPM_WALK(map, key, iters, is_ban, now)                               \
	({                                                                   \
		struct ipw_bpf_lpm_value *v_;                                \
		int hit_ = 0;                                                \
		__u32 i_;                                                    \
		for (i_ = 0; i_ < (iters); i_++) {                           \
			v_ = bpf_map_lookup_elem(map, key);                  \
			if (!v_)                                             \
				break;                                       \
			if (ipw_live(v_->expires_ns, now)) {                 \
				if (is_ban)                                  \
					__sync_fetch_and_add(&v_->drops, 1); \
				hit_ = 1;                                    \
				break;                                       \
			}                                                    \
			if (v_->plen == 0 || v_->plen > (key)->prefixlen)    \
				break;                                       \
			(key)->prefixlen = v_->plen - 1;                     \
		}                                                            \
		hit_;                                                        \
	})

/* Global functions, verified once each (see bpf/ipwall.bpf.c). */
__noinline int ipw_lpm4(struct ipw_walk *w, __u32 list)
{
	struct ipw_bpf_lpm4_key k = {.prefixlen = 32};

	if (!w)
		return 0;
	__builtin_memcpy(k.addr, &w->src.w[3], 4);
	if (list == IPW_BPF_LIST_BAN)
		return LPM_WALK(&ipw_lpm_ban4, &k, 33, 1, &w->now);
	return LPM_WALK(&ipw_lpm_allow4, &k, 33, 0, &w->now);
}

__noinline int ipw_lpm6(struct ipw_walk *w, __u32 list)
{
	struct ipw_bpf_lpm6_key k = {.prefixlen = 128};

	if (!w)
		return 0;
	__builtin_memcpy(k.addr, w->src.w, 16);
	if (list == IPW_BPF_LIST_BAN)
		return LPM_WALK(&ipw_lpm_ban6, &k, 129, 1, &w->now);
	return LPM_WALK(&ipw_lpm_allow6, &k, 129, 0, &w->now);
}

static __always_inline int
match(struct ipw_walk *w, const struct ipw_bpf_config *cfg, int v6, __u32 list)
{
	const __u64 *l = cfg->lens6[list];

	if (!v6)
		return cfg->lens4[list] && ipw_lpm4(w, list);
	return (l[0] | l[1] | l[2]) && ipw_lpm6(w, list);
}

IPW_XDP_PROGRAM(ipwall_lpm_xdp, match)

char LICENSE[] SEC("license") = "Dual MIT/GPL";
