/* SPDX-License-Identifier: MIT */
/*
 * The op log's subscribers (see ops.h for the contract, ops_int.h for the
 * locks).
 *
 * Delivery. A committed group is shared, not copied: the committer hands
 * each subscriber a reference (ipwd_subs_publish(), under apply_lock, so
 * groups reach every queue in sequence order), and the last subscriber
 * to apply it frees it. Publishing costs a lock, a pointer store and a
 * signal per subscriber; the committer never waits for a subscriber's
 * thread.
 *
 * Bounds. A queue holds at most max_groups groups and max_bytes of their
 * records. A group that would pass either drops the whole queue and marks
 * the subscriber for resync: from then on nothing is queued for it until
 * its thread has caught up. So a stalled subscriber holds at most one
 * queue's worth of memory and costs the committer nothing more than the
 * check.
 *
 * Resync. The subscriber's thread takes apply_lock (so no group is half
 * applied and none is being handed out), reads the last committed
 * sequence S, takes the table's snapshot if the subscriber wants one,
 * clears the mark, and lets go: every group after S is queued for it as
 * usual. It then calls resync() with the position it had and S, outside
 * every lock. A failed apply() is treated the same way: the subscriber
 * catches up from where it was.
 *
 * Stop. After the committer has stopped, each thread applies what its
 * queue holds (and a pending resync), then exits: shut-down drains them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "oplog/ops_int.h"

#define DEFAULT_GROUPS 64
#define DEFAULT_BYTES  (64u << 20)

/* Drop every queued group (sub->lock held). */
static void drain(struct sub *s)
{
	while (s->qlen) {
		ipwd_grp_unref(s->q[s->qhead]);
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
	}
	s->qbytes = 0;
}

static void mark_resync(struct sub *s)
{
	if (!s->resync)
		__atomic_add_fetch(&s->resyncs, 1, __ATOMIC_RELAXED);
	drain(s);
	s->resync = true;
}

