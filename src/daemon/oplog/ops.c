/* SPDX-License-Identifier: MIT */
/*
 * The op log's committer (see ops.h for the contract, ops_int.h for the
 * locks).
 *
 * Jobs and groups. A writer builds a job (one op, a batch of ban/allow
 * specs, ops from elsewhere, a purge, a trim of the journal), links it
 * on the queue and sleeps on `done`. The committer takes the whole queue
 * as one group and, holding apply_lock, applies each job's ops to the
 * table, writing one record per op into the group: the op id, the change,
 * the entry before (read with ipw_table_get() first) and after.
 * Evictions (a manual ban making room) and expiries are records of their
 * own. A group with records gets the next sequence number and goes to the
 * store in one transaction, with the cursors of the origins it has ops
 * from. On success the writers are woken and the group is handed to the
 * subscribers (subs.c); on failure the table is walked back through the
 * records in reverse (each says what the entry was before), the cursors
 * are put back, the sequence number is not used, and every job of the
 * group fails.
 *
 * Cost per op on top of the table write: two ipw_table_get() (a brief
 * writer lock each) and its share of one store transaction - the price
 * of "before" and "after" in the history and the op log.
 *
 * Op ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7,
 * 12 bits of a counter that restarts at a random value below 1024 each
 * millisecond (method 1 of the RFC's monotonicity section), the variant,
 * and 62 random bits. When the counter would wrap within one
 * millisecond, or the clock steps back, the generator borrows the next
 * millisecond, so ids from one node are strictly increasing; at start the
 * generator's clock is raised to the millisecond of the node's cursor
 * (the last id it committed), so this holds across restarts too.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"
#include "oplog/ops_int.h"

#define PURGE_CHUNK 65536

enum job_kind {
	JOB_ONE,
	JOB_BATCH,
	JOB_REMOTE,
	JOB_PURGE,
	JOB_RECORDS,
	JOB_TRIM,
};

struct job {
	struct job *next;
	enum job_kind kind;
	/* JOB_ONE */
	struct ipwd_op *op;
	enum ipw_change what;
	struct ipw_entry_info *info;
	/* JOB_BATCH (specs), JOB_REMOTE (remote) */
	const struct ipw_entry_spec *specs;
	const struct ipwd_oprec *remote;
	size_t n;
	/* JOB_REMOTE: the caller's position, and whether these are states */
	const struct ipwd_origin *at;
	bool state;
	int *rcs;
	enum ipw_change *whats;
	/* JOB_PURGE: how many; JOB_RECORDS: entries that expired while
	 * ipwalld was down (start-up) */
	size_t count;
	const struct ipw_entry_info *expired;
	int rc;
	bool done;
	pthread_cond_t cv; /* its writer sleeps on it (with qlock) */
};

static uint64_t xorshift(uint64_t s[2])
{
	uint64_t a = s[0], b = s[1];

	s[0] = b;
	a ^= a << 23;
	s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return s[1] + b;
}

static void new_id_bytes(struct ipwd_ops *o, uint8_t b[16])
{
	struct timespec ts;
	uint64_t ms, r;
	uint32_t seq;
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pthread_mutex_lock(&o->id_lock);
	if (ms > o->last_ms) {
		o->last_ms = ms;
		o->idseq = (uint32_t)(xorshift(o->rnd_state) & 0x3ff);
	} else if (++o->idseq > 0xfff) {
		o->last_ms++;
		o->idseq = 0;
	}
	ms = o->last_ms;
	seq = o->idseq;
	r = xorshift(o->rnd_state);
	pthread_mutex_unlock(&o->id_lock);

	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (seq >> 8));
	b[7] = (uint8_t)seq;
	for (i = 8; i < 16; i++)
		b[i] = (uint8_t)(r >> (8 * (i - 8)));
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
}

void ipwd_ops_new_id(struct ipwd_ops *o, char id[IPWD_OPID_LEN])
{
	uint8_t b[16];

	new_id_bytes(o, b);
	ipwd_opid_format(b, id);
}

/* Ids after @b: the generator's clock goes no lower than @b's
 * millisecond, with the counter at its top, so the next id borrows the
 * millisecond after it unless the clock is already past. */
static void seed_ids(struct ipwd_ops *o, const uint8_t b[16])
{
	uint64_t ms = ipwd_opid_ms(b);

	pthread_mutex_lock(&o->id_lock);
	if (ms >= o->last_ms) {
		o->last_ms = ms;
		o->idseq = 0xfff;
	}
	pthread_mutex_unlock(&o->id_lock);
}

/* An op from elsewhere with id @b was applied: ids made here from now
 * on are above it (the counter is the 12 bits after the version). */
static void observe_id(struct ipwd_ops *o, const uint8_t b[16])
{
	uint64_t ms = ipwd_opid_ms(b);
	uint32_t c = ((uint32_t)(b[6] & 0x0f) << 8) | b[7];

	pthread_mutex_lock(&o->id_lock);
	if (ms > o->last_ms) {
		o->last_ms = ms;
		o->idseq = c;
	} else if (ms == o->last_ms && c > o->idseq) {
		o->idseq = c;
	}
	pthread_mutex_unlock(&o->id_lock);
}

/* One writer (the committer): a relaxed load and store is an increment
 * that readers see whole. */
