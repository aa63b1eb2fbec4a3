// SPDX-License-Identifier: MIT
/*
 * Tests of cluster mode's conflict rule (src/daemon/cluster/arbiter.h)
 * and of the op log's side of it (ipwd_ops_set_arbiter(), ops from
 * elsewhere, the id clock).
 *
 *   stamp map     random seed / record / prune sequences against a naive
 *                 model over a small and a large key space (collisions,
 *                 backward-shift deletions, growth past 1024 slots):
 *                 every stamp, the stats, admit()'s answers; an undone
 *                 group (end(false)) leaves the stamps exactly as they
 *                 were, keys new in it included, even when the table grew
 *                 inside it; end(true) keeps them
 *   convergence   three nodes A, B, C, each a real table and op log
 *                 (memory only) with the arbiter; a subscriber on each
 *                 puts the node's own ops, as the codec's bytes, into its
 *                 outbox; a seeded random schedule of local ops (ban,
 *                 unban, allow, disallow, mode over 10 targets) and of
 *                 deliveries (decoded, ipwd_ops_submit_at()), in two
 *                 disciplines: per-origin FIFO with random interleaving
 *                 (a stream) and a random order per receiver as states (a
 *                 reload). After everything reached everyone, the three
 *                 tables and modes are identical, equal to the rule's
 *                 model (per register, the `after` of the op with the
 *                 greatest id), and so are the stamps
 *   controls      the same schedules without an arbiter, and with one
 *                 that admits every op, diverge (the test can fail)
 *   concurrent    the same with two threads per node (local writers and
 *                 a reader delivering from the others' outboxes at once,
 *                 so groups mix both): for TSan
 *   scenarios     ban on A against unban on B at the same moment; a ban
 *                 merged at its origin (1h then 10m); superseded ops;
 *                 duplicates; a state twice; the hybrid id clock after an
 *                 op from 10 s in the future, also across a restart (a
 *                 node with a SQLite store)
 *
 * IPW_ARB_SEED (first seed, default 1), IPW_ARB_SEEDS (how many, default
 * 100; 25 in tsan_arbiter) and IPW_ARB_STEPS (steps each, default 300)
 * size the property test; a failure prints the seed to run again alone
 * (the schedule is the seed's; the op ids, made of the clock and random
 * bits, are not).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

#include "cluster/arbiter.h"
#include "oplog/codec.h"
#include "oplog/ops.h"
#include "oplog/store.h"
#include "tap.h"

#ifndef IPW_ARB_DEFAULT_SEEDS
#define IPW_ARB_DEFAULT_SEEDS 100
#endif

/* ---- random numbers (splitmix64: a schedule is its seed) ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned below(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 10) : def;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A UUIDv7 at millisecond @ms: version 7, variant 10, the rest random. */
static void make_id(struct rng *r, uint64_t ms, uint8_t b[16])
{
	uint64_t x = rnd(r), y = rnd(r);
	int i;

	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (x & 0x0f));
	b[7] = (uint8_t)(x >> 8);
	for (i = 8; i < 16; i++)
		b[i] = (uint8_t)(y >> (8 * (i - 8)));
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
}

static void id_bytes(const char *text, uint8_t b[16])
{
	if (ipwd_opid_parse(text, strlen(text), b) != 0)
		abort();
}

static struct ipw_addr addr(const char *s)
{
	struct ipw_addr a;

	if (ipw_addr_parse_str(s, 0, &a) != 0)
		abort();
	return a;
}

/* ==== 1. the stamp map against a naive model ==== */

/* Key @i of a key space: list i % 2, then IPv4 addresses and /24s, IPv6
 * addresses and /64s in turn. */
static void map_key(size_t i, int *list, struct ipw_addr *a)
{
	uint32_t j = (uint32_t)(i >> 1);
	uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};

	*list = (int)(i & 1);
	switch (j % 4) {
	case 0:
		ipw_addr_from_v4(a, 0x0a000001u | (j << 8), 32);
		break;
	case 1:
		ipw_addr_from_v4(a, 0x0b000000u | (j << 8), 24);
		break;
	case 2:
		b[14] = (uint8_t)(j >> 8);
		b[15] = (uint8_t)j;
		ipw_addr_from_v6(a, b, 128);
		break;
	default:
		b[4] = (uint8_t)(j >> 8);
		b[5] = (uint8_t)j;
		ipw_addr_from_v6(a, b, 64);
		break;
	}
}

struct mst {
	bool valid, present;
	uint8_t id[16];
};

struct model {
	size_t n;
	struct mst *k; /* n keys, then the mode's at [n] */
	uint64_t admitted, superseded;
};

/* idx == m->n: the mode */
static void model_set(struct model *m, size_t idx, const uint8_t id[16],
		      bool present)
{
	struct mst *s = &m->k[idx];

	if (s->valid && memcmp(id, s->id, 16) <= 0)
		return;
	s->valid = true;
	s->present = present;
	memcpy(s->id, id, 16);
}

/* Does the arbiter's stamp of key @idx equal the model's? */
static bool key_ok(struct ipwd_arbiter_state *a, const struct model *m,
		   size_t idx)
{
	struct ipw_addr t = {0};
	uint8_t id[16];
	bool present = false, found;
	int list = -1;

	if (idx < m->n)
		map_key(idx, &list, &t);
	found = ipwd_arbiter_stamp(a, list, &t, id, &present);
	if (found != m->k[idx].valid)
		return false;
	return !found || (present == m->k[idx].present &&
			  memcmp(id, m->k[idx].id, 16) == 0);
}

/* Every key and the stats; the first bad key into *@bad. */
static bool model_ok(struct ipwd_arbiter_state *a, const struct model *m,
		     const char **why, size_t *bad)
{
	struct ipwd_arbiter_stats st;
	uint64_t stamps = 0, tomb = 0;
	size_t i;

	for (i = 0; i <= m->n; i++) {
		if (!key_ok(a, m, i)) {
			*why = "a stamp differs";
			*bad = i;
			return false;
		}
		if (i < m->n && m->k[i].valid) {
			stamps++;
			tomb += !m->k[i].present;
		}
	}
	ipwd_arbiter_stats(a, &st);
	if (st.stamps != stamps || st.tombstones != tomb) {
		*why = "stats.stamps or stats.tombstones differ";
		*bad = (size_t)st.stamps;
		return false;
	}
	if (st.admitted != m->admitted || st.superseded != m->superseded) {
		*why = "stats.admitted or stats.superseded differ";
		*bad = (size_t)st.admitted;
		return false;
	}
	return true;
}

/* A record for the callbacks: @act on key @idx (the mode if idx == n). */
struct trec {
	struct ipwd_oprec r;
	char id[IPWD_OPID_LEN];
	struct ipw_entry_info after;
};

static void trec_make(struct trec *x, size_t idx, enum ipwd_action act,
		      const uint8_t id[16], bool with_after)
{
	int list = 0;

	memset(x, 0, sizeof(*x));
	ipwd_opid_format(id, x->id);
	x->r.id = x->id;
	x->r.node = "x";
	x->r.actor = "t";
	x->r.action = act;
	if (act == IPWD_ACT_MODE) {
		x->r.mode = IPW_MODE_ALLOWLIST;
		x->r.change = IPW_CHANGE_MODE;
		return;
	}
	map_key(idx, &list, &x->r.target);
	/* a record's list is its action's; keys of the other list get the
	 * action of that list */
	x->r.list = (enum ipw_list)list;
	x->after.target = x->r.target;
	x->after.list = x->r.list;
	if (with_after)
		x->r.after = &x->after;
}

/* The action for key @idx: ban/unban/expire/evict on list 0,
 * allow/disallow on list 1. */
static enum ipwd_action pick_act(struct rng *r, size_t idx, size_t n,
				 bool *with_after, bool *ignored)
{
	unsigned p = below(r, 100);

	*with_after = false;
	*ignored = false;
	if (idx == n)
		return IPWD_ACT_MODE;
	if (p < 8) {
		*ignored = true; /* each node's own: no stamp */
		return (idx & 1) == 0 ?
			       (p < 4 ? IPWD_ACT_EXPIRE : IPWD_ACT_EVICT) :
			       IPWD_ACT_EXPIRE;
	}
	if (p < 55) {
		*with_after = p >= 10; /* a ban with no after: absent */
		return (idx & 1) == 0 ? IPWD_ACT_BAN : IPWD_ACT_ALLOW;
	}
	return (idx & 1) == 0 ? IPWD_ACT_UNBAN : IPWD_ACT_DISALLOW;
}

#define MAP_MS	   1700000000000ull /* the ids' milliseconds start here */
#define MAP_WINDOW 64		    /* ... and span this many */

static size_t pick_key(struct rng *r, size_t n)
{
	return below(r, 24) == 0 ? n : below(r, (unsigned)n);
}

/* One run of @steps random steps over @n keys; false at the first
 * difference (reported). Each step checks the keys it touched and the
 * stats; every key is checked every 256 steps and at the end. */