void ipwd_subs_publish(struct ipwd_ops *o, struct grp *g)
{
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		struct sub *s = &o->subs[i];

		pthread_mutex_lock(&s->lock);
		if (s->resync) {
			/* catching up: the snapshot it takes covers this */
		} else if (s->qlen + 1 > s->max_groups ||
			   s->qbytes + g->bytes > s->max_bytes) {
			log_warn(
				"%s: fell %zu groups (%zu bytes of ops) behind "
				"the op log; it catches up from a snapshot",
				s->s->name, s->qlen + 1, s->qbytes + g->bytes);
			mark_resync(s);
			pthread_cond_signal(&s->cv);
		} else {
			__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
			s->q[(s->qhead + s->qlen) % s->qcap] = g;
			s->qlen++;
			s->qbytes += g->bytes;
			pthread_cond_signal(&s->cv);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

static void resync(struct ipwd_ops *o, struct sub *s)
{
	struct ipw_snapshot *snap = NULL;
	uint64_t seq, from;
	int rc = 0;

	pthread_mutex_lock(&o->apply_lock);
	seq = o->seq;
	if (s->s->wants_snapshot)
		rc = ipw_table_snapshot(o->t, &snap);
	pthread_mutex_lock(&s->lock);
	if (rc == 0) {
		drain(s);
		s->resync = false;
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&o->apply_lock);
	if (rc != 0) {
		/* no memory for the snapshot: try again at the next group */
		__atomic_store_n(&s->failing, 1, __ATOMIC_RELAXED);
		return;
	}
	from = __atomic_load_n(&s->applied, __ATOMIC_RELAXED);
	__atomic_store_n(&s->catching, 1, __ATOMIC_RELAXED);
	rc = s->s->resync(s->ctx, snap, from, seq);
	__atomic_store_n(&s->catching, 0, __ATOMIC_RELAXED);
	ipw_snapshot_free(snap);
	if (rc != 0)
		log_warn("%s: catching up from %llu to %llu failed: %s",
			 s->s->name, (unsigned long long)from,
			 (unsigned long long)seq, ipw_strerror(rc));
	__atomic_store_n(&s->failing, rc != 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->applied, seq, __ATOMIC_RELEASE);
}

/* The thread's argument: the op log and the subscriber. */
struct sub_arg {
	struct ipwd_ops *o;
	struct sub *s;
};

static void *run(void *arg)
{
	struct sub_arg a = *(struct sub_arg *)arg;
	struct ipwd_ops *o = a.o;
	struct sub *s = a.s;
	char name[16];
	struct grp *g;
	int rc;

	free(arg);
	snprintf(name, sizeof(name), "ipwd-%s", s->s->name);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->qlen == 0 && !s->resync && !s->stop)
			pthread_cond_wait(&s->cv, &s->lock);
		if (s->resync) {
			pthread_mutex_unlock(&s->lock);
			resync(o, s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->qlen == 0)
			break; /* stopping, and drained */
		g = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		s->qbytes -= g->bytes;
		pthread_mutex_unlock(&s->lock);
		rc = s->s->apply(s->ctx, &g->g);
		if (rc == 0)
			__atomic_store_n(&s->applied, g->g.seq,
					 __ATOMIC_RELEASE);
		__atomic_store_n(&s->failing, rc != 0, __ATOMIC_RELAXED);
		ipwd_grp_unref(g);
		pthread_mutex_lock(&s->lock);
		if (rc != 0 && !s->stop)
			mark_resync(s);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int ipwd_ops_subscribe(struct ipwd_ops *o, const struct ipwd_subscriber *def,
		       void *ctx)
{
	struct sub *s;

	if (o->nsubs == MAX_SUBS)
		return IPW_ENOMEM;
	s = &o->subs[o->nsubs];
	memset(s, 0, sizeof(*s));
	s->s = def;
	s->ctx = ctx;
	s->max_groups = def->max_groups ? def->max_groups : DEFAULT_GROUPS;
	s->max_bytes = def->max_bytes ? def->max_bytes : DEFAULT_BYTES;
	s->qcap = s->max_groups;
	s->q = calloc(s->qcap, sizeof(struct grp *));
	if (s->q == NULL)
		return IPW_ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	o->nsubs++;
	return 0;
}

/*
 * Start-up (ipwd_ops_load(), before the first group after the load): each
 * subscriber whose durable position is not the store's sequence @seq is
 * marked for resync from that position; a subscriber that cannot tell
 * starts at @seq, unless it always resyncs. Then the threads start.
 */
void ipwd_subs_start(struct ipwd_ops *o, uint64_t seq)
{
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		struct sub *s = &o->subs[i];
		bool known = false;
		uint64_t p =
			s->s->position ? s->s->position(s->ctx, &known) : 0;

		if (!known) {
			s->applied = seq;
			s->resync = s->s->always_resync;
			if (s->resync)
				s->applied = 0;
		} else if (p > seq) {
			log_warn("%s: its position %llu is past the op log's "
				 "last sequence %llu (a store restored from a "
				 "backup, or kept in memory only); it goes on "
				 "from %llu",
				 s->s->name, (unsigned long long)p,
				 (unsigned long long)seq,
				 (unsigned long long)seq);
			s->applied = seq;
		} else {
			s->applied = p;
			s->resync = p < seq || s->s->always_resync;
		}
	}
}

/* Called once the load has handed over its own group (the expiries while
 * down): the threads start. */
int ipwd_subs_run(struct ipwd_ops *o)
{
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		struct sub *s = &o->subs[i];
		struct sub_arg *a = malloc(sizeof(*a));

		if (a == NULL)
			return IPW_ENOMEM;
		a->o = o;
		a->s = s;
		if (pthread_create(&s->thread, NULL, run, a) != 0) {
			free(a);
			return IPW_ENOMEM;
		}
		s->running = true;
	}
	return 0;
}

void ipwd_subs_stop(struct ipwd_ops *o)
{
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		struct sub *s = &o->subs[i];

		if (s->running) {
			pthread_mutex_lock(&s->lock);
			s->stop = true;
			pthread_cond_signal(&s->cv);
			pthread_mutex_unlock(&s->lock);
			pthread_join(s->thread, NULL);
			s->running = false;
		}
		pthread_mutex_lock(&s->lock);
		drain(s);
		pthread_mutex_unlock(&s->lock);
		free(s->q);
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cv);
	}
	o->nsubs = 0;
}

uint64_t ipwd_subs_low(struct ipwd_ops *o)
{
	uint64_t low = ipwd_ops_seq(o);
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		uint64_t a =
			__atomic_load_n(&o->subs[i].applied, __ATOMIC_ACQUIRE);

		if (a < low)
			low = a;
	}
	return low;
}

size_t ipwd_ops_subscribers(struct ipwd_ops *o, struct ipwd_sub_status *out,
			    size_t max)
{
	size_t i;

	for (i = 0; i < o->nsubs && i < max; i++) {
		struct sub *s = &o->subs[i];

		pthread_mutex_lock(&s->lock);
		out[i].name = s->s->name;
		out[i].queued = s->qlen;
		out[i].resyncing =
			s->resync ||
			__atomic_load_n(&s->catching, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&s->lock);
		out[i].applied = __atomic_load_n(&s->applied, __ATOMIC_ACQUIRE);
		out[i].resyncs = __atomic_load_n(&s->resyncs, __ATOMIC_RELAXED);
		out[i].failing =
			__atomic_load_n(&s->failing, __ATOMIC_RELAXED) != 0;
	}
	return o->nsubs;
}
