// SPDX-License-Identifier: MIT
/*
 * The three lock-based baselines of bench_designs, all over the same
 * open-addressing table (oatable.h):
 *
 *   rwlock   one pthread_rwlock_t (glibc default attributes, which prefer
 *            readers) around one table: readers share the lock, but each
 *            read still writes the lock word, so readers on different cores
 *            bounce its cache line.
 *   mutex    one pthread_mutex_t (default, glibc's futex lock) around one
 *            table: every operation is serialised.
 *   striped  64 shards, each a table with its own mutex, picked by the top 6
 *            bits of the hash (the slot index uses the low bits, so the two
 *            are independent). Operations on different shards never touch
 *            the same cache line; each shard sits on its own lines.
 *
 * Expiry: a lookup treats an entry whose expiry is at or before now as
 * absent (it cannot delete it: under the rwlock it holds only the read
 * lock); expire() tombstones expired entries in a full pass under the write
 * lock (striped: shard by shard, each under its own lock, so the others stay
 * available).
 *
 * Out of memory aborts: a benchmark cannot continue with a table that lost
 * a write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "designs.h"
#include "oatable.h"

#define CACHE_LINE   64
#define STRIPES	     64
#define STRIPE_SHIFT 58 /* 64 - log2(STRIPES) */

static void *alloc_aligned(size_t size)
{
	void *p = NULL;

	if (posix_memalign(&p, CACHE_LINE, size) != 0)
		return NULL;
	return p;
}

static void put_or_die(struct oa_table *t, uint32_t key, uint64_t h,
		       struct design_val v)
{
	if (oa_put(t, key, h, v) < 0) {
		fprintf(stderr, "bench_designs: out of memory\n");
		abort();
	}
}

static bool live_hit(bool found, const struct design_val *v, int64_t now)
{
	return found && v->expires > now;
}

/*
 * ---- rwlock and mutex: one lock around one table --------------------
 *
 * The two differ only in the lock, so one template makes both (a function
 * pointer for the lock calls would add an indirect call to every operation
 * of the baselines being measured).
 */
#define DEFINE_ONE_LOCK(P, NAME, LOCK_T, INIT, DESTROY, RDLOCK, WRLOCK,      \
			UNLOCK)                                              \
	struct P##_map {                                                     \
		LOCK_T lock;                                                 \
		struct oa_table t;                                           \
	};                                                                   \
                                                                             \
	static void *P##_create(size_t hint, const uint64_t hash_key[2],     \
				int64_t (*clock)(void *), void *clock_ctx)   \
	{                                                                    \
		struct P##_map *m = alloc_aligned(sizeof(*m));               \
                                                                             \
		(void)clock;                                                 \
		(void)clock_ctx;                                             \
		if (!m)                                                      \
			return NULL;                                         \
		if (oa_init(&m->t, hint, hash_key) != 0) {                   \
			free(m);                                             \
			return NULL;                                         \
		}                                                            \
		INIT(&m->lock, NULL);                                        \
		return m;                                                    \
	}                                                                    \
                                                                             \
	static void P##_destroy(void *ctx)                                   \
	{                                                                    \
		struct P##_map *m = ctx;                                     \
                                                                             \
		DESTROY(&m->lock);                                           \
		oa_destroy(&m->t);                                           \
		free(m);                                                     \
	}                                                                    \
                                                                             \
	static bool P##_get(void *ctx, uint32_t key, struct design_val *out) \
	{                                                                    \
		struct P##_map *m = ctx;                                     \
		uint64_t h = oa_hash(&m->t, key);                            \
		bool found;                                                  \
                                                                             \
		RDLOCK(&m->lock);                                            \
		found = oa_get(&m->t, key, h, out);                          \
		UNLOCK(&m->lock);                                            \
		return found;                                                \
	}                                                                    \
                                                                             \
	static bool P##_lookup(void *ctx, uint32_t key, int64_t now,         \
			       struct design_val *out)                       \
	{                                                                    \
		return live_hit(P##_get(ctx, key, out), out, now);           \
	}                                                                    \
                                                                             \
	static void P##_upsert(void *ctx, uint32_t key, struct design_val v) \
	{                                                                    \
		struct P##_map *m = ctx;                                     \
		uint64_t h = oa_hash(&m->t, key);                            \
                                                                             \
		WRLOCK(&m->lock);                                            \
		put_or_die(&m->t, key, h, v);                                \
		UNLOCK(&m->lock);                                            \
	}                                                                    \
                                                                             \
	static bool P##_erase(void *ctx, uint32_t key)                       \
	{                                                                    \
		struct P##_map *m = ctx;                                     \
		uint64_t h = oa_hash(&m->t, key);                            \
		bool found;                                                  \
                                                                             \
		WRLOCK(&m->lock);                                            \
		found = oa_del(&m->t, key, h);                               \
		UNLOCK(&m->lock);                                            \
		return found;                                                \
	}                                                                    \
                                                                             \
	static size_t P##_expire(void *ctx, int64_t now)                     \
	{                                                                    \
		struct P##_map *m = ctx;                                     \
		size_t n;                                                    \
                                                                             \
		WRLOCK(&m->lock);                                            \
		n = oa_purge(&m->t, now);                                    \
		UNLOCK(&m->lock);                                            \
		return n;                                                    \
	}                                                                    \
                                                                             \
	static size_t P##_count(void *ctx)                                   \
	{                                                                    \
		struct P##_map *m = ctx;                                     \
                                                                             \
		return m->t.live;                                            \
	}                                                                    \
                                                                             \
	const struct design_ops design_##NAME = {                            \
		.name = #NAME,                                               \
		.create = P##_create,                                        \
		.destroy = P##_destroy,                                      \
		.lookup = P##_lookup,                                        \
		.upsert = P##_upsert,                                        \
		.erase = P##_erase,                                          \
		.expire = P##_expire,                                        \
		.get = P##_get,                                              \
		.count = P##_count,                                          \
	};

