// SPDX-License-Identifier: MIT
/*
 * The interval arithmetic of the nftables backend
 * (src/daemon/enforce/segments.c), against a brute-force model.
 *
 * 1. Hand-written cases in 32 and 128 bits: nested prefixes and the
 *    maximum of their expiries (an outer /16 that expires first leaves
 *    the inner /24), a permanent entry winning, identical puts, adjacent
 *    siblings, /0, /32 and /128 (flat containers), removal joining gaps
 *    again, transparent entries adding nothing, the limit refusing a put
 *    and leaving everything as it was, bad targets.
 * 2. A randomized property test in an 8-bit space, where every point can
 *    be checked: random puts and dels of nested prefixes with random
 *    expiries (permanent, live, dead), time moving on. After every call:
 *    the live segments are exactly the canonical cut computed point by
 *    point from the entries (the owner of a point is the entry whose
 *    expiry is the latest of its chain, the shortest one on a tie); and a
 *    simulated kernel set, fed only the reported diffs, never gets a
 *    removal of an element it lacks or an addition that overlaps one, and
 *    always equals the container.
 * 3. The same in 32 and 128 bits with sampled points (around every entry
 *    edge and random ones), value by value.
 *
 * IPW_SEG_SEED and IPW_SEG_ROUNDS change the seed (printed) and length.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/errcode.h>

#include "enforce/segments.h"
#include "segments_model.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng = 0x5e6d0b9full;

static uint64_t rnd(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static ipwd_u128 v4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return (ipwd_u128)(a << 24 | b << 16 | c << 8 | d);
}

/* The segments of @s as an array (caller frees). */
static size_t segs_of(const struct ipwd_segs *s, struct ipwd_seg **out)
{
	size_t n = 0, cap = 16;
	struct ipwd_seg *v = malloc(cap * sizeof(*v));
	const void *cur = NULL;
	struct ipwd_seg g;

	if (v == NULL)
		abort();
	while (ipwd_segs_next(s, &cur, &g)) {
		if (n == cap) {
			struct ipwd_seg *w =
				realloc(v, (cap *= 2) * sizeof(*v));

			if (w == NULL)
				abort();
			v = w;
		}
		v[n++] = g;
	}
	*out = v;
	return n;
}

/* Does @s hold exactly the segments @want (n of them), in order? */
static bool holds(const struct ipwd_segs *s, const struct ipwd_seg *want,
		  size_t n)
{
	struct ipwd_seg *v;
	size_t got = segs_of(s, &v), i;
	bool same = got == n;

	for (i = 0; same && i < n; i++)
		same = v[i].first == want[i].first &&
		       v[i].last == want[i].last &&
		       v[i].expires == want[i].expires;
	if (!same)
		for (i = 0; i < got; i++)
			diag("  held %#llx-%#llx exp %" PRId64,
			     (unsigned long long)v[i].first,
			     (unsigned long long)v[i].last, v[i].expires);
	free(v);
	return same;
}

#define SEG(a, b, e)          \
	{                     \
		(a), (b), (e) \
	}