static bool map_run(uint64_t seed, size_t n, unsigned steps, size_t *max_n)
{
	struct rng r = {seed};
	struct ipwd_arbiter_state *a;
	struct model m = {n, NULL, 0, 0};
	struct mst *saved;
	const char *why = NULL;
	size_t bad = 0, touched[8], nt, i;
	unsigned s;
	bool good = true;

	m.k = calloc(n + 1, sizeof(*m.k));
	saved = calloc(n + 1, sizeof(*saved));
	if (m.k == NULL || saved == NULL || ipwd_arbiter_new(&a) != 0)
		abort();
	for (s = 0; s < steps && good; s++) {
		unsigned p = below(&r, 100);
		uint8_t id[16];
		size_t idx;

		nt = 0;
		if (p < 45) {
			/* seed */
			int list = -1;
			struct ipw_addr t = {0};
			bool present = below(&r, 2);

			idx = pick_key(&r, n);
			make_id(&r, MAP_MS + below(&r, MAP_WINDOW), id);
			if (idx < n)
				map_key(idx, &list, &t);
			else
				present = true; /* a mode is never removed */
			if (ipwd_arbiter_seed(a, list, &t, id, present) != 0) {
				why = "seed failed";
				good = false;
				break;
			}
			model_set(&m, idx, id, present);
			touched[nt++] = idx;
		} else if (p < 90) {
			/* a group: admit and record, then end either way */
			unsigned k = 1 + below(&r, 8), j;
			bool commit = below(&r, 2);

			/* the model's undo: the keys the group touches */
			for (j = 0; j < k && good; j++) {
				bool with_after, ignored;
				enum ipwd_action act;
				struct trec x;
				int want, got;

				idx = pick_key(&r, n);
				act = pick_act(&r, idx, n, &with_after,
					       &ignored);
				make_id(&r, MAP_MS + below(&r, MAP_WINDOW), id);
				trec_make(&x, idx, act, id, with_after);
				saved[j] = m.k[idx];
				touched[nt++] = idx;
				if (!ignored) {
					want = !m.k[idx].valid ||
					       memcmp(id, m.k[idx].id, 16) > 0;
					got = ipwd_arbiter_ops.admit(a, &x.r);
					if (want)
						m.admitted++;
					else
						m.superseded++;
					if (got != want) {
						why = "admit() differs";
						bad = idx;
						good = false;
						break;
					}
				}
				ipwd_arbiter_ops.record(a, &x.r);
				if (!ignored)
					model_set(&m, idx, id,
						  act == IPWD_ACT_MODE ||
							  with_after);
				if (!key_ok(a, &m, idx)) {
					why = "a recorded stamp differs";
					bad = idx;
					good = false;
				}
			}
			ipwd_arbiter_ops.end(a, commit);
			if (!commit)
				while (j-- > 0)
					m.k[touched[j]] = saved[j];
		} else {
			/* prune the tombstones older than a random ms */
			uint64_t before = MAP_MS + below(&r, MAP_WINDOW + 2);
			size_t want = 0, got;

			for (i = 0; i < n; i++)
				if (m.k[i].valid && !m.k[i].present &&
				    ipwd_opid_ms(m.k[i].id) < before) {
					m.k[i].valid = false;
					want++;
				}
			got = ipwd_arbiter_prune(a, before);
			if (got != want) {
				why = "prune() removed another count";
				bad = got;
				good = false;
			}
		}
		for (i = 0; i < nt && good; i++)
			if (!key_ok(a, &m, touched[i])) {
				why = "a stamp differs";
				bad = touched[i];
				good = false;
			}
		if (good) {
			struct ipwd_arbiter_stats st;
			uint64_t stamps = 0, tomb = 0;

			/* the model's counts, the cheap way: every key is
			 * checked only now and then */
			for (i = 0; i < n; i++) {
				stamps += m.k[i].valid;
				tomb += m.k[i].valid && !m.k[i].present;
			}
			ipwd_arbiter_stats(a, &st);
			if (st.stamps != stamps || st.tombstones != tomb) {
				why = "stats.stamps or stats.tombstones differ";
				bad = (size_t)st.stamps;
				good = false;
			}
			if (st.stamps > *max_n)
				*max_n = (size_t)st.stamps;
		}
		if (good && s % 256 == 255)
			good = model_ok(a, &m, &why, &bad);
	}
	if (good)
		good = model_ok(a, &m, &why, &bad);
	if (!good)
		diag("seed %llu, %zu keys, step %u: %s (key %zu)",
		     (unsigned long long)seed, n, s, why, bad);
	ipwd_arbiter_free(a);
	free(m.k);
	free(saved);
	return good;
}

static void test_map_model(void)
{
	size_t max_small = 0, max_large = 0;
	bool good = true;
	uint64_t seed;
	double t0 = mono_s();

	for (seed = 1; seed <= 8 && good; seed++)
		good = map_run(seed, 40, 3000, &max_small);
	ok(good, "stamp map = model: 8 runs of 3000 steps over 40 keys "
		 "(seed, record, admit, undo, prune)");
	good = true;
	for (seed = 100; seed <= 101 && good; seed++)
		good = map_run(seed, 2400, 12000, &max_large);
	ok(good && max_large > 1024,
	   "stamp map = model: 2 runs of 12000 steps over 2400 keys, up to "
	   "%zu stamps at once (the table grew past 1024 slots, pruned "
	   "back)",
	   max_large);
	diag("%.1f s", mono_s() - t0);
}

/* Named undo checks: callbacks called directly. */
static void test_map_undo(void)
{
	struct ipwd_arbiter_state *a;
	struct ipwd_arbiter_stats st0, st;
	struct rng r = {77};
	struct model m = {12, NULL, 0, 0};
	struct mst *before;
	const char *why = "";
	uint8_t id[16], big[16];
	struct trec x;
	size_t i, bad = 0;
	bool good;

	m.k = calloc(m.n + 1, sizeof(*m.k));
	before = calloc(m.n + 1, sizeof(*before));
	if (m.k == NULL || before == NULL || ipwd_arbiter_new(&a) != 0)
		abort();
	/* keys 0..7 known (even ones present), 8..11 new; the mode known */
	for (i = 0; i < 8; i++) {
		struct ipw_addr t;
		int list;

		map_key(i, &list, &t);
		make_id(&r, MAP_MS + 10, id);
		ipwd_arbiter_seed(a, list, &t, id, i % 2 == 0);
		model_set(&m, i, id, i % 2 == 0);
	}
	make_id(&r, MAP_MS + 10, id);
	ipwd_arbiter_seed(a, -1, NULL, id, true);
	model_set(&m, m.n, id, true);
	ok(model_ok(a, &m, &why, &bad), "8 stamps and the mode's seeded");
	memcpy(before, m.k, (m.n + 1) * sizeof(*before));
	ipwd_arbiter_stats(a, &st0);

	/* the group: each later id above every seeded one */
	for (int pass = 0; pass < 2; pass++) {
		static const struct {
			size_t idx;
			enum ipwd_action act;
			bool after;
			int ms; /* relative to MAP_MS */
		} g[] = {
			{0, IPWD_ACT_UNBAN, false, 20}, /* present -> absent */
			{1, IPWD_ACT_DISALLOW, false, 21}, /* absent, later */
			{3, IPWD_ACT_ALLOW, true, 22}, /* absent -> present */
			{2, IPWD_ACT_BAN, true, 23},   /* twice */
			{2, IPWD_ACT_UNBAN, false, 24},
			{8, IPWD_ACT_BAN, true, 25},	   /* new, present */
			{9, IPWD_ACT_DISALLOW, false, 26}, /* new, absent */
			{10, IPWD_ACT_BAN, true, 27},	   /* new, twice */
			{10, IPWD_ACT_UNBAN, false, 28},
			{12, IPWD_ACT_MODE, false, 29},	 /* the mode */
			{4, IPWD_ACT_EXPIRE, false, 30}, /* ignored */
			{6, IPWD_ACT_BAN, false, 1},	 /* older: no change */
		};

		for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
			make_id(&r, MAP_MS + (uint64_t)g[i].ms, id);
			trec_make(&x, g[i].idx, g[i].act, id, g[i].after);
			ipwd_arbiter_ops.record(a, &x.r);
			if (g[i].act != IPWD_ACT_EXPIRE)
				model_set(&m, g[i].idx, id,
					  g[i].after ||
						  g[i].act == IPWD_ACT_MODE);
		}
		good = model_ok(a, &m, &why, &bad);
		ok(good, "%s: the group's stamps are visible before its end",
		   pass ? "end(true)" : "end(false)");
		if (!good)
			diag("%s (key %zu)", why, bad);
		ipwd_arbiter_ops.end(a, pass == 1);
		if (pass == 0) {
			memcpy(m.k, before, (m.n + 1) * sizeof(*before));
			good = model_ok(a, &m, &why, &bad);
			ipwd_arbiter_stats(a, &st);
			ok(good && st.stamps == st0.stamps &&
				   st.tombstones == st0.tombstones,
			   "end(false): every stamp exactly as before (keys "
			   "new in the group gone, the mode's restored), "
			   "stats too");
			if (!good)
				diag("%s (key %zu)", why, bad);
		} else {
			good = model_ok(a, &m, &why, &bad);
			ok(good && !m.k[0].present && m.k[8].valid &&
				   m.k[9].valid && !m.k[10].present,
			   "end(true): the group's stamps stay");
			if (!good)
				diag("%s (key %zu)", why, bad);
		}
	}

	/* a group that makes the table grow twice, then is undone */
	ipwd_arbiter_stats(a, &st0);
	memcpy(before, m.k, (m.n + 1) * sizeof(*before));
	for (i = 0; i < 3000; i++) {
		struct ipw_entry_info after;
		struct ipwd_oprec rec = {0};
		char text[IPWD_OPID_LEN];

		make_id(&r, MAP_MS + 40, big);
		ipwd_opid_format(big, text);
		rec.id = text;
		rec.node = "x";
		rec.action = IPWD_ACT_BAN;
		rec.list = IPW_LIST_BAN;
		ipw_addr_from_v4(&rec.target, 0xc0000000u | (uint32_t)i, 32);
		memset(&after, 0, sizeof(after));
		rec.after = &after;
		ipwd_arbiter_ops.record(a, &rec);
	}
	/* ... with a known key changed too, after the growth */
	make_id(&r, MAP_MS + 41, id);
	trec_make(&x, 5, IPWD_ACT_ALLOW, id, true);
	ipwd_arbiter_ops.record(a, &x.r);
	ipwd_arbiter_stats(a, &st);
	ok(st.stamps == st0.stamps + 3000,
	   "3000 new stamps in one group (%llu)",
	   (unsigned long long)st.stamps);
	ipwd_arbiter_ops.end(a, false);
	ipwd_arbiter_stats(a, &st);
	good = model_ok(a, &m, &why, &bad);
	{
		struct ipw_addr t;
		uint8_t got[16];
		bool present;
		size_t left = 0;

		for (i = 0; i < 3000; i++) {
			ipw_addr_from_v4(&t, 0xc0000000u | (uint32_t)i, 32);
			left += ipwd_arbiter_stamp(a, 0, &t, got, &present);
		}
		ok(good && left == 0 && st.stamps == st0.stamps &&
			   st.tombstones == st0.tombstones,
		   "end(false) of a group that grew the table: none of its "
		   "3000 new stamps left, the known ones as before");
	}
	if (!good)
		diag("%s (key %zu)", why, bad);
	ipwd_arbiter_free(a);
	free(m.k);
	free(before);
}

