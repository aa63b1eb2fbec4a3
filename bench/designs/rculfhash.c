// SPDX-License-Identifier: MIT
/*
 * Baseline (d): liburcu's lock-free resizable hash table (rculfhash) with
 * the "memb" RCU flavour (urcu/urcu-memb.h: readers are a per-thread
 * counter update with compiler barriers only, grace periods use the
 * membarrier system call, when the kernel has it). Every thread that touches the table registers
 * with the flavour (thread_init).
 *
 * Each entry is one malloc'd node. Values are immutable once published: an
 * upsert allocates a new node and swaps it in with cds_lfht_add_replace(),
 * so a reader copies a consistent {expiry, score} pair; the replaced or
 * deleted node is freed by call_rcu() after a grace period. liburcu's
 * call_rcu worker thread does the freeing and rculfhash's own worker thread
 * the automatic resizes: both compete for the same two cores, as they would
 * in a real process.
 *
 * The table starts at the power of two above the size hint, resizes itself
 * (CDS_LFHT_AUTO_RESIZE) and keeps per-CPU node counts
 * (CDS_LFHT_ACCOUNTING, needed for shrinking).
 *
 * Expiry: a lookup treats an expired node as absent; expire() walks the
 * whole table inside one read-side critical section and deletes each
 * expired node it meets. Deletion is lock-free, so it runs concurrently
 * with the workers.
 *
 * The read lock and unlock are inlined (_LGPL_SOURCE) as in ipwall's table
 * (src/lib/table.c), and likewise not in sanitizer builds (IPW_SANITIZED),
 * so that both RCU designs pay the same for their read-side sections. The
 * table operations themselves are calls into liburcu-cds either way.
 */
#include <stdio.h>
#include <stdlib.h>

#ifndef IPW_SANITIZED
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include "../../src/lib/hash.h"
#include "designs.h"

struct lf_map {
	struct cds_lfht *ht;
	uint64_t hash_key[2];
};

struct lf_node {
	struct cds_lfht_node node;
	uint32_t key;
	uint32_t score;
	int64_t expires;
	struct rcu_head rcu;
};

static int match_key(struct cds_lfht_node *node, const void *key)
{
	const struct lf_node *n = caa_container_of(node, struct lf_node, node);

	return n->key == *(const uint32_t *)key;
}

static void free_node(struct rcu_head *head)
{
	free(caa_container_of(head, struct lf_node, rcu));
}

static void *lf_create(size_t hint, const uint64_t hash_key[2],
		       int64_t (*clock)(void *), void *clock_ctx)
{
	struct lf_map *m = malloc(sizeof(*m));
	unsigned long size = 1;

	(void)clock;
	(void)clock_ctx;
	if (!m)
		return NULL;
	while (size < hint)
		size *= 2;
	m->hash_key[0] = hash_key[0];
	m->hash_key[1] = hash_key[1];
	m->ht = cds_lfht_new_flavor(size, 1, 0,
				    CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
				    &urcu_memb_flavor, NULL);
	if (!m->ht) {
		free(m);
		return NULL;
	}
	return m;
}

/* Quiescent: no other thread uses the table. The caller is not registered
 * (see designs.h): register for the traversal, or the grace periods of the
 * call_rcu frees would not wait for it. */
static void lf_destroy(void *ctx)
{
	struct lf_map *m = ctx;
	struct cds_lfht_iter iter;
	struct lf_node *n;

	urcu_memb_register_thread();
	urcu_memb_read_lock();
	cds_lfht_for_each_entry (m->ht, &iter, n, node) {
		if (cds_lfht_del(m->ht, &n->node) == 0)
			urcu_memb_call_rcu(&n->rcu, free_node);
	}
	urcu_memb_read_unlock();
	/* every node freed, and no resize left in flight */
	urcu_memb_barrier();
	urcu_memb_unregister_thread();
	if (cds_lfht_destroy(m->ht, NULL) != 0)
		fprintf(stderr, "bench_designs: cds_lfht_destroy failed\n");
	free(m);
}

