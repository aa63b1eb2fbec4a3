/* SPDX-License-Identifier: MIT */
/*
 * The write path (see ops.h for the contract).
 *
 * Jobs and groups. A writer builds a job (one op, a batch of ban/allow
 * specs, or a purge), links it on the queue and sleeps on `done`. The
 * committer thread takes the whole queue as one group and, for each job in
 * order, applies its ops to the table, writing one record per op into the
 * group's record array: the op id, the change, the entry before (read with
 * ipw_table_get() first) and after. Evictions (a manual ban making room)
 * and expiries are records of their own. Then the store records the array
 * in one transaction. On success the writers are woken and the array is
 * handed to the audit thread (swapped for a spare one, so the committer
 * goes on at once; it waits only if the thread is still writing the
 * previous group's lines); on failure the table is walked back through the array
 * in reverse (each record says what the entry was before), the store
 * transaction is rolled back, and every job of the group fails.
 *
 * Cost per op on top of the table write: two ipw_table_get() (a brief
 * writer lock each) and its share of one SQLite transaction (two row
 * writes) - the price of "before" and "after" in the history.
 *
 * Op ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7,
 * 12 bits of a counter that restarts at a random value each millisecond
 * (method 1 of the RFC's monotonicity section), the variant, and 62 random
 * bits. When the counter would wrap within one millisecond, or the clock
 * steps back, the generator borrows the next millisecond, so ids from one
 * process are strictly increasing.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"
#include "oplog/ops.h"

#define BATCH_CHUNK 1024 /* specs per writer-lock hold */
#define PURGE_CHUNK 65536

enum job_kind { JOB_ONE, JOB_BATCH, JOB_PURGE, JOB_RECORDS, JOB_PRUNE };

struct job {
	struct job *next;
	enum job_kind kind;
	/* JOB_ONE */
	struct ipwd_op *op;
	enum ipw_change what;
	struct ipw_entry_info *info;
	/* JOB_BATCH */
	const struct ipw_entry_spec *specs;
	size_t n;
	int *rcs;
	enum ipw_change *whats;
	/* JOB_PURGE: how many; JOB_RECORDS: entries that expired while
	 * ipwalld was down (start-up) */
	size_t count;
	const struct ipw_entry_info *expired;
	/* JOB_PRUNE: delete up to @count ops older than @before */
	int64_t before;
	int rc;
	bool done;
};

/* One op of a group, as recorded. */
struct rec {
	struct ipwd_oprec r;
	char id[IPWD_OPID_LEN];
	char actor[96]; /* the op's actor, copied: the writer's string is
			   gone by the time the audit thread reads it */
	bool has_before, has_after;
	struct ipw_entry_info before, after;
};

struct ipwd_ops {
	struct ipw_table *t;
	struct ipwd_store *store;
	struct ipwd_audit *audit;
	char node[64];

	pthread_mutex_t id_lock;
	uint64_t last_ms;
	uint32_t seq;
	uint64_t rnd_state[2];
	uint64_t generation; /* atomic */
	int store_failing;   /* atomic */
	/* The audit thread: the committer hands it each committed group
	 * (its record arrays, swapped for the spare pair) and goes on with
	 * the next group while the lines are built and written. */
	struct {
		pthread_t thread;
		bool running, busy, stop;
		pthread_mutex_t lock;
		pthread_cond_t cv;
		struct rec *recs;
		struct ipwd_oprec *flat;
		size_t n, caprecs, capflat;
		/* audit thread only: the log fails (logged once), and how
		 * many lines it lost meanwhile */
		bool failing;
		size_t lost;
	} aq;

	struct ipwd_ops_counters cnt; /* written by the committer only */

	pthread_mutex_t qlock;
	pthread_cond_t qwork, qdone;
	struct job *head, **tail;
	bool stop;
	pthread_t thread;
	bool running;