/* ==== nodes: a table, an op log, an arbiter, an outbox ==== */

enum arb_kind {
	ARB_NONE,      /* no arbiter: the negative control */
	ARB_REAL,      /* cluster/arbiter.c */
	ARB_ADMIT_ALL, /* stamps kept, but every op admitted: a control */
};

/* A record as the codec's bytes (never moved once made). */
struct msg {
	size_t len;
	uint8_t *b;
};

struct node {
	char name[8];
	char actor[16];
	struct ipw_table *t;
	struct ipwd_ops *o;
	struct ipwd_arbiter_state *arb;
	struct ipwd_subscriber sub;
	pthread_mutex_t lock;
	struct msg *out; /* the node's own ops, in commit order */
	size_t nout, capout;
	int bad; /* the subscriber failed to encode, or was resynced */
	/* lazy: local() does not wait for the outbox; whoever reads the
	 * outbox first waits for sequence `unsynced` (settle()) */
	bool lazy;
	uint64_t unsynced;
};

static int all_admit(void *ctx, const struct ipwd_oprec *op)
{
	(void)ctx, (void)op;
	return 1;
}

static void all_record(void *ctx, const struct ipwd_oprec *r)
{
	ipwd_arbiter_ops.record(ctx, r);
}

static void all_end(void *ctx, bool committed)
{
	ipwd_arbiter_ops.end(ctx, committed);
}

static const struct ipwd_arbiter admit_all_ops = {
	.admit = all_admit,
	.record = all_record,
	.end = all_end,
};

static uint64_t n_position(void *ctx, bool *known)
{
	(void)ctx;
	*known = false;
	return 0;
}

/* The replicator's part: this node's own ops of each group, encoded. */
static int n_apply(void *ctx, const struct ipwd_group *g)
{
	struct node *n = ctx;
	uint8_t buf[IPWD_CODEC_RECORD_MAX];
	size_t i;

	pthread_mutex_lock(&n->lock);
	for (i = 0; i < g->n; i++) {
		const struct ipwd_oprec *r = &g->recs[i];
		uint8_t *b;
		int len;

		if (r->action == IPWD_ACT_EXPIRE ||
		    r->action == IPWD_ACT_EVICT ||
		    strcmp(r->node, n->name) != 0)
			continue;
		len = ipwd_codec_encode(r, buf, sizeof(buf));
		if (len < 0) {
			n->bad++;
			continue;
		}
		if (n->nout == n->capout) {
			size_t cap = n->capout ? n->capout * 2 : 64;
			struct msg *v = realloc(n->out, cap * sizeof(*v));

			if (v == NULL)
				abort();
			n->out = v;
			n->capout = cap;
		}
		b = malloc((size_t)len);
		if (b == NULL)
			abort();
		memcpy(b, buf, (size_t)len);
		n->out[n->nout++] = (struct msg){(size_t)len, b};
	}
	pthread_mutex_unlock(&n->lock);
	return 0;
}

static int n_resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		    uint64_t seq)
{
	struct node *n = ctx;

	(void)snap, (void)from, (void)seq;
	pthread_mutex_lock(&n->lock);
	n->bad++; /* ops were lost to the outbox */
	pthread_mutex_unlock(&n->lock);
	return 0;
}