static void lf_thread_init(void *ctx)
{
	(void)ctx;
	urcu_memb_register_thread();
}

static void lf_thread_fini(void *ctx)
{
	(void)ctx;
	urcu_memb_unregister_thread();
}

static bool lf_get(void *ctx, uint32_t key, struct design_val *out)
{
	struct lf_map *m = ctx;
	unsigned long h = ipw_hash_u32(key, m->hash_key);
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	bool found = false;

	urcu_memb_read_lock();
	cds_lfht_lookup(m->ht, h, match_key, &key, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node) {
		const struct lf_node *n =
			caa_container_of(node, struct lf_node, node);

		out->expires = n->expires;
		out->score = n->score;
		found = true;
	}
	urcu_memb_read_unlock();
	return found;
}

static bool lf_lookup(void *ctx, uint32_t key, int64_t now,
		      struct design_val *out)
{
	return lf_get(ctx, key, out) && out->expires > now;
}

static void lf_upsert(void *ctx, uint32_t key, struct design_val v)
{
	struct lf_map *m = ctx;
	unsigned long h = ipw_hash_u32(key, m->hash_key);
	struct lf_node *n = malloc(sizeof(*n));
	struct cds_lfht_node *old;

	if (!n) {
		fprintf(stderr, "bench_designs: out of memory\n");
		abort();
	}
	cds_lfht_node_init(&n->node);
	n->key = key;
	n->score = v.score;
	n->expires = v.expires;
	urcu_memb_read_lock();
	old = cds_lfht_add_replace(m->ht, h, match_key, &key, &n->node);
	urcu_memb_read_unlock();
	if (old)
		urcu_memb_call_rcu(
			&caa_container_of(old, struct lf_node, node)->rcu,
			free_node);
}

static bool lf_erase(void *ctx, uint32_t key)
{
	struct lf_map *m = ctx;
	unsigned long h = ipw_hash_u32(key, m->hash_key);
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	bool removed = false;

	urcu_memb_read_lock();
	cds_lfht_lookup(m->ht, h, match_key, &key, &iter);
	node = cds_lfht_iter_get_node(&iter);
	/* a concurrent delete of the same node makes this one fail */
	if (node && cds_lfht_del(m->ht, node) == 0) {
		urcu_memb_call_rcu(
			&caa_container_of(node, struct lf_node, node)->rcu,
			free_node);
		removed = true;
	}
	urcu_memb_read_unlock();
	return removed;
}

static size_t lf_expire(void *ctx, int64_t now)
{
	struct lf_map *m = ctx;
	struct cds_lfht_iter iter;
	struct lf_node *n;
	size_t removed = 0;

	urcu_memb_read_lock();
	cds_lfht_for_each_entry (m->ht, &iter, n, node) {
		/* cppcheck cannot see through the iteration macro. */
		// cppcheck-suppress uninitvar
		if (n->expires <= now && cds_lfht_del(m->ht, &n->node) == 0) {
			urcu_memb_call_rcu(&n->rcu, free_node);
			removed++;
		}
	}
	urcu_memb_read_unlock();
	return removed;
}

static size_t lf_count(void *ctx)
{
	struct lf_map *m = ctx;
	long before, after;
	unsigned long n;

	urcu_memb_read_lock();
	cds_lfht_count_nodes(m->ht, &before, &n, &after);
	urcu_memb_read_unlock();
	return n;
}

const struct design_ops design_rculfhash = {
	.name = "rculfhash",
	.create = lf_create,
	.destroy = lf_destroy,
	.thread_init = lf_thread_init,
	.thread_fini = lf_thread_fini,
	.lookup = lf_lookup,
	.upsert = lf_upsert,
	.erase = lf_erase,
	.expire = lf_expire,
	.get = lf_get,
	.count = lf_count,
};
