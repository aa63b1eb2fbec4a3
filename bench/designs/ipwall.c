// SPDX-License-Identifier: MIT
/*
 * Design (e): ipwall's own ban table (include/ipwall/table.h) behind the
 * benchmark's map interface. Built only when src/lib/table.c exists (meson
 * defines HAVE_IPW_TABLE).
 *
 * The mapping is the one a caller holding a uint32 address would write:
 *   insert/overwrite  ipw_table_add() of a single-address ban (IPW_LIST_BAN,
 *                     target ipw_addr_from_v4(key, 32), expires = now + ttl,
 *                     the score as given). ipwall merges into an existing
 *                     entry (later expiry, higher score): an overwrite that
 *                     raises neither is UNCHANGED, and counted as such; so
 *                     is an insert whose expiry the table's clock already
 *                     passed (IPW_ETABLE_EXPIRED: in ttl_churn a preempted
 *                     thread can hold a stale "now").
 *   erase             ipw_table_del()
 *   lookup            ipw_table_check_at() with the benchmark's simulated
 *                     now; a hit is a BANNED verdict. The verdict carries
 *                     the expiry but not the score.
 *   expire            ipw_table_purge() with no batch limit.
 * The table reads its own "now" (for add and purge) from the benchmark's
 * simulated clock, and hashes with the benchmark's fixed key.
 *
 * Concurrency: per ipwall's contract, readers take no lock at all (the
 * table runs them in RCU read-side sections) and writers serialise on the
 * table's mutex; the adapter adds no locking of its own. Each worker
 * registers as a reader (ipw_reader_register) so that registration's one
 * allocation falls outside the measured operations.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <ipwall/table.h>

#include "designs.h"

struct wall_map {
	struct ipw_table *t;
	atomic_uint_fast64_t unchanged;
};

/* Upserts of this thread that ipwall reported UNCHANGED, folded into the
 * map's total at thread_fini (no shared counter on the measured path). */
static __thread uint64_t tl_unchanged;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_designs: %s: %s\n", what, ipw_strerror(err));
	abort();
}

static void host_addr(struct ipw_addr *a, uint32_t key)
{
	int err = ipw_addr_from_v4(a, key, 32);

	if (err)
		die("ipw_addr_from_v4", err);
}

static void *wall_create(size_t hint, const uint64_t hash_key[2],
			 int64_t (*clock)(void *), void *clock_ctx)
{
	struct ipw_table_opts opts = {
		.clock = clock,
		.clock_ctx = clock_ctx,
		.hash_key = {hash_key[0], hash_key[1]},
	};
	struct wall_map *m = malloc(sizeof(*m));

	(void)hint; /* ipwall takes no size hint */
	if (!m)
		return NULL;
	if (ipw_table_new(&m->t, &opts) != 0) {
		free(m);
		return NULL;
	}
	atomic_init(&m->unchanged, 0);
	return m;
}

static void wall_destroy(void *ctx)
{
	struct wall_map *m = ctx;

	ipw_table_free(m->t);
	free(m);
}

static void wall_thread_init(void *ctx)
{
	(void)ctx;
	tl_unchanged = 0;
	ipw_reader_register();
}

static void wall_thread_fini(void *ctx)
{
	struct wall_map *m = ctx;

	atomic_fetch_add(&m->unchanged, tl_unchanged);
	tl_unchanged = 0;
	ipw_reader_unregister();
}

static bool wall_lookup(void *ctx, uint32_t key, int64_t now,
			struct design_val *out)
{
	struct wall_map *m = ctx;
	struct ipw_addr a;
	struct ipw_verdict v;
	int err;

	host_addr(&a, key);
	err = ipw_table_check_at(m->t, &a, now, &v);
	if (err)
		die("ipw_table_check_at", err);
	if (!v.blocked || v.reason != IPW_VERDICT_BANNED)
		return false;
	out->expires = v.expires;
	out->score = DESIGN_SCORE_UNKNOWN;
	return true;
}

static void wall_upsert(void *ctx, uint32_t key, struct design_val v)
{
	struct wall_map *m = ctx;
	struct ipw_entry_spec spec = {
		.list = IPW_LIST_BAN,
		.expires = v.expires,
		.score = v.score,
	};
	enum ipw_change what;
	int err;

	host_addr(&spec.target, key);
	err = ipw_table_add(m->t, &spec, &what, NULL, NULL);
	if (err == IPW_ETABLE_EXPIRED) {
		/* The caller computed the expiry from a "now" that went stale
		 * while it was preempted; a baseline would store an entry
		 * that is already expired, ipwall refuses it. */
		tl_unchanged++;
		return;
	}
	if (err)
		die("ipw_table_add", err);
	if (what == IPW_CHANGE_UNCHANGED)
		tl_unchanged++;
}

static bool wall_erase(void *ctx, uint32_t key)
{
	struct wall_map *m = ctx;
	struct ipw_addr a;
	enum ipw_change what;
	int err;

	host_addr(&a, key);
	err = ipw_table_del(m->t, IPW_LIST_BAN, &a, &what, NULL);
	if (err)
		die("ipw_table_del", err);
	return what == IPW_CHANGE_REMOVED;
}

static size_t wall_expire(void *ctx, int64_t now)
{
	struct wall_map *m = ctx;

	(void)now; /* the table reads the same simulated clock */
	return ipw_table_purge(m->t, 0, NULL, NULL);
}

static bool wall_get(void *ctx, uint32_t key, struct design_val *out)
{
	struct wall_map *m = ctx;
	struct ipw_addr a;
	struct ipw_entry_info info;

	host_addr(&a, key);
	if (ipw_table_get(m->t, IPW_LIST_BAN, &a, &info) != 0)
		return false;
	out->expires = info.expires;
	out->score = info.score;
	return true;
}

static size_t wall_count(void *ctx)
{
	struct wall_map *m = ctx;
	struct ipw_table_stats st;

	ipw_table_stats(m->t, &st);
	return (size_t)st.entries[IPW_LIST_BAN][0];
}

static uint64_t wall_unchanged(void *ctx)
{
	struct wall_map *m = ctx;

	return atomic_load(&m->unchanged);
}

const struct design_ops design_ipwall = {
	.name = "ipwall",
	.create = wall_create,
	.destroy = wall_destroy,
	.thread_init = wall_thread_init,
	.thread_fini = wall_thread_fini,
	.lookup = wall_lookup,
	.upsert = wall_upsert,
	.erase = wall_erase,
	.expire = wall_expire,
	.get = wall_get,
	.count = wall_count,
	.unchanged = wall_unchanged,
};