static inline void bump(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/* ---- origins' cursors (committer thread; _load) ---- */

static struct ipwd_origin *origin_find(struct ipwd_ops *o, const char *node)
{
	size_t i;

	for (i = 0; i < o->norigins; i++)
		if (strcmp(o->origins[i].node, node) == 0)
			return &o->origins[i];
	return NULL;
}

/* Set @c->node's cursor (committer; _load). */
static int origin_store(struct ipwd_ops *o, const struct ipwd_origin *c)
{
	struct ipwd_origin *d = origin_find(o, c->node);

	if (d == NULL) {
		if (o->norigins == o->caporigins) {
			size_t cap = o->caporigins ? o->caporigins * 2 : 8;
			struct ipwd_origin *v =
				realloc(o->origins, cap * sizeof(*v));

			if (v == NULL)
				return IPW_ENOMEM;
			o->origins = v;
			o->caporigins = cap;
		}
		d = &o->origins[o->norigins++];
	}
	*d = *c;
	return 0;
}

int ipwd_ops_origin_set(struct ipwd_ops *o, const struct ipwd_origin *c)
{
	int rc = origin_store(o, c);

	/* start-up: this node's ids go on above its last one, and with an
	 * arbiter above every op from elsewhere it applied (the hybrid
	 * clock, across restarts); a pseudo-origin's cursor ('~') is the
	 * caller's position, not an op id */
	if (rc == 0 && strcmp(c->node, o->node) == 0)
		seed_ids(o, c->last_id);
	else if (rc == 0 && o->arb && c->node[0] != '~')
		observe_id(o, c->last_id);
	return rc;
}

int ipwd_ops_origin(struct ipwd_ops *o, const char *node,
		    struct ipwd_origin *out)
{
	struct ipwd_origin *c;
	int rc = IPW_ENOENT;

	/* cursors change on the committer thread, between groups */
	pthread_mutex_lock(&o->apply_lock);
	c = origin_find(o, node);
	if (c) {
		*out = *c;
		rc = 0;
	}
	pthread_mutex_unlock(&o->apply_lock);
	return rc;
}

/* Move @node's cursor to @id (above it: the caller checked). */
static int origin_advance(struct ipwd_ops *o, const char *node,
			  const uint8_t id[16])
{
	struct ipwd_origin c = {0};

	snprintf(c.node, sizeof(c.node), "%s", node);
	memcpy(c.last_id, id, 16);
	c.seq = 0; /* set to the group's sequence at commit */
	return origin_store(o, &c);
}

/* ---- the group being built (committer thread) ---- */

/*
 * Groups are recycled, not freed: the committer keeps the one nobody took
 * (spare), and a group the last subscriber lets go goes back to a small
 * pool (POOL_GROUPS groups, POOL_BYTES of records at most). A group of a
 * 10,000-ban batch holds 12 MB of records; allocating that afresh for
 * every group while the subscribers still hold the last ones cost the
 * committer the page faults of new memory (measured: a tenth of its time
 * in a durable ingest; with a pool of 4, a subscriber a few groups
 * behind still cost it 10 % in bench_oplog).
 */
static size_t grp_capacity(const struct grp *g)
{
	return g->cap * (sizeof(*g->recs) + sizeof(*g->flat));
}

static struct grp *grp_new(struct ipwd_ops *o)
{
	struct grp *g = o->spare;

	if (g) {
		o->spare = NULL;
	} else {
		pthread_mutex_lock(&o->pool_lock);
		if (o->npool) {
			g = o->pool[--o->npool];
			o->pool_bytes -= grp_capacity(g);
		}
		pthread_mutex_unlock(&o->pool_lock);
		if (g == NULL) {
			g = calloc(1, sizeof(*g));
			if (g == NULL)
				return NULL;
			g->o = o;
		}
	}
	g->n = 0;
	g->refs = 1;
	g->bytes = 0;
	return g;
}

static void grp_free(struct grp *g)
{
	free(g->recs);
	free(g->flat);
	free(g);
}

static size_t pool_drain(struct ipwd_ops *o)
{
	struct grp *v[POOL_GROUPS];
	size_t n, i, bytes;

	pthread_mutex_lock(&o->pool_lock);
	n = o->npool;
	bytes = o->pool_bytes;
	for (i = 0; i < n; i++)
		v[i] = o->pool[i];
	o->npool = 0;
	o->pool_bytes = 0;
	pthread_mutex_unlock(&o->pool_lock);
	for (i = 0; i < n; i++)
		grp_free(v[i]);
	return bytes;
}

size_t ipwd_ops_release_pool(struct ipwd_ops *o)
{
	__atomic_store_n(&o->drop_spare, true, __ATOMIC_RELEASE);
	return pool_drain(o);
}

void ipwd_grp_unref(struct grp *g)
{
	struct ipwd_ops *o = g->o;

	if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&o->pool_lock);
	if (o->npool < POOL_GROUPS && !o->pool_closed &&
	    o->pool_bytes + grp_capacity(g) <= POOL_BYTES) {
		o->pool[o->npool++] = g;
		o->pool_bytes += grp_capacity(g);
		g = NULL;
	}
	pthread_mutex_unlock(&o->pool_lock);
	if (g)
		grp_free(g);
}

/* Room for @extra more records in the current group, at once (a batch:
 * no doubling and copying of a 12 MB array on the way). */
