/* SPDX-License-Identifier: MIT */
/*
 * The brute-force model of the nftables backend's interval arithmetic
 * (src/daemon/enforce/segments.c) in an 8-bit address space, where every
 * point can be checked: shared by its unit test (test_segments.c) and its
 * fuzz harness (fuzz/fuzz_segments.c).
 *
 * canon8() computes, point by point, the canonical live segments of a set
 * of entries; a struct ksim is a kernel set fed only the diffs the
 * container reports, which counts a removal of an element it lacks or an
 * addition overlapping one (@bad).
 */
#ifndef IPWALL_TESTS_UNIT_SEGMENTS_MODEL_H
#define IPWALL_TESTS_UNIT_SEGMENTS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enforce/segments.h"

#define W8   8
#define NPT8 256

struct bent {
	unsigned addr, plen;
	int64_t expires;
	bool used;
};

static inline int64_t rank_of(int64_t e)
{
	return e == 0 ? INT64_MAX : e;
}

/* The canonical live segments of @es at @now. */
static inline size_t canon8(const struct bent *es, size_t n, int64_t now,
			    struct ipwd_seg *out)
{
	int64_t m[NPT8];
	int own[NPT8], prev = -2;
	size_t k = 0, i;
	unsigned x, l;

	/* Shorter prefixes first, so that a point's owner is the first
	 * entry of its chain to reach the latest expiry. */
	for (x = 0; x < NPT8; x++) {
		m[x] = INT64_MIN;
		own[x] = -1;
	}
	for (l = 0; l < W8; l++)
		for (i = 0; i < n; i++) {
			unsigned size = 1u << (W8 - l);

			if (!es[i].used || es[i].plen != l)
				continue;
			for (x = es[i].addr; x < es[i].addr + size; x++)
				if (rank_of(es[i].expires) > m[x]) {
					m[x] = rank_of(es[i].expires);
					own[x] = (int)i;
				}
		}
	for (x = 0; x < NPT8; x++) {
		int o = own[x];
		bool lv = o >= 0 && m[x] > now;

		if (lv && o == prev) {
			out[k - 1].last = x;
		} else if (lv) {
			out[k].first = x;
			out[k].last = x;
			out[k].expires = es[o].expires;
			k++;
		}
		prev = lv ? o : -2;
	}
	return k;
}

/* A simulated kernel set fed the diffs. */
struct ksim {
	struct ipwd_seg v[NPT8];
	size_t n;
	int bad;
};

static inline void ksim_apply(struct ksim *k, const struct ipwd_seg_diff *d)
{
	size_t i, j;

	for (i = 0; i < d->ndel; i++) {
		for (j = 0; j < k->n; j++)
			if (k->v[j].first == d->del[i].first &&
			    k->v[j].last == d->del[i].last &&
			    k->v[j].expires == d->del[i].expires)
				break;
		if (j == k->n) {
			k->bad++;
			continue;
		}
		k->v[j] = k->v[--k->n];
	}
	for (i = 0; i < d->nadd; i++) {
		for (j = 0; j < k->n; j++)
			if (!(d->add[i].last < k->v[j].first ||
			      d->add[i].first > k->v[j].last))
				k->bad++;
		if (k->n < NPT8)
			k->v[k->n++] = d->add[i];
	}
}

static inline int cmp_seg(const void *a, const void *b)
{
	const struct ipwd_seg *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

#endif /* IPWALL_TESTS_UNIT_SEGMENTS_MODEL_H */