static void case_nested(void)
{
	struct ipwd_segs *s;
	struct ipwd_seg_diff d = {0};
	const int64_t now = 1000;

	ipwd_segs_new(&s, 32, false, 1);
	/* /16 for 100 s, a /24 inside for 500 s. */
	is_int(ipwd_segs_put(s, v4(10, 1, 0, 0), 16, 1100, now, SIZE_MAX, &d),
	       0, "put /16");
	is_int(ipwd_segs_put(s, v4(10, 1, 2, 0), 24, 1500, now, SIZE_MAX, &d),
	       0, "put a later /24 inside");
	{
		struct ipwd_seg w[] = {
			SEG(v4(10, 1, 0, 0), v4(10, 1, 1, 255), 1100),
			SEG(v4(10, 1, 2, 0), v4(10, 1, 2, 255), 1500),
			SEG(v4(10, 1, 3, 0), v4(10, 1, 255, 255), 1100),
		};
		ok(holds(s, w, NELEM(w)),
		   "the /24 is cut out of the /16, keeping its later expiry");
	}
	is_int(d.ndel, 1, "the /16's segment was removed once");
	is_int(d.nadd, 4, "four segments were added in all");
	/* The /16 expires: the purger's delete leaves the /24. */
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_del(s, v4(10, 1, 0, 0), 16, 1200, &d), 0,
	       "delete the expired /16");
	{
		struct ipwd_seg w[] = {
			SEG(v4(10, 1, 2, 0), v4(10, 1, 2, 255), 1500),
		};
		ok(holds(s, w, NELEM(w)), "the inner /24 stays after the "
					  "outer /16 expired");
	}
	is_int(d.ndel, 2, "the /16's two dead pieces are reported removed");
	is_int(d.nadd, 0, "nothing added");
	/* A shorter-lived /28 inside the /24 is transparent. */
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_put(s, v4(10, 1, 2, 16), 28, 1300, 1200, SIZE_MAX, &d),
	       0, "put an earlier /28 inside");
	is_int(d.ndel + d.nadd, 0, "a transparent entry changes nothing");
	is_int(ipwd_segs_count(s), 1, "still one segment");
	is_int(ipwd_segs_entries(s), 2, "two entries");
	/* Made permanent, it wins. */
	is_int(ipwd_segs_put(s, v4(10, 1, 2, 16), 28, 0, 1200, SIZE_MAX, &d), 0,
	       "make the /28 permanent");
	{
		struct ipwd_seg w[] = {
			SEG(v4(10, 1, 2, 0), v4(10, 1, 2, 15), 1500),
			SEG(v4(10, 1, 2, 16), v4(10, 1, 2, 31), 0),
			SEG(v4(10, 1, 2, 32), v4(10, 1, 2, 255), 1500),
		};
		ok(holds(s, w, NELEM(w)), "permanent wins inside");
	}
	/* Removing it joins the /24 again. */
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_del(s, v4(10, 1, 2, 16), 28, 1200, &d), 0,
	       "delete the /28");
	{
		struct ipwd_seg w[] = {
			SEG(v4(10, 1, 2, 0), v4(10, 1, 2, 255), 1500),
		};
		ok(holds(s, w, NELEM(w)), "the /24 is whole again");
	}
	is_int(d.ndel, 3, "three pieces removed");
	is_int(d.nadd, 1, "one added");
	is_int(ipwd_segs_del(s, v4(10, 1, 2, 16), 28, 1200, &d), IPW_ENOENT,
	       "a second delete finds nothing");
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
}

static void case_identical_adjacent(void)
{
	struct ipwd_segs *s;
	struct ipwd_seg_diff d = {0};

	ipwd_segs_new(&s, 32, false, 2);
	ipwd_segs_put(s, v4(192, 0, 2, 0), 25, 0, 10, SIZE_MAX, &d);
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_put(s, v4(192, 0, 2, 0), 25, 0, 10, SIZE_MAX, &d), 0,
	       "the same put again");
	is_int(d.ndel + d.nadd, 0, "changes nothing");
	ipwd_segs_put(s, v4(192, 0, 2, 128), 25, 0, 10, SIZE_MAX, &d);
	{
		struct ipwd_seg w[] = {
			SEG(v4(192, 0, 2, 0), v4(192, 0, 2, 127), 0),
			SEG(v4(192, 0, 2, 128), v4(192, 0, 2, 255), 0),
		};
		ok(holds(s, w, NELEM(w)),
		   "adjacent siblings stay two segments");
	}
	/* Their parent with the same expiry: transparent over both. */
	ipwd_seg_diff_clear(&d);
	ipwd_segs_put(s, v4(192, 0, 2, 0), 24, 0, 10, SIZE_MAX, &d);
	{
		struct ipwd_seg w[] = {
			SEG(v4(192, 0, 2, 0), v4(192, 0, 2, 255), 0),
		};
		ok(holds(s, w, NELEM(w)),
		   "a permanent parent owns both permanent halves");
	}
	is_int(d.ndel, 2, "the halves go");
	is_int(d.nadd, 1, "one segment comes");
	/* Changing an expiry replaces the segment. */
	ipwd_seg_diff_clear(&d);
	ipwd_segs_put(s, v4(192, 0, 2, 0), 24, 500, 10, SIZE_MAX, &d);
	{
		struct ipwd_seg w[] = {
			SEG(v4(192, 0, 2, 0), v4(192, 0, 2, 127), 0),
			SEG(v4(192, 0, 2, 128), v4(192, 0, 2, 255), 0),
		};
		ok(holds(s, w, NELEM(w)),
		   "a parent made shorter-lived than its children yields");
	}
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
}