static int grp_reserve(struct ipwd_ops *o, size_t extra)
{
	struct grp *g = o->cur;
	struct rec *v;
	size_t cap = g->cap ? g->cap : 64;

	if (g->n + extra <= g->cap)
		return 0;
	while (cap < g->n + extra)
		cap *= 2;
	v = realloc(g->recs, cap * sizeof(*v));
	if (v == NULL)
		return IPW_ENOMEM;
	g->recs = v;
	g->cap = cap;
	return 0;
}

/* A new record in the current group, with a new id (local ops). */
static struct rec *rec_add(struct ipwd_ops *o, enum ipwd_action a,
			   const char *actor, int64_t now)
{
	struct grp *g = o->cur;
	struct rec *r;
	size_t n;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct rec *v = realloc(g->recs, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		g->recs = v;
		g->cap = cap;
	}
	r = &g->recs[g->n++];
	memset(&r->r, 0, sizeof(r->r));
	r->has_before = r->has_after = false;
	r->node[0] = '\0';
	ipwd_ops_new_id(o, r->id);
	r->r.time = now;
	n = actor ? strnlen(actor, sizeof(r->actor) - 1) : 0;
	if (n)
		memcpy(r->actor, actor, n);
	r->actor[n] = '\0';
	r->r.action = a;
	return r;
}

/* The record just added is not kept (its op was refused after all). */
static void rec_drop_last(struct ipwd_ops *o)
{
	o->cur->n--;
}

static void evicted(const struct ipw_entry_info *e, void *ctx)
{
	struct ipwd_ops *o = ctx;
	struct rec *r =
		rec_add(o, IPWD_ACT_EVICT, "table-full", (int64_t)time(NULL));

	if (r == NULL)
		return; /* the record is lost, the eviction is not */
	r->r.list = e->list;
	r->r.target = e->target;
	r->r.change = IPW_CHANGE_REMOVED;
	r->before = *e;
	r->has_before = true;
}

static void expired(const struct ipw_entry_info *e, void *ctx)
{
	struct ipwd_ops *o = ctx;
	struct rec *r =
		rec_add(o, IPWD_ACT_EXPIRE, "purger", (int64_t)time(NULL));

	if (r == NULL)
		return;
	r->r.list = e->list;
	r->r.target = e->target;
	r->r.change = IPW_CHANGE_REMOVED;
	r->before = *e;
	r->has_before = true;
}

/* One ban/allow spec: the record with before and after. */
static int add_one(struct ipwd_ops *o, const struct ipw_entry_spec *spec,
		   enum ipwd_action a, const char *actor, enum ipw_change *what,
		   int64_t now, struct rec **out)
{
	struct ipw_entry_info ev, before;
	bool ev_set = false, had;
	struct rec *r;
	int rc;

	had = ipw_table_get(o->t, spec->list, &spec->target, &before) == 0;
	rc = ipw_table_add(o->t, spec, what, &ev, &ev_set);
	if (ev_set)
		evicted(&ev, o);
	if (rc != 0)
		return rc;
	r = rec_add(o, a, actor, now);
	if (r == NULL) {
		/* cannot record it: undo it */
		if (had)
			ipw_table_put(o->t, &before);
		else
			ipw_table_del(o->t, spec->list, &spec->target, NULL,
				      NULL);
		return IPW_ENOMEM;
	}
	r->r.list = spec->list;
	r->r.target = spec->target;
	r->r.change = (int)*what;
	r->has_before = had;
	if (had)
		r->before = before;
	r->has_after =
		ipw_table_get(o->t, spec->list, &spec->target, &r->after) == 0;
	if (out)
		*out = r;
	return 0;
}

/* An unban or disallow of @target in @list. */
static int del_one(struct ipwd_ops *o, enum ipwd_action a, enum ipw_list list,
		   const struct ipw_addr *target, const char *actor,
		   enum ipw_change *what, int64_t now, struct rec **out)
{
	struct ipw_entry_info removed;
	struct rec *r;
	int rc;

	rc = ipw_table_del(o->t, list, target, what, &removed);
	if (rc != 0)
		return rc;
	r = rec_add(o, a, actor, now);
	if (r == NULL) {
		if (*what == IPW_CHANGE_REMOVED)
			ipw_table_put(o->t, &removed);
		return IPW_ENOMEM;
	}
	r->r.list = list;
	r->r.target = *target;
	r->r.change = (int)*what;
	if (*what == IPW_CHANGE_REMOVED) {
		r->before = removed;
		r->has_before = true;
	}
	*out = r;
	return 0;
}

static int mode_one(struct ipwd_ops *o, enum ipw_mode mode, const char *actor,
		    enum ipw_change *what, int64_t now, struct rec **out)
{
	enum ipw_mode prev = ipw_table_mode(o->t);
	struct rec *r;
	int rc;

	rc = ipw_table_set_mode(o->t, mode, what);
	if (rc != 0)
		return rc;
	r = rec_add(o, IPWD_ACT_MODE, actor, now);
	if (r == NULL) {
		ipw_table_set_mode(o->t, prev, NULL);
		return IPW_ENOMEM;
	}
	r->r.mode = mode;
	r->r.change = (int)*what;
	r->r.mode_before = prev;
	*out = r;
	return 0;
}

