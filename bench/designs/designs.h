/* SPDX-License-Identifier: MIT */
/*
 * The concurrent key -> value maps that bench_designs compares, behind one
 * small vtable so that every workload drives every design through the same
 * calls with the same keys.
 *
 * A key is an IPv4 address (host order); a value is {expiry, score}, the
 * expiry in wall-clock seconds (simulated by the benchmark). Every design
 * hashes with ipw_hash_u32() and the key passed to create().
 *
 * Contract of every design (what the benchmark relies on):
 * - create() and destroy() run with no other call in flight, on a thread
 *   that is not initialised (before thread_init(), after thread_fini()).
 * - thread_init() is called by each worker thread before its first
 *   operation, thread_fini() after its last (both may be NULL). The main
 *   thread also calls them around preloading and verification.
 * - lookup(), upsert(), erase() and expire() may be called from any number
 *   of initialised threads concurrently.
 * - lookup() reports a hit only for an entry whose expiry is after @now;
 *   *out gets its value (score may be DESIGN_SCORE_UNKNOWN when the design's
 *   read path does not return it).
 * - upsert() stores the value for the key, inserting it if absent. The
 *   baselines overwrite; ipwall merges by its contract (later expiry,
 *   higher score), which can leave the entry unchanged.
 * - expire() removes entries whose expiry is at or before @now, each design
 *   in its own way.
 * - get() (may be NULL: lookup() is used) is for verification only: the
 *   exact stored value, expired or not, with its score.
 */
#ifndef IPWALL_BENCH_DESIGNS_DESIGNS_H
#define IPWALL_BENCH_DESIGNS_DESIGNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct design_val {
	int64_t expires; /* wall-clock seconds */
	uint32_t score;
};

#define DESIGN_SCORE_UNKNOWN UINT32_MAX

struct design_ops {
	const char *name;
	/* @hint: expected population, for initial sizing. NULL on failure. */
	void *(*create)(size_t hint, const uint64_t hash_key[2],
			int64_t (*clock)(void *), void *clock_ctx);
	void (*destroy)(void *ctx);
	void (*thread_init)(void *ctx);
	void (*thread_fini)(void *ctx);
	bool (*lookup)(void *ctx, uint32_t key, int64_t now,
		       struct design_val *out);
	void (*upsert)(void *ctx, uint32_t key, struct design_val v);
	bool (*erase)(void *ctx, uint32_t key);
	size_t (*expire)(void *ctx, int64_t now);
	bool (*get)(void *ctx, uint32_t key, struct design_val *out);
	/* Entries stored, expired ones included (quiescent only). */
	size_t (*count)(void *ctx);
	/* Upserts that changed nothing (ipwall's merge, or its refusal of an
	 * expiry already past); NULL for designs that always overwrite. */
	uint64_t (*unchanged)(void *ctx);
};

extern const struct design_ops design_rwlock;
extern const struct design_ops design_mutex;
extern const struct design_ops design_striped;
extern const struct design_ops design_rculfhash;
#ifdef HAVE_IPW_TABLE
extern const struct design_ops design_ipwall;
#endif

#endif /* IPWALL_BENCH_DESIGNS_DESIGNS_H */