static void case_edges(void)
{
	struct ipwd_segs *s, *h4, *h6, *n6;
	struct ipwd_seg_diff d = {0};
	ipwd_u128 all6 = ~(ipwd_u128)0, pfx;

	ipwd_segs_new(&s, 32, false, 3);
	is_int(ipwd_segs_put(s, 0, 0, 100, 10, SIZE_MAX, &d), 0, "put /0");
	is_int(ipwd_segs_put(s, v4(255, 255, 255, 0), 24, 200, 10, SIZE_MAX,
			     &d),
	       0, "put the last /24");
	is_int(ipwd_segs_put(s, 0, 8, 300, 10, SIZE_MAX, &d), 0,
	       "put the first /8");
	{
		struct ipwd_seg w[] = {
			SEG(0, v4(0, 255, 255, 255), 300),
			SEG(v4(1, 0, 0, 0), v4(255, 255, 254, 255), 100),
			SEG(v4(255, 255, 255, 0), v4(255, 255, 255, 255), 200),
		};
		ok(holds(s, w, NELEM(w)), "/0 cut at both ends of the space");
	}
	ipwd_seg_diff_clear(&d);
	ipwd_segs_del(s, 0, 0, 10, &d);
	{
		struct ipwd_seg w[] = {
			SEG(0, v4(0, 255, 255, 255), 300),
			SEG(v4(255, 255, 255, 0), v4(255, 255, 255, 255), 200),
		};
		ok(holds(s, w, NELEM(w)), "without /0 the ends remain");
	}
	is_int(ipwd_segs_put(s, v4(1, 2, 3, 4), 32, 0, 10, SIZE_MAX, &d),
	       IPW_EINVAL, "a /32 in a prefix container: EINVAL");
	is_int(ipwd_segs_put(s, v4(1, 2, 3, 4), 24, 0, 10, SIZE_MAX, &d),
	       IPW_EINVAL, "host bits set: EINVAL");
	is_int(ipwd_segs_put(s, 0, 33, 0, 10, SIZE_MAX, &d), IPW_EINVAL,
	       "length 33: EINVAL");
	is_int(ipwd_segs_put(s, (ipwd_u128)1 << 32, 8, 0, 10, SIZE_MAX, &d),
	       IPW_EINVAL, "an address beyond 32 bits: EINVAL");
	is_int(ipwd_segs_put(s, 0, 8, -1, 10, SIZE_MAX, &d), IPW_EINVAL,
	       "a negative expiry: EINVAL");

	/* Flat containers: single addresses. */
	ipwd_segs_new(&h4, 32, true, 4);
	is_int(ipwd_segs_put(h4, 0xffffffffu, 32, 0, 10, SIZE_MAX, &d), 0,
	       "flat: 255.255.255.255/32");
	is_int(ipwd_segs_put(h4, 0, 24, 0, 10, SIZE_MAX, &d), IPW_EINVAL,
	       "flat: a prefix is EINVAL");
	is_int(ipwd_segs_put(h4, 7, 32, 5, 10, SIZE_MAX, &d), 0,
	       "flat: an already dead entry is stored");
	is_int(ipwd_segs_count(h4), 1, "flat: the dead one has no segment");
	is_int(ipwd_segs_entries(h4), 2, "flat: two entries");
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_put(h4, 7, 32, 50, 10, SIZE_MAX, &d), 0,
	       "flat: made live");
	ok(d.ndel == 0 && d.nadd == 1 && d.add[0].expires == 50,
	   "flat: one segment added, none removed");
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_put(h4, 7, 32, 60, 10, SIZE_MAX, &d), 0,
	       "flat: new expiry");
	ok(d.ndel == 1 && d.del[0].expires == 50 && d.nadd == 1 &&
		   d.add[0].expires == 60,
	   "flat: new expiry = remove the old, add the new");
	{
		int64_t e = -1;

		is_int(ipwd_segs_get(h4, 7, 32, &e), 0, "flat: get");
		is_int(e, 60, "flat: get gives the expiry");
	}

	ipwd_segs_new(&h6, 128, true, 5);
	is_int(ipwd_segs_put(h6, all6, 128, 0, 10, SIZE_MAX, &d), 0,
	       "flat: the last /128");
	is_int(ipwd_segs_count(h6), 1, "flat /128: one segment");

	ipwd_segs_new(&n6, 128, false, 6);
	pfx = (ipwd_u128)0xfd00020100000000ull << 64;
	is_int(ipwd_segs_put(n6, 0, 0, 100, 10, SIZE_MAX, &d), 0, "IPv6 ::/0");
	is_int(ipwd_segs_put(n6, pfx, 64, 200, 10, SIZE_MAX, &d), 0,
	       "IPv6 fd00:201::/64 inside");
	is_int(ipwd_segs_put(n6, all6 - 0xff, 120, 300, 10, SIZE_MAX, &d), 0,
	       "IPv6 the last /120");
	{
		struct ipwd_seg w[] = {
			SEG(0, pfx - 1, 100),
			SEG(pfx, pfx | 0xffffffffffffffffull, 200),
			SEG(pfx + ((ipwd_u128)1 << 64), all6 - 0x100, 100),
			SEG(all6 - 0xff, all6, 300),
		};
		ok(holds(n6, w, NELEM(w)), "IPv6 /0 with a /64 and a /120");
	}
	is_int(ipwd_segs_put(n6, 0, 128, 0, 10, SIZE_MAX, &d), IPW_EINVAL,
	       "IPv6: a /128 in a prefix container is EINVAL");
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
	ipwd_segs_free(h4);
	ipwd_segs_free(h6);
	ipwd_segs_free(n6);
}