static void run_one(struct ipwd_ops *o, struct job *j, int64_t now)
{
	struct ipwd_op *op = j->op;
	struct rec *r = NULL;
	int rc;

	op->time = now;
	switch (op->action) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_ALLOW:
		op->spec.actor = op->actor;
		rc = add_one(o, &op->spec, op->action, op->actor, &j->what, now,
			     &r);
		if (rc == 0 && j->info)
			*j->info = r->after;
		break;
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_DISALLOW:
		rc = del_one(o, op->action, op->spec.list, &op->spec.target,
			     op->actor, &j->what, now, &r);
		if (rc == 0 && j->info && r->has_before)
			*j->info = r->before;
		break;
	case IPWD_ACT_MODE:
		rc = mode_one(o, op->mode, op->actor, &j->what, now, &r);
		break;
	default:
		rc = IPW_EINVAL;
	}
	if (rc == 0)
		memcpy(op->id, r->id, sizeof(op->id));
	j->rc = rc;
}

static void run_batch(struct ipwd_ops *o, struct job *j, int64_t now)
{
	size_t i;

	/* (with room for an eviction per spec too, at most) */
	grp_reserve(o, j->n * 2);
	/* One table write per spec; the records (before/after) need the
	 * entry around each, so this is not ipw_table_add_batch(). */
	for (i = 0; i < j->n; i++) {
		const struct ipw_entry_spec *s = &j->specs[i];

		j->rcs[i] = add_one(o, s,
				    s->list == IPW_LIST_BAN ? IPWD_ACT_BAN :
							      IPWD_ACT_ALLOW,
				    s->actor, &j->whats[i], now, NULL);
	}
}

/* Tell the arbiter of the records it has not seen yet. */
static void arb_feed(struct ipwd_ops *o)
{
	struct grp *g = o->cur;

	if (o->arb == NULL)
		return;
	for (; o->arb_fed < g->n; o->arb_fed++) {
		struct rec *r = &g->recs[o->arb_fed];
		struct ipwd_oprec f = r->r;

		f.id = r->id;
		f.actor = r->actor;
		f.node = r->node[0] ? r->node : o->node;
		f.before = r->has_before ? &r->before : NULL;
		f.after = r->has_after ? &r->after : NULL;
		o->arb->record(o->arb_ctx, &f);
	}
}

/* With an arbiter: a ban or allow from elsewhere makes the entry exactly
 * the op's @after (this node's hit counts kept). */
static int put_one(struct ipwd_ops *o, const struct ipwd_oprec *op,
		   enum ipw_change *what, struct rec **out)
{
	struct ipw_entry_info e = *op->after, before;
	struct rec *r;
	bool had;
	int rc;

	e.list = ipwd_action_list(op->action);
	e.target = op->target;
	had = ipw_table_get(o->t, e.list, &e.target, &before) == 0;
	if (had) {
		e.hits = before.hits;
		e.last_hit = before.last_hit;
	}
	rc = ipw_table_put(o->t, &e);
	if (rc != 0)
		return rc;
	r = rec_add(o, op->action, op->actor, op->time);
	if (r == NULL) {
		if (had)
			ipw_table_put(o->t, &before);
		else
			ipw_table_del(o->t, e.list, &e.target, NULL, NULL);
		return IPW_ENOMEM;
	}
	if (!had)
		*what = IPW_CHANGE_ADDED;
	else if (before.expires == e.expires && before.score == e.score &&
		 before.flags == e.flags &&
		 strcmp(before.reason, e.reason) == 0)
		*what = IPW_CHANGE_UNCHANGED;
	else
		*what = IPW_CHANGE_EXTENDED;
	r->r.list = e.list;
	r->r.target = e.target;
	r->r.change = (int)*what;
	r->has_before = had;
	if (had)
		r->before = before;
	r->has_after = ipw_table_get(o->t, e.list, &e.target, &r->after) == 0;
	*out = r;
	return 0;
}

/* Move @node's cursor to @id unless it is there or past it already. */
static int origin_raise(struct ipwd_ops *o, const char *node,
			const uint8_t id[16])
{
	struct ipwd_origin *cur = origin_find(o, node);

	if (cur && memcmp(id, cur->last_id, 16) <= 0)
		return 0;
	return origin_advance(o, node, id);
}

/* One op from elsewhere: refused as a duplicate before it touches the
 * table (not a state), then put to the arbiter if there is one, else
 * applied with its own id, node, time and actor. */