static void node_init(struct node *n, const char *name, enum arb_kind kind)
{
	struct ipw_table_opts opts = {.max_entries = 10000};
	size_t loaded, expired;
	char err[200];

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->actor, sizeof(n->actor), "token:%s", name);
	pthread_mutex_init(&n->lock, NULL);
	n->sub.name = "outbox";
	n->sub.position = n_position;
	n->sub.apply = n_apply;
	n->sub.resync = n_resync;
	if (ipw_table_new(&n->t, &opts) != 0 ||
	    ipwd_ops_new(&n->o, n->t, name, NULL, NULL) != 0 ||
	    ipwd_ops_subscribe(n->o, &n->sub, n) != 0)
		abort();
	if (kind != ARB_NONE) {
		if (ipwd_arbiter_new(&n->arb) != 0)
			abort();
		ipwd_ops_set_arbiter(n->o,
				     kind == ARB_REAL ? &ipwd_arbiter_ops :
							&admit_all_ops,
				     n->arb);
	}
	if (ipwd_ops_load(n->o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
}

static void node_free(struct node *n)
{
	size_t i;

	ipwd_ops_free(n->o);
	ipwd_arbiter_free(n->arb);
	ipw_table_free(n->t);
	for (i = 0; i < n->nout; i++)
		free(n->out[i].b);
	free(n->out);
	pthread_mutex_destroy(&n->lock);
}

static size_t outbox_len(struct node *n)
{
	size_t k;

	pthread_mutex_lock(&n->lock);
	k = n->nout;
	pthread_mutex_unlock(&n->lock);
	return k;
}

static struct msg outbox_at(struct node *n, size_t i)
{
	struct msg m;

	pthread_mutex_lock(&n->lock);
	m = n->out[i];
	pthread_mutex_unlock(&n->lock);
	return m;
}

/* Wait until @n's outbox holds every op it committed. */
static bool outbox_sync(struct node *n)
{
	return ipwd_ops_wait(n->o, "outbox", ipwd_ops_seq(n->o), 10000) == 0;
}

/* One local op; its record reaches the outbox before this returns. */
static int local(struct node *n, struct ipwd_op *x, enum ipw_change *what)
{
	enum ipw_change w;
	int rc;

	x->actor = n->actor;
	rc = ipwd_ops_apply(n->o, x, what ? what : &w, NULL);
	if (rc == 0 && n->lazy) {
		n->unsynced = x->seq;
		return rc;
	}
	if (rc == 0 && ipwd_ops_wait(n->o, "outbox", x->seq, 10000) != 0) {
		pthread_mutex_lock(&n->lock);
		n->bad++;
		pthread_mutex_unlock(&n->lock);
	}
	return rc;
}

static int local_ban(struct node *n, enum ipwd_action act, const char *target,
		     int64_t expires, const char *reason, struct ipwd_op *out)
{
	struct ipwd_op x = {.action = act};

	x.spec.target = addr(target);
	x.spec.list = ipwd_action_list(act);
	x.spec.expires = expires;
	x.spec.reason = reason;
	x.spec.score = 1;
	if (local(n, &x, NULL) != 0)
		return -1;
	if (out)
		*out = x;
	return 0;
}

/* The outbox of a lazy node holds its every op. */
static void settle(struct node *n)
{
	if (n->unsynced == 0)
		return;
	if (ipwd_ops_wait(n->o, "outbox", n->unsynced, 10000) != 0)
		abort();
	n->unsynced = 0;
}

/* Deliver @k records (the codec's bytes) to @to in one submit; their
 * results into @rcs. Returns how many failed (rcs < 0). */
#define DELIVER_MAX 8
static size_t deliver(struct node *to, const struct msg *m, size_t k,
		      bool state, int *rcs)
{
	static __thread struct ipwd_oprec_buf bufs[DELIVER_MAX];
	struct ipwd_oprec recs[DELIVER_MAX];
	enum ipw_change whats[DELIVER_MAX];
	struct ipwd_codec_err e;
	size_t i;

	for (i = 0; i < k; i++) {
		if (ipwd_codec_decode(m[i].b, m[i].len, &bufs[i], &e) != 0)
			abort();
		recs[i] = bufs[i].r;
	}
	return ipwd_ops_submit_at(to->o, recs, k, NULL, state, rcs, whats);
}

/* ---- comparing tables ---- */

struct state {
	size_t n;
	struct ipw_entry_info *v; /* sorted by list, then target */
	enum ipw_mode mode;
};

static int entry_cmp(const void *pa, const void *pb)
{
	const struct ipw_entry_info *a = pa, *b = pb;

	if (a->list != b->list)
		return a->list < b->list ? -1 : 1;
	return ipw_addr_cmp(&a->target, &b->target);
}

static void state_of(struct node *n, struct state *s)
{
	struct ipw_snapshot *snap;
	size_t i;

	if (ipw_table_snapshot(n->t, &snap) != 0)
		abort();
	s->n = ipw_snapshot_count(snap);
	s->v = calloc(s->n + 1, sizeof(*s->v));
	if (s->v == NULL)
		abort();
	for (i = 0; i < s->n; i++)
		ipw_snapshot_get(snap, i, &s->v[i]);
	ipw_snapshot_free(snap);
	qsort(s->v, s->n, sizeof(*s->v), entry_cmp);
	s->mode = ipw_table_mode(n->t);
}

/*
 * Two entries are the same if everything the op log replicates is:
 * target, list, expiry, created time, score, flags and the three strings.
 * Not hits and last_hit: put_one() keeps the receiver's own (they count
 * this node's checks); created is the origin's (the `after` is put whole
 * and merges keep it), so it must be equal.
 */
static bool entry_same(const struct ipw_entry_info *a,
		       const struct ipw_entry_info *b)
{
	return a->list == b->list &&
	       ipw_addr_cmp(&a->target, &b->target) == 0 &&
	       a->expires == b->expires && a->created == b->created &&
	       a->score == b->score && a->flags == b->flags &&
	       strcmp(a->reason, b->reason) == 0 &&
	       strcmp(a->actor, b->actor) == 0 &&
	       strcmp(a->source, b->source) == 0;
}

static void entry_str(const struct ipw_entry_info *e, char *buf, size_t size)
{
	char t[IPW_ADDR_STRLEN];

	ipw_addr_format(&e->target, t, sizeof(t));
	snprintf(buf, size,
		 "%s %s exp=%lld cr=%lld score=%u flags=%u reason='%s' "
		 "actor='%s' source='%s'",
		 e->list == IPW_LIST_BAN ? "ban" : "allow", t,
		 (long long)e->expires, (long long)e->created, e->score,
		 e->flags, e->reason, e->actor, e->source);
}

/* Equal states? If not, a sentence about the first difference. */
static bool state_same(const struct state *a, const struct state *b, char *why,
		       size_t size)
{
	size_t i, j;
	char x[700], y[700];

	if (a->mode != b->mode) {
		snprintf(why, size, "mode %s vs %s", ipw_mode_name(a->mode),
			 ipw_mode_name(b->mode));
		return false;
	}
	for (i = j = 0; i < a->n || j < b->n;) {
		int c = i == a->n ? 1 :
			j == b->n ? -1 :
				    entry_cmp(&a->v[i], &b->v[j]);

		if (c == 0 && entry_same(&a->v[i], &b->v[j])) {
			i++, j++;
			continue;
		}
		if (c <= 0)
			entry_str(&a->v[i], x, sizeof(x));
		else
			snprintf(x, sizeof(x), "(none)");
		if (c >= 0)
			entry_str(&b->v[j], y, sizeof(y));
		else
			snprintf(y, sizeof(y), "(none)");
		snprintf(why, size, "%s vs %s", x, y);
		return false;
	}
	return true;
}

/*
 * The rule's model, from every op any node made (the outboxes): each
 * register (list, target) ends as the `after` of its op with the
 * greatest id, or absent if that op removed it; the mode as its op with
 * the greatest id, denylist if none.
 */
struct reg {
	int list; /* -1: the mode */
	struct ipw_addr target;
	uint8_t id[16];
	struct ipwd_oprec_buf rec;
};

struct expect {
	struct state s;
	struct reg *regs;
	size_t nregs;
};

static void expect_of(struct node *nodes, size_t nn, struct expect *x)
{
	size_t cap = 0, i, k, r;

	memset(x, 0, sizeof(*x));
	for (i = 0; i < nn; i++)
		cap += nodes[i].nout;
	x->regs = calloc(cap + 1, sizeof(*x->regs));
	x->s.v = calloc(cap + 1, sizeof(*x->s.v));
	if (x->regs == NULL || x->s.v == NULL)
		abort();
	x->s.mode = IPW_MODE_DENYLIST;
	for (i = 0; i < nn; i++) {
		for (k = 0; k < nodes[i].nout; k++) {
			struct ipwd_oprec_buf b;
			int list;
			uint8_t id[16];

			if (ipwd_codec_decode(nodes[i].out[k].b,
					      nodes[i].out[k].len, &b,
					      NULL) != 0)
				abort();
			id_bytes(b.r.id, id);
			list = b.r.action == IPWD_ACT_MODE ?
				       -1 :
				       (int)ipwd_action_list(b.r.action);
			for (r = 0; r < x->nregs; r++)
				if (x->regs[r].list == list &&
				    (list < 0 ||
				     ipw_addr_cmp(&x->regs[r].target,
						  &b.r.target) == 0))
					break;
			if (r == x->nregs) {
				x->nregs++;
				x->regs[r].list = list;
				x->regs[r].target = b.r.target;
			} else if (memcmp(id, x->regs[r].id, 16) <= 0) {
				continue;
			}
			memcpy(x->regs[r].id, id, 16);
			x->regs[r].rec = b;
			ipwd_oprec_buf_rebase(&x->regs[r].rec);
		}
	}
	for (r = 0; r < x->nregs; r++) {
		const struct ipwd_oprec *o = &x->regs[r].rec.r;

		if (x->regs[r].list < 0)
			x->s.mode = o->mode;
		else if (o->after)
			x->s.v[x->s.n++] = *o->after;
	}
	qsort(x->s.v, x->s.n, sizeof(*x->s.v), entry_cmp);
}

static void expect_free(struct expect *x)
{
	free(x->regs);
	free(x->s.v);
}

/* Every node's stamp of every register is that of its greatest op. */
static bool stamps_same(struct node *nodes, size_t nn, const struct expect *x,
			char *why, size_t size)
{
	size_t i, r;

	for (i = 0; i < nn; i++) {
		for (r = 0; r < x->nregs; r++) {
			const struct reg *g = &x->regs[r];
			uint8_t id[16];
			bool present, want;

			want = g->list < 0 || g->rec.r.after != NULL;
			if (!ipwd_arbiter_stamp(nodes[i].arb, g->list,
						&g->target, id, &present) ||
			    memcmp(id, g->id, 16) != 0 || present != want) {
				char t[IPW_ADDR_STRLEN];

				ipw_addr_format(&g->target, t, sizeof(t));
				snprintf(why, size,
					 "node %s: the stamp of %s %s is not "
					 "its last op %s",
					 nodes[i].name,
					 g->list < 0 ? "mode" :
					 g->list     ? "allow" :
						       "ban",
					 g->list < 0 ? "" : t, g->rec.r.id);
				return false;
			}
		}
	}
	return true;
}

/* ==== 2. the property test ==== */

#define NODES	 3
#define NTARGETS 10

static const char *const targets[NTARGETS] = {
	"192.0.2.1",	  "192.0.2.2",	     "192.0.2.77",   "198.51.100.1",
	"198.51.100.200", "203.0.113.5",     "192.0.2.0/24", "198.51.100.0/25",
	"2001:db8::1",	  "2001:db8:1::/48",
};

/* A random local op at @n; its id's millisecond into *@ms. */
static int random_local(struct node *n, struct rng *r, int64_t now,
			uint64_t *ms)
{
	static const int64_t ttls[] = {0, 600, 3600, 7200, 86400};
	static const char *const reasons[] = {NULL, "scan", "brute force"};
	static const char *const sources[] = {NULL, "ssh", "nginx"};
	struct ipwd_op x = {0};
	unsigned p = below(r, 100);
	int64_t ttl = ttls[below(r, 5)];
	int rc;

	if (p < 36)
		x.action = IPWD_ACT_BAN;
	else if (p < 56)
		x.action = IPWD_ACT_UNBAN;
	else if (p < 74)
		x.action = IPWD_ACT_ALLOW;
	else if (p < 90)
		x.action = IPWD_ACT_DISALLOW;
	else
		x.action = IPWD_ACT_MODE;
	if (x.action == IPWD_ACT_MODE) {
		x.mode = below(r, 2) ? IPW_MODE_ALLOWLIST : IPW_MODE_DENYLIST;
	} else {
		x.spec.target = addr(targets[below(r, NTARGETS)]);
		x.spec.list = ipwd_action_list(x.action);
		x.spec.expires = ttl ? now + ttl : 0;
		x.spec.score = below(r, 4);
		x.spec.reason = reasons[below(r, 3)];
		x.spec.source = sources[below(r, 3)];
		if (x.action == IPWD_ACT_BAN && ttl && below(r, 4) == 0)
			x.spec.flags = IPW_ENTRY_AUTO;
	}
	rc = local(n, &x, NULL);
	if (rc == 0 && ms) {
		uint8_t b[16];

		id_bytes(x.id, b);
		*ms = ipwd_opid_ms(b);
	}
	return rc;
}

struct run_cfg {
	enum arb_kind arb;
	bool state; /* random order per receiver, as states (a reload) */
	unsigned steps;
	bool quiet; /* a control: failures to apply are expected */
};

struct run_out {
	bool converged; /* the three tables are identical */
	bool model;	/* ... and equal to the rule's model, stamps too */
	bool clean;	/* every op applied or superseded as expected */
	char why[2048];
	unsigned local_ok, local_refused, delivered, superseded;
	/* local ops in the millisecond of the one before, at another node */
	unsigned same_ms;
	unsigned entries; /* A's at the end */
};

/* What one delivery discipline has not delivered yet: FIFO positions
 * per (origin, receiver), or per receiver a flag per op of each origin. */
struct pending {
	size_t pos[NODES][NODES];
	uint8_t *done[NODES][NODES]; /* [receiver][origin][index] */
	size_t cap;
};

static bool deliver_some(struct node *nodes, struct pending *pd,
			 const struct run_cfg *c, struct rng *r, size_t to,
			 size_t from_only, size_t max, struct run_out *out)
{
	struct msg m[DELIVER_MAX];
	int rcs[DELIVER_MAX];
	size_t k = 0, i, o, avail = 0;

	if (!c->state) {
		o = from_only;
		settle(&nodes[o]);
		avail = nodes[o].nout - pd->pos[o][to];
		if (avail == 0)
			return false;
		k = 1 + below(r, (unsigned)(avail < max ? avail : max));
		for (i = 0; i < k; i++)
			m[i] = nodes[o].out[pd->pos[o][to] + i];
		pd->pos[o][to] += k;
	} else {
		/* pick up to max of the undelivered, in random order */
		for (o = 0; o < NODES; o++)
			if (o != to) {
				settle(&nodes[o]);
				for (i = 0; i < nodes[o].nout; i++)
					avail += !pd->done[to][o][i];
			}
		if (avail == 0)
			return false;
		k = 1 + below(r, (unsigned)(avail < max ? avail : max));
		for (size_t got = 0; got < k;) {
			size_t pick = below(r, (unsigned)avail), seen = 0;

			for (o = 0; o < NODES; o++) {
				if (o == to)
					continue;
				for (i = 0; i < nodes[o].nout; i++) {
					if (pd->done[to][o][i])
						continue;
					if (seen++ == pick)
						goto found;
				}
			}
			abort();
		found:
			pd->done[to][o][i] = 1;
			m[got++] = nodes[o].out[i];
			avail--;
		}
	}
	deliver(&nodes[to], m, k, c->state, rcs);
	for (i = 0; i < k; i++) {
		out->delivered++;
		if (rcs[i] == IPWD_SUPERSEDED)
			out->superseded++;
		else if (rcs[i] != 0 && !c->quiet && out->clean) {
			out->clean = false;
			snprintf(out->why, sizeof(out->why),
				 "a delivery to %s failed: %s", nodes[to].name,
				 ipw_strerror(rcs[i]));
		}
	}
	return true;
}

/* An op of @n's own delivered back to it, as the stream would: a
 * duplicate (FIFO) or superseded (a state). */
static void echo(struct node *n, const struct run_cfg *c, struct rng *r,
		 struct run_out *out)
{
	struct msg m;
	int rc, want = c->state ? IPWD_SUPERSEDED : IPW_EEXIST;

	settle(n);
	if (n->nout == 0)
		return;
	m = n->out[below(r, (unsigned)n->nout)];
	deliver(n, &m, 1, c->state, &rc);
	if (rc != want && out->clean) {
		out->clean = false;
		snprintf(out->why, sizeof(out->why),
			 "%s's own op delivered back to it: %d, not %d",
			 n->name, rc, want);
	}
}

static void run_schedule(uint64_t seed, const struct run_cfg *c,
			 struct run_out *out)
{
	struct node nodes[NODES];
	struct pending pd;
	struct rng r = {seed * 0x100000001b3ull + 17};
	int64_t now = (int64_t)time(NULL);
	struct state s[NODES];
	struct expect x;
	char why[1500];
	unsigned step;
	size_t i, o, t, last_node = NODES;
	uint64_t last_ms = 0;
	bool more;

	memset(out, 0, sizeof(*out));
	memset(&pd, 0, sizeof(pd));
	out->clean = true;
	pd.cap = c->steps + 1;
	for (i = 0; i < NODES; i++)
		for (o = 0; o < NODES; o++)
			if ((pd.done[i][o] = calloc(pd.cap, 1)) == NULL)
				abort();
	for (i = 0; i < NODES; i++) {
		node_init(&nodes[i], (const char *[]){"A", "B", "C"}[i],
			  c->arb);
		nodes[i].lazy = true;
	}

	for (step = 0; step < c->steps; step++) {
		unsigned p = below(&r, 100);

		if (p < 1) {
			/* a later millisecond for what follows */
			usleep(1000 + below(&r, 1000));
		} else if (p < 50) {
			size_t at = below(&r, NODES);
			uint64_t ms = 0;
			int rc = random_local(&nodes[at], &r, now, &ms);

			if (rc == 0) {
				out->local_ok++;
				out->same_ms +=
					at != last_node && ms == last_ms;
				last_node = at;
				last_ms = ms;
			} else if (rc == IPW_ETABLE_COVERED)
				out->local_refused++;
			else if (out->clean) {
				out->clean = false;
				snprintf(out->why, sizeof(out->why),
					 "a local op failed: %s",
					 ipw_strerror(rc));
			}
		} else if (p < 52 && c->arb == ARB_REAL) {
			echo(&nodes[below(&r, NODES)], c, &r, out);
		} else {
			/* a delivery to a random node from a random other */
			t = below(&r, NODES);
			o = (t + 1 + below(&r, NODES - 1)) % NODES;
			deliver_some(nodes, &pd, c, &r, t, o, 4, out);
		}
	}
	/* everything everywhere (remote ops make no local ones) */
	for (i = 0; i < NODES; i++)
		settle(&nodes[i]);
	do {
		more = false;
		for (t = 0; t < NODES; t++)
			for (o = 0; o < NODES; o++)
				while (o != t &&
				       deliver_some(nodes, &pd, c, &r, t, o,
						    DELIVER_MAX, out))
					more = true;
		for (i = 0; i < NODES; i++)
			if (!outbox_sync(&nodes[i]))
				abort();
	} while (more);

	for (i = 0; i < NODES; i++) {
		state_of(&nodes[i], &s[i]);
		if (nodes[i].bad && out->clean) {
			out->clean = false;
			snprintf(out->why, sizeof(out->why),
				 "node %s's outbox lost ops", nodes[i].name);
		}
	}
	out->converged = true;
	out->entries = (unsigned)s[0].n;
	for (i = 1; i < NODES && out->converged; i++)
		if (!state_same(&s[0], &s[i], why, sizeof(why))) {
			out->converged = false;
			snprintf(out->why, sizeof(out->why),
				 "A and %s differ: %s", nodes[i].name, why);
		}
	expect_of(nodes, NODES, &x);
	out->model = out->converged;
	if (out->model && !state_same(&x.s, &s[0], why, sizeof(why))) {
		out->model = false;
		snprintf(out->why, sizeof(out->why),
			 "the rule's model and A differ: %s", why);
	}
	if (out->model && c->arb == ARB_REAL &&
	    !stamps_same(nodes, NODES, &x, why, sizeof(why))) {
		out->model = false;
		snprintf(out->why, sizeof(out->why), "%s", why);
	}
	expect_free(&x);
	for (i = 0; i < NODES; i++) {
		free(s[i].v);
		node_free(&nodes[i]);
		for (o = 0; o < NODES; o++)
			free(pd.done[i][o]);
	}
}

static void test_property(bool state)
{
	uint64_t first = env_u64("IPW_ARB_SEED", 1);
	uint64_t nseeds = env_u64("IPW_ARB_SEEDS", IPW_ARB_DEFAULT_SEEDS);
	struct run_cfg c = {ARB_REAL, state,
			    (unsigned)env_u64("IPW_ARB_STEPS", 300), false};
	const char *how = state ? "random order per receiver, as states" :
				  "per-origin FIFO, random interleaving";
	unsigned long long ops = 0, refused = 0, delivered = 0, superseded = 0,
			   same_ms = 0, entries = 0;
	uint64_t seed, failed = 0;
	double t0 = mono_s();

	for (seed = first; seed < first + nseeds; seed++) {
		struct run_out out;

		run_schedule(seed, &c, &out);
		ops += out.local_ok;
		refused += out.local_refused;
		delivered += out.delivered;
		superseded += out.superseded;
		same_ms += out.same_ms;
		entries += out.entries;
		if (!out.converged || !out.model || !out.clean) {
			if (failed++ < 3)
				diag("%s: seed %llu (IPW_ARB_SEED=%llu "
				     "IPW_ARB_SEEDS=1): %s",
				     how, (unsigned long long)seed,
				     (unsigned long long)seed, out.why);
		}
	}
	ok(failed == 0,
	   "%s: %llu seeds x %u steps converge on the rule (%llu failed)", how,
	   (unsigned long long)nseeds, c.steps, (unsigned long long)failed);
	diag("%llu local ops (%llu refused: covered by an allow; %llu in the "
	     "millisecond of the one before at another node), %llu "
	     "deliveries, %llu superseded, %.1f entries at the end on "
	     "average, %.1f s",
	     ops, refused, same_ms, delivered, superseded,
	     (double)entries / (double)(nseeds ? nseeds : 1), mono_s() - t0);
	ok(superseded > 0 && ops > nseeds * c.steps / 3,
	   "... and the schedules had conflicts (ops superseded)");
}

/* ==== 3. negative controls ==== */

static void test_controls(void)
{
	static const struct {
		enum arb_kind arb;
		bool state;
		const char *what;
	} k[] = {
		{ARB_NONE, false, "no arbiter, per-origin FIFO"},
		{ARB_NONE, true, "no arbiter, random order as states"},
		{ARB_ADMIT_ALL, false, "an arbiter that admits every op, FIFO"},
		{ARB_ADMIT_ALL, true,
		 "an arbiter that admits every op, random order"},
	};
	size_t i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct run_cfg c = {k[i].arb, k[i].state, 300, true};
		struct run_out out;
		uint64_t seed, diverged = 0, tried = 0;

		for (seed = 1; seed <= 40 && diverged == 0; seed++) {
			run_schedule(seed, &c, &out);
			tried++;
			diverged += !out.converged || !out.model;
		}
		ok(diverged > 0,
		   "control: %s diverges (the test can fail): at seed %llu",
		   k[i].what, (unsigned long long)tried);
		if (diverged)
			diag("%s", out.why);
	}
}