	/* committer thread only */
	struct rec *recs;
	size_t nrecs, caprecs;
	struct ipwd_oprec *flat;
	size_t capflat;
	struct job *prune; /* this group's JOB_PRUNE, if any */
};

static uint64_t xorshift(uint64_t s[2])
{
	uint64_t a = s[0], b = s[1];

	s[0] = b;
	a ^= a << 23;
	s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return s[1] + b;
}

void ipwd_ops_new_id(struct ipwd_ops *o, char id[IPWD_OPID_LEN])
{
	struct timespec ts;
	uint64_t ms, r;
	uint32_t seq;
	uint8_t b[16];
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pthread_mutex_lock(&o->id_lock);
	if (ms > o->last_ms) {
		o->last_ms = ms;
		o->seq = (uint32_t)(xorshift(o->rnd_state) & 0x3ff);
	} else if (++o->seq > 0xfff) {
		o->last_ms++;
		o->seq = 0;
	}
	ms = o->last_ms;
	seq = o->seq;
	r = xorshift(o->rnd_state);
	pthread_mutex_unlock(&o->id_lock);

	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (seq >> 8));
	b[7] = (uint8_t)seq;
	for (i = 8; i < 16; i++)
		b[i] = (uint8_t)(r >> (8 * (i - 8)));
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	ipwd_opid_format(b, id);
}

/* ---- the group's records (committer thread) ---- */

static struct rec *rec_new(struct ipwd_ops *o, enum ipwd_action a,
			   const char *actor, int64_t now)
{
	struct rec *r;

	if (o->nrecs == o->caprecs) {
		size_t cap = o->caprecs ? o->caprecs * 2 : 256;
		struct rec *v = realloc(o->recs, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		o->recs = v;
		o->caprecs = cap;
	}
	r = &o->recs[o->nrecs++];
	memset(&r->r, 0, sizeof(r->r));
	r->has_before = r->has_after = false;
	ipwd_ops_new_id(o, r->id);
	r->r.time = now;
	/* r.actor is pointed at this copy in commit(), once the array no
	 * longer moves */
	{
		size_t n = actor ? strnlen(actor, sizeof(r->actor) - 1) : 0;

		if (n)
			memcpy(r->actor, actor, n);
		r->actor[n] = '\0';
	}
	r->r.node = o->node;
	r->r.action = a;
	return r;
}

static void evicted(const struct ipw_entry_info *e, void *ctx)
{
	struct ipwd_ops *o = ctx;
	struct rec *r =
		rec_new(o, IPWD_ACT_EVICT, "table-full", (int64_t)time(NULL));

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
		rec_new(o, IPWD_ACT_EXPIRE, "purger", (int64_t)time(NULL));

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
		   enum ipwd_action a, enum ipw_change *what, int64_t now)
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
	r = rec_new(o, a, spec->actor, now);
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
	return 0;
}

static void run_one(struct ipwd_ops *o, struct job *j, int64_t now)
{
	struct ipwd_op *op = j->op;
	struct rec *r;
	int rc = 0;

	op->time = now;
	switch (op->action) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_ALLOW:
		op->spec.actor = op->actor;
		rc = add_one(o, &op->spec, op->action, &j->what, now);
		if (rc == 0) {
			r = &o->recs[o->nrecs - 1];
			memcpy(op->id, r->id, sizeof(op->id));
			if (j->info)
				*j->info = r->after;
		}
		break;
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_DISALLOW: {
		struct ipw_entry_info removed;

		rc = ipw_table_del(o->t, op->spec.list, &op->spec.target,
				   &j->what, &removed);
		if (rc != 0)
			break;
		r = rec_new(o, op->action, op->actor, now);
		if (r == NULL) {
			if (j->what == IPW_CHANGE_REMOVED)
				ipw_table_put(o->t, &removed);
			rc = IPW_ENOMEM;
			break;
		}
		memcpy(op->id, r->id, sizeof(op->id));
		r->r.list = op->spec.list;
		r->r.target = op->spec.target;
		r->r.change = (int)j->what;
		if (j->what == IPW_CHANGE_REMOVED) {
			r->before = removed;
			r->has_before = true;
			if (j->info)
				*j->info = removed;
		}
		break;
	}
	case IPWD_ACT_MODE: {
		enum ipw_mode prev = ipw_table_mode(o->t);

		rc = ipw_table_set_mode(o->t, op->mode, &j->what);
		if (rc != 0)
			break;
		r = rec_new(o, IPWD_ACT_MODE, op->actor, now);
		if (r == NULL) {
			ipw_table_set_mode(o->t, prev, NULL);
			rc = IPW_ENOMEM;
			break;
		}
		memcpy(op->id, r->id, sizeof(op->id));
		r->r.mode = op->mode;
		r->r.change = (int)j->what;
		r->r.mode_before = prev;
		break;
	}
	default:
		rc = IPW_EINVAL;
	}
	j->rc = rc;
}