static int remote_one(struct ipwd_ops *o, const struct ipwd_oprec *op,
		      bool state, enum ipw_change *what)
{
	struct ipwd_origin *cur;
	struct ipw_entry_spec spec = {0};
	struct rec *r = NULL;
	uint8_t id[16];
	int rc;

	if (op->id == NULL || ipwd_opid_parse(op->id, strlen(op->id), id) ||
	    op->node == NULL || *op->node == '\0' ||
	    strlen(op->node) >= IPWD_NODE_MAX || op->node[0] == '~')
		return IPW_EINVAL;
	cur = origin_find(o, op->node);
	if (!state && cur && memcmp(id, cur->last_id, 16) <= 0) {
		bump(&o->cnt.duplicates, 1);
		return IPW_EEXIST;
	}
	if (o->arb) {
		if ((op->action == IPWD_ACT_BAN ||
		     op->action == IPWD_ACT_ALLOW) &&
		    op->after == NULL)
			return IPW_EINVAL;
		if (op->action == IPWD_ACT_EXPIRE ||
		    op->action == IPWD_ACT_EVICT ||
		    (unsigned)op->action >= IPWD_ACT_COUNT)
			return IPW_EINVAL;
		arb_feed(o);
		if (!o->arb->admit(o->arb_ctx, op)) {
			bump(&o->cnt.superseded, 1);
			*what = IPW_CHANGE_UNCHANGED;
			rc = state ? 0 : origin_raise(o, op->node, id);
			return rc ? rc : IPWD_SUPERSEDED;
		}
	}
	switch (op->action) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_ALLOW:
		if (op->after == NULL)
			return IPW_EINVAL;
		if (o->arb) {
			rc = put_one(o, op, what, &r);
			break;
		}
		spec.target = op->target;
		spec.list = ipwd_action_list(op->action);
		spec.expires = op->after->expires;
		spec.score = op->after->score;
		spec.flags = op->after->flags;
		spec.reason = op->after->reason;
		spec.actor = op->after->actor;
		spec.source = op->after->source;
		rc = add_one(o, &spec, op->action, op->actor, what, op->time,
			     &r);
		break;
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_DISALLOW:
		rc = del_one(o, op->action, ipwd_action_list(op->action),
			     &op->target, op->actor, what, op->time, &r);
		break;
	case IPWD_ACT_MODE:
		if ((unsigned)op->mode > IPW_MODE_ALLOWLIST)
			return IPW_EINVAL;
		rc = mode_one(o, op->mode, op->actor, what, op->time, &r);
		break;
	default:
		/* expiries and evictions are each node's own */
		return IPW_EINVAL;
	}
	if (rc != 0)
		return rc;
	/* the op keeps what it was given */
	memcpy(r->id, op->id, IPWD_OPID_LEN - 1);
	r->id[IPWD_OPID_LEN - 1] = '\0';
	snprintf(r->node, sizeof(r->node), "%s", op->node);
	if (o->arb)
		observe_id(o, id);
	/* a state says nothing of what else its origin sent */
	rc = state ? 0 : origin_raise(o, op->node, id);
	if (rc != 0) {
		/* the cursor cannot move: walk the op back */
		rec_drop_last(o);
		if (r->has_before)
			ipw_table_put(o->t, &r->before);
		else if (op->action == IPWD_ACT_MODE)
			ipw_table_set_mode(o->t, r->r.mode_before, NULL);
		else if (r->has_after)
			ipw_table_del(o->t, r->r.list, &r->r.target, NULL,
				      NULL);
	}
	return rc;
}

static void run_remote(struct ipwd_ops *o, struct job *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		j->rcs[i] =
			remote_one(o, &j->remote[i], j->state, &j->whats[i]);
	/* the caller's position, set as given (a reload may move it back) */
	if (j->at && origin_store(o, j->at) != 0)
		for (i = 0; i < j->n; i++)
			if (j->rcs[i] >= 0)
				j->rcs[i] = IPW_ENOMEM;
}

static void run_purge(struct ipwd_ops *o, struct job *j)
{
	size_t n, before = o->cur->n;

	do
		n = ipw_table_purge(o->t, PURGE_CHUNK, expired, o);
	while (n == PURGE_CHUNK);
	j->count = o->cur->n - before;
}

static void run_records(struct ipwd_ops *o, struct job *j)
{
	size_t i;

	for (i = 0; i < j->count; i++)
		expired(&j->expired[i], o);
}

/* Walk the table back through the group's records, newest first. */
static void undo(struct ipwd_ops *o)
{
	size_t i = o->cur->n;

	while (i-- > 0) {
		struct rec *r = &o->cur->recs[i];

		if (r->r.action == IPWD_ACT_EXPIRE)
			continue; /* expired: it never matches anyway */
		if (r->r.action == IPWD_ACT_MODE) {
			ipw_table_set_mode(o->t, r->r.mode_before, NULL);
			continue;
		}
		if (r->has_before)
			ipw_table_put(o->t, &r->before);
		else if (r->has_after)
			ipw_table_del(o->t, r->r.list, &r->r.target, NULL,
				      NULL);
	}
}

/* The flat records of the current group, pointing into its recs (which
 * no longer move), each with sequence @seq, and this node's cursor
 * moved to its last local op. */
static int flatten(struct ipwd_ops *o, uint64_t seq)
{
	struct grp *g = o->cur;
	const struct rec *last_local = NULL;
	size_t i;

	if (g->n > 0) {
		struct ipwd_oprec *f = realloc(g->flat, g->n * sizeof(*f));

		if (f == NULL)
			return IPW_ENOMEM;
		g->flat = f;
	}
	for (i = 0; i < g->n; i++) {
		struct rec *r = &g->recs[i];

		g->flat[i] = r->r;
		g->flat[i].id = r->id;
		g->flat[i].seq = seq;
		g->flat[i].actor = r->actor;
		g->flat[i].node = r->node[0] ? r->node : o->node;
		g->flat[i].before = r->has_before ? &r->before : NULL;
		g->flat[i].after = r->has_after ? &r->after : NULL;
		if (!r->node[0])
			last_local = r;
	}
	g->g.seq = seq;
	g->g.n = g->n;
	g->g.recs = g->flat;
	g->bytes = g->n * sizeof(struct rec);
	if (last_local) {
		uint8_t id[16];

		ipwd_opid_parse(last_local->id, IPWD_OPID_LEN - 1, id);
		return origin_advance(o, o->node, id);
	}
	return 0;
}

