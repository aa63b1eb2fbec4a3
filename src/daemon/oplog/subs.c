/* SPDX-License-Identifier: MIT */
/*
 * The op log's subscribers (see ops.h for the contract, ops_int.h for the
 * locks).
 *
 * Delivery. A committed group is shared, not copied: the committer hands
 * each subscriber a reference (ipwd_subs_publish(), under apply_lock, so
 * groups reach every queue in sequence order), and the last subscriber
 * to apply it frees it. Publishing costs a lock and a pointer store per
 * subscriber; the committer never waits for a subscriber's thread. The
 * threads are woken when the committer runs out of work (ipwd_subs_kick())
 * or a queue passes half its bound, not for every group: in a burst a
 * subscriber applies many groups per wake-up, and on a 2-core machine
 * its wake-ups do not take turns with the committer's.
 *
 * Bounds. A queue holds at most max_groups groups and max_bytes of their
 * records (an empty queue takes one group of any size, so a big batch
 * does not by itself resync a subscriber that keeps up). A group that
 * would pass either drops the whole queue and marks
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
 * queue holds and flushes, then exits: shut-down drains the queues. A
 * subscriber marked for resync is not caught up at the stop (a store's
 * index far behind would hold the stop for as long): it is at the next
 * start, from the journal.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

#include "base/log.h"
#include "oplog/ops_int.h"

#define DEFAULT_GROUPS 4096
#define SUB_NICE       10
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
		} else if (s->qlen > 0 &&
			   (s->qlen + 1 > s->max_groups ||
			    s->qbytes + g->bytes > s->max_bytes)) {
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
			/* woken by ipwd_subs_kick() at the end of the
			 * committer's burst, or now if the queue fills */
			if (s->qlen * 2 > s->max_groups ||
			    s->qbytes * 2 > s->max_bytes)
				pthread_cond_signal(&s->cv);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

void ipwd_subs_kick(struct ipwd_ops *o)
{
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		struct sub *s = &o->subs[i];

		pthread_mutex_lock(&s->lock);
		if (s->qlen)
			pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->lock);
	}
}

/* The subscriber has applied up to @seq (s->lock not held). */
static void applied(struct sub *s, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->applied, seq, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&s->applied_cv);
	pthread_mutex_unlock(&s->lock);
}

static int resync(struct ipwd_ops *o, struct sub *s)
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
		/* no memory for the snapshot: try again after a pause */
		__atomic_store_n(&s->failing, 1, __ATOMIC_RELAXED);
		return rc;
	}
	from = __atomic_load_n(&s->applied, __ATOMIC_RELAXED);
	__atomic_store_n(&s->catching, 1, __ATOMIC_RELAXED);
	rc = s->s->resync(s->ctx, snap, from, seq);
	if (rc == 0 && s->s->flush)
		rc = s->s->flush(s->ctx);
	__atomic_store_n(&s->catching, 0, __ATOMIC_RELAXED);
	ipw_snapshot_free(snap);
	__atomic_store_n(&s->failing, rc != 0, __ATOMIC_RELAXED);
	if (rc != 0) {
		log_warn("%s: catching up from %llu to %llu failed: %s; it "
			 "tries again",
			 s->s->name, (unsigned long long)from,
			 (unsigned long long)seq, ipw_strerror(rc));
		return rc;
	}
	applied(s, seq);
	return 0;
}

/* The thread's argument: the op log and the subscriber. */
struct sub_arg {
	struct ipwd_ops *o;
	struct sub *s;
};

/* Its flush, if it has one: what apply() did up to @pending becomes
 * applied. Non-zero: it failed. */
