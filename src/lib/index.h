/* SPDX-License-Identifier: MIT */
/*
 * Concurrent open-addressing hash index, generated per key type.
 *
 * Design. A power-of-two array of small slots (key, control word, payload)
 * and, beside it, one tag byte per slot, in groups of 16 (the layout of
 * Abseil's Swiss tables). A tag is 0x80 for a slot never used, else 7 bits
 * of the key's hash. A lookup hashes once, loads the 16 tags of a group
 * with one SSE2 load, and touches a slot only where its tag matches, so a
 * miss usually costs one load from the tag array, which is 1/12 to 1/24 of
 * the slot array's size and far more likely to be in cache. Groups are
 * probed linearly until one holds a never-used slot.
 *
 * A tombstone's tag is IX_TAG_DEAD, so lookups skip it without reading the
 * slot and an insert finds one to reuse from the tags alone.
 *
 * In a slot, ctl == 0 means not yet published; otherwise the low 28 bits
 * are the handle of the entry the slot stands for and IX_DEAD marks a
 * deleted entry (a tombstone). Readers never lock:
 *
 *   - A slot's key is stored (relaxed atomic words) before its ctl
 *     (release). A tombstone is revived for the same key, or reused for
 *     another key on whose probe path it lies, so churn does not fill the
 *     array with tombstones; a reader therefore validates a match by
 *     reading ctl again after the key (see _find()).
 *   - The tag is stored (release) after ctl; a tag is a hint, ctl decides.
 *     A never-used tag is set once; a reused tombstone's tag may change.
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
 * scans more than IX_MAX_GROUPS groups asks the caller to rebuild the array
 * with a fresh key, so a probe run cannot be grown on purpose.
 *
 * Load: at most 3/4 (counting tombstones); a rebuild sizes the new array so
 * that the live entries fill at most 0.6 of it.
 *
 * Usage: define IX_NAME, IX_SLOT (slot struct with members `ctl` and the
 * key), IX_KEY (key type), IX_HASH(key, hkey), IX_EQ(slotp, key) and
 * IX_KEYOF(slotp) (both reading the key with relaxed atomic loads),
 * IX_PAYLOAD (the type a reader gets with a match) and
 * IX_LOADPAYLOAD(slotp, payloadp), then include this file. It defines struct IX_NAME and
 * static functions IX_NAME##_find() (reader), _probe() (writer: the slot
 * for a key, or the never-used slot where it goes), _settag(), _new(),
 * _bytes(), _full() and _rebuild() (copies live slots into a new array).
 */
#ifndef IPWALL_SRC_LIB_INDEX_COMMON
#define IPWALL_SRC_LIB_INDEX_COMMON

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define IX_DEAD	       0x80000000u
#define IX_HANDLE_MASK 0x0fffffffu
#define IX_GROUP       16
#define IX_MAX_GROUPS  32
#define IX_MIN_CAP     16
#define IX_TAG_EMPTY   0x80
#define IX_TAG_DEAD    0xfe

#define IX_CAT_(a, b) a##b
#define IX_CAT(a, b)  IX_CAT_(a, b)

#if defined(__SANITIZE_THREAD__)
#define IX_SCALAR_TAGS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IX_SCALAR_TAGS 1
#endif
#endif
#if !defined(__SSE2__)
#define IX_SCALAR_TAGS 1
#endif

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

/*
 * Index arrays of 2 MiB or more are mapped with mmap() and marked for
 * transparent huge pages: a random lookup in a large array otherwise pays
 * a TLB miss (a two-dimensional page walk under virtualisation) on top of
 * the cache miss. Every index array starts with its allocation size, so
 * ix_free() can release any of them.
 */
#define IX_HUGE (2u << 20)

static inline void *ix_alloc(size_t bytes)
{
	void *p;

	if (bytes < IX_HUGE)
		return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	bytes = (bytes + IX_HUGE - 1) & ~(size_t)(IX_HUGE - 1);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

/* Release @p, allocated by ix_alloc(@bytes). */
static inline void ix_free_bytes(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < IX_HUGE)
		free(p);
	else
		munmap(p, (bytes + IX_HUGE - 1) & ~(size_t)(IX_HUGE - 1));
}

static inline void ix_free(void *p)
{
	if (p)
		ix_free_bytes(p, *(size_t *)p);
}

static inline uint8_t ix_tag(uint64_t h)
{
	return (uint8_t)(h & 0x7f);
}

/* First slot of the group where the probe for hash @h starts. */
static inline uint64_t ix_group0(uint64_t h, uint64_t mask)
{
	return (h >> 7) & mask & ~(uint64_t)(IX_GROUP - 1);
}