static void case_limit(void)
{
	struct ipwd_segs *s, *h;
	struct ipwd_seg_diff d = {0};
	struct ipwd_seg two[] = {
		SEG(v4(10, 0, 1, 0), v4(10, 0, 1, 255), 0),
		SEG(v4(10, 0, 9, 0), v4(10, 0, 9, 255), 0),
	};
	int64_t e;

	ipwd_segs_new(&s, 32, false, 7);
	is_int(ipwd_segs_put(s, v4(10, 0, 0, 0), 16, 0, 10, 2, &d), 0,
	       "limit 2: a permanent /16");
	is_int(ipwd_segs_put(s, v4(10, 0, 1, 0), 24, 100, 10, 2, &d), 0,
	       "limit 2: a transparent /24 inside costs nothing");
	is_int(ipwd_segs_put(s, v4(10, 0, 1, 0), 24, 0, 10, 2, &d), 0,
	       "limit 2: permanent under permanent is still transparent");
	is_int(ipwd_segs_put(s, v4(10, 0, 9, 0), 24, 0, 10, 2, &d), 0,
	       "limit 2: a second permanent /24 inside");
	is_int(ipwd_segs_count(s), 1, "limit 2: one segment");
	is_int(ipwd_segs_del(s, v4(10, 0, 0, 0), 16, 10, &d), 0,
	       "limit 2: delete the /16");
	ok(holds(s, two, NELEM(two)), "limit 2: the two /24s remain");
	/* A /16 for 50 s under which the permanent /24s are dominant needs
	 * 5 segments: refused, and nothing changes. */
	ipwd_seg_diff_clear(&d);
	is_int(ipwd_segs_put(s, v4(10, 0, 0, 0), 16, 50, 10, 2, &d), IPW_ENOSPC,
	       "limit 2: a /16 needing 5 segments: ENOSPC");
	is_int(d.ndel + d.nadd, 0, "a refused put reports nothing");
	ok(holds(s, two, NELEM(two)), "a refused put changes nothing");
	is_int(ipwd_segs_get(s, v4(10, 0, 0, 0), 16, &e), IPW_ENOENT,
	       "the refused entry is not stored");
	is_int(ipwd_segs_entries(s), 2, "two entries");
	is_int(ipwd_segs_put(s, v4(10, 0, 0, 0), 16, 50, 10, 5, &d), 0,
	       "limit 5: accepted");
	is_int(ipwd_segs_count(s), 5, "five segments");
	/* Over the limit, a change that lowers the count is still fine. */
	is_int(ipwd_segs_put(s, v4(10, 0, 9, 0), 24, 30, 10, 2, &d), 0,
	       "limit 2 with 5 held: a change down to 3 is accepted");
	is_int(ipwd_segs_count(s), 3, "three segments");
	/* A change that needs more is refused and keeps the old expiry. */
	is_int(ipwd_segs_del(s, v4(10, 0, 9, 0), 24, 10, &d), 0,
	       "delete the transparent /24");
	is_int(ipwd_segs_count(s), 3, "still three segments");
	is_int(ipwd_segs_put(s, v4(10, 0, 1, 0), 24, 40, 10, 2, &d), 0,
	       "limit 2: making the /24 transparent (fewer segments) is fine");
	is_int(ipwd_segs_count(s), 1, "one segment");
	is_int(ipwd_segs_put(s, v4(10, 0, 1, 0), 24, 0, 10, 2, &d), IPW_ENOSPC,
	       "limit 2: making it dominant again: ENOSPC");
	is_int(ipwd_segs_get(s, v4(10, 0, 1, 0), 24, &e), 0, "still there");
	is_int(e, 40, "with its old expiry");

	ipwd_seg_diff_clear(&d);
	ipwd_segs_new(&h, 32, true, 8);
	is_int(ipwd_segs_put(h, 1, 32, 0, 10, 1, &d), 0, "flat limit 1: one");
	is_int(ipwd_segs_put(h, 2, 32, 0, 10, 1, &d), IPW_ENOSPC,
	       "flat limit 1: the second is refused");
	is_int(ipwd_segs_put(h, 1, 32, 99, 10, 1, &d), 0,
	       "flat limit 1: changing the first is fine");
	is_int(ipwd_segs_put(h, 3, 32, 5, 10, 1, &d), 0,
	       "flat limit 1: a dead entry takes no room");
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
	ipwd_segs_free(h);
}