/* ==== concurrent: two threads per node ==== */

struct cthread {
	struct node *nodes;
	size_t self;
	bool reader;
	uint64_t seed;
	unsigned steps;
	int64_t now;
	size_t pos[NODES];
	int errors;
};

/* A reader's step: up to 4 ops of one other node's, in its order. */
static void read_some(struct cthread *c, struct rng *r)
{
	size_t o = (c->self + 1 + below(r, NODES - 1)) % NODES;
	size_t end = outbox_len(&c->nodes[o]), k = 0, i;
	struct msg m[4];
	int rcs[4];

	while (c->pos[o] < end && k < 4)
		m[k++] = outbox_at(&c->nodes[o], c->pos[o]++);
	if (k == 0) {
		usleep(50);
		return;
	}
	deliver(&c->nodes[c->self], m, k, false, rcs);
	for (i = 0; i < k; i++)
		if (rcs[i] != 0 && rcs[i] != IPWD_SUPERSEDED)
			c->errors++;
}

static void *cthread_main(void *arg)
{
	struct cthread *c = arg;
	struct rng r = {c->seed};
	unsigned s;
	int rc;

	for (s = 0; s < c->steps; s++) {
		if (c->reader) {
			read_some(c, &r);
			if (below(&r, 16) == 0) {
				/* what cluster mode's reader does beside the
				 * committer: stats, and a prune (of nothing:
				 * every id is later than 1 ms) */
				struct ipwd_arbiter_stats st;

				ipwd_arbiter_stats(c->nodes[c->self].arb, &st);
				ipwd_arbiter_prune(c->nodes[c->self].arb, 1);
			}
			continue;
		}
		rc = random_local(&c->nodes[c->self], &r, c->now, NULL);
		if (rc != 0 && rc != IPW_ETABLE_COVERED)
			c->errors++;
		if (below(&r, 8) == 0)
			usleep(below(&r, 300));
	}
	return NULL;
}

