/* SPDX-License-Identifier: MIT */
/*
 * The one header shared by ipwall's BPF programs (bpf/NAME.bpf.c) and user
 * space (bpf/ipwall_bpf.c): the layout of every map key and value, the
 * packet counters, and the constants both sides must agree on. Only
 * <linux/types.h> types, so that it compiles for -target bpf and for the
 * host alike; the static asserts at the end pin every size, since a
 * mismatch between the two sides would be silent.
 *
 * Maps of the enforcement program (bpf/ipwall.bpf.c):
 *
 *   ipw_entries   HASH   struct ipw_bpf_key -> struct ipw_bpf_value
 *                 every ban and allow, both families, each prefix stored
 *                 at its own length (IPv4 as IPv4-mapped IPv6, so an IPv4
 *                 /24 is the /120 of ::ffff:a.b.c.0)
 *   ipw_config    ARRAY[1], mmapable: struct ipw_bpf_config, the mode and
 *                 the bitmasks of the prefix lengths in use, written by
 *                 user space word by word with atomic stores
 *   ipw_counters  PERCPU_ARRAY[IPW_BPF_HOOKS * IPW_BPF_COUNTERS] of __u64
 *                 packets, per hook (XDP, TC) and counter
 *
 * and, for the second program of that object (ipwall_xdp_cells, which
 * probes only the lengths present near the address; the benchmark says
 * which one to keep), two summaries of the same entries:
 *
 *   ipw_cells4    ARRAY[2 * 65536] of __u64, mmapable: per list and IPv4
 *                 /16, the lengths (bits as lens4) of the entries that
 *                 cover the /16 (length <= 16) or lie inside it (> 16)
 *   ipw_groups6   HASH struct ipw_bpf_group_key -> struct ipw_bpf_group:
 *                 per list and IPv6 /32 holding entries longer than /32,
 *                 their lengths (bits as lens6[][0..1]); IPv6 lengths up
 *                 to /32 stay in the global lens6 only
 *
 * The reference program (bpf/ipwall_lpm.bpf.c, for the benchmark and the
 * tests only) shares ipw_config and ipw_counters' layouts and keeps its
 * entries in four LPM tries, one per list and family
 * (struct ipw_bpf_lpm4_key / ipw_bpf_lpm6_key -> struct ipw_bpf_lpm_value).
 *
 * Time: expiries are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns()
 * in the kernel, clock_gettime(CLOCK_BOOTTIME) in user space), 0 meaning
 * permanent. An entry whose expiry is at or before now never matches, as
 * in the library's table (include/ipwall/table.h), whose wall-clock
 * seconds the writer converts.
 */
#ifndef IPWALL_BPF_IPWALL_MAPS_H
#define IPWALL_BPF_IPWALL_MAPS_H

#include <linux/types.h>

/* Lists and modes: the same values as enum ipw_list and enum ipw_mode
 * (include/ipwall/table.h; bpf/ipwall_bpf.c asserts it). */
#define IPW_BPF_LIST_BAN       0
#define IPW_BPF_LIST_ALLOW     1
#define IPW_BPF_MODE_DENYLIST  0
#define IPW_BPF_MODE_ALLOWLIST 1

/* Default capacity of ipw_entries (bans and allows together); user space
 * may set another before load. */
#define IPW_BPF_DEFAULT_ENTRIES (1u << 20)

/*
 * Key of ipw_entries. addr is the target masked to plen (bits past plen
 * zero): its 16 bytes in network byte order, as two 64-bit words so that
 * the program masks it in two operations. An IPv4 target is stored as
 * ::ffff:a.b.c.d with plen = 96 + its IPv4 length. pad is zero. An IPv6
 * target never lies inside ::ffff:0:0/96 with plen >= 96 (that is an IPv4
 * target, folded as ipw_addr_from_v6() does), so the two families never
 * share a key. 24 bytes: the hash rounds keys up to 8 bytes anyway, and
 * jhash costs the same for 20 and 24.
 */
struct ipw_bpf_key {
	__u64 addr[2];
	__u8 list; /* IPW_BPF_LIST_* */
	__u8 plen; /* 0..128, in IPv6 terms */
	__u8 pad[6];
};

/* Value of ipw_entries. drops is only ever incremented by the program
 * (atomically) and is the number of packets this ban dropped; an allow's
 * stays 0 (counting the traffic an allow admits would put a shared atomic
 * on the legitimate fast path). */
struct ipw_bpf_value {
	__u64 expires_ns; /* CLOCK_BOOTTIME ns; 0 = permanent */
	__u64 drops;
};