/*
 * Scan one group of tags: *match gets a bit per slot whose tag is @tag,
 * *dead a bit per tombstone, the return value a bit per never-used slot.
 */
static inline unsigned ix_scan(const uint8_t *g, uint8_t tag, unsigned *match,
			       unsigned *dead)
{
#ifdef IX_SCALAR_TAGS
	unsigned m = 0, e = 0, d = 0;

	for (int k = 0; k < IX_GROUP; k++) {
		uint8_t v = __atomic_load_n(&g[k], __ATOMIC_ACQUIRE);

		m |= (unsigned)(v == tag) << k;
		e |= (unsigned)(v == IX_TAG_EMPTY) << k;
		d |= (unsigned)(v == IX_TAG_DEAD) << k;
	}
	*match = m;
	*dead = d;
	return e;
#else
	/* x86 loads are not reordered with other loads, and tags are stored
	 * with release after the slot they describe. */
	__m128i v = _mm_load_si128((const __m128i *)(const void *)g);

	*match = (unsigned)_mm_movemask_epi8(
		_mm_cmpeq_epi8(v, _mm_set1_epi8((char)tag)));
	*dead = (unsigned)_mm_movemask_epi8(
		_mm_cmpeq_epi8(v, _mm_set1_epi8((char)IX_TAG_DEAD)));
	return (unsigned)_mm_movemask_epi8(
		_mm_cmpeq_epi8(v, _mm_set1_epi8((char)IX_TAG_EMPTY)));
#endif
}

#endif /* IPWALL_SRC_LIB_INDEX_COMMON */

#define IX_FN(suffix) IX_CAT(IX_NAME, suffix)

struct IX_NAME {
	size_t alloc_bytes; /* first: read by ix_free() */
	uint64_t mask;	    /* capacity - 1 (capacity: a power of two >= 16) */
	uint64_t hkey[2];   /* hash key of this array */
	uint8_t *tags;	    /* capacity bytes, after the slots */
	/* writer only, on a cache line readers do not read */
	uint64_t used __attribute__((aligned(64))); /* ctl != 0: live + dead */
	uint64_t live;
	IX_SLOT slots[] __attribute__((aligned(64)));
};

static inline struct IX_NAME *IX_FN(_new)(uint64_t cap, const uint64_t hkey[2])
{
	struct IX_NAME *ix;
	size_t head = sizeof(*ix) + cap * sizeof(IX_SLOT);
	size_t bytes;

	head = (head + 63) & ~(size_t)63;
	bytes = head + cap;
	ix = ix_alloc(bytes);
	if (!ix)
		return NULL;
	if (bytes < IX_HUGE)
		memset(ix, 0, head); /* mmap() gives zeroed pages */
	ix->alloc_bytes = bytes;
	ix->tags = (uint8_t *)ix + head;
	memset(ix->tags, IX_TAG_EMPTY, cap);
	ix->mask = cap - 1;
	ix->hkey[0] = hkey[0];
	ix->hkey[1] = hkey[1];
	return ix;
}

static inline size_t IX_FN(_bytes)(const struct IX_NAME *ix)
{
	return ix ? sizeof(*ix) + (ix->mask + 1) * (sizeof(IX_SLOT) + 1) : 0;
}

/*
 * Reader: find the live slot holding @k. On success sets *ctlp to its
 * control word and *payload to its payload (IX_LOADPAYLOAD), read
 * consistently with the key, and returns true. Call inside an RCU
 * read-side critical section, with @ix loaded by acquire from the
 * published pointer.
 *
 * A tombstone may be reused for another key while we look, so a match is
 * validated: ctl is read again after the key and payload; if it changed,
 * the slot was deleted (and maybe reused) meanwhile and we probe on, as if
 * we had run just after the delete. ctl cannot change and come back to the
 * same value within our read-side section, because a handle is recycled
 * only after a grace period.
 */
static inline bool IX_FN(_find)(const struct IX_NAME *ix, IX_KEY k,
				uint32_t *ctlp, IX_PAYLOAD *payload)
{
	uint64_t h = IX_HASH(k, ix->hkey);
	uint64_t i = ix_group0(h, ix->mask);
	uint8_t tag = ix_tag(h);

	/*
	 * Fetch the group's slots while its tags load: a hit then costs one
	 * memory latency, not two in a row. The group spans
	 * 16 * sizeof(slot) bytes from a 64-byte aligned start.
	 */
	for (size_t off = 0; off < IX_GROUP * sizeof(IX_SLOT); off += 64)
		__builtin_prefetch((const char *)&ix->slots[i] + off);
	for (;;) {
		unsigned match, dead;
		unsigned empty = ix_scan(ix->tags + i, tag, &match, &dead);

		while (match) {
			const IX_SLOT *s =
				&ix->slots[i + (unsigned)__builtin_ctz(match)];
			uint32_t ctl = ix_load_ctl(&s->ctl);

			match &= match - 1;
			if (ctl == 0 || (ctl & IX_DEAD) || !IX_EQ(s, k))
				continue;
			IX_LOADPAYLOAD(s, payload);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&s->ctl, __ATOMIC_RELAXED) != ctl)
				continue;
			*ctlp = ctl;
			return true;
		}
		if (empty)
			return false;
		i = (i + IX_GROUP) & ix->mask;
	}
}