static void test_concurrent(void)
{
	struct node nodes[NODES];
	struct cthread ct[2 * NODES];
	pthread_t th[2 * NODES];
	struct state s[NODES];
	struct expect x;
	char why[1500] = "";
	size_t i, o;
	int errors = 0;
	bool same = true;
	double t0 = mono_s();
	unsigned rounds = 3, round;

	for (round = 0; round < rounds && same; round++) {
		for (i = 0; i < NODES; i++)
			node_init(&nodes[i], (const char *[]){"A", "B", "C"}[i],
				  ARB_REAL);
		for (i = 0; i < 2 * NODES; i++) {
			ct[i] = (struct cthread){.nodes = nodes,
						 .self = i / 2,
						 .reader = i % 2,
						 .seed = 1000 + round * 10 + i,
						 .steps = 400,
						 .now = (int64_t)time(NULL)};
			if (pthread_create(&th[i], NULL, cthread_main, &ct[i]))
				abort();
		}
		for (i = 0; i < 2 * NODES; i++) {
			pthread_join(th[i], NULL);
			errors += ct[i].errors;
		}
		/* then the rest, FIFO from where each reader stopped */
		for (i = 0; i < NODES; i++)
			if (!outbox_sync(&nodes[i]))
				abort();
		for (i = 0; i < NODES; i++) {
			struct cthread *c = &ct[2 * i + 1];

			for (o = 0; o < NODES; o++) {
				while (o != i && c->pos[o] < nodes[o].nout) {
					struct msg m =
						nodes[o].out[c->pos[o]++];
					int rc;

					deliver(&nodes[i], &m, 1, false, &rc);
					if (rc != 0 && rc != IPWD_SUPERSEDED)
						errors++;
				}
			}
		}
		for (i = 0; i < NODES; i++) {
			state_of(&nodes[i], &s[i]);
			errors += nodes[i].bad;
		}
		for (i = 1; i < NODES && same; i++)
			same = state_same(&s[0], &s[i], why, sizeof(why));
		expect_of(nodes, NODES, &x);
		if (same)
			same = state_same(&x.s, &s[0], why, sizeof(why)) &&
			       stamps_same(nodes, NODES, &x, why, sizeof(why));
		expect_free(&x);
		for (i = 0; i < NODES; i++) {
			free(s[i].v);
			node_free(&nodes[i]);
		}
	}
	ok(same && errors == 0,
	   "concurrent: %u rounds of local writers and readers on three "
	   "nodes at once converge on the rule (%.1f s)",
	   round, mono_s() - t0);
	if (!same || errors)
		diag("round %u: %d errors; %s", round, errors, why);
}

/* ==== 4. scenarios ==== */

static void nodes_up(struct node *n)
{
	for (size_t i = 0; i < NODES; i++)
		node_init(&n[i], (const char *[]){"A", "B", "C"}[i], ARB_REAL);
}

static void nodes_down(struct node *n)
{
	for (size_t i = 0; i < NODES; i++)
		node_free(&n[i]);
}

/* Deliver what @from has not sent @to yet (FIFO from *@pos). */
static void send(struct node *nodes, size_t from, size_t to, size_t *pos)
{
	while (*pos < outbox_len(&nodes[from])) {
		struct msg m = outbox_at(&nodes[from], (*pos)++);
		int rc;

		deliver(&nodes[to], &m, 1, false, &rc);
	}
}