DEFINE_ONE_LOCK(rw, rwlock, pthread_rwlock_t, pthread_rwlock_init,
		pthread_rwlock_destroy, pthread_rwlock_rdlock,
		pthread_rwlock_wrlock, pthread_rwlock_unlock)
DEFINE_ONE_LOCK(mu, mutex, pthread_mutex_t, pthread_mutex_init,
		pthread_mutex_destroy, pthread_mutex_lock, pthread_mutex_lock,
		pthread_mutex_unlock)

/* ---- striped --------------------------------------------------------- */

struct stripe {
	_Alignas(CACHE_LINE) pthread_mutex_t lock;
	struct oa_table t;
};

struct striped_map {
	struct stripe s[STRIPES];
	uint64_t hash_key[2];
};

static void *st_create(size_t hint, const uint64_t hash_key[2],
		       int64_t (*clock)(void *), void *clock_ctx)
{
	struct striped_map *m = alloc_aligned(sizeof(*m));

	(void)clock;
	(void)clock_ctx;
	if (!m)
		return NULL;
	m->hash_key[0] = hash_key[0];
	m->hash_key[1] = hash_key[1];
	for (int i = 0; i < STRIPES; i++) {
		/* the hash spreads keys evenly: a shard's share, plus slack
		 * for the variance of 64 bins */
		if (oa_init(&m->s[i].t, hint / STRIPES + hint / STRIPES / 8,
			    hash_key) != 0) {
			while (i-- > 0)
				oa_destroy(&m->s[i].t);
			free(m);
			return NULL;
		}
		pthread_mutex_init(&m->s[i].lock, NULL);
	}
	return m;
}

static void st_destroy(void *ctx)
{
	struct striped_map *m = ctx;

	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_destroy(&m->s[i].lock);
		oa_destroy(&m->s[i].t);
	}
	free(m);
}

static struct stripe *stripe_of(struct striped_map *m, uint64_t h)
{
	return &m->s[h >> STRIPE_SHIFT];
}

static bool st_get(void *ctx, uint32_t key, struct design_val *out)
{
	struct striped_map *m = ctx;
	uint64_t h = ipw_hash_u32(key, m->hash_key);
	struct stripe *s = stripe_of(m, h);
	bool found;

	pthread_mutex_lock(&s->lock);
	found = oa_get(&s->t, key, h, out);
	pthread_mutex_unlock(&s->lock);
	return found;
}

static bool st_lookup(void *ctx, uint32_t key, int64_t now,
		      struct design_val *out)
{
	return live_hit(st_get(ctx, key, out), out, now);
}

static void st_upsert(void *ctx, uint32_t key, struct design_val v)
{
	struct striped_map *m = ctx;
	uint64_t h = ipw_hash_u32(key, m->hash_key);
	struct stripe *s = stripe_of(m, h);

	pthread_mutex_lock(&s->lock);
	put_or_die(&s->t, key, h, v);
	pthread_mutex_unlock(&s->lock);
}

static bool st_erase(void *ctx, uint32_t key)
{
	struct striped_map *m = ctx;
	uint64_t h = ipw_hash_u32(key, m->hash_key);
	struct stripe *s = stripe_of(m, h);
	bool found;

	pthread_mutex_lock(&s->lock);
	found = oa_del(&s->t, key, h);
	pthread_mutex_unlock(&s->lock);
	return found;
}

static size_t st_expire(void *ctx, int64_t now)
{
	struct striped_map *m = ctx;
	size_t n = 0;

	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_lock(&m->s[i].lock);
		n += oa_purge(&m->s[i].t, now);
		pthread_mutex_unlock(&m->s[i].lock);
	}
	return n;
}

static size_t st_count(void *ctx)
{
	struct striped_map *m = ctx;
	size_t n = 0;

	for (int i = 0; i < STRIPES; i++)
		n += m->s[i].t.live;
	return n;
}

const struct design_ops design_striped = {
	.name = "striped",
	.create = st_create,
	.destroy = st_destroy,
	.lookup = st_lookup,
	.upsert = st_upsert,
	.erase = st_erase,
	.expire = st_expire,
	.get = st_get,
	.count = st_count,
};