/* Record the group in the store with the cursors that moved (those
 * differing from @before, @nbefore entries); 0 or its error. */
static int commit(struct ipwd_ops *o, uint64_t seq,
		  const struct ipwd_origin *before, size_t nbefore)
{
	struct ipwd_origin moved[8], *mv = moved;
	size_t nmoved = 0, i, k;
	int rc = 0;

	if (o->norigins > sizeof(moved) / sizeof(moved[0])) {
		mv = malloc(o->norigins * sizeof(*mv));
		if (mv == NULL)
			return IPW_ENOMEM;
	}
	for (i = 0; i < o->norigins; i++) {
		for (k = 0; k < nbefore; k++)
			if (strcmp(before[k].node, o->origins[i].node) == 0)
				break;
		if (k < nbefore &&
		    memcmp(before[k].last_id, o->origins[i].last_id, 16) == 0)
			continue;
		o->origins[i].seq = seq;
		mv[nmoved++] = o->origins[i];
	}
	if (o->si && o->cur->n > 0)
		rc = o->si->commit(o->store, &o->cur->g, mv, nmoved);
	if (mv != moved)
		free(mv);
	return rc;
}

static void count_ops(struct ipwd_ops *o)
{
	size_t i;

	for (i = 0; i < o->cur->n; i++) {
		const struct ipwd_oprec *r = &o->cur->flat[i];

		if ((unsigned)r->action < IPWD_ACT_COUNT && r->change > 0 &&
		    r->change < 8)
			bump(&o->cnt.ops[r->action][r->change], 1);
	}
}

static void fail_group(struct job *group, int rc)
{
	struct job *j;
	size_t i;

	for (j = group; j; j = j->next) {
		if (j->kind == JOB_ONE && j->rc == 0)
			j->rc = rc;
		if (j->kind == JOB_BATCH || j->kind == JOB_REMOTE)
			for (i = 0; i < j->n; i++)
				if (j->rcs[i] == 0)
					j->rcs[i] = rc;
		if (j->kind == JOB_PURGE || j->kind == JOB_RECORDS)
			j->rc = rc;
	}
}

static void run_trim(struct ipwd_ops *o, struct job *j)
{
	uint64_t low = ipwd_subs_low(o);

	j->rc = 0;
	if (o->si && low > o->trimmed) {
		j->rc = o->si->trim(o->store, low);
		if (j->rc == 0)
			o->trimmed = low;
	}
}