/* ---- brute force in a small space: segments_model.h ---- */

static void property8(uint64_t rounds)
{
	struct ipwd_segs *s;
	struct ipwd_seg_diff d = {0};
	static struct bent es[64];
	static struct ksim k;
	struct ipwd_seg want[NPT8], *got;
	int64_t now = 100;
	uint64_t r, fails = 0, refused = 0, calls = 0;
	size_t limit;

	memset(es, 0, sizeof(es));
	memset(&k, 0, sizeof(k));
	ipwd_segs_new(&s, W8, false, rnd());
	for (r = 0; r < rounds; r++) {
		size_t i = rnd() % NELEM(es), nw, ng, j;
		unsigned plen = (unsigned)(rnd() % W8), mask;
		int64_t e;
		int rc;

		mask = plen ? (0xffu << (W8 - plen)) & 0xffu : 0;
		if (rnd() % 8 == 0)
			now += (int64_t)(rnd() % 20);
		switch (rnd() % 4) {
		case 0:
			e = 0;
			break;
		case 1:
			e = now - (int64_t)(rnd() % 30); /* dead */
			if (e < 1)
				e = 1;
			break;
		default:
			e = now + 1 + (int64_t)(rnd() % 60);
		}
		ipwd_seg_diff_clear(&d);
		limit = rnd() % 16 == 0 ? rnd() % 20 : SIZE_MAX;
		if (es[i].used && rnd() % 3 == 0) {
			rc = ipwd_segs_del(s, es[i].addr, es[i].plen, now, &d);
			if (rc != 0)
				fails++;
			es[i].used = false;
		} else {
			unsigned a = (unsigned)rnd() & mask;
			bool clash = false;

			if (es[i].used) {
				/* new expiry for the same entry */
				a = es[i].addr;
				plen = es[i].plen;
			}
			for (j = 0; j < NELEM(es); j++)
				if (j != i && es[j].used && es[j].addr == a &&
				    es[j].plen == plen)
					clash = true;
			if (clash)
				continue;
			rc = ipwd_segs_put(s, a, plen, e, now, limit, &d);
			if (rc == 0) {
				es[i] = (struct bent){a, plen, e, true};
			} else if (rc == IPW_ENOSPC) {
				refused++;
				if (d.ndel + d.nadd)
					fails++;
			} else {
				fails++;
			}
		}
		calls++;
		ksim_apply(&k, &d);

		nw = canon8(es, NELEM(es), now, want);
		ng = segs_of(s, &got);
		{
			size_t live_n = 0;

			for (j = 0; j < ng; j++)
				if (rank_of(got[j].expires) > now)
					got[live_n++] = got[j];
			if (live_n != nw) {
				fails++;
			} else {
				for (j = 0; j < nw; j++)
					if (got[j].first != want[j].first ||
					    got[j].last != want[j].last ||
					    got[j].expires != want[j].expires)
						break;
				if (j != nw)
					fails++;
			}
		}
		free(got);
		/* the kernel simulation equals the container */
		ng = segs_of(s, &got);
		qsort(k.v, k.n, sizeof(k.v[0]), cmp_seg);
		if (ng != k.n)
			fails++;
		for (j = 0; j < ng && j < k.n; j++)
			if (got[j].first != k.v[j].first ||
			    got[j].last != k.v[j].last ||
			    got[j].expires != k.v[j].expires)
				fails++;
		if (ng != ipwd_segs_count(s))
			fails++;
		free(got);
		if (fails) {
			diag("diverged at round %" PRIu64 " now %" PRId64, r,
			     now);
			for (j = 0; j < NELEM(es); j++)
				if (es[j].used)
					diag("  entry %u/%u exp %" PRId64,
					     es[j].addr, es[j].plen,
					     es[j].expires);
			for (j = 0; j < nw; j++)
				diag("  want %u-%u exp %" PRId64,
				     (unsigned)want[j].first,
				     (unsigned)want[j].last, want[j].expires);
			ng = segs_of(s, &got);
			for (j = 0; j < ng; j++)
				diag("  have %u-%u exp %" PRId64,
				     (unsigned)got[j].first,
				     (unsigned)got[j].last, got[j].expires);
			free(got);
			break;
		}
	}
	ok(fails == 0 && k.bad == 0,
	   "8-bit property: %" PRIu64 " calls (%" PRIu64
	   " refused by a limit), live segments = canonical cut, diffs "
	   "replay cleanly",
	   calls, refused);
	if (k.bad)
		diag("kernel simulation: %d bad removals or overlaps", k.bad);
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
}

