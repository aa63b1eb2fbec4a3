// SPDX-License-Identifier: MIT
/*
 * The nftables backend's interval arithmetic (src/daemon/enforce/
 * segments.c) driven by op sequences the fuzzer chooses, in an 8-bit
 * address space where the brute-force model of tests/unit/
 * segments_model.h checks every point.
 *
 * Each 4 bytes of input are one call: byte 0 picks the entry slot (low 4
 * bits), put or del (bit 4), and whether time moves on (bits 5-7); byte 1
 * the address, byte 2 the prefix length (0..8 in a non-flat container: 8
 * is refused as a single address there), byte 3 the expiry (0 permanent,
 * else now - 64 + value: dead or live) and, on one call in 32, a segment
 * limit instead. After every call, the live segments must be the
 * canonical cut, and a set fed only the diffs must equal the container.
 * A mismatch aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/errcode.h>

#include "../tests/unit/segments_model.h"

#define SLOTS 16

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bent es[SLOTS];
	static struct ksim k;
	struct ipwd_seg want[NPT8], got[NPT8], lv[NPT8], g;
	struct ipwd_seg_diff d = {0};
	struct ipwd_segs *s;
	int64_t now = 1000;
	size_t off;

	memset(es, 0, sizeof(es));
	memset(&k, 0, sizeof(k));
	if (ipwd_segs_new(&s, W8, false, 42) != 0)
		return 0;
	for (off = 0; off + 4 <= size && off < 4 * 512; off += 4) {
		const uint8_t *b = data + off;
		size_t i = b[0] & 0xf, nw, ng = 0, live = 0, j,
		       limit = SIZE_MAX;
		unsigned plen = b[2] % 9u, a;
		int64_t e = b[3] == 0 ? 0 : now - 64 + b[3];
		const void *cur = NULL;
		int rc;

		now += b[0] >> 5;
		if (e != 0 && e < 1)
			e = 1;
		if ((b[3] & 0x1f) == 0x1f)
			limit = b[1] % 24;
		ipwd_seg_diff_clear(&d);
		if (b[0] & 0x10) {
			if (!es[i].used) {
				/* a del of what is not there changes nothing */
				rc = ipwd_segs_del(s, b[1], plen, now, &d);
				check(rc == IPW_ENOENT || rc == IPW_EINVAL ||
				      rc == 0);
				if (rc == 0) {
					/* it was another slot's entry */
					bool found = false;

					for (j = 0; j < SLOTS; j++)
						if (es[j].used &&
						    es[j].addr == b[1] &&
						    es[j].plen == plen) {
							es[j].used = false;
							found = true;
						}
					check(found);
				} else {
					check(d.ndel + d.nadd == 0);
				}
			} else {
				rc = ipwd_segs_del(s, es[i].addr, es[i].plen,
						   now, &d);
				check(rc == 0);
				es[i].used = false;
			}
		} else {
			bool clash = false;

			a = plen ? b[1] & ((0xffu << (W8 - plen)) & 0xffu) : 0;
			if (es[i].used) {
				a = es[i].addr;
				plen = es[i].plen;
			}
			for (j = 0; j < SLOTS; j++)
				if (j != i && es[j].used && es[j].addr == a &&
				    es[j].plen == plen)
					clash = true;
			if (clash)
				continue;
			rc = ipwd_segs_put(s, a, plen, e, now, limit, &d);
			if (plen >= W8) {
				check(rc == IPW_EINVAL);
			} else if (rc == 0) {
				es[i] = (struct bent){a, plen, e, true};
			} else {
				check(rc == IPW_ENOSPC && limit != SIZE_MAX);
				check(d.ndel + d.nadd == 0);
			}
		}
		ksim_apply(&k, &d);
		check(k.bad == 0);

		nw = canon8(es, SLOTS, now, want);
		while (ipwd_segs_next(s, &cur, &g)) {
			check(ng < NPT8);
			got[ng++] = g;
			if (rank_of(g.expires) > now)
				lv[live++] = g;
		}
		check(ng == ipwd_segs_count(s));
		check(live == nw);
		for (j = 0; j < nw; j++)
			check(lv[j].first == want[j].first &&
			      lv[j].last == want[j].last &&
			      lv[j].expires == want[j].expires);
		qsort(k.v, k.n, sizeof(k.v[0]), cmp_seg);
		check(k.n == ng);
		for (j = 0; j < ng; j++)
			check(got[j].first == k.v[j].first &&
			      got[j].last == k.v[j].last &&
			      got[j].expires == k.v[j].expires);
	}
	ipwd_seg_diff_free(&d);
	ipwd_segs_free(s);
	return 0;
}