static void run_group(struct ipwd_ops *o, struct job *group)
{
	int64_t now = (int64_t)time(NULL);
	struct ipwd_origin *saved = NULL;
	size_t nsaved = o->norigins;
	uint64_t seq;
	bool changed = false;
	struct job *j;
	size_t i;
	int rc;

	pthread_mutex_lock(&o->apply_lock);
	o->arb_fed = 0;
	o->cur = grp_new(o);
	if (o->cur == NULL ||
	    (nsaved && (saved = malloc(nsaved * sizeof(*saved))) == NULL)) {
		pthread_mutex_unlock(&o->apply_lock);
		if (o->cur)
			ipwd_grp_unref(o->cur);
		o->cur = NULL;
		fail_group(group, IPW_ENOMEM);
		return;
	}
	if (nsaved)
		memcpy(saved, o->origins, nsaved * sizeof(*saved));
	for (j = group; j; j = j->next) {
		switch (j->kind) {
		case JOB_ONE:
			run_one(o, j, now);
			break;
		case JOB_BATCH:
			run_batch(o, j, now);
			break;
		case JOB_REMOTE:
			run_remote(o, j);
			break;
		case JOB_PURGE:
			run_purge(o, j);
			break;
		case JOB_RECORDS:
			run_records(o, j);
			break;
		case JOB_TRIM:
			break; /* after the group */
		}
	}
	arb_feed(o);
	seq = o->seq + (o->cur->n > 0);
	rc = flatten(o, seq);
	if (rc == 0)
		rc = commit(o, seq, saved, nsaved);
	if (o->arb)
		o->arb->end(o->arb_ctx, rc == 0);
	if (rc != 0) {
		undo(o);
		/* the cursors as they were */
		if (nsaved)
			memcpy(o->origins, saved, nsaved * sizeof(*saved));
		o->norigins = nsaved;
		/* A listing view built between the apply and the undo saw
		 * changes that never happened: make it stale. */
		__atomic_add_fetch(&o->generation, 1, __ATOMIC_RELEASE);
		if (o->si)
			bump(&o->cnt.commit_failures, 1);
		if (!__atomic_exchange_n(&o->store_failing, 1,
					 __ATOMIC_RELAXED))
			log_error("store: cannot commit %zu ops: %s (%s); "
				  "writes fail with 503 until it works "
				  "again, checks go on",
				  o->cur->n,
				  o->si ? o->si->errmsg(o->store) :
					  "out of memory",
				  ipw_strerror(rc));
		pthread_mutex_unlock(&o->apply_lock);
		fail_group(group, rc);
		for (j = group; j; j = j->next)
			if (j->kind == JOB_TRIM)
				j->rc = rc;
		o->cur->n = 0;
		o->spare = o->cur;
		o->cur = NULL;
		free(saved);
		return;
	}
	free(saved);
	if (o->cur->n > 0) {
		__atomic_store_n(&o->seq, seq, __ATOMIC_RELEASE);
		bump(&o->cnt.seq, 1);
		if (o->si) {
			bump(&o->cnt.commits, 1);
			bump(&o->cnt.committed_ops, o->cur->n);
		}
		/* Only a group that reached the store says it works again:
		 * a group with no record (the purger's, every second, with
		 * nothing to purge) committed nothing. */
		if (__atomic_exchange_n(&o->store_failing, 0, __ATOMIC_RELAXED))
			log_info("store: commits work again");
		count_ops(o);
		for (i = 0; i < o->cur->n; i++)
			if (o->cur->flat[i].change != IPW_CHANGE_UNCHANGED &&
			    o->cur->flat[i].change != IPW_CHANGE_ABSENT)
				changed = true;
		if (changed)
			__atomic_add_fetch(&o->generation, 1, __ATOMIC_RELEASE);
		for (j = group; j; j = j->next)
			if (j->kind == JOB_ONE && j->rc == 0)
				j->op->seq = seq;
		ipwd_subs_publish(o, o->cur);
	}
	pthread_mutex_unlock(&o->apply_lock);
	for (j = group; j; j = j->next)
		if (j->kind == JOB_TRIM)
			run_trim(o, j);
	/* the committer's reference: a group nobody took is kept for the
	 * next */
	if (__atomic_exchange_n(&o->drop_spare, false, __ATOMIC_ACQ_REL)) {
		ipwd_grp_unref(o->cur); /* idle: to the pool, then freed */
		pool_drain(o);
	} else if (__atomic_load_n(&o->cur->refs, __ATOMIC_ACQUIRE) == 1) {
		o->cur->n = 0;
		o->spare = o->cur;
	} else {
		ipwd_grp_unref(o->cur);
	}
	o->cur = NULL;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *committer(void *arg)
{
	struct ipwd_ops *o = arg;
	struct job *group, *j, *next;
	uint64_t c0;
	bool idle;

	pthread_setname_np(pthread_self(), "ipwd-commit");
	pthread_mutex_lock(&o->qlock);
	for (;;) {
		while (o->head == NULL && !o->stop)
			pthread_cond_wait(&o->qwork, &o->qlock);
		if (o->head == NULL)
			break;
		group = o->head;
		o->head = NULL;
		o->tail = &o->head;
		pthread_mutex_unlock(&o->qlock);

		c0 = thread_cpu_ns();
		run_group(o, group);
		bump(&o->cnt.committer_ns, thread_cpu_ns() - c0);

		/* Each writer of the group is woken, and only they: with a
		 * condition shared by all, every group woke every waiting
		 * writer (64 blocking threads for groups of 4: most of the
		 * daemon's CPU under single bans went to that). */
		pthread_mutex_lock(&o->qlock);
		for (j = group; j; j = next) {
			next = j->next;
			j->done = true;
			pthread_cond_signal(&j->cv);
		}
		/* While more groups wait, the subscribers are not woken for
		 * each: they are at the end of the burst (or when a queue is
		 * half full), and then apply many groups per wake-up. */
		idle = o->head == NULL;
		if (idle) {
			pthread_mutex_unlock(&o->qlock);
			ipwd_subs_kick(o);
			pthread_mutex_lock(&o->qlock);
		}
	}
	pthread_mutex_unlock(&o->qlock);
	return NULL;
}

/* Queue @j and wait until the committer is done with it. */
static void submit(struct ipwd_ops *o, struct job *j)
{
	pthread_cond_init(&j->cv, NULL);
	pthread_mutex_lock(&o->qlock);
	j->next = NULL;
	*o->tail = j;
	o->tail = &j->next;
	pthread_cond_signal(&o->qwork);
	while (!j->done)
		pthread_cond_wait(&j->cv, &o->qlock);
	pthread_mutex_unlock(&o->qlock);
	pthread_cond_destroy(&j->cv);
}

int ipwd_ops_new(struct ipwd_ops **out, struct ipw_table *t, const char *node,
		 const struct ipwd_store_iface *si, void *store)
{
	struct ipwd_ops *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return IPW_ENOMEM;
	o->t = t;
	o->si = si;
	o->store = store;
	snprintf(o->node, sizeof(o->node), "%s", node);
	pthread_mutex_init(&o->id_lock, NULL);
	pthread_mutex_init(&o->apply_lock, NULL);
	pthread_mutex_init(&o->read_lock, NULL);
	pthread_mutex_init(&o->pool_lock, NULL);
	pthread_mutex_init(&o->qlock, NULL);
	pthread_cond_init(&o->qwork, NULL);
	o->tail = &o->head;
	if (getrandom(o->rnd_state, sizeof(o->rnd_state), 0) !=
	    (ssize_t)sizeof(o->rnd_state))
		o->rnd_state[0] = (uint64_t)time(NULL) | 1;
	o->rnd_state[1] |= 1;
	if (pthread_create(&o->thread, NULL, committer, o) != 0) {
		ipwd_ops_free(o);
		return IPW_ENOMEM;
	}
	o->running = true;
	*out = o;
	return 0;
}

void ipwd_ops_free(struct ipwd_ops *o)
{
	if (o == NULL)
		return;
	if (o->running) {
		pthread_mutex_lock(&o->qlock);
		o->stop = true;
		pthread_cond_signal(&o->qwork);
		pthread_mutex_unlock(&o->qlock);
		pthread_join(o->thread, NULL);
	}
	/* after the committer: every group is handed over; each
	 * subscriber applies what it holds, then stops */
	ipwd_subs_stop(o);
	pthread_mutex_lock(&o->pool_lock);
	o->pool_closed = true;
	while (o->npool)
		grp_free(o->pool[--o->npool]);
	pthread_mutex_unlock(&o->pool_lock);
	pthread_mutex_destroy(&o->pool_lock);
	pthread_mutex_destroy(&o->id_lock);
	pthread_mutex_destroy(&o->apply_lock);
	pthread_mutex_destroy(&o->read_lock);
	pthread_mutex_destroy(&o->qlock);
	pthread_cond_destroy(&o->qwork);
	if (o->spare)
		grp_free(o->spare);
	free(o->origins);
	free(o);
}

struct ipw_table *ipwd_ops_table(struct ipwd_ops *o)
{
	return o->t;
}

const char *ipwd_ops_node(struct ipwd_ops *o)
{
	return o->node;
}

uint64_t ipwd_ops_generation(struct ipwd_ops *o)
{
	return __atomic_load_n(&o->generation, __ATOMIC_ACQUIRE);
}

uint64_t ipwd_ops_seq(struct ipwd_ops *o)
{
	return __atomic_load_n(&o->seq, __ATOMIC_ACQUIRE);
}

int ipwd_ops_read(struct ipwd_ops *o, uint64_t from, uint64_t to,
		  int (*cb)(void *ctx, const struct ipwd_group *g), void *ctx)
{
	int rc;

	if (o->si == NULL)
		return IPW_ENOENT;
	pthread_mutex_lock(&o->read_lock);
	rc = o->si->read(o->store, from, to, cb, ctx);
	pthread_mutex_unlock(&o->read_lock);
	return rc;
}

bool ipwd_ops_store_failing(struct ipwd_ops *o)
{
	return __atomic_load_n(&o->store_failing, __ATOMIC_RELAXED) != 0;
}

void ipwd_ops_counters(struct ipwd_ops *o, struct ipwd_ops_counters *out)
{
	const uint64_t *src = (const uint64_t *)&o->cnt;
	uint64_t *dst = (uint64_t *)out;
	size_t i;

	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

int ipwd_ops_snapshot(struct ipwd_ops *o, struct ipw_snapshot **snap,
		      uint64_t *seq)
{
	int rc;

	pthread_mutex_lock(&o->apply_lock);
	rc = ipw_table_snapshot(o->t, snap);
	*seq = o->seq;
	pthread_mutex_unlock(&o->apply_lock);
	return rc;
}

int ipwd_ops_apply(struct ipwd_ops *o, struct ipwd_op *op,
		   enum ipw_change *what, struct ipw_entry_info *info)
{
	struct job j = {.kind = JOB_ONE, .op = op, .info = info};

	submit(o, &j);
	*what = j.what;
	return j.rc;
}

size_t ipwd_ops_add_batch(struct ipwd_ops *o,
			  const struct ipw_entry_spec *specs, size_t n,
			  int *rcs, enum ipw_change *whats)
{
	struct job j = {.kind = JOB_BATCH,
			.specs = specs,
			.n = n,
			.rcs = rcs,
			.whats = whats};
	size_t i, failed = 0;

	submit(o, &j);
	for (i = 0; i < n; i++)
		failed += rcs[i] != 0;
	return failed;
}

size_t ipwd_ops_submit_at(struct ipwd_ops *o, const struct ipwd_oprec *ops,
			  size_t n, const struct ipwd_origin *at, bool state,
			  int *rcs, enum ipw_change *whats)
{
	struct job j = {.kind = JOB_REMOTE,
			.remote = ops,
			.n = n,
			.at = at,
			.state = state,
			.rcs = rcs,
			.whats = whats};
	size_t i, failed = 0;

	submit(o, &j);
	for (i = 0; i < n; i++)
		failed += rcs[i] < 0;
	return failed;
}

size_t ipwd_ops_submit(struct ipwd_ops *o, const struct ipwd_oprec *ops,
		       size_t n, int *rcs, enum ipw_change *whats)
{
	return ipwd_ops_submit_at(o, ops, n, NULL, false, rcs, whats);
}

void ipwd_ops_observe_id(struct ipwd_ops *o, const uint8_t id[16])
{
	observe_id(o, id);
}

void ipwd_ops_set_arbiter(struct ipwd_ops *o, const struct ipwd_arbiter *a,
			  void *ctx)
{
	o->arb = a;
	o->arb_ctx = ctx;
}

size_t ipwd_ops_purge(struct ipwd_ops *o)
{
	struct job j = {.kind = JOB_PURGE};

	submit(o, &j);
	if (j.count)
		log_debug("purged %zu expired entries", j.count);
	return j.count;
}

int ipwd_ops_record_expired(struct ipwd_ops *o, const struct ipw_entry_info *v,
			    size_t n)
{
	struct job j = {.kind = JOB_RECORDS, .count = n, .expired = v};

	submit(o, &j);
	return j.rc;
}

int ipwd_ops_trim(struct ipwd_ops *o)
{
	struct job j = {.kind = JOB_TRIM};

	if (o->si == NULL)
		return 0;
	submit(o, &j);
	return j.rc;
}