/* Everything everywhere; pos[from][to] remembers. */
static void sync_all(struct node *nodes, size_t pos[NODES][NODES])
{
	for (size_t f = 0; f < NODES; f++)
		for (size_t t = 0; t < NODES; t++)
			if (f != t)
				send(nodes, f, t, &pos[f][t]);
}

static bool get(struct node *n, enum ipw_list l, const char *target,
		struct ipw_entry_info *e)
{
	struct ipw_addr a = addr(target);

	return ipw_table_get(n->t, l, &a, e) == 0;
}

static bool all_same(struct node *nodes, char *why, size_t size)
{
	struct state s[NODES];
	bool same = true;
	size_t i;

	for (i = 0; i < NODES; i++)
		state_of(&nodes[i], &s[i]);
	for (i = 1; i < NODES && same; i++)
		same = state_same(&s[0], &s[i], why, size);
	for (i = 0; i < NODES; i++)
		free(s[i].v);
	return same;
}

/* Ban on A, unban on B of a target both have, neither seeing the other:
 * @gap_us between them (0: at once), @unban_first to swap them. */
static void ban_unban(bool unban_first, unsigned gap_us, const char *what)
{
	struct node n[NODES];
	size_t pos[NODES][NODES] = {{0}};
	struct ipwd_op ban, unban;
	struct ipw_entry_info e;
	uint8_t bid[16], uid[16];
	char why[1500] = "";
	bool ban_wins, good = true;
	int64_t exp = (int64_t)time(NULL) + 3600;

	nodes_up(n);
	local_ban(&n[0], IPWD_ACT_BAN, "192.0.2.9", exp, "first", NULL);
	sync_all(n, pos);
	if (!get(&n[1], IPW_LIST_BAN, "192.0.2.9", &e))
		good = false;
	if (unban_first) {
		local_ban(&n[1], IPWD_ACT_UNBAN, "192.0.2.9", 0, NULL, &unban);
		usleep(gap_us);
		local_ban(&n[0], IPWD_ACT_BAN, "192.0.2.9", exp + 60, "again",
			  &ban);
	} else {
		local_ban(&n[0], IPWD_ACT_BAN, "192.0.2.9", exp + 60, "again",
			  &ban);
		usleep(gap_us);
		local_ban(&n[1], IPWD_ACT_UNBAN, "192.0.2.9", 0, NULL, &unban);
	}
	id_bytes(ban.id, bid);
	id_bytes(unban.id, uid);
	ban_wins = memcmp(bid, uid, 16) > 0;
	sync_all(n, pos);
	for (size_t i = 0; i < NODES; i++) {
		bool has = get(&n[i], IPW_LIST_BAN, "192.0.2.9", &e);

		if (has != ban_wins ||
		    (has &&
		     (strcmp(e.reason, "again") != 0 || e.expires != exp + 60)))
			good = false;
	}
	good = good && all_same(n, why, sizeof(why));
	ok(good,
	   "ban on A, unban on B %s: every node ends with the op "
	   "with the greater id (the %s)",
	   what, ban_wins ? "ban" : "unban");
	if (gap_us)
		ok(ban_wins == unban_first, "... which is the later one (%s)",
		   ban_wins ? "ban" : "unban");
	if (!good)
		diag("%s", why);
	nodes_down(n);
}

static void test_ban_unban(void)
{
	ban_unban(false, 0, "at the same moment");
	ban_unban(true, 0, "at the same moment, the unban first");
	ban_unban(false, 3000, "3 ms apart");
	ban_unban(true, 3000, "3 ms apart, the unban first");
}

static void test_origin_merge(void)
{
	struct node n[NODES];
	size_t pos[NODES][NODES] = {{0}};
	struct ipw_entry_info e;
	struct ipwd_oprec_buf b;
	int64_t now = (int64_t)time(NULL);
	char why[1500] = "";
	bool good = true;
	size_t i;

	nodes_up(n);
	local_ban(&n[0], IPWD_ACT_BAN, "198.51.100.9", now + 3600, "long",
		  NULL);
	send(n, 0, 1, &pos[0][1]); /* A's ban reached B, not C */
	local_ban(&n[1], IPWD_ACT_BAN, "198.51.100.9", now + 600, "short",
		  NULL);
	outbox_sync(&n[1]);
	ok(n[1].nout == 1 &&
		   ipwd_codec_decode(n[1].out[0].b, n[1].out[0].len, &b,
				     NULL) == 0 &&
		   b.r.after != NULL && b.r.after->expires == now + 3600,
	   "ban 1h on A, then 10m on B after A's reached it: B's op's "
	   "`after` keeps the later expiry (merged at its origin)");
	/* C gets B's first, then A's (older: superseded) */
	send(n, 1, 2, &pos[1][2]);
	send(n, 0, 2, &pos[0][2]);
	sync_all(n, pos);
	for (i = 0; i < NODES; i++)
		if (!get(&n[i], IPW_LIST_BAN, "198.51.100.9", &e) ||
		    e.expires != now + 3600)
			good = false;
	ok(good && all_same(n, why, sizeof(why)),
	   "... and every node ends with the 1h expiry, identical entries");
	if (why[0])
		diag("%s", why);
	nodes_down(n);
}

/* A crafted op from elsewhere: @act on @target with id @id (bytes). */
static void crafted(struct trec *x, enum ipwd_action act, const char *target,
		    const uint8_t id[16], const char *node, int64_t expires)
{
	memset(x, 0, sizeof(*x));
	ipwd_opid_format(id, x->id);
	x->r.id = x->id;
	x->r.node = node;
	x->r.actor = "token:crafted";
	x->r.time = (int64_t)time(NULL);
	x->r.action = act;
	x->r.list = ipwd_action_list(act);
	x->r.target = addr(target);
	if (act == IPWD_ACT_BAN || act == IPWD_ACT_ALLOW) {
		x->r.change = IPW_CHANGE_ADDED;
		x->after.target = x->r.target;
		x->after.list = x->r.list;
		x->after.expires = expires;
		x->after.created = x->r.time;
		snprintf(x->after.reason, sizeof(x->after.reason), "crafted");
		snprintf(x->after.actor, sizeof(x->after.actor),
			 "token:crafted");
		x->r.after = &x->after;
	} else {
		x->r.change = IPW_CHANGE_ABSENT;
	}
}

static void test_superseded_duplicates(void)
{
	struct node n[NODES];
	struct ipwd_op ban;
	struct ipw_entry_info e0, e1;
	struct ipwd_ops_counters c0, c1;
	struct ipwd_origin cur;
	struct trec x;
	enum ipw_change w;
	uint8_t id[16], old[16];
	uint64_t seq0;
	struct rng r = {5};
	struct msg m;
	int rc;

	nodes_up(n);
	local_ban(&n[0], IPWD_ACT_BAN, "203.0.113.9", 0, "a's", &ban);
	m = outbox_at(&n[0], 0);
	deliver(&n[1], &m, 1, false, &rc);
	is_int(rc, 0, "A's ban applied on B");

	/* an older unban from a node B never heard of: superseded */
	id_bytes(ban.id, id);
	make_id(&r, ipwd_opid_ms(id) - 5000, old);
	crafted(&x, IPWD_ACT_UNBAN, "203.0.113.9", old, "D", 0);
	get(&n[1], IPW_LIST_BAN, "203.0.113.9", &e0);
	seq0 = ipwd_ops_seq(n[1].o);
	ipwd_ops_counters(n[1].o, &c0);
	ipwd_ops_submit(n[1].o, &x.r, 1, &rc, &w);
	ipwd_ops_counters(n[1].o, &c1);
	is_int(rc, IPWD_SUPERSEDED,
	       "an unban older than the ban B has: IPWD_SUPERSEDED");
	ok(w == IPW_CHANGE_UNCHANGED &&
		   get(&n[1], IPW_LIST_BAN, "203.0.113.9", &e1) &&
		   entry_same(&e0, &e1) && e0.hits == e1.hits &&
		   ipwd_ops_seq(n[1].o) == seq0 &&
		   c1.superseded == c0.superseded + 1,
	   "... it changed nothing (entry, sequence; counted as superseded)");
	ok(ipwd_ops_origin(n[1].o, "D", &cur) == 0 &&
		   memcmp(cur.last_id, old, 16) == 0,
	   "... and its origin's cursor moved");
	ipwd_ops_submit(n[1].o, &x.r, 1, &rc, &w);
	is_int(rc, IPW_EEXIST, "... so it again is a duplicate");

	/* the same op twice, not a state: a duplicate */
	deliver(&n[1], &m, 1, false, &rc);
	ipwd_ops_counters(n[1].o, &c1);
	is_int(rc, IPW_EEXIST, "A's ban delivered twice to B: IPW_EEXIST");
	ok(get(&n[1], IPW_LIST_BAN, "203.0.113.9", &e1) &&
		   entry_same(&e0, &e1) && ipwd_ops_seq(n[1].o) == seq0,
	   "... nothing changed");

	/* as states, twice: superseded, no cursor */
	deliver(&n[2], &m, 1, true, &rc);
	is_int(rc, 0, "A's ban as a state on C: applied");
	deliver(&n[2], &m, 1, true, &rc);
	is_int(rc, IPWD_SUPERSEDED,
	       "... the same state again: superseded, not a duplicate");
	ok(ipwd_ops_origin(n[2].o, "A", &cur) == IPW_ENOENT,
	   "... and A's cursor on C did not move (states say nothing of "
	   "the rest)");
	deliver(&n[2], &m, 1, false, &rc);
	is_int(rc, IPWD_SUPERSEDED,
	       "... then from the stream: superseded (the arbiter has it), "
	       "not applied twice");
	ok(ipwd_ops_origin(n[2].o, "A", &cur) == 0 &&
		   memcmp(cur.last_id, id, 16) == 0,
	   "... and now A's cursor on C moved");
	nodes_down(n);
}