/*
 * Start fetching the tag group where @k's probe starts, without waiting
 * for it. A reader (@write false: a batch of checks issues this a few
 * queries ahead, so that their memory latencies overlap) fetches the
 * group's slots too, as _find() does; a writer (@write true, to own the
 * lines) fetches the group's first slot line. Always inlined: as a call,
 * GCC 12 finds the function free of side effects (a prefetch has none it
 * models) and deletes the call.
 */
static inline __attribute__((always_inline)) void
IX_FN(_prefetch)(const struct IX_NAME *ix, IX_KEY k, bool write)
{
	uint64_t i = ix_group0(IX_HASH(k, ix->hkey), ix->mask);

	if (write) {
		__builtin_prefetch(ix->tags + i, 1);
		__builtin_prefetch(&ix->slots[i], 1);
		return;
	}
	__builtin_prefetch(ix->tags + i);
	for (size_t off = 0; off < IX_GROUP * sizeof(IX_SLOT); off += 64)
		__builtin_prefetch((const char *)&ix->slots[i] + off);
}

/*
 * Writer: the slot for @k. *found tells whether it holds @k (live or
 * dead); otherwise it is the first tombstone on @k's probe path (reused
 * for @k) or else the never-used slot that ends the path. To take a slot
 * that does not hold @k: store the key (IX_SETKEY), the payload, then ctl,
 * then call _settag(). Returns NULL past IX_MAX_GROUPS groups (the caller
 * rebuilds with a new hash key).
 */
static inline IX_SLOT *IX_FN(_probe)(struct IX_NAME *ix, IX_KEY k, bool *found)
{
	uint64_t h = IX_HASH(k, ix->hkey);
	uint64_t i = ix_group0(h, ix->mask);
	uint8_t tag = ix_tag(h);
	IX_SLOT *dead = NULL;

	for (size_t off = 0; off < IX_GROUP * sizeof(IX_SLOT); off += 64)
		__builtin_prefetch((const char *)&ix->slots[i] + off, 1);
	for (unsigned n = 0; n < IX_MAX_GROUPS; n++) {
		unsigned match, deadm;
		unsigned empty = ix_scan(ix->tags + i, tag, &match, &deadm);

		while (match) {
			IX_SLOT *s =
				&ix->slots[i + (unsigned)__builtin_ctz(match)];

			match &= match - 1;
			if (s->ctl && IX_EQ(s, k)) {
				*found = true;
				return s;
			}
		}
		if (!dead && deadm)
			dead = &ix->slots[i + (unsigned)__builtin_ctz(deadm)];
		if (empty) {
			*found = false;
			return dead ? dead :
				      &ix->slots[i + (unsigned)__builtin_ctz(
							     empty)];
		}
		i = (i + IX_GROUP) & ix->mask;
	}
	return NULL;
}

/* Writer: make live slot @s (of entry @h) a tombstone. */
static inline void IX_FN(_kill)(struct IX_NAME *ix, IX_SLOT *s, uint32_t h)
{
	uint64_t i = (uint64_t)(s - ix->slots);

	ix_store_ctl(&s->ctl, IX_DEAD | h);
	__atomic_store_n(&ix->tags[i], (uint8_t)IX_TAG_DEAD, __ATOMIC_RELEASE);
	ix->live--;
}

/* Writer: publish the tag of slot @s (after its ctl). */
static inline void IX_FN(_settag)(struct IX_NAME *ix, const IX_SLOT *s)
{
	uint64_t i = (uint64_t)(s - ix->slots);

	__atomic_store_n(&ix->tags[i], ix_tag(IX_HASH(IX_KEYOF(s), ix->hkey)),
			 __ATOMIC_RELEASE);
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
		bool found;

		d = IX_FN(_probe)(ix, IX_KEYOF(s), &found);
		if (!d) {
			ix_free(ix);
			return NULL;
		}
		*d = *s;
		IX_FN(_settag)(ix, d);
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
#undef IX_PAYLOAD
#undef IX_LOADPAYLOAD
