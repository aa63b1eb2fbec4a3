/* SPDX-License-Identifier: MIT */
/*
 * Concurrent open-addressing hash index, generated per key type.
 *
 * Design. Linear probing over a power-of-two array of small slots. A slot
 * holds its key, a control word (ctl) and a payload. ctl == 0 means empty;
 * otherwise the low 28 bits are the handle of the entry the slot stands for
 * and IX_DEAD marks a deleted entry (a tombstone). Readers never lock:
 *
 *   - A slot's key is written once, before its ctl is first set (release),
 *     and never changes while this array lives: tombstones are not reused
 *     for another key, only revived for the same key. So a reader that
 *     acquire-loads a non-zero ctl reads a stable key with plain loads.
 *   - ctl and the payload words change only with single atomic stores: a
 *     writer stores the payload, then ctl (release); a reader loads ctl
 *     (acquire), then the payload. A reader thus sees a whole entry before
 *     or after any one write.
 *   - Growth, rekeying and the removal of tombstones build a new array and
 *     publish it with one release store of the index pointer; the old array
 *     is freed after an RCU grace period (the caller's job).
 *
 * One writer at a time (the caller holds the table's writer lock).
 *
 * HashDoS: keys are hashed with a per-array random key; an insert that
 * meets a probe run longer than IX_MAX_PROBE asks the caller to rebuild the
 * array with a fresh key, so a run cannot be grown on purpose.
 *
 * Load: at most 3/4 (counting tombstones); a rebuild sizes the new array so
 * that the live entries fill at most 0.6 of it. Lookups cost ~1.5 probes
 * on a hit and ~4.5 on a miss at the mean load, one cache line in most
 * cases.
 *
 * Usage: define IX_NAME, IX_SLOT (slot struct with members `ctl` and the
 * key), IX_KEY (key type), IX_HASH(key, hkey), IX_EQ(slotp, key),
 * IX_SETKEY(slotp, key), then include this file. It defines
 * struct IX_NAME and static functions IX_NAME##_find() (reader),
 * _probe() (writer: the slot for a key, or the empty slot where it goes),
 * _new(), _bytes(), and _rebuild() (copies live slots into a new array).
 */
#ifndef IPWALL_SRC_LIB_INDEX_COMMON
#define IPWALL_SRC_LIB_INDEX_COMMON

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IX_DEAD	       0x80000000u
#define IX_HANDLE_MASK 0x0fffffffu
#define IX_MAX_PROBE   512
#define IX_MIN_CAP     16

#define IX_CAT_(a, b) a##b
#define IX_CAT(a, b)  IX_CAT_(a, b)

static inline uint32_t ix_load_ctl(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void ix_store_ctl(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t ix_pow2_at_least(uint64_t n)
{
	uint64_t c = IX_MIN_CAP;

	while (c < n)
		c <<= 1;
	return c;
}

#endif /* IPWALL_SRC_LIB_INDEX_COMMON */

#define IX_FN(suffix) IX_CAT(IX_NAME, suffix)

struct IX_NAME {
	uint64_t mask;	  /* capacity - 1 */
	uint64_t hkey[2]; /* hash key of this array */
	uint64_t used;	  /* slots with ctl != 0 (live + dead); writer only */
	uint64_t live;	  /* live slots; writer only */
	IX_SLOT slots[];
};

static inline struct IX_NAME *IX_FN(_new)(uint64_t cap, const uint64_t hkey[2])
{
	struct IX_NAME *ix;
	size_t bytes = sizeof(*ix) + cap * sizeof(IX_SLOT);

	bytes = (bytes + 63) & ~(size_t)63;
	ix = aligned_alloc(64, bytes);
	if (!ix)
		return NULL;
	memset(ix, 0, bytes);
	ix->mask = cap - 1;
	ix->hkey[0] = hkey[0];
	ix->hkey[1] = hkey[1];
	return ix;
}

static inline size_t IX_FN(_bytes)(const struct IX_NAME *ix)
{
	return ix ? sizeof(*ix) + (ix->mask + 1) * sizeof(IX_SLOT) : 0;
}

/*
 * Reader: the live slot holding @k, or NULL. *ctlp gets its control word.
 * Call inside an RCU read-side critical section, with @ix loaded by
 * acquire from the published pointer.
 */
static inline IX_SLOT *IX_FN(_find)(const struct IX_NAME *ix, IX_KEY k,
				    uint32_t *ctlp)
{
	uint64_t i = IX_HASH(k, ix->hkey) & ix->mask;

	for (;;) {
		IX_SLOT *s = (IX_SLOT *)&ix->slots[i];
		uint32_t ctl = ix_load_ctl(&s->ctl);

		if (ctl == 0)
			return NULL;
		if (IX_EQ(s, k)) {
			if (ctl & IX_DEAD)
				return NULL;
			*ctlp = ctl;
			return s;
		}
		i = (i + 1) & ix->mask;
	}
}

/*
 * Writer: the slot holding @k (live or dead), or else the empty slot where
 * @k would go. Returns NULL when the probe run exceeds IX_MAX_PROBE (the
 * caller rebuilds with a new hash key).
 */
static inline IX_SLOT *IX_FN(_probe)(struct IX_NAME *ix, IX_KEY k)
{
	uint64_t i = IX_HASH(k, ix->hkey) & ix->mask;

	for (unsigned n = 0; n < IX_MAX_PROBE; n++) {
		IX_SLOT *s = &ix->slots[i];

		if (s->ctl == 0 || IX_EQ(s, k))
			return s;
		i = (i + 1) & ix->mask;
	}
	return NULL;
}

/* Writer: true if one more slot would pass the 3/4 load bound. */
static inline int IX_FN(_full)(const struct IX_NAME *ix)
{
	return (ix->used + 1) * 4 > (ix->mask + 1) * 3;
}

/*
 * Writer: a new array holding the live slots of @old (NULL: empty), sized
 * for them plus @extra, hashed with @hkey. Returns NULL on allocation
 * failure or if the new array still has an overlong probe run.
 */
static inline struct IX_NAME *IX_FN(_rebuild)(const struct IX_NAME *old,
					      uint64_t extra,
					      const uint64_t hkey[2])
{
	uint64_t live = old ? old->live : 0;
	uint64_t cap = ix_pow2_at_least(((live + extra) * 5 + 2) / 3);
	struct IX_NAME *ix = IX_FN(_new)(cap, hkey);

	if (!ix || !old)
		return ix;
	for (uint64_t i = 0; i <= old->mask; i++) {
		const IX_SLOT *s = &old->slots[i];
		IX_SLOT *d;

		if (s->ctl == 0 || (s->ctl & IX_DEAD))
			continue;
		d = IX_FN(_probe)(ix, IX_KEYOF(s));
		if (!d) {
			free(ix);
			return NULL;
		}
		*d = *s;
		ix->used++;
		ix->live++;
	}
	return ix;
}

#undef IX_FN
#undef IX_NAME
#undef IX_SLOT
#undef IX_KEY
#undef IX_HASH
#undef IX_EQ
#undef IX_KEYOF
