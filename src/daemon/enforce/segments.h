/* SPDX-License-Identifier: MIT */
/*
 * Prefixes with expiries turned into disjoint intervals, for the nftables
 * backend (enforce/nft.c): an nftables interval set refuses overlapping
 * elements, the table does not refuse overlapping entries. No nftables,
 * no I/O here: the arithmetic alone, unit-tested on its own
 * (tests/unit/test_segments.c).
 *
 * An address space of @width bits (32 or 128; any width from 1 to 128
 * works, the tests use 8) holds entries: prefixes (address, length) with
 * an expiry, wall-clock seconds, 0 = permanent. Every point's value is
 * the latest expiry among the entries covering it (permanent wins); the
 * point is live while that value is after now. The segments are the
 * disjoint intervals a set must hold so that a point is in the set until
 * exactly its value: the canonical cut described in segments.c. put() and
 * del() change one entry and report the segments to remove and to add.
 *
 * A "flat" container takes only full-length entries (single addresses),
 * each its own segment: the exact-address hash sets, kept here so that
 * both kinds of set look the same to nft.c.
 *
 * Not thread-safe: one caller at a time per container.
 */
#ifndef IPWALL_DAEMON_ENFORCE_SEGMENTS_H
#define IPWALL_DAEMON_ENFORCE_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address as a number, most significant bit first (IPv4 in the low
 * 32 bits). A small value type. */
typedef unsigned __int128 ipwd_u128;

struct ipwd_seg {
	ipwd_u128 first, last; /* inclusive */
	int64_t expires;       /* wall-clock seconds; 0 = permanent */
};

/* The segments one or more calls removed (@del) and added (@add), in
 * the order the calls made them. A caller that keeps the set in step
 * removes every @del element and then adds every @add one. The arrays
 * grow as needed; clear() empties them and keeps the memory. */
struct ipwd_seg_diff {
	struct ipwd_seg *del, *add;
	size_t ndel, nadd, cap_del, cap_add;
};

void ipwd_seg_diff_clear(struct ipwd_seg_diff *d);
void ipwd_seg_diff_free(struct ipwd_seg_diff *d);

struct ipwd_segs;

/*
 * ipwd_segs_new() - an empty container.
 * @width: bits of an address, 1..128
 * @flat:  full-length entries only, each its own segment
 * @seed:  seeds the skip lists' level choice (any value)
 * Returns 0, IPW_EINVAL or IPW_ENOMEM.
 */
int ipwd_segs_new(struct ipwd_segs **out, unsigned width, bool flat,
		  uint64_t seed);
void ipwd_segs_free(struct ipwd_segs *s);

/*
 * ipwd_segs_put() - make the entry (@addr, @plen) expire at @expires
 * (added, or replacing its expiry), and append to @d the segments that
 * change. Points whose value is at or before @now get no segment.
 * @limit: the most segments the container may hold (SIZE_MAX: any). A
 *         put that would leave more than that, and more than before, is
 *         refused: nothing changes, IPW_ENOSPC.
 * Returns 0, IPW_ENOSPC, IPW_EINVAL (@plen beyond the width, host bits
 * set, a prefix in a flat container or a single address in a non-flat
 * one) or IPW_ENOMEM (nothing changed).
 * Cost: O(L log n) for L lengths in use, plus the entries inside the
 * prefix when it decides the value of some point before or after.
 */
int ipwd_segs_put(struct ipwd_segs *s, ipwd_u128 addr, unsigned plen,
		  int64_t expires, int64_t now, size_t limit,
		  struct ipwd_seg_diff *d);

/*
 * ipwd_segs_del() - remove the entry (@addr, @plen); append to @d the
 * segments that change. A removal is never refused for the limit (it may
 * uncover more segments than it removes). Returns 0, IPW_ENOENT (no such
 * entry: nothing changed), IPW_EINVAL or IPW_ENOMEM (nothing changed).
 */
int ipwd_segs_del(struct ipwd_segs *s, ipwd_u128 addr, unsigned plen,
		  int64_t now, struct ipwd_seg_diff *d);

/* ipwd_segs_get() - the expiry of entry (@addr, @plen): 0 or IPW_ENOENT. */
int ipwd_segs_get(const struct ipwd_segs *s, ipwd_u128 addr, unsigned plen,
		  int64_t *expires);

/* Segments held (the elements of the set) and entries held. */
size_t ipwd_segs_count(const struct ipwd_segs *s);
size_t ipwd_segs_entries(const struct ipwd_segs *s);

/* Walk the segments in address order: start with *@cursor NULL; each
 * call fills @out and returns true, false at the end. The container must
 * not change during the walk. */
bool ipwd_segs_next(const struct ipwd_segs *s, const void **cursor,
		    struct ipwd_seg *out);

/* The last address of the prefix (@addr, @plen) in @width bits. */
ipwd_u128 ipwd_prefix_last(ipwd_u128 addr, unsigned plen, unsigned width);

#endif /* IPWALL_DAEMON_ENFORCE_SEGMENTS_H */