static int flush(struct sub *s, uint64_t pending)
{
	int rc = s->s->flush ? s->s->flush(s->ctx) : 0;

	__atomic_store_n(&s->failing, rc != 0, __ATOMIC_RELAXED);
	if (rc == 0 && pending > __atomic_load_n(&s->applied, __ATOMIC_RELAXED))
		applied(s, pending);
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* @ms from now on the clock the condition variables wait on. */
static struct timespec deadline(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* A failing subscriber is retried after a pause, not in a loop (a full
 * disk does not empty itself); a stop cuts the pause short. */
static void pause_after_failure(struct sub *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_mutex_lock(&s->lock);
	if (!s->stop)
		pthread_cond_timedwait(&s->cv, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
}

static void *run(void *arg)
{
	struct sub_arg a = *(struct sub_arg *)arg;
	struct ipwd_ops *o = a.o;
	struct sub *s = a.s;
	uint64_t pending = 0; /* applied, not yet flushed */
	uint64_t since = 0;   /* when the first of them was applied */
	char name[16];
	struct grp *g;
	int rc;

	free(arg);
	snprintf(name, sizeof(name), "ipwd-%s", s->s->name);
	pthread_setname_np(pthread_self(), name);
	/* Behind the committer and the HTTP threads: on a busy machine the
	 * writers' acknowledgements come first, and a subscriber catches
	 * up when there is CPU to spare (its queue is bounded: past it, it
	 * reads the groups back from the journal). */
	setpriority(PRIO_PROCESS, (id_t)gettid(), SUB_NICE);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (s->qlen == 0 && !s->resync && pending && !s->stop &&
		    !s->flush_now && s->s->flush_idle_ms &&
		    now_ms() - since < s->s->flush_max_ms) {
			/* the queue ran empty: wait a moment for more groups
			 * before making it durable (a flush is a transaction:
			 * small groups one after another would each pay it) */
			struct timespec ts = deadline(s->s->flush_idle_ms);

			if (pthread_cond_timedwait(&s->cv, &s->lock, &ts) ==
				    0 &&
			    s->qlen)
				continue; /* more came: apply them first */
		}
		if (s->qlen == 0 && !s->resync && pending) {
			/* the queue ran empty: make it durable */
			s->flush_now = false;
			pthread_mutex_unlock(&s->lock);
			rc = flush(s, pending);
			pending = 0;
			pthread_mutex_lock(&s->lock);
			if (rc != 0) {
				mark_resync(s);
				pthread_mutex_unlock(&s->lock);
				pause_after_failure(s);
				pthread_mutex_lock(&s->lock);
			}
			continue;
		}
		while (s->qlen == 0 && !s->resync && !s->stop)
			pthread_cond_wait(&s->cv, &s->lock);
		if (s->resync && s->stop)
			break; /* the next start catches it up */
		if (s->resync) {
			pthread_mutex_unlock(&s->lock);
			rc = resync(o, s);
			pthread_mutex_lock(&s->lock);
			if (rc != 0 && !s->stop) {
				mark_resync(s);
				pthread_mutex_unlock(&s->lock);
				pause_after_failure(s);
				pthread_mutex_lock(&s->lock);
			}
			continue;
		}
		if (s->qlen == 0)
			break; /* stopping, drained and flushed */
		g = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		s->qbytes -= g->bytes;
		pthread_mutex_unlock(&s->lock);
		rc = s->s->apply(s->ctx, &g->g);
		if (rc == 0 && s->s->flush && pending == 0)
			since = now_ms();
		if (rc == 0 && s->s->flush)
			pending = g->g.seq;
		else if (rc == 0)
			applied(s, g->g.seq);
		__atomic_store_n(&s->failing, rc != 0, __ATOMIC_RELAXED);
		ipwd_grp_unref(g);
		pthread_mutex_lock(&s->lock);
		if (rc != 0 && !s->stop) {
			/* what it applied since its last flush is lost too:
			 * it catches up from there */
			pending = 0;
			mark_resync(s);
			pthread_mutex_unlock(&s->lock);
			pause_after_failure(s);
			pthread_mutex_lock(&s->lock);
		}
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
	pthread_cond_init(&s->applied_cv, NULL);
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
		pthread_cond_destroy(&s->applied_cv);
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

int ipwd_ops_request_resync(struct ipwd_ops *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->nsubs; i++) {
		struct sub *s = &o->subs[i];

		if (strcmp(s->s->name, name) != 0)
			continue;
		pthread_mutex_lock(&s->lock);
		/* Not counted in resyncs: nothing fell behind. */
		drain(s);
		s->resync = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	return IPW_ENOENT;
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

int ipwd_ops_wait(struct ipwd_ops *o, const char *name, uint64_t seq,
		  unsigned timeout_ms)
{
	struct timespec ts;
	size_t i;
	int rc = 0;

	for (i = 0; i < o->nsubs; i++)
		if (strcmp(o->subs[i].s->name, name) == 0)
			break;
	if (i == o->nsubs)
		return IPW_ENOENT;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&o->subs[i].lock);
	if (__atomic_load_n(&o->subs[i].applied, __ATOMIC_ACQUIRE) < seq) {
		/* someone waits: no lingering before the flush */
		o->subs[i].flush_now = true;
		pthread_cond_signal(&o->subs[i].cv);
	}
	while (__atomic_load_n(&o->subs[i].applied, __ATOMIC_ACQUIRE) < seq &&
	       rc == 0)
		rc = pthread_cond_timedwait(&o->subs[i].applied_cv,
					    &o->subs[i].lock, &ts);
	pthread_mutex_unlock(&o->subs[i].lock);
	return rc == 0 ? 0 : IPW_EAGAIN;
}