static void test_hlc(void)
{
	struct node n[NODES];
	size_t pos[NODES][NODES] = {{0}};
	struct trec x;
	struct ipwd_op mine, cs;
	struct ipw_entry_info e;
	uint8_t fut[16], b[16];
	uint8_t enc[IPWD_CODEC_RECORD_MAX];
	struct ipwd_oprec_buf dec;
	struct rng r = {9};
	enum ipw_change w;
	char why[1500] = "";
	bool good = true;
	int rc, len;
	size_t i;

	nodes_up(n);
	/* C bans the target first (its clock knows nothing of the future) */
	local_ban(&n[2], IPWD_ACT_BAN, "192.0.2.55", 0, "c's", &cs);
	/* an op from node Z, whose clock is 10 s ahead: crafted, through
	 * the codec as a replicator would */
	make_id(&r, now_ms() + 10000, fut);
	crafted(&x, IPWD_ACT_BAN, "192.0.2.55", fut, "Z", 0);
	len = ipwd_codec_encode(&x.r, enc, sizeof(enc));
	ok(len > 0 && ipwd_codec_decode(enc, (size_t)len, &dec, NULL) == 0,
	   "an id 10 s ahead is a valid UUIDv7 (the codec takes it)");
	ipwd_ops_submit(n[1].o, &dec.r, 1, &rc, &w);
	is_int(rc, 0, "B applies the op from the future");
	local_ban(&n[1], IPWD_ACT_UNBAN, "192.0.2.55", 0, NULL, &mine);
	id_bytes(mine.id, b);
	ok(memcmp(b, fut, 16) > 0,
	   "B's next local op has the greater id (%s > %s)", mine.id, dec.id);
	for (i = 0; i < 50; i++)
		local_ban(&n[1], IPWD_ACT_BAN, "192.0.2.56", 0, NULL, &mine);
	id_bytes(mine.id, b);
	ok(memcmp(b, fut, 16) > 0 && ipwd_opid_ms(b) < now_ms() + 10100,
	   "... and so do the 50 after it, close to the future op's time");
	/* C gets the future op, then B's unban; A gets only B's: all
	 * converge on B's unban */
	ipwd_ops_submit(n[2].o, &dec.r, 1, &rc, &w);
	is_int(rc, 0,
	       "C applies the op from the future over its own older "
	       "ban");
	sync_all(n, pos);
	for (i = 0; i < NODES; i++)
		if (get(&n[i], IPW_LIST_BAN, "192.0.2.55", &e))
			good = false;
	ok(good && all_same(n, why, sizeof(why)),
	   "B's unban, made after it had seen the future op, wins "
	   "everywhere");
	if (why[0])
		diag("%s", why);
	nodes_down(n);
}

/* Node B with a SQLite store at @path: up (arbiter set, the store's
 * subscriber, loaded). */
struct dnode {
	struct ipw_table *t;
	struct ipwd_store *st;
	struct ipwd_ops *o;
	struct ipwd_arbiter_state *arb;
};

static void dnode_up(struct dnode *d, const char *path)
{
	size_t loaded, expired;
	char err[300];

	if (ipw_table_new(&d->t, NULL) != 0 ||
	    ipwd_store_open(&d->st, path, IPWD_SYNC_OFF, err, sizeof(err)) ||
	    ipwd_ops_new(&d->o, d->t, "B", &ipwd_store_sqlite, d->st) != 0 ||
	    ipwd_store_subscribe(d->st, d->o) != 0 ||
	    ipwd_arbiter_new(&d->arb) != 0)
		abort();
	ipwd_ops_set_arbiter(d->o, &ipwd_arbiter_ops, d->arb);
	if (ipwd_ops_load(d->o, &loaded, &expired, err, sizeof(err)) != 0) {
		diag("%s", err);
		abort();
	}
}

static void dnode_down(struct dnode *d)
{
	ipwd_ops_free(d->o);
	ipwd_arbiter_free(d->arb);
	ipwd_store_close(d->st);
	ipw_table_free(d->t);
}

/*
 * The hybrid clock across a restart: B applies an op from Z, whose clock
 * is 10 s ahead, and stops before it makes an op of its own; started
 * again (the arbiter seeded with Z's op, as cluster mode does from the
 * store's history), B's next op on the target must still have the
 * greater id: with a lower one, B applies it (ops made here are not
 * checked) while every other node finds it superseded by Z's, and B
 * stays apart from them for good.
 */
static void test_hlc_restart(void)
{
	char dir[] = "/tmp/ipw-arbiter-XXXXXX", path[64];
	static const char *const files[] = {
		"", "-wal", "-shm", "-oplog", "-oplog-wal", "-oplog-shm"};
	struct dnode d;
	struct trec x;
	struct ipwd_op mine = {.action = IPWD_ACT_UNBAN, .actor = "token:B"},
		       before = {.action = IPWD_ACT_BAN, .actor = "token:B"};
	struct ipwd_origin cur;
	struct rng r = {11};
	enum ipw_change w;
	uint8_t fut[16], b[16];
	size_t i;
	int rc;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/ipwall.db", dir);
	dnode_up(&d, path);
	/* an op of B's own first: its cursor is behind Z's op */
	before.spec.target = addr("192.0.2.66");
	if (ipwd_ops_apply(d.o, &before, &w, NULL) != 0)
		abort();
	make_id(&r, now_ms() + 10000, fut);
	crafted(&x, IPWD_ACT_BAN, "192.0.2.55", fut, "Z", 0);
	ipwd_ops_submit(d.o, &x.r, 1, &rc, &w);
	is_int(rc, 0, "restart: B applies an op from Z, 10 s ahead");
	dnode_down(&d);

	dnode_up(&d, path);
	ipwd_arbiter_seed(d.arb, IPW_LIST_BAN, &x.r.target, fut, true);
	ok(ipwd_ops_origin(d.o, "Z", &cur) == 0 &&
		   memcmp(cur.last_id, fut, 16) == 0,
	   "... started again, B has Z's cursor back");
	mine.spec.list = IPW_LIST_BAN;
	mine.spec.target = x.r.target;
	rc = ipwd_ops_apply(d.o, &mine, &w, NULL);
	id_bytes(mine.id, b);
	ok(rc == 0 && memcmp(b, fut, 16) > 0,
	   "... and its next op has the greater id (%s > %s)", mine.id, x.id);
	dnode_down(&d);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/ipwall.db%s", dir, files[i]);
		unlink(path);
	}
	if (rmdir(dir) != 0)
		diag("left %s behind", dir);
}

static void test_mode_conflict(void)
{
	struct node n[NODES];
	size_t pos[NODES][NODES] = {{0}};
	struct ipwd_op a = {.action = IPWD_ACT_MODE,
			    .mode = IPW_MODE_ALLOWLIST},
		       b = {.action = IPWD_ACT_MODE, .mode = IPW_MODE_DENYLIST};
	uint8_t ia[16], ib[16];
	enum ipw_mode want;
	char why[1500] = "";

	nodes_up(n);
	local(&n[0], &a, NULL);
	local(&n[1], &b, NULL);
	id_bytes(a.id, ia);
	id_bytes(b.id, ib);
	want = memcmp(ia, ib, 16) > 0 ? IPW_MODE_ALLOWLIST : IPW_MODE_DENYLIST;
	sync_all(n, pos);
	ok(ipw_table_mode(n[0].t) == want && all_same(n, why, sizeof(why)),
	   "allowlist on A, denylist on B at once: every node in the mode "
	   "of the greater id (%s)",
	   ipw_mode_name(want));
	if (why[0])
		diag("%s", why);
	nodes_down(n);
}

int main(void)
{
	double t0 = mono_s();

	test_map_model();
	test_map_undo();
	test_ban_unban();
	test_origin_merge();
	test_superseded_duplicates();
	test_hlc();
	test_hlc_restart();
	test_mode_conflict();
	test_property(false);
	test_property(true);
	test_controls();
	test_concurrent();
	diag("%.1f s in all", mono_s() - t0);
	return done_testing();
}
