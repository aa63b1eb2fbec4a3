// SPDX-License-Identifier: MIT
/*
 * The ban table.
 *
 * Layout. For each list (bans, allows) and family:
 *   - exact addresses: a hash index keyed by the address (index.h);
 *   - prefixes: a hash index keyed by (masked address, length), plus a
 *     summary that tells a reader which lengths can match, so a check
 *     probes only those:
 *       IPv4: an array of 65,536 cells, one per /16. A cell holds the handle
 *       and length of the most specific prefix of length <= 16 covering
 *       that /16 ("leaf pushing", maintained by writers) and a bitmask of
 *       the lengths 17..31 present under it. A lookup is one cell load plus
 *       one probe per length present in that /16: usually none or one.
 *       IPv6: a hash of "groups" keyed by the top 32 bits, each a bitmask of
 *       the lengths 33..127 present under that /32, plus a global bitmask of
 *       the lengths 0..32 present (few in practice: /29, /32, /48, /64).
 * The index holds only key, expiry, control word (handle + tombstone bit):
 * 12 bytes per IPv4 slot, 24 per IPv6, plus a tag byte. Entry records
 * (target, expiry, score, created, hits, metadata: 64 bytes) live beside it
 * in a slab of fixed chunks, addressed by a 28-bit handle; checks touch
 * them only for sampled hit counts.
 *
 * Check. Allow first (skipped when the family has no allows), then ban:
 * exact index, then prefixes from longest to shortest. The first unexpired
 * match is the most specific one. An expired entry is skipped, so a shorter
 * unexpired prefix behind it decides, before the purger has run.
 *
 * Concurrency. See include/ipwall/table.h. Readers run under liburcu-bp's
 * read lock and use acquire loads for every pointer and control word that
 * writers publish with release stores. Writers hold t->lock, except the
 * lock-free merge ("Merges" below). Memory a reader may hold (old index
 * arrays, recycled handles) is released after urcu_bp_synchronize_rcu(),
 * batched: handles of deleted entries wait in a limbo list until it holds
 * max(4096, live/8) of them, and the grace period is waited for with the
 * lock released (wunlock_reclaim()).
 *
 * Expiry. A two-level timing wheel (4096 one-second slots, 4096 slots of
 * 4096 s, an overflow vector for expiries beyond ~194 days, and a "due"
 * vector for expiries already behind the wheel's clock, which only
 * ipw_table_put() and a stepped-back clock produce) of handle vectors,
 * lazy (see "timing wheel and eviction FIFO" below): O(1) insert, extend
 * and delete without touching other records; purge costs O(references met
 * + seconds elapsed), skipping empty levels in one step.
 *
 * Eviction. Automatic expiring entries are referenced in FIFO order; a
 * manual add on a full table evicts the oldest. Manual and permanent
 * entries are never evicted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
/*
 * liburcu's read lock and unlock are inlined (_LGPL_SOURCE, which liburcu's
 * README allows for any GPL-compatible license, MIT included): as calls
 * they cost 9 ns of a 14 ns check on an empty table, through the PLT and
 * three TLS lookups. Sanitizer builds call them instead, because inlined
 * they make UBSan report that liburcu-bp's registry hands out reader
 * records less aligned than their declared 128 bytes (harmless on x86,
 * and liburcu's own business). The code is the same either way.
 */
#ifndef IPW_SANITIZED
#define _LGPL_SOURCE
#endif
#include <urcu-bp.h>

#include <ipwall/table.h>

#include "hash.h"

#if defined(__SANITIZE_THREAD__)
#define IPW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPW_TSAN 1
#endif
#endif
#ifdef IPW_TSAN
/* Teach TSan the RCU guarantee: everything a reader did before its
 * unlock happens before what the writer does after a grace period. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_RELEASE(p) __tsan_release(p)
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define TSAN_RELEASE(p) ((void)(p))
#define TSAN_ACQUIRE(p) ((void)(p))
#endif

/* ---- index instances ---- */

struct slot4 {
	uint32_t key;
	uint32_t ctl;
	uint32_t exp;
};

struct slotp4 {
	uint64_t key; /* masked address << 8 | length */
	uint32_t ctl;
	uint32_t exp;
};

struct key128 {
	uint64_t hi, lo;
};

struct slot6 {
	uint64_t hi, lo; /* prefixes carry a marker bit at their length */
	uint32_t ctl;
	uint32_t exp;
};

struct slotg6 {
	uint32_t key; /* top 32 bits */
	uint32_t ctl;
	uint64_t mask[2]; /* lengths 33..96 in [0], 97..127 in [1] */
};

struct slotcnt {
	uint64_t key;
	uint32_t ctl;
	uint32_t count;
};

/* Key words are read and written with relaxed atomics: a tombstone can be
 * reused for another key while a reader looks (index.h). */
#define LD(x)	 __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define IX_NAME		     ix4
#define IX_SLOT		     struct slot4
#define IX_KEY		     uint32_t
#define IX_HASH(k, h)	     ipw_hash_u32(k, h)
#define IX_EQ(s, k)	     (LD((s)->key) == (k))
#define IX_KEYOF(s)	     LD((s)->key)
#define IX_PAYLOAD	     uint32_t
#define IX_LOADPAYLOAD(s, p) (*(p) = LD((s)->exp))
#include "index.h"

#define IX_NAME		     ixp4
#define IX_SLOT		     struct slotp4
#define IX_KEY		     uint64_t
#define IX_HASH(k, h)	     ipw_hash_u64(k, h)
#define IX_EQ(s, k)	     (LD((s)->key) == (k))
#define IX_KEYOF(s)	     LD((s)->key)
#define IX_PAYLOAD	     uint32_t
#define IX_LOADPAYLOAD(s, p) (*(p) = LD((s)->exp))
#include "index.h"

#define IX_NAME		     ix6
#define IX_SLOT		     struct slot6
#define IX_KEY		     struct key128
#define IX_HASH(k, h)	     ipw_hash_u128((k).hi, (k).lo, h)
#define IX_EQ(s, k)	     (LD((s)->hi) == (k).hi && LD((s)->lo) == (k).lo)
#define IX_KEYOF(s)	     ((struct key128){LD((s)->hi), LD((s)->lo)})
#define IX_PAYLOAD	     uint32_t
#define IX_LOADPAYLOAD(s, p) (*(p) = LD((s)->exp))
#include "index.h"

struct gmask {
	uint64_t m0, m1;
};

#define IX_NAME	      ixg6
#define IX_SLOT	      struct slotg6
#define IX_KEY	      uint32_t
#define IX_HASH(k, h) ipw_hash_u32(k, h)
#define IX_EQ(s, k)   (LD((s)->key) == (k))
#define IX_KEYOF(s)   LD((s)->key)
#define IX_PAYLOAD    struct gmask
#define IX_LOADPAYLOAD(s, p)                                         \
	((p)->m0 = __atomic_load_n(&(s)->mask[0], __ATOMIC_ACQUIRE), \
	 (p)->m1 = __atomic_load_n(&(s)->mask[1], __ATOMIC_ACQUIRE))
#include "index.h"

/* Writer-only counts: never read by readers, but the same template. */
#define IX_NAME		     ixcnt
#define IX_SLOT		     struct slotcnt
#define IX_KEY		     uint64_t
#define IX_HASH(k, h)	     ipw_hash_u64(k, h)
#define IX_EQ(s, k)	     ((s)->key == (k))
#define IX_KEYOF(s)	     ((s)->key)
#define IX_PAYLOAD	     uint32_t
#define IX_LOADPAYLOAD(s, p) (*(p) = (s)->count)
#include "index.h"

/* ---- entries ---- */

#define CHUNK_SHIFT	    16
#define CHUNK_SIZE	    (1u << CHUNK_SHIFT)
#define MAX_HANDLE	    IX_HANDLE_MASK
#define MAX_CHUNKS	    ((MAX_HANDLE >> CHUNK_SHIFT) + 1)
#define DEFAULT_MAX_ENTRIES (1u << 24)
#define DEFAULT_HIT_SAMPLE  64

struct meta {
	uint32_t refs; /* atomic: snapshots share it */
	uint16_t actor_off, source_off;
	char data[]; /* reason \0 actor \0 source \0 */
};

struct entry {
	struct ipw_addr target;
	uint8_t list;
	uint8_t flags;
	uint8_t in_use;
	uint8_t pad;
	uint32_t expires; /* atomic; 0 = permanent */
	uint32_t created;
	uint32_t last_hit; /* atomic */
	uint32_t gen;	   /* this life's number: FIFO references name one */
	uint64_t sv;	   /* atomic: score | seq << 32, see "Merges" */
	uint64_t hits;	   /* atomic */
	struct meta *meta;
};

/*
 * Merges. A write that finds its target live and only confirms it, or
 * raises its score, takes no lock (add_unlocked()). The score shares one
 * word with a sequence count, odd while the record is live and stable:
 * writers make it even before they rewrite a record in place (a new life
 * of the handle, a put) or remove it, and odd again after; a lock-free
 * merge reads the word, the expiry and the flags, and then changes the
 * score by a compare-and-swap on the word (or, changing nothing, reads it
 * again), so it acts only on what one life of the record held. Within a
 * life the expiry only grows and the automatic flag only clears, so what
 * it read stays true until the swap. Under the lock, scores are raised by
 * compare-and-swap too.
 */
#define SV_SEQ1	     (1ull << 32)
#define SV_SCORE(sv) ((uint32_t)(sv))
#define SV_LIVE(sv)  (((sv) >> 32) & 1)

static inline uint32_t score_of(const struct entry *e)
{
	return SV_SCORE(__atomic_load_n(&e->sv, __ATOMIC_RELAXED));
}

