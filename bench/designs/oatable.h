/* SPDX-License-Identifier: MIT */
/*
 * A single-threaded open-addressing hash table, uint32 key -> {expiry,
 * score}: the one table behind the rwlock, mutex and lock-striped baselines
 * of bench_designs (they differ only in the locks around it).
 *
 * Linear probing over a power-of-two array of 16-byte slots (four per cache
 * line). The expiry field doubles as the slot state: OA_EMPTY and OA_TOMB
 * are negative, real expiries are not. Deletion leaves a tombstone; an
 * insertion that would take used slots (live + tombstones) past 3/4 of the
 * capacity rehashes first, doubling when live entries fill more than 3/8,
 * else at the same size (dropping tombstones). So a probe always ends at an
 * empty slot, and expected probe lengths stay those of load <= 0.75.
 *
 * Callers pass the hash (ipw_hash_u32 of the key) so that a sharded table
 * can use its top bits for the shard and the low bits for the slot.
 *
 * Not thread-safe: the caller serialises writers against everything, and
 * readers against writers.
 */
#ifndef IPWALL_BENCH_DESIGNS_OATABLE_H
#define IPWALL_BENCH_DESIGNS_OATABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../src/lib/hash.h"
#include "designs.h"

#define OA_EMPTY INT64_MIN
#define OA_TOMB	 (INT64_MIN + 1)

struct oa_slot {
	uint32_t key;
	uint32_t score;
	int64_t expires; /* or OA_EMPTY / OA_TOMB */
};

struct oa_table {
	struct oa_slot *slots;
	size_t mask; /* capacity - 1 */
	size_t live;
	size_t tombs;
	uint64_t hash_key[2];
};

/* Room for @hint entries without growing. Returns 0 or -ENOMEM. */
int oa_init(struct oa_table *t, size_t hint, const uint64_t hash_key[2]);
void oa_destroy(struct oa_table *t);

/* Insert or overwrite. Returns 1 if inserted, 0 if overwritten, -ENOMEM. */
int oa_put(struct oa_table *t, uint32_t key, uint64_t h, struct design_val v);
bool oa_del(struct oa_table *t, uint32_t key, uint64_t h);
/* Tombstone every entry whose expiry is at or before @now; a full pass. */
size_t oa_purge(struct oa_table *t, int64_t now);

/* The hash every caller passes: the same keyed function for all designs. */
static inline uint64_t oa_hash(const struct oa_table *t, uint32_t key)
{
	return ipw_hash_u32(key, t->hash_key);
}

/* The stored value (expired or not). Inline: it is every baseline's read
 * path. */
static inline bool oa_get(const struct oa_table *t, uint32_t key, uint64_t h,
			  struct design_val *out)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct oa_slot *s = &t->slots[i];

		if (s->expires == OA_EMPTY)
			return false;
		if (s->key == key && s->expires != OA_TOMB) {
			out->expires = s->expires;
			out->score = s->score;
			return true;
		}
	}
}

#endif /* IPWALL_BENCH_DESIGNS_OATABLE_H */