/*
 * The one element of ipw_config.
 *
 * lens4[list]: bit i set = the list has an IPv4 entry of length 32 - i
 * (i = 0..32). lens6[list][w]: bit i of word w set = the list has an IPv6
 * entry of length 128 - 64 * w - i (word 2 uses bit 0 only, for ::/0).
 * Reversed so that the lowest set bit is the longest length: the program
 * walks from the longest prefix to the shortest by taking x & -x.
 *
 * A bit may be set with no entry of its length (a probe that finds
 * nothing: harmless); user space sets a bit after inserting the first
 * entry of a length and clears it after deleting the last, so a length
 * with a live entry always has its bit. The families have separate masks
 * because an IPv4 address must never be judged by an IPv6 prefix shorter
 * than /96 (::/0 does not cover 192.0.2.1 in the table either).
 */
struct ipw_bpf_config {
	__u32 mode; /* IPW_BPF_MODE_* */
	__u32 pad;
	__u64 lens4[2];
	__u64 lens6[2][3];
};

/* Packet counters (ipw_counters, per CPU), disjoint: their sum is the
 * number of packets the program saw. A packet is counted under the family
 * it was judged as: an IPv6 packet from ::ffff:a.b.c.d counts as IPv4. */
enum ipw_bpf_counter {
	IPW_BPF_PASS_NOT_IP = 0,    /* not IPv4/IPv6, or a third VLAN tag */
	IPW_BPF_PASS_MALFORMED = 1, /* truncated or malformed headers */
	IPW_BPF_PASS_V4 = 2,	    /* judged, no live entry: admitted */
	IPW_BPF_PASS_V6 = 3,
	IPW_BPF_DROP_BAN_V4 = 4, /* a live ban, no live allow */
	IPW_BPF_DROP_BAN_V6 = 5,
	IPW_BPF_DROP_NOT_ALLOWED_V4 = 6, /* allowlist mode, no live allow */
	IPW_BPF_DROP_NOT_ALLOWED_V6 = 7,
	IPW_BPF_PASS_LINK_V6 = 8,    /* allowlist mode, IPv6 link traffic */
	IPW_BPF_PASS_ALLOWED_V4 = 9, /* a live allow admitted it */
	IPW_BPF_PASS_ALLOWED_V6 = 10,
	IPW_BPF_COUNTERS = 11,
};

/* The hooks a program runs at: ipw_counters holds IPW_BPF_COUNTERS
 * counters per hook, hook h's counter c at h * IPW_BPF_COUNTERS + c. */
#define IPW_BPF_HOOK_XDP 0
#define IPW_BPF_HOOK_TC	 1
#define IPW_BPF_HOOKS	 2

/* Key and value of ipw_groups6. */
struct ipw_bpf_group_key {
	__u32 prefix; /* the first 32 bits, network byte order */
	__u8 list;
	__u8 pad[3];
};

struct ipw_bpf_group {
	__u64 lens[2]; /* as ipw_bpf_config.lens6[list][0..1], bits of
			* lengths 33..128 only */
};

/* ipw_cells4 index of list @l and IPv4 /16 @hi16 (host order). */
#define IPW_BPF_CELL(l, hi16) ((__u32)(l)*65536u + (__u32)(hi16))
#define IPW_BPF_NCELLS	      (2u * 65536u)

/* The reference program's LPM trie keys and value. */
struct ipw_bpf_lpm4_key {
	__u32 prefixlen; /* 0..32 */
	__u8 addr[4];
};

struct ipw_bpf_lpm6_key {
	__u32 prefixlen; /* 0..128 */
	__u8 addr[16];
};

struct ipw_bpf_lpm_value {
	__u64 expires_ns;
	__u64 drops;
	__u32 plen; /* the entry's own length: a lookup returns no key */
	__u32 pad;
};

_Static_assert(sizeof(struct ipw_bpf_key) == 24, "ipw_bpf_key layout");
_Static_assert(sizeof(struct ipw_bpf_value) == 16, "ipw_bpf_value layout");
_Static_assert(sizeof(struct ipw_bpf_config) == 72, "ipw_bpf_config layout");
_Static_assert(sizeof(struct ipw_bpf_group_key) == 8, "group key layout");
_Static_assert(sizeof(struct ipw_bpf_group) == 16, "group layout");
_Static_assert(sizeof(struct ipw_bpf_lpm4_key) == 8, "lpm4 key layout");
_Static_assert(sizeof(struct ipw_bpf_lpm6_key) == 20, "lpm6 key layout");
_Static_assert(sizeof(struct ipw_bpf_lpm_value) == 24, "lpm value layout");

#endif /* IPWALL_BPF_IPWALL_MAPS_H */