/* ---- sampled points in 32 and 128 bits ---- */

struct went {
	ipwd_u128 addr;
	unsigned plen;
	int64_t expires;
};

static ipwd_u128 wmask(unsigned width, unsigned plen)
{
	if (plen == 0)
		return 0;
	return ~(((ipwd_u128)1 << (width - plen)) - 1) &
	       (width == 128 ? ~(ipwd_u128)0 : (((ipwd_u128)1 << width) - 1));
}

/* The value (latest expiry rank) at @x, INT64_MIN if none. */
static int64_t value_at(const struct went *es, size_t n, unsigned width,
			ipwd_u128 x)
{
	int64_t m = INT64_MIN;
	size_t i;

	for (i = 0; i < n; i++)
		if ((x & wmask(width, es[i].plen)) == es[i].addr &&
		    rank_of(es[i].expires) > m)
			m = rank_of(es[i].expires);
	return m;
}

static void property_wide(unsigned width, uint64_t rounds)
{
	struct ipwd_segs *s;
	struct ipwd_seg_diff d = {0};
	struct went es[300];
	size_t n = 0, i, j, checked = 0;
	int64_t now = 5000;
	uint64_t r, fails = 0;
	ipwd_u128 base = width == 32 ? (ipwd_u128)v4(10, 0, 0, 0) :
				       (ipwd_u128)0xfd00020100000000ull << 64;
	struct ipwd_seg *got;
	size_t ng;

	ipwd_segs_new(&s, width, false, rnd());
	for (r = 0; r < rounds; r++) {
		/* Nested prefixes under one /8 (or /16 in IPv6): short
		 * lengths are rare so that most entries nest. */
		static const unsigned l4[] = {8,  12, 16, 16, 20, 24,
					      24, 24, 28, 30, 31};
		static const unsigned l6[] = {16, 32, 48, 48,  56, 64,
					      64, 64, 96, 120, 127};
		unsigned plen = width == 32 ? l4[rnd() % NELEM(l4)] :
					      l6[rnd() % NELEM(l6)];
		ipwd_u128 a, noise = ((ipwd_u128)rnd() << 64 | rnd()) &
				     (width == 32 ? 0x00ffffffu :
						    ~(ipwd_u128)0 >> 16);
		int64_t e = rnd() % 5 == 0 ? 0 : now + 1 + rnd() % 100;

		if (rnd() % 16 == 0)
			noise &= width == 32 ? 0x0000ffff : ~(ipwd_u128)0 >> 48;
		a = (base | noise) & wmask(width, plen);
		if (rnd() % 10 == 0)
			now += 7;
		if (n && rnd() % 4 == 0) {
			i = rnd() % n;
			if (ipwd_segs_del(s, es[i].addr, es[i].plen, now, &d) !=
			    0)
				fails++;
			es[i] = es[--n];
			continue;
		}
		for (i = 0; i < n; i++)
			if (es[i].addr == a && es[i].plen == plen)
				break;
		if (ipwd_segs_put(s, a, plen, e, now, SIZE_MAX, &d) != 0) {
			fails++;
			continue;
		}
		if (i < n)
			es[i].expires = e;
		else if (n < NELEM(es))
			es[n++] = (struct went){a, plen, e};
		else
			ipwd_segs_del(s, a, plen, now, &d);
	}
	/* Every point at an entry's edge (and one beside) and random ones
	 * near the base: the segment holding it carries its value. */
	ng = segs_of(s, &got);
	for (i = 0; i < n * 4 + 2000; i++) {
		ipwd_u128 x;
		int64_t want, have = INT64_MIN;

		if (i < n * 4) {
			const struct went *e = &es[i / 4];
			ipwd_u128 last =
				ipwd_prefix_last(e->addr, e->plen, width);

			x = (i % 4 == 0) ? e->addr :
			    (i % 4 == 1) ? last :
			    (i % 4 == 2) ? e->addr - 1 :
					   last + 1;
		} else {
			x = base |
			    (((ipwd_u128)rnd() << 64 | rnd()) &
			     (width == 32 ? 0x00ffffffu : ~(ipwd_u128)0 >> 16));
		}
		if (width == 32)
			x &= 0xffffffffu;
		want = value_at(es, n, width, x);
		if (want <= now)
			want = INT64_MIN;
		for (j = 0; j < ng; j++)
			if (got[j].first <= x && x <= got[j].last &&
			    rank_of(got[j].expires) > now)
				have = rank_of(got[j].expires);
		if (have != want)
			fails++;
		checked++;
	}
	for (j = 1; j < ng; j++)
		if (got[j].first <= got[j - 1].last)
			fails++;
	free(got);
	ok(fails == 0,
	   "%u-bit property: %" PRIu64 " calls, %zu entries, %zu points "
	   "hold their value, segments disjoint",
	   width, rounds, n, checked);
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
}

int main(void)
{
	const char *e = getenv("IPW_SEG_SEED");
	const char *rn = getenv("IPW_SEG_ROUNDS");
	uint64_t rounds = rn ? strtoull(rn, NULL, 0) : 200000;

	if (e)
		rng = strtoull(e, NULL, 0);
	diag("seed %#llx (IPW_SEG_SEED), %llu rounds (IPW_SEG_ROUNDS)",
	     (unsigned long long)rng, (unsigned long long)rounds);
	case_nested();
	case_identical_adjacent();
	case_edges();
	case_limit();
	property8(rounds);
	property_wide(32, rounds / 20);
	property_wide(128, rounds / 20);
	return done_testing();
}