/* Writer: raise @e's score to @score if lower; true if it did. */
static bool score_raise(struct entry *e, uint32_t score)
{
	uint64_t s = __atomic_load_n(&e->sv, __ATOMIC_RELAXED);

	while (SV_SCORE(s) < score)
		if (__atomic_compare_exchange_n(
			    &e->sv, &s, (s & ~0xffffffffull) | score, true,
			    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	return false;
}

/* Writer: a live record is about to be rewritten in place or removed. */
static void record_hold(struct entry *e)
{
	__atomic_fetch_add(&e->sv, SV_SEQ1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Writer: the record (held, or not yet live) is live, with @score. */
static void record_open(struct entry *e, uint32_t score)
{
	uint64_t s = __atomic_load_n(&e->sv, __ATOMIC_RELAXED);

	__atomic_store_n(&e->sv, ((s & ~0xffffffffull) + SV_SEQ1) | score,
			 __ATOMIC_RELEASE);
}

/* ---- the table ---- */

#define WHEEL_BITS  12
#define WHEEL_SIZE  (1u << WHEEL_BITS)
#define WHEEL_MASK  (WHEEL_SIZE - 1)
#define WSLOT_OVER  (2 * WHEEL_SIZE)
#define WSLOT_DUE   (2 * WHEEL_SIZE + 1)
#define WHEEL_SLOTS (2 * WHEEL_SIZE + 2)

struct hvec {
	uint32_t *v;
	uint32_t n, cap;
};

struct fref {
	uint32_t h, gen;
};

/*
 * A summary cell of the IPv4 prefixes under one /16: bits 0..31 the handle
 * of the most specific prefix of length <= 16 covering it (0: none), bits
 * 32..46 a bitmask of lengths 17..31 present under it, bits 48..52 the
 * length of that short prefix, so a reader can probe its slot (which has
 * the expiry) without touching the entry record.
 */
#define SUM4_CELLS	    65536
#define CELL_MASK(c)	    ((uint32_t)((c) >> 32) & 0x7fffu)
#define CELL_PLEN(c)	    ((unsigned)((c) >> 48) & 0x1fu)
#define CELL_LONG_BIT(len)  ((uint64_t)1 << (32 + (len)-17))
#define CELL_MASK_BITS	    0x00007fff00000000ull
#define CELL_PLEN_BITS(len) ((uint64_t)((len)&0x1fu) << 48)

/*
 * What readers read is kept apart from what writers write on every
 * operation: a writer's store to a cache line a reader holds costs that
 * reader a miss on its next check (measured: a reader beside a writer kept
 * 46% of its rate when the live counts and the writer's mutex shared lines
 * with the index pointers).
 */
struct list_ix {
	/* published to readers; changes rarely */
	struct ix4 *ex4;
	struct ixp4 *px4;
	uint64_t *sum4; /* SUM4_CELLS cells */
	struct ix6 *ex6;
	struct ix6 *px6;
	struct ixg6 *grp6;
	uint64_t short6;      /* v6 lengths 0..32 present */
	uint32_t short4;      /* v4 lengths 0..16 present */
	uint32_t nonempty[2]; /* the family has entries (set on 0 <-> 1) */
	/* writer only, on cache lines of their own */
	uint32_t n[2] __attribute__((aligned(64))); /* live per family */
	uint32_t lencount4[33];
	uint32_t lencount6[129];
	uint64_t nprefix[2];
} __attribute__((aligned(64)));

struct ipw_table {
	/* read by readers; written rarely (see struct list_ix) */
	int mode;	   /* atomic */
	uint32_t hit_mask; /* hit_sample - 1 */
	int64_t (*clock)(void *);
	void *clock_ctx;
	struct entry **chunks; /* MAX_CHUNKS pointers, published */
	struct list_ix l[2];

	/* writers */
	pthread_mutex_t lock __attribute__((aligned(64)));
	uint32_t held;	      /* atomic: the lock is held; see wlock() */
	uint32_t writers_met; /* see writer_lock(); read before locking */
	uint64_t base_key[2];
	uint64_t rekeys;
	uint32_t next_fresh;
	uint32_t nchunks;
	uint32_t *freeh, nfree, capfree;
	uint32_t *limbo, nlimbo, caplimbo;
	void **deferred;
	uint32_t ndeferred, capdeferred;
	uint32_t max_entries, live;

	struct ixcnt *counts; /* writer only: (list, family, length, group) */

	/* Expiry wheel: vectors of handles; see "Expiry" at the top. */
	int64_t wheel_now;
	struct hvec wheel[WHEEL_SLOTS];
	uint64_t nref[4];  /* references per level: 0, 1, overflow, due */
	uint64_t expiring; /* live entries with an expiry */
	bool wheel_broken; /* a rebuild failed for memory: purge scans */
	/* Eviction FIFO: (handle, gen) of automatic expiring entries. */
	struct fref *fifo;
	/* Numbers the lives of all records, so that a FIFO reference to a
	 * life that ended never matches a later one (until 2^32 lives later;
	 * a false match could only evict an evictable entry early). */
	uint32_t last_gen;
	uint32_t fhead, fn, fcap;
	uint32_t evictable;  /* live entries the FIFO must find */
	uint64_t meta_bytes; /* metadata blocks of live entries */

	char tsan_gp; /* address for TSan annotations only */
};

static int64_t default_clock(void *ctx)
{
	/* time() is the vDSO's cheapest clock (~2 ns, against ~4 ns for
	 * CLOCK_REALTIME_COARSE and ~17 ns for CLOCK_REALTIME here). */
	(void)ctx;
	return (int64_t)time(NULL);
}

/*
 * The writer lock: t->lock, and t->held, a flag on the same cache line
 * that its holder sets. A writer that finds it taken spins reading the
 * flag (test and test-and-set) before it blocks in the mutex, instead of
 * spinning on the mutex's own compare-and-swap as an adaptive mutex does:
 * those take the line away from the holder on every try, and a write
 * holds the lock for a few hundred nanoseconds, much less than a futex
 * sleep and wake-up on a virtual machine.
 */
static inline void wlock(struct ipw_table *t)
{
	pthread_mutex_lock(&t->lock);
	__atomic_store_n(&t->held, 1, __ATOMIC_RELAXED);
}

static inline bool wtrylock(struct ipw_table *t)
{
	if (pthread_mutex_trylock(&t->lock) != 0)
		return false;
	__atomic_store_n(&t->held, 1, __ATOMIC_RELAXED);
	return true;
}

static inline void wunlock(struct ipw_table *t)
{
	__atomic_store_n(&t->held, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
}

static inline struct entry *entry_of(const struct ipw_table *t, uint32_t h)
{
	struct entry *c =
		__atomic_load_n(&t->chunks[h >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);

	return &c[h & (CHUNK_SIZE - 1)];
}

static inline bool expired(uint32_t exp, uint32_t now)
{
	return exp != 0 && exp <= now;
}

/* The merge rules an add applies to a live entry, shared by the locked
 * merge and the lock-free one, which must leave to the lock every add
 * that changes more than the score. A later expiry (0: permanent) wins: */
static inline bool later_expiry(uint32_t cur, uint32_t exp)
{
	return cur != 0 && (exp == 0 || exp > cur);
}

/* and a manual add makes an automatic entry manual. */
static inline bool makes_manual(unsigned cur_flags, unsigned add_flags)
{
	return (cur_flags & IPW_ENTRY_AUTO) && !(add_flags & IPW_ENTRY_AUTO);
}

static inline uint32_t clamp_now(int64_t now)
{
	if (now < 0)
		return 0;
	if (now > UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)now;
}

static inline uint32_t v4_mask(uint32_t a, unsigned len)
{
	return len == 0 ? 0 : a & (0xffffffffu << (32 - len));
}

static inline uint64_t p4_key(uint32_t a, unsigned len)
{
	return (uint64_t)v4_mask(a, len) << 8 | len;
}

static inline struct key128 key_of6(const struct ipw_addr *a)
{
	struct key128 k = {0, 0};

	for (int i = 0; i < 8; i++) {
		k.hi = k.hi << 8 | a->bytes[i];
		k.lo = k.lo << 8 | a->bytes[8 + i];
	}
	return k;
}

/* @k masked to @len bits, with the marker bit at position @len (< 128). */
static inline struct key128 p6_key(struct key128 k, unsigned len)
{
	if (len == 0) {
		k.hi = 1ull << 63;
		k.lo = 0;
	} else if (len < 64) {
		k.hi &= ~0ull << (64 - len);
		k.hi |= 1ull << (63 - len);
		k.lo = 0;
	} else if (len == 64) {
		k.lo = 1ull << 63;
	} else {
		k.lo &= ~0ull << (128 - len);
		k.lo |= 1ull << (127 - len);
	}
	return k;
}

static inline int fam_index(const struct ipw_addr *a)
{
	return a->family == IPW_AF_INET6;
}

/* ---- hit counting (readers) ---- */

/*
 * Hits are sampled: a check that matches an entry counts, with probability
 * 1/hit_sample, hit_sample hits on that entry (one relaxed atomic add and
 * a store of last_hit). The coin is a per-thread xorshift state, the only
 * process-wide state in libipwall. With the default 1/64 a check writes a
 * shared cache line once in 64 matches on average, instead of on every
 * match: under random traffic over many entries each write is a cache miss
 * and a locked instruction, which would double the cost of a check.
 * hit_sample = 1 counts every hit exactly.
 */
static __thread uint32_t hit_rng;

static inline bool hit_coin(uint32_t mask)
{
	uint32_t x = hit_rng;

	if (mask == 0)
		return true;
	if (x == 0)
		x = (uint32_t)(uintptr_t)&hit_rng | 1u; /* per-thread seed */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	hit_rng = x;
	return (x & mask) == 0;
}

static inline void count_hit(struct ipw_table *t, uint32_t h, uint32_t now)
{
	struct entry *e;

	if (!hit_coin(t->hit_mask))
		return;
	e = entry_of(t, h);
	__atomic_fetch_add(&e->hits, (uint64_t)t->hit_mask + 1,
			   __ATOMIC_RELAXED);
	if (__atomic_load_n(&e->last_hit, __ATOMIC_RELAXED) < now)
		__atomic_store_n(&e->last_hit, now, __ATOMIC_RELAXED);
}

/* ---- matching (readers) ---- */

struct match {
	uint32_t handle;
	uint32_t exp;
	unsigned plen;
};

/* One probe of a prefix index: true (and *m) if @key is there, unexpired. */
static inline bool probe4(const struct ixp4 *px, uint32_t a, unsigned len,
			  uint32_t now, struct match *m)
{
	uint32_t ctl, exp;

	if (ixp4_find(px, p4_key(a, len), &ctl, &exp) && !expired(exp, now)) {
		*m = (struct match){ctl & IX_HANDLE_MASK, exp, len};
		return true;
	}
	return false;
}

static bool match4(const struct list_ix *L, uint32_t a, uint32_t now,
		   struct match *m)
{
	const struct ix4 *ex = __atomic_load_n(&L->ex4, __ATOMIC_ACQUIRE);
	const uint64_t *sum;
	const struct ixp4 *px;
	uint64_t cell;
	uint32_t ctl, exp, lm;

	/* The summary cell is needed unless the exact index hits: fetch it
	 * now, in parallel with the exact lookup. */
	sum = __atomic_load_n(&L->sum4, __ATOMIC_ACQUIRE);
	if (sum)
		__builtin_prefetch(&sum[a >> 16]);
	if (ex && ix4_find(ex, a, &ctl, &exp) && !expired(exp, now)) {
		*m = (struct match){ctl & IX_HANDLE_MASK, exp, 32};
		return true;
	}
	if (!sum)
		return false;
	cell = __atomic_load_n(&sum[a >> 16], __ATOMIC_ACQUIRE);
	px = __atomic_load_n(&L->px4, __ATOMIC_ACQUIRE);
	for (lm = CELL_MASK(cell); lm;) {
		unsigned bit = (31 - (unsigned)__builtin_clz(lm)) & 31;

		lm &= ~(1u << bit);
		if (probe4(px, a, 17 + bit, now, m))
			return true;
	}
	if ((uint32_t)cell) {
		/* The leaf-pushed prefix: its slot in px4 has the expiry. */
		unsigned plen = CELL_PLEN(cell);
		uint32_t sm;

		if (probe4(px, a, plen, now, m))
			return true;
		/* Slow path: it expired before the purger removed it (or is
		 * being replaced); try the shorter ones. */
		sm = __atomic_load_n(&L->short4, __ATOMIC_ACQUIRE) &
		     ((1u << plen) - 1);
		while (sm) {
			unsigned len = (31 - (unsigned)__builtin_clz(sm)) & 31;

			sm &= ~(1u << len);
			if (probe4(px, a, len, now, m))
				return true;
		}
	}
	return false;
}

static inline bool probe6(const struct ix6 *px, struct key128 k, unsigned len,
			  uint32_t now, struct match *m)
{
	uint32_t ctl, exp;

	if (ix6_find(px, p6_key(k, len), &ctl, &exp) && !expired(exp, now)) {
		*m = (struct match){ctl & IX_HANDLE_MASK, exp, len};
		return true;
	}
	return false;
}

static bool match6(const struct list_ix *L, struct key128 k, uint32_t now,
		   struct match *m)
{
	const struct ix6 *ex = __atomic_load_n(&L->ex6, __ATOMIC_ACQUIRE);
	const struct ix6 *px;
	const struct ixg6 *grp;
	struct gmask g;
	uint64_t sm;
	uint32_t ctl, exp;

	if (ex && ix6_find(ex, k, &ctl, &exp) && !expired(exp, now)) {
		*m = (struct match){ctl & IX_HANDLE_MASK, exp, 128};
		return true;
	}
	px = __atomic_load_n(&L->px6, __ATOMIC_ACQUIRE);
	if (!px)
		return false;
	grp = __atomic_load_n(&L->grp6, __ATOMIC_ACQUIRE);
	if (grp && ixg6_find(grp, (uint32_t)(k.hi >> 32), &ctl, &g)) {
		while (g.m1) {
			unsigned bit =
				(63 - (unsigned)__builtin_clzll(g.m1)) & 63;

			g.m1 &= ~(1ull << bit);
			if (probe6(px, k, 97 + bit, now, m))
				return true;
		}
		while (g.m0) {
			unsigned bit =
				(63 - (unsigned)__builtin_clzll(g.m0)) & 63;

			g.m0 &= ~(1ull << bit);
			if (probe6(px, k, 33 + bit, now, m))
				return true;
		}
	}
	sm = __atomic_load_n(&L->short6, __ATOMIC_ACQUIRE);
	while (sm) {
		unsigned len = (63 - (unsigned)__builtin_clzll(sm)) & 63;

		sm &= ~(1ull << len);
		if (probe6(px, k, len, now, m))
			return true;
	}
	return false;
}

static bool match_list(const struct ipw_table *t, int list,
		       const struct ipw_addr *ip, uint32_t now, struct match *m)
{
	const struct list_ix *L = &t->l[list];
	int f = fam_index(ip);

	if (!__atomic_load_n(&L->nonempty[f], __ATOMIC_RELAXED))
		return false;
	if (f == 0)
		return match4(L, ipw_addr_v4(ip), now, m);
	return match6(L, key_of6(ip), now, m);
}

/* A verdict decided by entry @m of @list, which also counts a hit. */
static void decide(struct ipw_table *t, struct ipw_verdict *v,
		   const struct ipw_addr *ip, int list, const struct match *m,
		   uint32_t now)
{
	v->blocked = list == IPW_LIST_BAN;
	v->reason =
		list == IPW_LIST_BAN ? IPW_VERDICT_BANNED : IPW_VERDICT_ALLOWED;
	v->list = (enum ipw_list)list;
	ipw_addr_truncate(&v->entry, ip, m->plen);
	v->expires = m->exp;
	count_hit(t, m->handle, now);
}

static inline bool check_arg_ok(const struct ipw_addr *ip)
{
	return (ip->family == IPW_AF_INET || ip->family == IPW_AF_INET6) &&
	       ipw_addr_is_host(ip);
}

/* The verdict for @ip under @mode; inside a read-side section. */
static inline void check_one(struct ipw_table *t, const struct ipw_addr *ip,
			     uint32_t now, int mode, struct ipw_verdict *v)
{
	struct match m;

	if (match_list(t, IPW_LIST_ALLOW, ip, now, &m)) {
		decide(t, v, ip, IPW_LIST_ALLOW, &m, now);
	} else if (mode == IPW_MODE_ALLOWLIST) {
		memset(v, 0, sizeof(*v));
		v->blocked = true;
		v->reason = IPW_VERDICT_NOT_ALLOWED;
	} else if (match_list(t, IPW_LIST_BAN, ip, now, &m)) {
		decide(t, v, ip, IPW_LIST_BAN, &m, now);
	} else {
		memset(v, 0, sizeof(*v));
		v->reason = IPW_VERDICT_NO_MATCH;
	}
}

int ipw_table_check_at(struct ipw_table *t, const struct ipw_addr *ip,
		       int64_t now64, struct ipw_verdict *v)
{
	if (!check_arg_ok(ip))
		return IPW_EINVAL;
	urcu_bp_read_lock();
	check_one(t, ip, clamp_now(now64),
		  __atomic_load_n(&t->mode, __ATOMIC_ACQUIRE), v);
	TSAN_RELEASE(&t->tsan_gp);
	urcu_bp_read_unlock();
	return 0;
}

/*
 * Start fetching what check_one(@ip) will read first: for each list that
 * has entries of @ip's family, the exact index's tag group and slots, and
 * for IPv4 the summary cell of @ip's /16 if there are prefixes. Inside a
 * read-side section.
 */
static inline void check_prefetch(const struct ipw_table *t,
				  const struct ipw_addr *ip)
{
	int f = fam_index(ip);

	for (int list = IPW_LIST_BAN; list <= IPW_LIST_ALLOW; list++) {
		const struct list_ix *L = &t->l[list];

		if (!__atomic_load_n(&L->nonempty[f], __ATOMIC_RELAXED))
			continue;
		if (f == 0) {
			uint32_t a = ipw_addr_v4(ip);
			const struct ix4 *ex =
				__atomic_load_n(&L->ex4, __ATOMIC_ACQUIRE);
			const uint64_t *sum =
				__atomic_load_n(&L->sum4, __ATOMIC_ACQUIRE);

			if (ex)
				ix4_prefetch(ex, a, false);
			if (sum)
				__builtin_prefetch(&sum[a >> 16]);
		} else {
			const struct ix6 *ex =
				__atomic_load_n(&L->ex6, __ATOMIC_ACQUIRE);

			if (ex)
				ix6_prefetch(ex, key_of6(ip), false);
		}
	}
}

/*
 * Checks of a batch run CHECK_AHEAD queries behind the fetches of their
 * memory, so that many memory latencies overlap instead of following one
 * another. Measured at 1M IPv4 bans, half hits, batches of 64 and 256:
 * 24-26 ns per check fetching 8 ahead, 21-22 at 16, 19-20 at 32 (one
 * check per call: 57-80 ns); 16 and 32 did the same at 10M IPv6 (46 ns)
 * and with 100k prefixes. A read-side section covers CHECK_SECTION
 * queries, so that a batch of any size holds up a grace period no longer
 * than that.
 */
#define CHECK_AHEAD   32
#define CHECK_SECTION 256

int ipw_table_check_batch_at(struct ipw_table *t, const struct ipw_addr *ips,
			     size_t n, int64_t now64, struct ipw_verdict *vs)
{
	uint32_t now = clamp_now(now64);

	for (size_t i = 0; i < n; i++)
		if (!check_arg_ok(&ips[i]))
			return IPW_EINVAL;
	for (size_t base = 0; base < n; base += CHECK_SECTION) {
		size_t end =
			n - base > CHECK_SECTION ? base + CHECK_SECTION : n;
		int mode;

		urcu_bp_read_lock();
		mode = __atomic_load_n(&t->mode, __ATOMIC_ACQUIRE);
		for (size_t i = base; i < end && i < base + CHECK_AHEAD; i++)
			check_prefetch(t, &ips[i]);
		for (size_t i = base; i < end; i++) {
			if (i + CHECK_AHEAD < end)
				check_prefetch(t, &ips[i + CHECK_AHEAD]);
			check_one(t, &ips[i], now, mode, &vs[i]);
		}
		TSAN_RELEASE(&t->tsan_gp);
		urcu_bp_read_unlock();
	}
	return 0;
}

int ipw_table_check_batch(struct ipw_table *t, const struct ipw_addr *ips,
			  size_t n, struct ipw_verdict *vs)
{
	return ipw_table_check_batch_at(t, ips, n, t->clock(t->clock_ctx), vs);
}

int ipw_table_check(struct ipw_table *t, const struct ipw_addr *ip,
		    struct ipw_verdict *v)
{
	return ipw_table_check_at(t, ip, t->clock(t->clock_ctx), v);
}

void ipw_reader_register(void)
{
	urcu_bp_register_thread();
}

void ipw_reader_unregister(void)
{
	urcu_bp_unregister_thread();
}

/* ---- writer helpers: memory ---- */

/* Room in @arr (@n used of @cap) for @k more values. */
static int reserve_u32(uint32_t **arr, uint32_t n, uint32_t *cap, uint32_t k)
{
	uint64_t want = (uint64_t)n + k, ncap = *cap ? *cap : 1024;
	uint32_t *p;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	if (ncap > UINT32_MAX)
		return IPW_ENOMEM;
	p = realloc(*arr, (size_t)ncap * sizeof(*p));
	if (!p)
		return IPW_ENOMEM;
	*arr = p;
	*cap = (uint32_t)ncap;
	return 0;
}

static int push_u32(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v)
{
	if (reserve_u32(arr, *n, cap, 1) != 0)
		return IPW_ENOMEM;
	(*arr)[(*n)++] = v;
	return 0;
}

/* Free index array @p after a grace period. If the list cannot grow, wait now. */
static void defer_free(struct ipw_table *t, void *p)
{
	if (!p)
		return;
	if (t->ndeferred == t->capdeferred) {
		uint32_t ncap = t->capdeferred ? t->capdeferred * 2 : 16;
		void **d = realloc(t->deferred, (size_t)ncap * sizeof(*d));

		if (!d) {
			urcu_bp_synchronize_rcu();
			TSAN_ACQUIRE(&t->tsan_gp);
			ix_free(p);
			return;
		}
		t->deferred = d;
		t->capdeferred = ncap;
	}
	t->deferred[t->ndeferred++] = p;
}

/*
 * Memory waiting for a grace period: the handles in limbo and the index
 * arrays a rebuild replaced, taken out of the table together (writer).
 */
struct recycle {
	uint32_t *h, n, cap;
	void **mem;
	uint32_t nmem;
};

static bool recycle_take(struct ipw_table *t, struct recycle *r)
{
	*r = (struct recycle){t->limbo, t->nlimbo, t->caplimbo, t->deferred,
			      t->ndeferred};
	if (r->n == 0 && r->nmem == 0)
		return false;
	t->limbo = NULL;
	t->nlimbo = t->caplimbo = 0;
	t->deferred = NULL;
	t->ndeferred = t->capdeferred = 0;
	return true;
}

/* After the grace period, with or without the lock: free the arrays. */
static void recycle_free_memory(struct ipw_table *t, struct recycle *r)
{
	TSAN_ACQUIRE(&t->tsan_gp);
	for (uint32_t i = 0; i < r->nmem; i++)
		ix_free(r->mem[i]);
	free(r->mem);
}

/* With the lock, after the grace period: the handles join the free list.
 * If it cannot grow, they stay in (or go back to) limbo, recycled after a
 * later grace period; if limbo cannot take them back, they leak rather
 * than corrupt anything. */
static void recycle_handles(struct ipw_table *t, struct recycle *r)
{
	if (reserve_u32(&t->freeh, t->nfree, &t->capfree, r->n) == 0) {
		memcpy(t->freeh + t->nfree, r->h, r->n * sizeof(*r->h));
		t->nfree += r->n;
		r->n = 0;
	}
	if (!t->limbo) { /* the array becomes limbo's again */
		t->limbo = r->h;
		t->nlimbo = r->n;
		t->caplimbo = r->cap;
		return;
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (push_u32(&t->limbo, &t->nlimbo, &t->caplimbo, r->h[i]) != 0)
			break;
	free(r->h);
}

/* Wait for readers, then recycle limbo handles and free deferred memory,
 * all with the lock held (writer). */
static void reclaim(struct ipw_table *t)
{
	struct recycle r;

	if (!recycle_take(t, &r))
		return;
	urcu_bp_synchronize_rcu();
	recycle_free_memory(t, &r);
	recycle_handles(t, &r);
}

/*
 * Release the writer lock. If memory is due for recycling (handles in
 * limbo: max(4096, live/8) of them; index arrays replaced by a rebuild),
 * take it out of the table first and wait for the grace period it needs
 * after the lock is released, so that other writers go on meanwhile; then
 * take the lock again, briefly, to hand the handles to the free list.
 * With more writer threads than cores, a reader preempted inside its
 * read-side section made grace periods last milliseconds: with four
 * writers on two cores, 513 of them held the lock for 970 ms of a 2.5 s
 * run when they were waited for under it.
 */
static void wunlock_reclaim(struct ipw_table *t)
{
	uint32_t bound = t->live / 8 > 4096 ? t->live / 8 : 4096;
	struct recycle r;

	if ((!t->ndeferred && t->nlimbo < bound) || !recycle_take(t, &r)) {
		wunlock(t);
		return;
	}
	wunlock(t);
	urcu_bp_synchronize_rcu();
	recycle_free_memory(t, &r);
	if (r.n == 0) {
		free(r.h);
		return;
	}
	wlock(t);
	recycle_handles(t, &r);
	wunlock(t);
}

/*
 * A chunk of entry records (4 MiB) is allocated like a large index array
 * (ix_alloc(): mapped, with transparent huge pages), so that a writer or a
 * sampled hit reaching a random record pays one cache miss, not a TLB miss
 * too. The mapping is zeroed: a record never used reads as not in use.
 */
#define CHUNK_BYTES (CHUNK_SIZE * sizeof(struct entry))
_Static_assert(CHUNK_BYTES >= IX_HUGE, "record chunks are mapped");

/* A free handle, allocating a chunk if needed. 0 on failure. */
static uint32_t alloc_handle(struct ipw_table *t)
{
	uint32_t h, c;

	if (t->nfree)
		return t->freeh[--t->nfree];
	if (t->next_fresh > MAX_HANDLE) {
		reclaim(t);
		return t->nfree ? t->freeh[--t->nfree] : 0;
	}
	h = t->next_fresh;
	c = h >> CHUNK_SHIFT;
	if (!t->chunks[c]) {
		struct entry *chunk = ix_alloc(CHUNK_BYTES);

		if (!chunk)
			return 0;
		__atomic_store_n(&t->chunks[c], chunk, __ATOMIC_RELEASE);
		t->nchunks++;
	}
	t->next_fresh++;
	return h;
}

/* Length of @s cut to @max - 1 bytes at a UTF-8 character boundary. */
static size_t cut_utf8(const char *s, size_t max)
{
	size_t n = strnlen(s, max - 1);

	if (n == max - 1)
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	return n;
}

/* Metadata block for three strings (NULL = empty); NULL if all empty or
 * on allocation failure (tell them apart with meta_nonempty()). */
static struct meta *meta_new(const char *r, const char *a, const char *src)
{
	size_t lr, la, ls;
	struct meta *m;

	r = r ? r : "";
	a = a ? a : "";
	src = src ? src : "";
	lr = cut_utf8(r, IPW_REASON_MAX);
	la = cut_utf8(a, IPW_ACTOR_MAX);
	ls = cut_utf8(src, IPW_SOURCE_MAX);
	if (lr + la + ls == 0)
		return NULL;
	m = malloc(sizeof(*m) + lr + la + ls + 3);
	if (!m)
		return NULL;
	m->refs = 1;
	m->actor_off = (uint16_t)(lr + 1);
	m->source_off = (uint16_t)(lr + la + 2);
	memcpy(m->data, r, lr);
	m->data[lr] = '\0';
	memcpy(m->data + m->actor_off, a, la);
	m->data[m->actor_off + la] = '\0';
	memcpy(m->data + m->source_off, src, ls);
	m->data[m->source_off + ls] = '\0';
	return m;
}

/* Whether meta_new() of these strings stores anything: a NULL from it then
 * means out of memory. (A string can be non-empty and still cut to
 * nothing: only continuation bytes up to the limit.) */
static bool meta_nonempty(const char *r, const char *a, const char *src)
{
	return (r && cut_utf8(r, IPW_REASON_MAX)) ||
	       (a && cut_utf8(a, IPW_ACTOR_MAX)) ||
	       (src && cut_utf8(src, IPW_SOURCE_MAX));
}

static bool spec_has_meta(const struct ipw_entry_spec *s)
{
	return (s->reason && *s->reason) || (s->actor && *s->actor) ||
	       (s->source && *s->source);
}

static struct meta *meta_of_spec(const struct ipw_entry_spec *s)
{
	/* most automatic bans carry no strings: skip the three scans */
	if (!spec_has_meta(s))
		return NULL;
	return meta_new(s->reason, s->actor, s->source);
}

/* @old's strings, each replaced by the spec's where the spec has one. */
static struct meta *meta_merge(const struct meta *old,
			       const struct ipw_entry_spec *s)
{
	return meta_new(s->reason ? s->reason :
			old	  ? old->data :
				    NULL,
			s->actor ? s->actor :
			old	 ? old->data + old->actor_off :
				   NULL,
			s->source ? s->source :
			old	  ? old->data + old->source_off :
				    NULL);
}

static uint64_t meta_bytes(const struct meta *m)
{
	return m ? sizeof(*m) + m->source_off +
			       strlen(m->data + m->source_off) + 1 :
		   0;
}

static void meta_unref(struct meta *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(m);
}

/* Give entry @e metadata @m (may be NULL), dropping its old one, and keep
 * the table's count of metadata bytes (reported by ipw_table_stats()). */
static void set_meta(struct ipw_table *t, struct entry *e, struct meta *m)
{
	t->meta_bytes += meta_bytes(m);
	t->meta_bytes -= meta_bytes(e->meta);
	meta_unref(e->meta);
	e->meta = m;
}

/* @src (NUL-terminated, stored cut to fit) into @dst of @size bytes. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Every field written: the strings are copied up to their NUL, so a
 * caller's struct is filled without the cost of clearing 400 bytes of
 * text first (the write path reads two entries per op). */
static void info_of(const struct entry *e, struct ipw_entry_info *out)
{
	out->target = e->target;
	out->list = (enum ipw_list)e->list;
	out->expires = __atomic_load_n(&e->expires, __ATOMIC_RELAXED);
	out->created = e->created;
	out->score = score_of(e);
	out->flags = e->flags;
	out->hits = __atomic_load_n(&e->hits, __ATOMIC_RELAXED);
	out->last_hit = __atomic_load_n(&e->last_hit, __ATOMIC_RELAXED);
	if (e->meta) {
		copy_text(out->reason, sizeof(out->reason), e->meta->data);
		copy_text(out->actor, sizeof(out->actor),
			  e->meta->data + e->meta->actor_off);
		copy_text(out->source, sizeof(out->source),
			  e->meta->data + e->meta->source_off);
	} else {
		out->reason[0] = out->actor[0] = out->source[0] = '\0';
	}
}

/* ---- writer helpers: timing wheel and eviction FIFO ---- */

/*
 * Both are lazy: they hold references (handles) that are checked when
 * used, never unlinked. Extending an expiry adds a reference in the new
 * slot; deleting an entry removes nothing. A purge removes an entry only
 * if it is in use and due, whatever reference led to it, so stale or
 * duplicate references are harmless; an eviction FIFO reference names one
 * life of a handle (gen). A write therefore touches no other entry's
 * record: with linked lists it touched its neighbours', a cache miss each
 * in a big table. Stale references are dropped when met, and both are
 * rebuilt from the entries when stale ones outnumber the live.
 */
static int hvec_reserve(struct hvec *hv, uint32_t extra)
{
	if (hv->n + extra > hv->cap) {
		uint32_t ncap = hv->cap ? hv->cap * 2 : 16;
		uint32_t *v;

		while (ncap < hv->n + extra)
			ncap *= 2;
		v = realloc(hv->v, (size_t)ncap * sizeof(*v));
		if (!v)
			return IPW_ENOMEM;
		hv->v = v;
		hv->cap = ncap;
	}
	return 0;
}

static int wheel_level(uint32_t ws)
{
	return ws < WHEEL_SIZE	? 0 :
	       ws < WSLOT_OVER	? 1 :
	       ws == WSLOT_OVER ? 2 :
				  3;
}

/*
 * The wheel slot for an expiry, relative to wheel_now. An expiry before
 * wheel_now goes to the due vector, which the next purge takes first:
 * the level-0 slot of wheel_now would wait for the clock to reach
 * wheel_now, a second after a purge that just ran. At that purge the
 * expiry has passed (the clock is at least wheel_now - 1, or it stepped
 * back and the wheel is rebuilt), so a due reference to an entry that is
 * not due is stale.
 */
static uint32_t wheel_slot(const struct ipw_table *t, uint32_t exp)
{
	int64_t d = (int64_t)exp - t->wheel_now;

	if (d < 0)
		return WSLOT_DUE;
	if (d < WHEEL_SIZE)
		return exp & WHEEL_MASK;
	if (d < (int64_t)(WHEEL_SIZE - 1) * WHEEL_SIZE)
		return WHEEL_SIZE + ((exp >> WHEEL_BITS) & WHEEL_MASK);
	return WSLOT_OVER;
}

/* Room for one more reference where @exp goes (before changing anything). */
static int wheel_reserve(struct ipw_table *t, uint32_t exp)
{
	return exp ? hvec_reserve(&t->wheel[wheel_slot(t, exp)], 1) : 0;
}

/* Add a reference for entry @h expiring at @exp; room was reserved. */
static void wheel_push(struct ipw_table *t, uint32_t h, uint32_t exp)
{
	uint32_t ws = wheel_slot(t, exp);
	struct hvec *hv = &t->wheel[ws];

	hv->v[hv->n++] = h;
	t->nref[wheel_level(ws)]++;
}

static int wheel_add(struct ipw_table *t, uint32_t h, uint32_t exp)
{
	if (wheel_reserve(t, exp))
		return IPW_ENOMEM;
	wheel_push(t, h, exp);
	return 0;
}

/*
 * Rebuild the wheel from the entries, relative to @now: after the clock
 * stepped back, or when stale references outnumber the live. On
 * allocation failure the wheel is marked broken and purge falls back to
 * scanning the entries until a rebuild succeeds.
 */
static void wheel_rebuild(struct ipw_table *t, int64_t now)
{
	for (uint32_t ws = 0; ws < WHEEL_SLOTS; ws++)
		t->wheel[ws].n = 0;
	memset(t->nref, 0, sizeof(t->nref));
	t->wheel_now = now;
	t->wheel_broken = false;
	for (uint32_t h = 1; h < t->next_fresh; h++) {
		struct entry *e = entry_of(t, h);

		if (e->in_use && e->expires && wheel_add(t, h, e->expires))
			t->wheel_broken = true;
	}
}

static bool is_evictable(const struct entry *e)
{
	return e->in_use && (e->flags & IPW_ENTRY_AUTO) && e->expires != 0;
}

/* Room for one more FIFO reference: drop consumed and stale ones first. */
static int fifo_reserve(struct ipw_table *t)
{
	if (t->fhead + t->fn < t->fcap)
		return 0;
	if (t->fn > 2 * (uint64_t)t->evictable + 1024) {
		uint32_t k = 0;

		for (uint32_t i = 0; i < t->fn; i++) {
			struct fref r = t->fifo[t->fhead + i];
			const struct entry *e = entry_of(t, r.h);

			if (e->gen == r.gen && is_evictable(e))
				t->fifo[k++] = r;
		}
		t->fhead = 0;
		t->fn = k;
	} else if (t->fhead) {
		memmove(t->fifo, t->fifo + t->fhead, t->fn * sizeof(*t->fifo));
		t->fhead = 0;
	}
	if (t->fn == t->fcap) {
		uint32_t ncap = t->fcap ? t->fcap * 2 : 1024;
		struct fref *f = realloc(t->fifo, (size_t)ncap * sizeof(*f));

		if (!f)
			return IPW_ENOMEM;
		t->fifo = f;
		t->fcap = ncap;
	}
	return 0;
}

/* Entry @h became evictable (room was reserved). */
static void fifo_push(struct ipw_table *t, uint32_t h)
{
	t->fifo[t->fhead + t->fn++] = (struct fref){h, entry_of(t, h)->gen};
	t->evictable++;
}

/* The oldest evictable entry, or 0; stale references before it go. */
static uint32_t fifo_oldest(struct ipw_table *t)
{
	while (t->fn) {
		struct fref r = t->fifo[t->fhead];
		const struct entry *e = entry_of(t, r.h);

		if (e->gen == r.gen && is_evictable(e))
			return r.h;
		t->fhead++;
		t->fn--;
	}
	return 0;
}

/* ---- writer helpers: indexes ---- */

static void fresh_key(struct ipw_table *t, uint64_t out[2])
{
	/* A new key per rebuild triggered by a long probe run. */
	if (getrandom(out, 16, GRND_NONBLOCK) != 16) {
		out[0] = ipw_mum(t->base_key[0] ^ ++t->rekeys, IPW_HASH_C0);
		out[1] = ipw_mum(t->base_key[1] ^ t->rekeys, IPW_HASH_C1);
	} else {
		t->rekeys++;
	}
}

/*
 * Make sure index *@pp (of type NAME) can take one more slot: create it,
 * grow it, or rebuild it without tombstones. With @rekey, rebuild with a
 * fresh hash key. Returns 0 or IPW_ENOMEM.
 */
#define DEFINE_ENSURE(NAME)                                             \
	static int NAME##_ensure(struct ipw_table *t, struct NAME **pp, \
				 bool rekey)                            \
	{                                                               \
		struct NAME *old = *pp, *ix;                            \
		uint64_t key[2] = {t->base_key[0], t->base_key[1]};     \
                                                                        \
		if (old && !rekey && !NAME##_full(old))                 \
			return 0;                                       \
		if (old && !rekey) {                                    \
			key[0] = old->hkey[0];                          \
			key[1] = old->hkey[1];                          \
		}                                                       \
		for (int tries = 0; tries < 4; tries++) {               \
			if (rekey || tries)                             \
				fresh_key(t, key);                      \
			ix = NAME##_rebuild(old, 1, key);               \
			if (ix)                                         \
				break;                                  \
		}                                                       \
		if (!ix)                                                \
			return IPW_ENOMEM;                              \
		__atomic_store_n(pp, ix, __ATOMIC_RELEASE);             \
		defer_free(t, old);                                     \
		return 0;                                               \
	}

DEFINE_ENSURE(ix4)
DEFINE_ENSURE(ixp4)
DEFINE_ENSURE(ix6)
DEFINE_ENSURE(ixg6)
DEFINE_ENSURE(ixcnt)

/* Writer: room for @n more keys in *@pp without a rebuild (one now if
 * needed, sized for live + n). */
#define DEFINE_RESERVE(NAME)                                             \
	static int NAME##_reserve(struct ipw_table *t, struct NAME **pp, \
				  uint64_t n)                            \
	{                                                                \
		struct NAME *old = *pp, *ix;                             \
		uint64_t key[2] = {t->base_key[0], t->base_key[1]};      \
                                                                         \
		if (old && (old->used + n) * 4 <= (old->mask + 1) * 3)   \
			return 0;                                        \
		if (old) {                                               \
			key[0] = old->hkey[0];                           \
			key[1] = old->hkey[1];                           \
		}                                                        \
		ix = NAME##_rebuild(old, n, key);                        \
		if (!ix)                                                 \
			return IPW_ENOMEM;                               \
		__atomic_store_n(pp, ix, __ATOMIC_RELEASE);              \
		defer_free(t, old);                                      \
		return 0;                                                \
	}
DEFINE_RESERVE(ix4)
DEFINE_RESERVE(ix6)

/* Writer: the slot for @key in *@pp, after making room; rekeys on an
 * overlong run. NULL only on allocation failure. */
#define DEFINE_PLACE(NAME, KEYT)                                              \
	static IX_SLOT_##NAME *NAME##_place(                                  \
		struct ipw_table *t, struct NAME **pp, KEYT key, bool *found) \
	{                                                                     \
		IX_SLOT_##NAME *s;                                            \
                                                                              \
		if (NAME##_ensure(t, pp, false))                              \
			return NULL;                                          \
		while (!(s = NAME##_probe(*pp, key, found)))                  \
			if (NAME##_ensure(t, pp, true))                       \
				return NULL;                                  \
		return s;                                                     \
	}
typedef struct slot4 IX_SLOT_ix4;
typedef struct slotp4 IX_SLOT_ixp4;
typedef struct slot6 IX_SLOT_ix6;
typedef struct slotg6 IX_SLOT_ixg6;
typedef struct slotcnt IX_SLOT_ixcnt;
DEFINE_PLACE(ix4, uint32_t)
DEFINE_PLACE(ixp4, uint64_t)
DEFINE_PLACE(ix6, struct key128)
DEFINE_PLACE(ixg6, uint32_t)
DEFINE_PLACE(ixcnt, uint64_t)

/* Writer lookup of a slot without making room (NULL if absent). */
#define DEFINE_WFIND(NAME, KEYT)                                               \
	static IX_SLOT_##NAME *NAME##_wfind(struct NAME *ix, KEYT key)         \
	{                                                                      \
		bool found = false;                                            \
		IX_SLOT_##NAME *s = ix ? NAME##_probe(ix, key, &found) : NULL; \
                                                                               \
		return found ? s : NULL;                                       \
	}
DEFINE_WFIND(ix4, uint32_t)
DEFINE_WFIND(ixp4, uint64_t)
DEFINE_WFIND(ix6, struct key128)
DEFINE_WFIND(ixg6, uint32_t)
DEFINE_WFIND(ixcnt, uint64_t)

static uint64_t count_key(int list, int fam, unsigned len, uint32_t group)
{
	return (uint64_t)list << 63 | (uint64_t)fam << 62 |
	       (uint64_t)len << 32 | group;
}

/* Make sure a count slot for @key exists, so that count_adjust(+1) later
 * cannot fail. Returns 0 or IPW_ENOMEM. Writer-only index: plain stores. */
static int count_reserve(struct ipw_table *t, uint64_t key)
{
	bool found;
	struct slotcnt *s = ixcnt_place(t, &t->counts, key, &found);

	if (!s)
		return IPW_ENOMEM;
	if (found && !(s->ctl & IX_DEAD))
		return 0;
	if (!found) {
		if (s->ctl == 0)
			t->counts->used++;
		s->key = key;
	}
	s->count = 0;
	s->ctl = 1;
	ixcnt_settag(t->counts, s);
	t->counts->live++;
	return 0;
}

/* Adjust the writer-side count of (list, family, length, group) by +1 or
 * -1; returns the new count (+1 after count_reserve() cannot fail). */
static int64_t count_adjust(struct ipw_table *t, uint64_t key, int d)
{
	struct slotcnt *s;

	if (d > 0) {
		if (count_reserve(t, key))
			return -1;
		return ++ixcnt_wfind(t->counts, key)->count;
	}
	s = ixcnt_wfind(t->counts, key);
	if (!s || (s->ctl & IX_DEAD))
		return 0;
	if (--s->count == 0)
		ixcnt_kill(t->counts, s, 1);
	return s->count;
}

/*
 * Where a target's slot is. The writer paths share this so add, del and
 * get agree on which index holds what.
 */
struct where {
	int list, fam;
	bool host;
	uint32_t a4;
	struct key128 k6;
};

static void where_of(int list, const struct ipw_addr *tg, struct where *w)
{
	w->list = list;
	w->fam = fam_index(tg);
	w->host = ipw_addr_is_host(tg);
	w->a4 = w->fam == 0 ? ipw_addr_v4(tg) : 0;
	w->k6 = w->fam ? key_of6(tg) : (struct key128){0, 0};
	if (w->fam && !w->host)
		w->k6 = p6_key(w->k6, tg->plen);
}

/* Writer: the live handle for a target, or 0; *@ctlp the slot's ctl. */
static uint32_t find_handle(struct ipw_table *t, const struct ipw_addr *tg,
			    const struct where *w, uint32_t **expp)
{
	struct list_ix *L = &t->l[w->list];
	uint32_t *ctl = NULL, *exp = NULL;

	if (w->fam == 0 && w->host) {
		struct slot4 *s = ix4_wfind(L->ex4, w->a4);

		if (s)
			ctl = &s->ctl, exp = &s->exp;
	} else if (w->fam == 0) {
		struct slotp4 *s = ixp4_wfind(L->px4, p4_key(w->a4, tg->plen));

		if (s)
			ctl = &s->ctl, exp = &s->exp;
	} else {
		struct slot6 *s = ix6_wfind(w->host ? L->ex6 : L->px6, w->k6);

		if (s)
			ctl = &s->ctl, exp = &s->exp;
	}
	if (expp)
		*expp = exp;
	if (!ctl || (*ctl & IX_DEAD))
		return 0;
	return *ctl & IX_HANDLE_MASK;
}

/* Best present (live, expired or not) v4 prefix of length < @below covering
 * @a, among lengths <= 16: the value of a summary cell. Returns its handle
 * (0: none) and sets *@plen. */
static uint32_t best_short4(struct list_ix *L, uint32_t a, unsigned below,
			    unsigned *plen)
{
	for (int len = (int)below - 1; len >= 0; len--) {
		struct slotp4 *s;

		if (!L->lencount4[len])
			continue;
		s = ixp4_wfind(L->px4, p4_key(a, (unsigned)len));
		if (s && !(s->ctl & IX_DEAD)) {
			*plen = (unsigned)len;
			return s->ctl & IX_HANDLE_MASK;
		}
	}
	*plen = 0;
	return 0;
}

static void sum4_set_short(uint64_t *cell, uint32_t h, unsigned plen)
{
	uint64_t c = __atomic_load_n(cell, __ATOMIC_RELAXED);

	c = (c & CELL_MASK_BITS) | h | CELL_PLEN_BITS(plen);
	__atomic_store_n(cell, c, __ATOMIC_RELEASE);
}

/*
 * Make room in every structure an insert of @tg will touch, so that the
 * insert itself cannot fail. Returns 0 or IPW_ENOMEM; changes nothing a
 * reader can tell from before.
 */
static int prepare_insert(struct ipw_table *t, const struct ipw_addr *tg,
			  const struct where *w)
{
	struct list_ix *L = &t->l[w->list];
	bool found;

	if (w->fam == 0 && w->host)
		return ix4_place(t, &L->ex4, w->a4, &found) ? 0 : IPW_ENOMEM;
	if (w->fam == 0) {
		if (!ixp4_place(t, &L->px4, p4_key(w->a4, tg->plen), &found))
			return IPW_ENOMEM;
		if (!L->sum4) {
			uint64_t *sum = calloc(SUM4_CELLS, sizeof(*sum));

			if (!sum)
				return IPW_ENOMEM;
			__atomic_store_n(&L->sum4, sum, __ATOMIC_RELEASE);
		}
		if (tg->plen > 16)
			return count_reserve(t, count_key(w->list, 0, tg->plen,
							  w->a4 >> 16));
		return 0;
	}
	if (w->host)
		return ix6_place(t, &L->ex6, w->k6, &found) ? 0 : IPW_ENOMEM;
	if (!ix6_place(t, &L->px6, w->k6, &found))
		return IPW_ENOMEM;
	if (tg->plen > 32) {
		uint32_t g = (uint32_t)(w->k6.hi >> 32);

		if (!ixg6_place(t, &L->grp6, g, &found))
			return IPW_ENOMEM;
		return count_reserve(t, count_key(w->list, 1, tg->plen, g));
	}
	return 0;
}

/* Publish entry @h (already filled in) in the index. Cannot fail after
 * prepare_insert() made room. */
static void index_insert(struct ipw_table *t, const struct ipw_addr *tg,
			 const struct where *w, uint32_t h, uint32_t exp)
{
	struct list_ix *L = &t->l[w->list];
	unsigned len = tg->plen;
	bool found;

	/*
	 * Each branch: the slot for the key (its own tombstone, a reused
	 * tombstone, or a never-used slot); store key, expiry, then ctl
	 * (release), then the tag.
	 */
	if (w->fam == 0 && w->host) {
		struct slot4 *s = ix4_probe(L->ex4, w->a4, &found);

		if (s->ctl == 0)
			L->ex4->used++;
		if (!found)
			ST(s->key, w->a4);
		ST(s->exp, exp);
		ix_store_ctl(&s->ctl, h);
		ix4_settag(L->ex4, s);
		L->ex4->live++;
		return;
	}
	if (w->fam == 0) {
		struct slotp4 *s =
			ixp4_probe(L->px4, p4_key(w->a4, len), &found);

		if (s->ctl == 0)
			L->px4->used++;
		if (!found)
			ST(s->key, p4_key(w->a4, len));
		ST(s->exp, exp);
		ix_store_ctl(&s->ctl, h);
		ixp4_settag(L->px4, s);
		L->px4->live++;
		L->nprefix[0]++;
		L->lencount4[len]++;
		if (len <= 16) {
			__atomic_fetch_or(&L->short4, 1u << len,
					  __ATOMIC_RELEASE);
			/* Leaf-push into every /16 cell the prefix covers
			 * where it is now the most specific short prefix. */
			uint32_t first = w->a4 >> 16;
			uint32_t ncell = 1u << (16 - len);

			for (uint32_t c = first; c < first + ncell; c++) {
				uint64_t cur = L->sum4[c];

				if (!(uint32_t)cur || CELL_PLEN(cur) < len)
					sum4_set_short(&L->sum4[c], h, len);
			}
		} else {
			count_adjust(t, count_key(w->list, 0, len, w->a4 >> 16),
				     +1);
			__atomic_fetch_or(&L->sum4[w->a4 >> 16],
					  CELL_LONG_BIT(len), __ATOMIC_RELEASE);
		}
		return;
	}

	struct ix6 *ix = w->host ? L->ex6 : L->px6;
	struct slot6 *s = ix6_probe(ix, w->k6, &found);

	if (s->ctl == 0)
		ix->used++;
	if (!found) {
		ST(s->hi, w->k6.hi);
		ST(s->lo, w->k6.lo);
	}
	ST(s->exp, exp);
	ix_store_ctl(&s->ctl, h);
	ix6_settag(ix, s);
	ix->live++;
	if (w->host)
		return;
	L->lencount6[len]++;
	L->nprefix[1]++;
	if (len <= 32) {
		__atomic_fetch_or(&L->short6, 1ull << len, __ATOMIC_RELEASE);
		return;
	}

	uint32_t g = (uint32_t)(w->k6.hi >> 32);
	struct slotg6 *gs = ixg6_probe(L->grp6, g, &found);
	int word = len > 96, bit = word ? (int)len - 97 : (int)len - 33;

	count_adjust(t, count_key(w->list, 1, len, g), +1);
	if (!found || (gs->ctl & IX_DEAD)) {
		/* A new group (or a dead one again): its masks are zero. */
		if (gs->ctl == 0)
			L->grp6->used++;
		if (!found)
			ST(gs->key, g);
		ST(gs->mask[0], 0);
		ST(gs->mask[1], 0);
		ix_store_ctl(&gs->ctl, 1);
		ixg6_settag(L->grp6, gs);
		L->grp6->live++;
	}
	__atomic_fetch_or(&gs->mask[word], 1ull << bit, __ATOMIC_RELEASE);
}

/* Remove entry @h at target @tg from the index (the slot becomes a
 * tombstone; prefix summaries are updated). */
static void index_remove(struct ipw_table *t, const struct ipw_addr *tg,
			 const struct where *w, uint32_t h)
{
	struct list_ix *L = &t->l[w->list];
	unsigned len = tg->plen;

	if (w->fam == 0 && w->host) {
		ix4_kill(L->ex4, ix4_wfind(L->ex4, w->a4), h);
		return;
	}
	if (w->fam == 1) {
		struct ix6 *ix = w->host ? L->ex6 : L->px6;

		ix6_kill(ix, ix6_wfind(ix, w->k6), h);
		if (w->host)
			return;
	}
	if (w->fam == 0) {
		ixp4_kill(L->px4, ixp4_wfind(L->px4, p4_key(w->a4, len)), h);
		L->nprefix[0]--;
		L->lencount4[len]--;
		if (len <= 16 && L->lencount4[len] == 0)
			__atomic_fetch_and(&L->short4, ~(1u << len),
					   __ATOMIC_RELEASE);
		if (len <= 16) {
			uint32_t first = w->a4 >> 16;
			uint32_t ncell = 1u << (16 - len);
			unsigned rlen;
			uint32_t repl = best_short4(L, w->a4, len, &rlen);

			for (uint32_t c = first; c < first + ncell; c++)
				if ((uint32_t)L->sum4[c] == h)
					sum4_set_short(&L->sum4[c], repl, rlen);
		} else if (count_adjust(t,
					count_key(w->list, 0, len, w->a4 >> 16),
					-1) == 0) {
			__atomic_fetch_and(&L->sum4[w->a4 >> 16],
					   ~CELL_LONG_BIT(len),
					   __ATOMIC_RELEASE);
		}
		return;
	}
	L->nprefix[1]--;
	L->lencount6[len]--;
	if (len <= 32 && L->lencount6[len] == 0)
		__atomic_fetch_and(&L->short6, ~(1ull << len),
				   __ATOMIC_RELEASE);
	if (len > 32) {
		uint32_t g = (uint32_t)(w->k6.hi >> 32);

		if (count_adjust(t, count_key(w->list, 1, len, g), -1) == 0) {
			struct slotg6 *gs = ixg6_wfind(L->grp6, g);
			int word = len > 96, bit = word ? len - 97 : len - 33;

			__atomic_fetch_and(&gs->mask[word], ~(1ull << bit),
					   __ATOMIC_RELEASE);
			if (!gs->mask[0] && !gs->mask[1])
				ixg6_kill(L->grp6, gs, 1);
		}
	}
}

/* Remove entry @h entirely; @info (may be NULL) gets a copy first. */
static void remove_entry(struct ipw_table *t, uint32_t h,
			 struct ipw_entry_info *info)
{
	struct entry *e = entry_of(t, h);
	struct where w;

	record_hold(e); /* no lock-free merge after this point */
	if (info)
		info_of(e, info);
	where_of(e->list, &e->target, &w);
	index_remove(t, &e->target, &w, h);
	if (is_evictable(e))
		t->evictable--;
	if (e->expires)
		t->expiring--;
	/* Readers see only the 1 -> 0 transition (struct list_ix). */
	if (--t->l[e->list].n[w.fam] == 0)
		__atomic_store_n(&t->l[e->list].nonempty[w.fam], 0,
				 __ATOMIC_RELAXED);
	t->live--;
	set_meta(t, e, NULL);
	e->in_use = 0;
	/* The handle may still be in a reader's hands: recycle it after a
	 * grace period. If limbo cannot grow, wait for one now. */
	if (push_u32(&t->limbo, &t->nlimbo, &t->caplimbo, h) != 0) {
		urcu_bp_synchronize_rcu();
		TSAN_ACQUIRE(&t->tsan_gp);
		if (push_u32(&t->freeh, &t->nfree, &t->capfree, h) != 0) {
			/* Leak the handle rather than corrupt anything. */
		}
	}
}

/* True if an unexpired allow contains the whole of @tg. Writer. */
static bool covered_by_allow(struct ipw_table *t, const struct ipw_addr *tg,
			     uint32_t now)
{
	struct list_ix *L = &t->l[IPW_LIST_ALLOW];
	int f = fam_index(tg);
	unsigned full = f ? 128 : 32;

	if (L->n[f] == 0)
		return false;
	for (int len = tg->plen; len >= 0; len--) {
		struct ipw_addr p;
		struct where w;
		uint32_t *exp;
		uint32_t h;

		if (len < (int)full &&
		    (f ? L->lencount6[len] : L->lencount4[len]) == 0)
			continue;
		ipw_addr_truncate(&p, tg, (unsigned)len);
		where_of(IPW_LIST_ALLOW, &p, &w);
		h = find_handle(t, &p, &w, &exp);
		if (h && !expired(__atomic_load_n(exp, __ATOMIC_RELAXED), now))
			return true;
	}
	return false;
}

/* A well-formed value: known family, length in range, zero padding, zero
 * bytes past the family's width and zero bits past the prefix. */
static bool valid_target(const struct ipw_addr *a)
{
	unsigned width = a->family == IPW_AF_INET ? 4 : 16;

	if (a->family != IPW_AF_INET && a->family != IPW_AF_INET6)
		return false;
	if (a->plen > width * 8 || a->pad[0] || a->pad[1])
		return false;
	for (unsigned i = (a->plen + 7) / 8; i < 16; i++)
		if (a->bytes[i])
			return false;
	if (a->plen % 8 &&
	    (a->bytes[a->plen / 8] & (0xffu >> (a->plen % 8))) != 0)
		return false;
	return true;
}

/* ---- public writer API ---- */

/* New expiry for entry @h (wheel room for @exp was reserved). */
static void set_expiry(struct ipw_table *t, uint32_t h, uint32_t exp,
		       uint32_t *slot_exp)
{
	struct entry *e = entry_of(t, h);

	if (e->expires && !exp)
		t->expiring--;
	else if (!e->expires && exp)
		t->expiring++;
	__atomic_store_n(&e->expires, exp, __ATOMIC_RELAXED);
	__atomic_store_n(slot_exp, exp, __ATOMIC_RELAXED);
	if (exp)
		wheel_push(t, h, exp);
}

/*
 * Fill the record of free handle @h from @rec (target, list, flags,
 * expires, created, score, hits, last_hit), give it metadata @m and publish
 * it in the index. Room was made first (prepare_insert(), wheel_reserve(),
 * fifo_reserve()), so this cannot fail. No reader holds @h: a handle is
 * recycled only after a grace period.
 */
static void insert_entry(struct ipw_table *t, const struct where *w, uint32_t h,
			 const struct entry *rec, struct meta *m)
{
	struct entry *e = entry_of(t, h);

	/* Stores only: the record is likely not in cache, and a load from it
	 * would wait for memory where stores do not. Its sequence count
	 * starts again: no lock-free merge can still hold the handle. */
	memset(e, 0, sizeof(*e));
	e->target = rec->target;
	e->list = rec->list;
	e->flags = rec->flags;
	e->in_use = 1;
	e->gen = ++t->last_gen;
	e->created = rec->created;
	e->hits = rec->hits;
	e->last_hit = rec->last_hit;
	set_meta(t, e, m);
	if (rec->expires) {
		e->expires = rec->expires;
		t->expiring++;
		wheel_push(t, h, rec->expires);
	}
	if (is_evictable(e))
		fifo_push(t, h);
	__atomic_store_n(&e->sv, SV_SEQ1 | SV_SCORE(rec->sv), __ATOMIC_RELEASE);
	index_insert(t, &e->target, w, h, rec->expires);
	if (t->l[e->list].n[w->fam]++ == 0)
		__atomic_store_n(&t->l[e->list].nonempty[w->fam], 1,
				 __ATOMIC_RELAXED);
	t->live++;
}

/* Input checks of an add that need no lock. */
static int add_check(const struct ipw_entry_spec *spec)
{
	if ((spec->list != IPW_LIST_BAN && spec->list != IPW_LIST_ALLOW) ||
	    (spec->flags & ~(unsigned)IPW_ENTRY_AUTO) ||
	    !valid_target(&spec->target))
		return IPW_EINVAL;
	if (spec->expires < 0 || spec->expires > UINT32_MAX)
		return spec->expires < 0 ? IPW_ETABLE_EXPIRED : IPW_ERANGE;
	return 0;
}

/* The add itself, with the writer lock held and the spec checked. */
static int add_locked(struct ipw_table *t, const struct ipw_entry_spec *spec,
		      uint32_t now, enum ipw_change *what,
		      struct ipw_entry_info *evicted, bool *evicted_set)
{
	const struct ipw_addr *tg = &spec->target;
	uint32_t exp, h, *slot_exp;
	struct where w;
	struct entry *e;
	int rc = 0;

	exp = (uint32_t)spec->expires;
	if (exp != 0 && exp <= now) {
		rc = IPW_ETABLE_EXPIRED;
		goto out;
	}
	if (spec->list == IPW_LIST_BAN && covered_by_allow(t, tg, now)) {
		rc = IPW_ETABLE_COVERED;
		goto out;
	}

	where_of(spec->list, tg, &w);
	h = find_handle(t, tg, &w, &slot_exp);
	/* Room in the wheel and the FIFO first: nothing fails after a change. */
	if (wheel_reserve(t, exp) || fifo_reserve(t)) {
		rc = IPW_ENOMEM;
		goto out;
	}
	if (h) {
		uint32_t cur;
		bool changed = false, was_evictable;

		e = entry_of(t, h);
		cur = e->expires;
		was_evictable = is_evictable(e);
		if (expired(cur, now)) {
			/* Replace an expired entry not yet purged: a new life
			 * of the handle (FIFO references to the old one go
			 * stale). */
			struct meta *m = meta_of_spec(spec);

			if (!m && meta_nonempty(spec->reason, spec->actor,
						spec->source)) {
				rc = IPW_ENOMEM;
				goto out;
			}
			if (was_evictable)
				t->evictable--;
			record_hold(e);
			set_meta(t, e, m);
			e->created = now;
			__atomic_store_n(&e->flags, (uint8_t)spec->flags,
					 __ATOMIC_RELAXED);
			e->gen = ++t->last_gen;
			__atomic_store_n(&e->hits, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&e->last_hit, 0, __ATOMIC_RELAXED);
			set_expiry(t, h, exp, slot_exp);
			record_open(e, spec->score);
			if (is_evictable(e))
				fifo_push(t, h);
			if (what)
				*what = IPW_CHANGE_ADDED;
			goto out;
		}
		if (later_expiry(cur, exp)) {
			set_expiry(t, h, exp, slot_exp);
			changed = true;
		}
		if (score_raise(e, spec->score))
			changed = true;
		if (makes_manual(e->flags, spec->flags)) {
			/* A person confirmed an automatic ban: it is manual
			 * from now on, and no longer evictable. */
			__atomic_store_n(&e->flags,
					 (uint8_t)(e->flags & ~IPW_ENTRY_AUTO),
					 __ATOMIC_RELAXED);
			changed = true;
		}
		/* A merge can only end evictability (made manual or
		 * permanent); its FIFO reference then goes stale. */
		if (was_evictable && !is_evictable(e))
			t->evictable--;
		if (changed && spec_has_meta(spec)) {
			struct meta *m = meta_merge(e->meta, spec);

			if (m) /* on ENOMEM the old strings stay */
				set_meta(t, e, m);
		}
		if (what)
			*what = changed ? IPW_CHANGE_EXTENDED :
					  IPW_CHANGE_UNCHANGED;
		goto out;
	}

	/* A new entry: make room first, so nothing changes on failure. */
	struct meta *m = meta_of_spec(spec);
	uint32_t victim = 0;

	if (!m && meta_nonempty(spec->reason, spec->actor, spec->source)) {
		rc = IPW_ENOMEM;
		goto out;
	}
	if (t->live >= t->max_entries) {
		if (!(spec->flags & IPW_ENTRY_AUTO))
			victim = fifo_oldest(t);
		if (!victim) {
			meta_unref(m);
			rc = IPW_ETABLE_FULL;
			goto out;
		}
	}
	rc = prepare_insert(t, tg, &w);
	if (rc == 0) {
		h = alloc_handle(t);
		if (!h)
			rc = IPW_ENOMEM;
	}
	if (rc) {
		meta_unref(m);
		goto out;
	}
	if (victim) {
		struct ipw_entry_info tmp;

		remove_entry(t, victim, evicted ? evicted : &tmp);
		if (evicted_set)
			*evicted_set = true;
	}
	{
		struct entry rec = {0};

		rec.target = *tg;
		rec.list = (uint8_t)spec->list;
		rec.flags = (uint8_t)spec->flags;
		rec.expires = exp;
		rec.created = now;
		rec.sv = spec->score;
		insert_entry(t, &w, h, &rec, m);
	}
	if (what)
		*what = IPW_CHANGE_ADDED;
out:
	return rc;
}

/*
 * Fetch the tag group and slots where a later write of (@list, @tg) will
 * look. Called with the writer lock held (the batch calls), or inside an
 * RCU read-side section before taking it (single writes: the fetch then
 * overlaps the wait for the lock, and the locked section is shorter by a
 * memory latency when writers contend); the index pointers are loaded
 * like a reader loads them.
 */
static void write_prefetch(const struct ipw_table *t, int list,
			   const struct ipw_addr *tg)
{
	const struct list_ix *L;
	struct where w;

	if ((unsigned)list > IPW_LIST_ALLOW || !valid_target(tg))
		return;
	L = &t->l[list];
	where_of(list, tg, &w);
	if (w.fam == 0 && w.host) {
		const struct ix4 *ix =
			__atomic_load_n(&L->ex4, __ATOMIC_ACQUIRE);

		if (ix)
			ix4_prefetch(ix, w.a4, true);
	} else if (w.fam == 0) {
		const struct ixp4 *ix =
			__atomic_load_n(&L->px4, __ATOMIC_ACQUIRE);

		if (ix)
			ixp4_prefetch(ix, p4_key(w.a4, tg->plen), true);
	} else {
		const struct ix6 *ix = __atomic_load_n(
			w.host ? &L->ex6 : &L->px6, __ATOMIC_ACQUIRE);

		if (ix)
			ix6_prefetch(ix, w.k6, true);
	}
}

/*
 * Reader: the slot of single address @tg in @L's exact index, as
 * ix4_find()/ix6_find() report it (control word and expiry); false if
 * it is not there. Inside a read-side section.
 */
static inline bool host_find(const struct list_ix *L, const struct ipw_addr *tg,
			     uint32_t *ctl, uint32_t *exp)
{
	if (tg->family == IPW_AF_INET) {
		const struct ix4 *ix =
			__atomic_load_n(&L->ex4, __ATOMIC_ACQUIRE);

		return ix && ix4_find(ix, ipw_addr_v4(tg), ctl, exp);
	} else {
		const struct ix6 *ix =
			__atomic_load_n(&L->ex6, __ATOMIC_ACQUIRE);

		return ix && ix6_find(ix, key_of6(tg), ctl, exp);
	}
}

/*
 * Before the writer lock is taken: write_prefetch(), and for a single
 * address, a reader's lookup of its slot and a load of the entry record
 * it names, the second cache miss of a write that changes an entry: a
 * load, not a prefetch, so that the miss is waited for here and not after
 * an uncontended trylock (with two writers, remove_entry() spent 85% of
 * its samples on that miss under the lock with a prefetch, 6% with the
 * load). With writers contending, the locked section then finds both in
 * cache. The callers have checked @list and @tg.
 */
static void write_prefetch_unlocked(struct ipw_table *t, int list,
				    const struct ipw_addr *tg)
{
	uint32_t ctl, exp;

	urcu_bp_read_lock();
	if (!ipw_addr_is_host(tg))
		write_prefetch(t, list, tg);
	else if (host_find(&t->l[list], tg, &ctl, &exp))
		(void)__atomic_load_n(&entry_of(t, ctl & IX_HANDLE_MASK)->sv,
				      __ATOMIC_RELAXED);
	TSAN_RELEASE(&t->tsan_gp);
	urcu_bp_read_unlock();
}

/*
 * Take the writer lock for a write of (@list, @tg). A lone writer just
 * locks: fetching first would only add a lookup. Once writers have met on
 * the lock, the next WRITERS_MET writes fetch first (each contended one
 * starts the count again), so that a locked section does not wait for
 * memory while other writers wait for it.
 */
#define WRITERS_MET 64
/* Spins before blocking: a pause is about 24 ns on the benchmark
 * machine (docs/benchmarks.md), so about 1.5 us, several lock hold times.
 * Measured there with two and four writers: 64 beat 256 and 1024, which
 * lose when writers outnumber the cores. */
#define WRITER_SPINS 64

static void writer_lock(struct ipw_table *t, int list,
			const struct ipw_addr *tg, bool fetched)
{
	uint32_t met = __atomic_load_n(&t->writers_met, __ATOMIC_RELAXED);

	if (met == 0 && wtrylock(t))
		return;
	if (!fetched)
		write_prefetch_unlocked(t, list, tg);
	if (wtrylock(t)) {
		met = t->writers_met;
		if (met)
			__atomic_store_n(&t->writers_met, met - 1,
					 __ATOMIC_RELAXED);
		return;
	}
	for (unsigned i = 0; i < WRITER_SPINS; i++) {
		caa_cpu_relax();
		if (!__atomic_load_n(&t->held, __ATOMIC_RELAXED) && wtrylock(t))
			goto locked;
	}
	wlock(t);
locked:
	__atomic_store_n(&t->writers_met, WRITERS_MET, __ATOMIC_RELAXED);
}

/*
 * The lock-free merge (see "Merges" at struct entry): a single-address
 * add whose target is live and unexpired, that needs no later expiry, does
 * not make an automatic entry manual, and either leaves the score as it
 * is (UNCHANGED) or raises it with no metadata to merge (EXTENDED). True
 * if done, with *what set; false leaves the add to add_locked(), which
 * finds the slot and record this lookup fetched. Called with @spec
 * checked, outside the caller's read-side section.
 */
static bool add_unlocked(struct ipw_table *t, const struct ipw_entry_spec *spec,
			 enum ipw_change *what)
{
	const struct ipw_addr *tg = &spec->target;
	uint32_t exp = (uint32_t)spec->expires, now, ctl, sexp, cur;
	const struct list_ix *L = &t->l[spec->list];
	struct match m;
	struct entry *e;
	uint64_t s1, s;
	uint8_t flags;
	bool done = false;

	now = clamp_now(t->clock(t->clock_ctx));
	if (exp != 0 && exp <= now)
		return false;
	urcu_bp_read_lock();
	if (!host_find(L, tg, &ctl, &sexp))
		goto out;
	e = entry_of(t, ctl & IX_HANDLE_MASK);
	__builtin_prefetch(e, 1);
	/* A ban inside an allow is refused: add_locked() says so. */
	if (spec->list == IPW_LIST_BAN &&
	    match_list(t, IPW_LIST_ALLOW, tg, now, &m))
		goto out;
	s1 = __atomic_load_n(&e->sv, __ATOMIC_ACQUIRE);
	if (!SV_LIVE(s1))
		goto out;
	cur = __atomic_load_n(&e->expires, __ATOMIC_RELAXED);
	flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
	if (expired(cur, now) || later_expiry(cur, exp) ||
	    makes_manual(flags, spec->flags))
		goto out;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	s = __atomic_load_n(&e->sv, __ATOMIC_RELAXED);
	while ((s >> 32) == (s1 >> 32)) {
		if (SV_SCORE(s) >= spec->score) {
			if (what)
				*what = IPW_CHANGE_UNCHANGED;
			done = true;
			break;
		}
		if (spec_has_meta(spec))
			break; /* a raise merges the metadata: locked */
		if (__atomic_compare_exchange_n(
			    &e->sv, &s, (s & ~0xffffffffull) | spec->score,
			    true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			if (what)
				*what = IPW_CHANGE_EXTENDED;
			done = true;
			break;
		}
	}
out:
	TSAN_RELEASE(&t->tsan_gp);
	urcu_bp_read_unlock();
	return done;
}

int ipw_table_add(struct ipw_table *t, const struct ipw_entry_spec *spec,
		  enum ipw_change *what, struct ipw_entry_info *evicted,
		  bool *evicted_set)
{
	bool fetched = false;
	int rc;

	if (evicted_set)
		*evicted_set = false;
	rc = add_check(spec);
	if (rc)
		return rc;
	if (ipw_addr_is_host(&spec->target)) {
		if (add_unlocked(t, spec, what))
			return 0;
		fetched = true;
	}
	writer_lock(t, spec->list, &spec->target, fetched);
	rc = add_locked(t, spec, clamp_now(t->clock(t->clock_ctx)), what,
			evicted, evicted_set);
	wunlock_reclaim(t);
	return rc;
}

#define BATCH_AHEAD 8

int ipw_table_add_batch(struct ipw_table *t, const struct ipw_entry_spec *specs,
			size_t n, int *rcs, enum ipw_change *whats,
			ipw_expire_cb evict_cb, void *ctx)
{
	uint32_t now;
	size_t failed = 0;

	wlock(t);
	now = clamp_now(t->clock(t->clock_ctx));
	for (size_t i = 0; i < n && i < BATCH_AHEAD; i++)
		write_prefetch(t, specs[i].list, &specs[i].target);
	for (size_t i = 0; i < n; i++) {
		struct ipw_entry_info ev;
		bool ev_set = false;
		enum ipw_change what = 0;
		int rc;

		if (i + BATCH_AHEAD < n)
			write_prefetch(t, specs[i + BATCH_AHEAD].list,
				       &specs[i + BATCH_AHEAD].target);
		rc = add_check(&specs[i]);
		if (rc == 0)
			rc = add_locked(t, &specs[i], now, &what, &ev, &ev_set);
		if (ev_set && evict_cb)
			evict_cb(&ev, ctx);
		if (rcs)
			rcs[i] = rc;
		if (whats)
			whats[i] = what;
		failed += rc != 0;
	}
	wunlock_reclaim(t);
	return (int)failed;
}

/* Input checks of a put that need no lock. */
static int put_check(const struct ipw_entry_info *in)
{
	if ((in->list != IPW_LIST_BAN && in->list != IPW_LIST_ALLOW) ||
	    (in->flags & ~(unsigned)IPW_ENTRY_AUTO) ||
	    !valid_target(&in->target))
		return IPW_EINVAL;
	if (in->expires < 0 || in->expires > UINT32_MAX || in->created < 0 ||
	    in->created > UINT32_MAX || in->last_hit < 0 ||
	    in->last_hit > UINT32_MAX)
		return IPW_ERANGE;
	return 0;
}

/*
 * The put itself, with the writer lock held and @in checked. Everything
 * that can fail (metadata, wheel and FIFO room, index room, a handle) is
 * done before the first change.
 */
static int put_locked(struct ipw_table *t, const struct ipw_entry_info *in)
{
	const struct ipw_addr *tg = &in->target;
	uint32_t exp = (uint32_t)in->expires, h, *slot_exp;
	bool evictable = (in->flags & IPW_ENTRY_AUTO) && exp != 0;
	struct entry rec = {0};
	struct meta *m;
	struct where w;
	int rc;

	where_of(in->list, tg, &w);
	h = find_handle(t, tg, &w, &slot_exp);
	if (!h && t->live >= t->max_entries)
		return IPW_ETABLE_FULL;
	m = meta_new(in->reason, in->actor, in->source);
	if (!m && meta_nonempty(in->reason, in->actor, in->source))
		return IPW_ENOMEM;
	if (h) {
		/*
		 * Replace in place: readers see only the slot's expiry (one
		 * atomic store) and the hit counters (atomic), so a check
		 * sees the entry before or after. The wheel gets a reference
		 * for a new expiry (the old one goes stale). The FIFO: an
		 * entry evictable before and after keeps its reference; one
		 * that stops being evictable leaves a stale one; one that
		 * becomes evictable starts a new life of the handle (so an
		 * old reference cannot come back to life) and goes last.
		 */
		struct entry *e = entry_of(t, h);
		bool was_evictable = is_evictable(e);
		bool new_exp = exp != e->expires;

		if ((new_exp && wheel_reserve(t, exp)) ||
		    (evictable && !was_evictable && fifo_reserve(t))) {
			meta_unref(m);
			return IPW_ENOMEM;
		}
		record_hold(e);
		set_meta(t, e, m);
		e->created = (uint32_t)in->created;
		__atomic_store_n(&e->flags, (uint8_t)in->flags,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&e->hits, in->hits, __ATOMIC_RELAXED);
		__atomic_store_n(&e->last_hit, (uint32_t)in->last_hit,
				 __ATOMIC_RELAXED);
		if (new_exp)
			set_expiry(t, h, exp, slot_exp);
		record_open(e, in->score);
		if (was_evictable && !evictable) {
			t->evictable--;
		} else if (!was_evictable && evictable) {
			e->gen = ++t->last_gen;
			fifo_push(t, h);
		}
		return 0;
	}
	rc = prepare_insert(t, tg, &w);
	if (rc == 0 &&
	    (wheel_reserve(t, exp) || (evictable && fifo_reserve(t))))
		rc = IPW_ENOMEM;
	if (rc == 0 && (h = alloc_handle(t)) == 0)
		rc = IPW_ENOMEM;
	if (rc) {
		meta_unref(m);
		return rc;
	}
	rec.target = *tg;
	rec.list = (uint8_t)in->list;
	rec.flags = (uint8_t)in->flags;
	rec.expires = exp;
	rec.created = (uint32_t)in->created;
	rec.sv = in->score;
	rec.hits = in->hits;
	rec.last_hit = (uint32_t)in->last_hit;
	insert_entry(t, &w, h, &rec, m);
	return 0;
}

int ipw_table_put(struct ipw_table *t, const struct ipw_entry_info *e)
{
	int rc = put_check(e);

	if (rc)
		return rc;
	wlock(t);
	rc = put_locked(t, e);
	wunlock_reclaim(t);
	return rc;
}

int ipw_table_put_batch(struct ipw_table *t, const struct ipw_entry_info *v,
			size_t n, int *rcs)
{
	size_t failed = 0;

	wlock(t);
	for (size_t i = 0; i < n && i < BATCH_AHEAD; i++)
		write_prefetch(t, v[i].list, &v[i].target);
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (i + BATCH_AHEAD < n)
			write_prefetch(t, v[i + BATCH_AHEAD].list,
				       &v[i + BATCH_AHEAD].target);
		rc = put_check(&v[i]);
		if (rc == 0)
			rc = put_locked(t, &v[i]);
		if (rcs)
			rcs[i] = rc;
		failed += rc != 0;
	}
	wunlock_reclaim(t);
	return (int)failed;
}

int ipw_table_del(struct ipw_table *t, enum ipw_list list,
		  const struct ipw_addr *target, enum ipw_change *what,
		  struct ipw_entry_info *removed)
{
	struct where w;
	uint32_t h, *exp, now;
	int rc = 0;

	if ((list != IPW_LIST_BAN && list != IPW_LIST_ALLOW) ||
	    !valid_target(target))
		return IPW_EINVAL;
	writer_lock(t, list, target, false);
	now = clamp_now(t->clock(t->clock_ctx));
	where_of(list, target, &w);
	h = find_handle(t, target, &w, &exp);
	if (!h || expired(*exp, now)) {
		if (what)
			*what = IPW_CHANGE_ABSENT;
		goto out;
	}
	remove_entry(t, h, removed);
	if (what)
		*what = IPW_CHANGE_REMOVED;
out:
	wunlock_reclaim(t);
	return rc;
}

int ipw_table_get(struct ipw_table *t, enum ipw_list list,
		  const struct ipw_addr *target, struct ipw_entry_info *out)
{
	struct where w;
	uint32_t h;

	if ((list != IPW_LIST_BAN && list != IPW_LIST_ALLOW) ||
	    !valid_target(target))
		return IPW_EINVAL;
	wlock(t);
	where_of(list, target, &w);
	h = find_handle(t, target, &w, NULL);
	if (h)
		info_of(entry_of(t, h), out);
	wunlock(t);
	return h ? 0 : IPW_ENOENT;
}

int ipw_table_reserve(struct ipw_table *t, enum ipw_list list,
		      enum ipw_family family, size_t n)
{
	int rc;

	if ((list != IPW_LIST_BAN && list != IPW_LIST_ALLOW) ||
	    (family != IPW_AF_INET && family != IPW_AF_INET6))
		return IPW_EINVAL;
	if (n > t->max_entries)
		n = t->max_entries;
	wlock(t);
	rc = family == IPW_AF_INET ? ix4_reserve(t, &t->l[list].ex4, n) :
				     ix6_reserve(t, &t->l[list].ex6, n);
	wunlock_reclaim(t);
	return rc;
}

int ipw_table_set_mode(struct ipw_table *t, enum ipw_mode mode,
		       enum ipw_change *what)
{
	int old;

	if (mode != IPW_MODE_DENYLIST && mode != IPW_MODE_ALLOWLIST)
		return IPW_EINVAL;
	wlock(t);
	old = __atomic_exchange_n(&t->mode, (int)mode, __ATOMIC_ACQ_REL);
	wunlock(t);
	if (what)
		*what = old == (int)mode ? IPW_CHANGE_UNCHANGED :
					   IPW_CHANGE_MODE;
	return 0;
}

enum ipw_mode ipw_table_mode(const struct ipw_table *t)
{
	return (enum ipw_mode)__atomic_load_n(&t->mode, __ATOMIC_ACQUIRE);
}

/*
 * Advance the wheel's clock by one second; at the end of a level-0 turn,
 * move the next level-1 slot's entries (and far ones coming near) into
 * place. Returns false, changing nothing, if memory for that ran out.
 */
static bool wheel_tick(struct ipw_table *t)
{
	int64_t next = t->wheel_now + 1;

	if ((next & WHEEL_MASK) == 0) {
		uint32_t ws = WHEEL_SIZE +
			      (uint32_t)((next >> WHEEL_BITS) & WHEEL_MASK);
		struct hvec *l1 = &t->wheel[ws], *over = &t->wheel[WSLOT_OVER];
		int64_t saved = t->wheel_now;

		t->wheel_now = next;
		/* Reserve everything first, so a failure changes nothing. */
		for (uint32_t i = 0; i < l1->n; i++) {
			uint32_t exp = entry_of(t, l1->v[i])->expires;

			if (exp &&
			    hvec_reserve(&t->wheel[wheel_slot(t, exp)], 1)) {
				t->wheel_now = saved;
				return false;
			}
		}
		while (l1->n) {
			uint32_t h = l1->v[--l1->n];
			struct entry *e = entry_of(t, h);

			t->nref[1]--;
			/* Only the reference for the current expiry moves;
			 * others are stale (the entry's own one is
			 * elsewhere). */
			if (e->in_use && e->expires &&
			    (e->expires >> WHEEL_BITS) == (next >> WHEEL_BITS))
				wheel_push(t, h, e->expires);
		}
		/* Far expiries move into level 1 as their time approaches. */
		for (uint32_t i = 0; i < over->n;) {
			uint32_t h = over->v[i];
			struct entry *e = entry_of(t, h);
			uint32_t to;

			if (!e->in_use || !e->expires) {
				over->v[i] = over->v[--over->n];
				t->nref[2]--;
				continue;
			}
			to = wheel_slot(t, e->expires);
			if (to == WSLOT_OVER ||
			    hvec_reserve(&t->wheel[to], 1)) {
				i++;
				continue;
			}
			over->v[i] = over->v[--over->n];
			t->nref[2]--;
			wheel_push(t, h, e->expires);
		}
		return true;
	}
	t->wheel_now = next;
	return true;
}

/* Purge without the wheel (after a failed rebuild): scan the entries. */
static size_t purge_scan(struct ipw_table *t, int64_t now, size_t max,
			 ipw_expire_cb cb, void *ctx)
{
	size_t n = 0;

	for (uint32_t h = 1; h < t->next_fresh && (max == 0 || n < max); h++) {
		struct entry *e = entry_of(t, h);
		struct ipw_entry_info info;

		if (!e->in_use || !expired(e->expires, clamp_now(now)))
			continue;
		remove_entry(t, h, cb ? &info : NULL);
		if (cb)
			cb(&info, ctx);
		n++;
	}
	return n;
}

/*
 * Take references from the end of wheel slot @ws, removing the due entries
 * they name, until the slot is empty or *@n reaches @max (0: no limit).
 * Any reference to a due entry removes it; others are stale.
 */
static void purge_slot(struct ipw_table *t, uint32_t ws, int64_t now,
		       size_t max, size_t *n, ipw_expire_cb cb, void *ctx)
{
	struct hvec *hv = &t->wheel[ws];
	int lvl = wheel_level(ws);

	while (hv->n && (max == 0 || *n < max)) {
		uint32_t h = hv->v[hv->n - 1];
		struct entry *e = entry_of(t, h);
		struct ipw_entry_info info;

		/* Records met later are random: fetch them now. */
		if (hv->n > BATCH_AHEAD)
			__builtin_prefetch(
				entry_of(t, hv->v[hv->n - 1 - BATCH_AHEAD]), 1);
		hv->n--;
		t->nref[lvl]--;
		if (!e->in_use || !expired(e->expires, clamp_now(now)))
			continue;
		remove_entry(t, h, cb ? &info : NULL);
		if (cb)
			cb(&info, ctx);
		(*n)++;
	}
}

size_t ipw_table_purge(struct ipw_table *t, size_t max, ipw_expire_cb cb,
		       void *ctx)
{
	size_t n = 0;
	int64_t now;

	wlock(t);
	now = t->clock(t->clock_ctx);
	/* The clock stepped back behind the wheel, or stale references
	 * outnumber the live: rebuild from the entries. */
	if (now + 1 < t->wheel_now || t->wheel_broken ||
	    t->nref[0] + t->nref[1] + t->nref[2] + t->nref[3] >
		    2 * t->expiring + 65536)
		wheel_rebuild(t, now < t->wheel_now ? now : t->wheel_now);
	if (t->wheel_broken) {
		n = purge_scan(t, now, max, cb, ctx);
		goto out;
	}
	purge_slot(t, WSLOT_DUE, now, max, &n, cb, ctx);
	while (t->wheel_now <= now && (max == 0 || n < max)) {
		uint32_t ws = (uint32_t)(t->wheel_now & WHEEL_MASK);

		purge_slot(t, ws, now, max, &n, cb, ctx);
		if (t->wheel[ws].n)
			break; /* batch full */
		if (t->nref[0] == 0) {
			/* Nothing in level 0: jump to the end of this turn
			 * (or to now), cascading there. */
			int64_t end = (t->wheel_now | WHEEL_MASK) + 1;

			if ((t->nref[1] == 0 && t->nref[2] == 0) ||
			    end > now + 1) {
				t->wheel_now = now + 1;
				break;
			}
			t->wheel_now = end - 1;
		}
		if (!wheel_tick(t))
			break; /* out of memory: try again next time */
	}
out:
	wunlock_reclaim(t);
	return n;
}

void ipw_table_clear(struct ipw_table *t)
{
	wlock(t);
	for (uint32_t h = 1; h < t->next_fresh; h++)
		if (entry_of(t, h)->in_use)
			remove_entry(t, h, NULL);
	/* Every wheel and FIFO reference is stale now. */
	for (uint32_t ws = 0; ws < WHEEL_SLOTS; ws++)
		t->wheel[ws].n = 0;
	memset(t->nref, 0, sizeof(t->nref));
	t->fhead = t->fn = 0;
	reclaim(t);
	wunlock(t);
}

/* ---- construction ---- */

int ipw_table_new(struct ipw_table **out, const struct ipw_table_opts *opts)
{
	struct ipw_table_opts o = {0};
	struct ipw_table *t;

	if (opts)
		o = *opts;
	if (o.max_entries == 0)
		o.max_entries = DEFAULT_MAX_ENTRIES;
	if (o.max_entries > MAX_HANDLE - 1 ||
	    (o.hit_sample & (o.hit_sample - 1)) || o.hit_sample > 65536)
		return IPW_EINVAL;
	/* Cache-line aligned: readers' and writers' fields are kept apart. */
	t = aligned_alloc(64, (sizeof(*t) + 63) & ~(size_t)63);
	if (!t)
		return IPW_ENOMEM;
	memset(t, 0, sizeof(*t));
	t->chunks = calloc(MAX_CHUNKS, sizeof(struct entry *));
	if (!t->chunks) {
		free(t);
		return IPW_ENOMEM;
	}
	{
		pthread_mutexattr_t ma;

		pthread_mutexattr_init(&ma);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&t->lock, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	t->hit_mask = o.hit_sample ? o.hit_sample - 1 : DEFAULT_HIT_SAMPLE - 1;
	t->clock = o.clock ? o.clock : default_clock;
	t->clock_ctx = o.clock_ctx;
	t->max_entries = o.max_entries;
	t->next_fresh = 1; /* handle 0 means none */
	if (o.hash_key[0] || o.hash_key[1]) {
		t->base_key[0] = o.hash_key[0];
		t->base_key[1] = o.hash_key[1];
	} else if (getrandom(t->base_key, sizeof(t->base_key), 0) !=
		   sizeof(t->base_key)) {
		/* No entropy: refuse rather than run with a guessable key. */
		free(t->chunks);
		free(t);
		return IPW_EAGAIN;
	}
	t->wheel_now = t->clock(t->clock_ctx);
	*out = t;
	return 0;
}

void ipw_table_free(struct ipw_table *t)
{
	if (!t)
		return;
	for (int l = 0; l < 2; l++) {
		struct list_ix *L = &t->l[l];

		ix_free(L->ex4);
		ix_free(L->px4);
		free(L->sum4);
		ix_free(L->ex6);
		ix_free(L->px6);
		ix_free(L->grp6);
	}
	for (uint32_t h = 1; h < t->next_fresh; h++) {
		struct entry *e = entry_of(t, h);

		if (e->in_use)
			meta_unref(e->meta);
	}
	for (uint32_t c = 0; c < MAX_CHUNKS; c++)
		ix_free_bytes(t->chunks[c], CHUNK_BYTES);
	free(t->chunks);
	urcu_bp_synchronize_rcu();
	for (uint32_t i = 0; i < t->ndeferred; i++)
		ix_free(t->deferred[i]);
	free(t->deferred);
	ix_free(t->counts);
	free(t->freeh);
	free(t->limbo);
	for (uint32_t ws = 0; ws < WHEEL_SLOTS; ws++)
		free(t->wheel[ws].v);
	free(t->fifo);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- stats, snapshot, top ---- */

void ipw_table_stats(struct ipw_table *t, struct ipw_table_stats *s)
{
	memset(s, 0, sizeof(*s));
	wlock(t);
	for (int l = 0; l < 2; l++) {
		struct list_ix *L = &t->l[l];

		for (int f = 0; f < 2; f++) {
			s->entries[l][f] = L->n[f];
			s->prefixes[l][f] = L->nprefix[f];
		}
		s->index_bytes += ix4_bytes(L->ex4) + ixp4_bytes(L->px4) +
				  ix6_bytes(L->ex6) + ix6_bytes(L->px6) +
				  ixg6_bytes(L->grp6) +
				  (L->sum4 ? SUM4_CELLS * sizeof(uint64_t) : 0);
	}
	s->max_entries = t->max_entries;
	s->rekeys = t->rekeys;
	s->entry_bytes =
		(uint64_t)t->nchunks * CHUNK_SIZE * sizeof(struct entry) +
		ixcnt_bytes(t->counts) +
		(uint64_t)t->fcap * sizeof(struct fref);
	for (uint32_t ws = 0; ws < WHEEL_SLOTS; ws++)
		s->entry_bytes += (uint64_t)t->wheel[ws].cap * sizeof(uint32_t);
	s->entry_bytes += t->meta_bytes;
	wunlock(t);
}

/* Copy a record under the writer lock; readers may be adding hits. */
static void copy_record(struct entry *d, const struct entry *e)
{
	memset(d, 0, sizeof(*d));
	d->target = e->target;
	d->list = e->list;
	d->flags = e->flags;
	d->in_use = e->in_use;
	d->expires = e->expires;
	d->created = e->created;
	d->sv = __atomic_load_n(&e->sv, __ATOMIC_RELAXED);
	d->last_hit = __atomic_load_n(&e->last_hit, __ATOMIC_RELAXED);
	d->hits = __atomic_load_n(&e->hits, __ATOMIC_RELAXED);
	d->meta = e->meta;
}

struct ipw_snapshot {
	size_t n;
	struct entry *e;
};

/*
 * The copy runs under the writer lock, so everything that can be done
 * before is: the array is allocated and its pages touched (faulted in)
 * outside the lock, sized for the live count plus a margin; only if
 * writers added more than the margin meanwhile is it grown under the lock.
 */
int ipw_table_snapshot(struct ipw_table *t, struct ipw_snapshot **out)
{
	struct ipw_snapshot *s = calloc(1, sizeof(*s));
	size_t cap;

	if (!s)
		return IPW_ENOMEM;
	wlock(t);
	cap = t->live + t->live / 16 + 1024;
	wunlock(t);
	s->e = malloc(cap * sizeof(*s->e));
	if (!s->e) {
		free(s);
		return IPW_ENOMEM;
	}
	/* Fault the pages in now, one store per page through a volatile
	 * pointer: a plain memset() of fresh malloc() memory is turned into
	 * calloc() by the compiler, which leaves the faults to the copy. */
	for (size_t off = 0; off < cap * sizeof(*s->e); off += 4096)
		((volatile char *)s->e)[off] = 0;
	wlock(t);
	if (t->live > cap) {
		struct entry *e = realloc(s->e, t->live * sizeof(*s->e));

		if (!e) {
			wunlock(t);
			free(s->e);
			free(s);
			return IPW_ENOMEM;
		}
		s->e = e;
	}
	for (uint32_t h = 1; h < t->next_fresh; h++) {
		struct entry *e = entry_of(t, h);

		if (!e->in_use)
			continue;
		copy_record(&s->e[s->n], e);
		if (e->meta)
			__atomic_add_fetch(&e->meta->refs, 1, __ATOMIC_RELAXED);
		s->n++;
	}
	wunlock(t);
	*out = s;
	return 0;
}

size_t ipw_snapshot_count(const struct ipw_snapshot *s)
{
	return s->n;
}

void ipw_snapshot_get(const struct ipw_snapshot *s, size_t i,
		      struct ipw_entry_info *out)
{
	info_of(&s->e[i], out);
}

void ipw_snapshot_key(const struct ipw_snapshot *s, size_t i,
		      struct ipw_entry_key *out)
{
	const struct entry *e = &s->e[i];

	out->target = e->target;
	out->list = (enum ipw_list)e->list;
	out->flags = e->flags;
	out->expires = e->expires;
}

void ipw_snapshot_free(struct ipw_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		meta_unref(s->e[i].meta);
	free(s->e);
	free(s);
}

struct hot {
	uint64_t hits; /* read once: readers keep counting meanwhile */
	uint32_t h;
};

/* Sift @x down from @i in the min-heap @heap of @n items. */
static void hot_sift(struct hot *heap, size_t n, size_t i, struct hot x)
{
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && heap[c + 1].hits < heap[c].hits)
			c++;
		if (heap[c].hits >= x.hits)
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = x;
}

size_t ipw_table_top(struct ipw_table *t, size_t k, struct ipw_entry_info *out)
{
	struct hot *heap; /* min-heap: the k hottest seen so far */
	size_t n = 0;

	if (k == 0)
		return 0;
	heap = malloc(k * sizeof(*heap));
	if (!heap)
		return 0;
	wlock(t);
	for (uint32_t h = 1; h < t->next_fresh; h++) {
		struct entry *e = entry_of(t, h);
		struct hot x;

		if (!e->in_use)
			continue;
		x.hits = __atomic_load_n(&e->hits, __ATOMIC_RELAXED);
		x.h = h;
		if (x.hits == 0)
			continue;
		if (n < k) {
			size_t i = n++;

			while (i && heap[(i - 1) / 2].hits > x.hits) {
				heap[i] = heap[(i - 1) / 2];
				i = (i - 1) / 2;
			}
			heap[i] = x;
		} else if (x.hits > heap[0].hits) {
			hot_sift(heap, n, 0, x);
		}
	}
	/* Pop the minimum into the last free place: descending order. The
	 * reported hits are the values ranked, not a later reading. */
	for (size_t m = n; m > 0; m--) {
		struct hot top = heap[0];

		info_of(entry_of(t, top.h), &out[m - 1]);
		out[m - 1].hits = top.hits;
		hot_sift(heap, m - 1, 0, heap[m - 1]);
	}
	wunlock(t);
	free(heap);
	return n;
}

const char *ipw_change_name(enum ipw_change c)
{
	switch (c) {
	case IPW_CHANGE_ADDED:
		return "added";
	case IPW_CHANGE_EXTENDED:
		return "extended";
	case IPW_CHANGE_UNCHANGED:
		return "unchanged";
	case IPW_CHANGE_REMOVED:
		return "removed";
	case IPW_CHANGE_ABSENT:
		return "absent";
	case IPW_CHANGE_MODE:
		return "mode";
	}
	return "unknown";
}

const char *ipw_mode_name(enum ipw_mode m)
{
	return m == IPW_MODE_ALLOWLIST ? "allowlist" : "denylist";
}