static void run_batch(struct ipwd_ops *o, struct job *j, int64_t now)
{
	size_t i;

	/* One table write per spec; the records (before/after) need the
	 * entry around each, so this is not ipw_table_add_batch(). */
	for (i = 0; i < j->n; i++) {
		const struct ipw_entry_spec *s = &j->specs[i];

		j->rcs[i] = add_one(o, s,
				    s->list == IPW_LIST_BAN ? IPWD_ACT_BAN :
							      IPWD_ACT_ALLOW,
				    &j->whats[i], now);
	}
}

static void run_purge(struct ipwd_ops *o, struct job *j)
{
	size_t n, before = o->nrecs;

	do
		n = ipw_table_purge(o->t, PURGE_CHUNK, expired, o);
	while (n == PURGE_CHUNK);
	j->count = o->nrecs - before;
}

static void run_records(struct ipwd_ops *o, struct job *j, int64_t now)
{
	size_t i;

	for (i = 0; i < j->count; i++)
		expired(&j->expired[i], o);
	(void)now;
}

/* Walk the table back through the group's records, newest first. */
static void undo(struct ipwd_ops *o)
{
	size_t i = o->nrecs;

	while (i-- > 0) {
		struct rec *r = &o->recs[i];

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

/* One writer (the committer): a relaxed load and store is an increment
 * that readers see whole. */
static inline void bump(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/* Record the group in the store; 0 or its error. */
static int commit(struct ipwd_ops *o)
{
	size_t i;
	int rc;

	if (o->nrecs > o->capflat) {
		struct ipwd_oprec *f = realloc(o->flat, o->nrecs * sizeof(*f));

		if (f == NULL)
			return IPW_ENOMEM;
		o->flat = f;
		o->capflat = o->nrecs;
	}
	for (i = 0; i < o->nrecs; i++) {
		struct rec *r = &o->recs[i];

		o->flat[i] = r->r;
		o->flat[i].id = r->id;
		o->flat[i].actor = r->actor;
		o->flat[i].before = r->has_before ? &r->before : NULL;
		o->flat[i].after = r->has_after ? &r->after : NULL;
	}
	if (o->store == NULL || (o->nrecs == 0 && o->prune == NULL))
		return 0;
	rc = ipwd_store_begin(o->store);
	for (i = 0; rc == 0 && i < o->nrecs; i++)
		rc = ipwd_store_record(o->store, &o->flat[i]);
	if (rc == 0 && o->prune) {
		int64_t n = ipwd_store_prune(o->store, o->prune->before,
					     (int)o->prune->count);

		if (n < 0)
			rc = (int)n;
		else
			o->prune->count = (size_t)n;
	}
	if (rc == 0)
		rc = ipwd_store_commit(o->store);
	if (rc != 0)
		ipwd_store_rollback(o->store);
	if (rc == 0) {
		bump(&o->cnt.commits, 1);
		bump(&o->cnt.committed_ops, o->nrecs);
	} else {
		bump(&o->cnt.commit_failures, 1);
	}
	return rc;
}

static void count_metrics(struct ipwd_ops *o)
{
	size_t i;

	for (i = 0; i < o->nrecs; i++) {
		const struct ipwd_oprec *r = &o->flat[i];

		if ((unsigned)r->action < IPWD_ACT_COUNT && r->change > 0 &&
		    r->change < 8)
			bump(&o->cnt.ops[r->action][r->change], 1);
	}
}

/* Write a committed group's audit lines (audit thread). A failing log (a
 * full disk) does not fail the ops, which are durable: it is reported
 * when it starts failing and when it works again, with the number of
 * lines lost, not once per group. */
static void audit_write(struct ipwd_ops *o, const struct ipwd_oprec *flat,
			size_t n)
{
	if (ipwd_audit_write(o->audit, flat, n) != 0) {
		if (!o->aq.failing)
			log_warn("audit log: write failed: %m; ops go on, "
				 "their lines are lost until it works again");
		o->aq.failing = true;
		o->aq.lost += n;
		return;
	}
	if (o->aq.failing && n > 0) {
		log_info("audit log: writes work again (up to %zu lines "
			 "lost)",
			 o->aq.lost);
		o->aq.failing = false;
		o->aq.lost = 0;
	}
}

static void *audit_thread(void *arg)
{
	struct ipwd_ops *o = arg;

	pthread_setname_np(pthread_self(), "ipwd-audit");
	pthread_mutex_lock(&o->aq.lock);
	for (;;) {
		while (!o->aq.busy && !o->aq.stop)
			pthread_cond_wait(&o->aq.cv, &o->aq.lock);
		if (!o->aq.busy)
			break;
		pthread_mutex_unlock(&o->aq.lock);
		audit_write(o, o->aq.flat, o->aq.n);
		pthread_mutex_lock(&o->aq.lock);
		o->aq.busy = false;
		pthread_cond_broadcast(&o->aq.cv);
	}
	pthread_mutex_unlock(&o->aq.lock);
	return NULL;
}

#define SWAP(a, b)                             \
	do {                                   \
		__typeof__(a) swap_tmp_ = (a); \
		(a) = (b);                     \
		(b) = swap_tmp_;               \
	} while (0)

/* Hand the committed group to the audit thread (committer), once it is
 * done with the previous one: the group's arrays become the thread's,
 * and the committer takes the thread's old pair for the next group. */
static void audit(struct ipwd_ops *o)
{
	if (o->nrecs == 0 || !o->aq.running)
		return;
	pthread_mutex_lock(&o->aq.lock);
	while (o->aq.busy)
		pthread_cond_wait(&o->aq.cv, &o->aq.lock);
	SWAP(o->recs, o->aq.recs);
	SWAP(o->caprecs, o->aq.caprecs);
	SWAP(o->flat, o->aq.flat);
	SWAP(o->capflat, o->aq.capflat);
	o->aq.n = o->nrecs;
	o->nrecs = 0;
	o->aq.busy = true;
	pthread_cond_signal(&o->aq.cv);
	pthread_mutex_unlock(&o->aq.lock);
}

static void run_group(struct ipwd_ops *o, struct job *group)
{
	int64_t now = (int64_t)time(NULL);
	bool changed = false;
	struct job *j;
	size_t i, n;
	int rc;

	o->nrecs = 0;
	o->prune = NULL;
	for (j = group; j; j = j->next) {
		switch (j->kind) {
		case JOB_ONE:
			run_one(o, j, now);
			break;
		case JOB_BATCH:
			run_batch(o, j, now);
			break;
		case JOB_PURGE:
			run_purge(o, j);
			break;
		case JOB_RECORDS:
			run_records(o, j, now);
			break;
		case JOB_PRUNE:
			o->prune = j; /* done in the group's transaction */
			break;
		}
	}
	rc = commit(o);
	if (rc != 0) {
		undo(o);
		/* A listing view built between the apply and the undo saw
		 * changes that never happened: make it stale. */
		__atomic_add_fetch(&o->generation, 1, __ATOMIC_RELEASE);
		if (!__atomic_exchange_n(&o->store_failing, 1,
					 __ATOMIC_RELAXED))
			log_error("store: cannot commit %zu ops: %s (%s); "
				  "writes fail with 503 until it works "
				  "again, checks go on",
				  o->nrecs,
				  o->store ? ipwd_store_errmsg(o->store) :
					     "out of memory",
				  ipw_strerror(rc));
		for (j = group; j; j = j->next) {
			if (j->kind == JOB_ONE && j->rc == 0)
				j->rc = rc;
			if (j->kind == JOB_BATCH)
				for (i = 0; i < j->n; i++)
					if (j->rcs[i] == 0)
						j->rcs[i] = rc;
			if (j->kind == JOB_PURGE || j->kind == JOB_RECORDS ||
			    j->kind == JOB_PRUNE)
				j->rc = rc;
		}
		return;
	}
	/* Only a group that reached the store says it works again: a group
	 * with no record (the purger's, every second, with nothing to purge;
	 * ops the table refused) committed nothing. */
	if (o->nrecs > 0 &&
	    __atomic_exchange_n(&o->store_failing, 0, __ATOMIC_RELAXED))
		log_info("store: commits work again");
	count_metrics(o);
	for (i = 0; i < o->nrecs; i++)
		if (o->flat[i].change != IPW_CHANGE_UNCHANGED &&
		    o->flat[i].change != IPW_CHANGE_ABSENT)
			changed = true;
	if (changed)
		__atomic_add_fetch(&o->generation, 1, __ATOMIC_RELEASE);
	n = o->nrecs;
	audit(o);
	if (o->caprecs > 65536 && n < 4096) {
		/* a big batch is over: give its memory back */
		free(o->recs);
		free(o->flat);
		o->recs = NULL;
		o->flat = NULL;
		o->caprecs = o->capflat = 0;
	}
}

static void *committer(void *arg)
{
	struct ipwd_ops *o = arg;
	struct job *group, *j, *next;

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

		run_group(o, group);

		pthread_mutex_lock(&o->qlock);
		for (j = group; j; j = next) {
			next = j->next;
			j->done = true;
		}
		pthread_cond_broadcast(&o->qdone);
	}
	pthread_mutex_unlock(&o->qlock);
	return NULL;
}

/* Queue @j and wait until the committer is done with it. */
static void submit(struct ipwd_ops *o, struct job *j)
{
	pthread_mutex_lock(&o->qlock);
	j->next = NULL;
	*o->tail = j;
	o->tail = &j->next;
	pthread_cond_signal(&o->qwork);
	while (!j->done)
		pthread_cond_wait(&o->qdone, &o->qlock);
	pthread_mutex_unlock(&o->qlock);
}

int ipwd_ops_new(struct ipwd_ops **out, struct ipw_table *t, const char *node,
		 struct ipwd_store *store, struct ipwd_audit *audit)
{
	struct ipwd_ops *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return IPW_ENOMEM;
	o->t = t;
	o->store = store;
	o->audit = audit;
	snprintf(o->node, sizeof(o->node), "%s", node);
	pthread_mutex_init(&o->id_lock, NULL);
	pthread_mutex_init(&o->qlock, NULL);
	pthread_cond_init(&o->qwork, NULL);
	pthread_cond_init(&o->qdone, NULL);
	o->tail = &o->head;
	if (getrandom(o->rnd_state, sizeof(o->rnd_state), 0) !=
	    (ssize_t)sizeof(o->rnd_state))
		o->rnd_state[0] = (uint64_t)time(NULL) | 1;
	o->rnd_state[1] |= 1;
	pthread_mutex_init(&o->aq.lock, NULL);
	pthread_cond_init(&o->aq.cv, NULL);
	if (ipwd_audit_enabled(audit)) {
		if (pthread_create(&o->aq.thread, NULL, audit_thread, o) != 0) {
			ipwd_ops_free(o);
			return IPW_ENOMEM;
		}
		o->aq.running = true;
	}
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
	if (o->aq.running) {
		/* after the committer: the last group is handed over */
		pthread_mutex_lock(&o->aq.lock);
		o->aq.stop = true;
		pthread_cond_signal(&o->aq.cv);
		pthread_mutex_unlock(&o->aq.lock);
		pthread_join(o->aq.thread, NULL);
	}
	pthread_mutex_destroy(&o->aq.lock);
	pthread_cond_destroy(&o->aq.cv);
	free(o->aq.recs);
	free(o->aq.flat);
	pthread_mutex_destroy(&o->id_lock);
	pthread_mutex_destroy(&o->qlock);
	pthread_cond_destroy(&o->qwork);
	pthread_cond_destroy(&o->qdone);
	free(o->recs);
	free(o->flat);
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

void ipwd_ops_counters(struct ipwd_ops *o, struct ipwd_ops_counters *out)
{
	const uint64_t *src = (const uint64_t *)&o->cnt;
	uint64_t *dst = (uint64_t *)out;
	size_t i;

	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

bool ipwd_ops_store_failing(struct ipwd_ops *o)
{
	return __atomic_load_n(&o->store_failing, __ATOMIC_RELAXED) != 0;
}

void ipwd_ops_reopen_audit(struct ipwd_ops *o)
{
	if (ipwd_audit_reopen(o->audit) != 0)
		log_error("audit log: cannot reopen: %m; still writing to the "
			  "old file");
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

size_t ipwd_ops_purge(struct ipwd_ops *o)
{
	struct job j = {.kind = JOB_PURGE};

	submit(o, &j);
	if (j.count)
		log_debug("purged %zu expired entries", j.count);
	return j.count;
}

int64_t ipwd_ops_prune_history(struct ipwd_ops *o, int64_t before, size_t max)
{
	struct job j = {.kind = JOB_PRUNE, .before = before, .count = max};

	if (o->store == NULL)
		return 0;
	submit(o, &j);
	return j.rc != 0 ? j.rc : (int64_t)j.count;
}

/* ---- start-up ---- */

/*
 * The load is a pipeline of two threads: this one reads the store's rows
 * (SQLite) into one of two buffers while the putter thread puts the other
 * into the table (ipw_table_put_batch()), so the two costs overlap
 * (bench_store: 10M entries).
 */
#define LOAD_CHUNK 8192

struct loader {
	struct ipwd_ops *o;
	int64_t now;
	size_t loaded;
	struct ipw_entry_info *gone; /* expired while down */
	size_t ngone, capgone;
	struct ipw_entry_info *live[2];
	int *rcs;
	int cur; /* the buffer being filled */
	/* the putter */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	size_t k; /* entries in the handed buffer */
	int busy; /* a buffer is handed over */
	bool stop, failed, running;
};

static void *putter(void *arg)
{
	struct loader *l = arg;
	struct ipw_entry_info *buf;
	size_t i, k;

	pthread_setname_np(pthread_self(), "ipwd-load");
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->busy && !l->stop)
			pthread_cond_wait(&l->cv, &l->lock);
		if (!l->busy)
			break;
		k = l->k;
		buf = l->live[!l->cur];
		pthread_mutex_unlock(&l->lock);
		if (ipw_table_put_batch(l->o->t, buf, k, l->rcs) != 0) {
			for (i = 0; i < k; i++)
				if (l->rcs[i] != 0) {
					char t[IPW_ADDR_STRLEN];

					ipw_addr_format(&buf[i].target, t,
							sizeof(t));
					log_error("store: cannot load %s: %s",
						  t, ipw_strerror(l->rcs[i]));
					break;
				}
			l->failed = true;
		} else {
			l->loaded += k;
		}
		pthread_mutex_lock(&l->lock);
		l->busy = 0;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* Wait until the putter is done with its buffer; false if it failed. */
static bool putter_idle(struct loader *l)
{
	pthread_mutex_lock(&l->lock);
	while (l->busy)
		pthread_cond_wait(&l->cv, &l->lock);
	pthread_mutex_unlock(&l->lock);
	return !l->failed;
}

static int load_batch(void *ctx, const struct ipw_entry_info *v, size_t n)
{
	struct loader *l = ctx;
	struct ipw_entry_info *live = l->live[l->cur];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (v[i].expires && v[i].expires <= l->now) {
			if (l->ngone == l->capgone) {
				size_t cap = l->capgone ? l->capgone * 2 : 64;
				struct ipw_entry_info *g =
					realloc(l->gone, cap * sizeof(*g));

				if (g == NULL)
					return -1;
				l->gone = g;
				l->capgone = cap;
			}
			l->gone[l->ngone++] = v[i];
			continue;
		}
		live[k++] = v[i];
	}
	/* hand this buffer over once the putter is done with the other */
	if (!putter_idle(l))
		return -1;
	pthread_mutex_lock(&l->lock);
	l->k = k;
	l->busy = 1;
	l->cur = !l->cur;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/* ---- audit lines a crash kept out of the log ---- */

#define RECOVER_CHUNK 4096

struct recovered {
	struct ipwd_oprec r;
	struct ipw_entry_info before, after;
	char id[IPWD_OPID_LEN], actor[96], node[64];
};

struct recoverer {
	struct ipwd_ops *o;
	struct recovered *v;
	struct ipwd_oprec *flat;
	size_t n, total;
};

static int recover_flush(struct recoverer *rv)
{
	size_t i;

	for (i = 0; i < rv->n; i++)
		rv->flat[i] = rv->v[i].r;
	if (rv->n && ipwd_audit_write(rv->o->audit, rv->flat, rv->n) != 0)
		return IPW_EIO;
	rv->total += rv->n;
	rv->n = 0;
	return 0;
}

static int recover_one(void *ctx, const struct ipwd_oprec *r)
{
	struct recoverer *rv = ctx;
	struct recovered *c = &rv->v[rv->n++];

	c->r = *r;
	snprintf(c->id, sizeof(c->id), "%s", r->id);
	snprintf(c->actor, sizeof(c->actor), "%s", r->actor ? r->actor : "");
	snprintf(c->node, sizeof(c->node), "%s", r->node ? r->node : "");
	c->r.id = c->id;
	c->r.actor = c->actor;
	c->r.node = c->node;
	if (r->before) {
		c->before = *r->before;
		c->r.before = &c->before;
	}
	if (r->after) {
		c->after = *r->after;
		c->r.after = &c->after;
	}
	return rv->n == RECOVER_CHUNK ? recover_flush(rv) : 0;
}

/*
 * The audit log and the history agree: lines are written after the
 * commit, so a crash in between leaves committed ops out of the log (up
 * to two groups: the one being written, the one handed over). At start,
 * every op after the log's last line is written from the history, marked
 * "recovered". Only a log file can be read back (not stdout or the
 * journal), and a log without a line of ours (new, or rotated away) says
 * nothing about what is missing: then nothing is written.
 */
static void recover_audit(struct ipwd_ops *o)
{
	struct recoverer rv = {.o = o};
	char last[IPWD_OPID_LEN];
	int rc;

	if (o->store == NULL ||
	    ipwd_audit_last_op(o->audit, last, sizeof(last)) != 1)
		return;
	rv.v = malloc(RECOVER_CHUNK * sizeof(*rv.v));
	rv.flat = malloc(RECOVER_CHUNK * sizeof(*rv.flat));
	if (rv.v == NULL || rv.flat == NULL) {
		log_warn("audit log: cannot check it against the history: "
			 "out of memory");
		goto out;
	}
	rc = ipwd_store_ops_after(o->store, last, recover_one, &rv);
	if (rc == 0)
		rc = recover_flush(&rv);
	if (rc != 0)
		log_warn("audit log: cannot write the lines missing since op "
			 "%s from the history: %s",
			 last, ipw_strerror(rc));
	if (rv.total)
		log_warn("audit log: %zu ops after op %s were not in it (the "
			 "last run stopped between a commit and its lines); "
			 "written from the history, marked \"recovered\"",
			 rv.total, last);
out:
	free(rv.v);
	free(rv.flat);
}

int ipwd_ops_load(struct ipwd_ops *o, size_t *loaded, size_t *nexpired,
		  char *err, size_t errlen)
{
	struct loader l = {.o = o, .now = (int64_t)time(NULL)};
	int mode = -1, rc;

	*loaded = *nexpired = 0;
	if (o->store == NULL)
		return 0;
	/* before this start's own ops (the expiries below) are logged */
	recover_audit(o);
	l.rcs = malloc(LOAD_CHUNK * sizeof(*l.rcs));
	l.live[0] = malloc(LOAD_CHUNK * sizeof(*l.live[0]));
	l.live[1] = malloc(LOAD_CHUNK * sizeof(*l.live[1]));
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.cv, NULL);
	if (l.rcs == NULL || l.live[0] == NULL || l.live[1] == NULL ||
	    pthread_create(&l.thread, NULL, putter, &l) != 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
		goto out;
	}
	l.running = true;
	{
		/* Size the index once, instead of doubling it all the way
		 * up (measured: 10M entries load in 11.2 s without). */
		int64_t cnt[2][2];
		int li, fi;

		if (ipwd_store_count_entries(o->store, cnt) == 0)
			for (li = 0; li < 2; li++)
				for (fi = 0; fi < 2; fi++)
					if (cnt[li][fi] > 0)
						ipw_table_reserve(
							o->t,
							li ? IPW_LIST_ALLOW :
							     IPW_LIST_BAN,
							fi ? IPW_AF_INET6 :
							     IPW_AF_INET,
							(size_t)cnt[li][fi]);
	}
	rc = ipwd_store_load(o->store, load_batch, &l, &mode, err, errlen);
	if (!putter_idle(&l) && rc == 0)
		rc = -1; /* the last buffer failed (logged) */
	if (rc != 0) {
		if (*err == '\0')
			snprintf(err, errlen,
				 "cannot load the stored entries into the "
				 "table (above)");
		rc = -1;
		goto out;
	}
	if (mode >= 0)
		ipw_table_set_mode(o->t, (enum ipw_mode)mode, NULL);
	if (l.ngone) {
		struct job j = {.kind = JOB_RECORDS,
				.count = l.ngone,
				.expired = l.gone};

		submit(o, &j);
		if (j.rc != 0) {
			snprintf(err, errlen, "cannot record %zu expiries: %s",
				 l.ngone, ipw_strerror(j.rc));
			rc = -1;
			goto out;
		}
	}
	*loaded = l.loaded;
	*nexpired = l.ngone;
out:
	if (l.running) {
		putter_idle(&l);
		pthread_mutex_lock(&l.lock);
		l.stop = true;
		pthread_cond_signal(&l.cv);
		pthread_mutex_unlock(&l.lock);
		pthread_join(l.thread, NULL);
	}
	pthread_mutex_destroy(&l.lock);
	pthread_cond_destroy(&l.cv);
	free(l.rcs);
	free(l.live[0]);
	free(l.live[1]);
	free(l.gone);
	return rc;
}
