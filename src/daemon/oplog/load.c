/* SPDX-License-Identifier: MIT */
/*
 * The op log's start-up (see ipwd_ops_load() in ops.h): the origins'
 * cursors and the sequence from the store, the table rebuilt from the
 * stored entries, the expiries of entries that lapsed while ipwalld was
 * down recorded as one group, and the subscribers started where each
 * stands.
 *
 * The load is a pipeline of two threads: this one reads the store's rows
 * (SQLite) into one of two buffers while the putter thread puts the other
 * into the table (ipw_table_put_batch()), so the two costs overlap
 * (bench_store: 10M entries).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "oplog/ops_int.h"

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

static int origin_cb(void *ctx, const struct ipwd_origin *c)
{
	return ipwd_ops_origin_set(ctx, c);
}

/* The table sized once for what the store holds, instead of doubling it
 * all the way up (measured: 10M entries load in 11.2 s without). */
static void reserve(struct ipwd_ops *o)
{
	int64_t cnt[2][2];
	int li, fi;

	if (o->si->count(o->store, cnt) != 0)
		return;
	for (li = 0; li < 2; li++)
		for (fi = 0; fi < 2; fi++)
			if (cnt[li][fi] > 0)
				ipw_table_reserve(
					o->t,
					li ? IPW_LIST_ALLOW : IPW_LIST_BAN,
					fi ? IPW_AF_INET6 : IPW_AF_INET,
					(size_t)cnt[li][fi]);
}

/* One group of the journal after what the store's entries hold: each
 * record's effect on the table, as the index will write it. */
static int replay_group(void *ctx, const struct ipwd_group *g)
{
	struct ipwd_ops *o = ctx;
	size_t i;

	for (i = 0; i < g->n; i++) {
		const struct ipwd_oprec *r = &g->recs[i];

		if (r->action == IPWD_ACT_MODE) {
			if (r->change == IPW_CHANGE_MODE)
				ipw_table_set_mode(o->t, r->mode, NULL);
		} else if (r->after) {
			int rc = ipw_table_put(o->t, r->after);

			if (rc != 0)
				return rc;
		} else if (r->change == IPW_CHANGE_REMOVED) {
			ipw_table_del(o->t, r->list, &r->target, NULL, NULL);
		}
	}
	return 0;
}

int ipwd_ops_load(struct ipwd_ops *o, size_t *loaded, size_t *nexpired,
		  char *err, size_t errlen)
{
	struct loader l = {.o = o, .now = (int64_t)time(NULL)};
	uint64_t seq = 0, indexed = 0;
	bool replayed = false;
	int mode = -1, rc = 0;

	*loaded = *nexpired = 0;
	*err = '\0';
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.cv, NULL);
	if (o->si == NULL)
		goto subscribers;
	if (o->si->load_meta(o->store, &mode, &indexed, &seq, origin_cb, o, err,
			     errlen) != 0) {
		rc = -1;
		goto out;
	}
	__atomic_store_n(&o->seq, seq, __ATOMIC_RELEASE);
	o->cnt.seq = seq;
	l.rcs = malloc(LOAD_CHUNK * sizeof(*l.rcs));
	l.live[0] = malloc(LOAD_CHUNK * sizeof(*l.live[0]));
	l.live[1] = malloc(LOAD_CHUNK * sizeof(*l.live[1]));
	if (l.rcs == NULL || l.live[0] == NULL || l.live[1] == NULL ||
	    pthread_create(&l.thread, NULL, putter, &l) != 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
		goto out;
	}
	l.running = true;
	reserve(o);
	rc = o->si->load_entries(o->store, load_batch, &l, err, errlen);
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
	*loaded = l.loaded;
	if (seq > indexed) {
		/* The journal holds groups the store's index had not
		 * written (a crash, or a stop in a burst): replayed onto the
		 * table. An entry that expired while down may be one of
		 * theirs: it goes in as it was, and the purge after the
		 * replay says which did expire. */
		if (l.ngone &&
		    ipw_table_put_batch(o->t, l.gone, l.ngone, NULL) != 0) {
			snprintf(err, errlen,
				 "cannot put the expired entries back");
			rc = -1;
			goto out;
		}
		l.ngone = 0;
		rc = o->si->read(o->store, indexed, seq, replay_group, o);
		if (rc != 0) {
			snprintf(
				err, errlen,
				"the op log's journal does not hold the ops "
				"after sequence %llu up to %llu that the store "
				"has not indexed (%s). Nothing was changed. "
				"Acknowledged ops are missing: keep the files; "
				"to start from the store as it is, move the "
				"journal (the store's path with -oplog "
				"added) away",
				(unsigned long long)indexed,
				(unsigned long long)seq, ipw_strerror(rc));
			rc = -1;
			goto out;
		}
		log_info("op log: %llu groups after the store's %llu "
			 "replayed from the journal; the store indexes them "
			 "in the background",
			 (unsigned long long)(seq - indexed),
			 (unsigned long long)indexed);
		replayed = true;
	}
subscribers:
	/* where each subscriber starts, before the first group after the
	 * load (the expiries below) is handed out */
	ipwd_subs_start(o, seq);
	if (replayed) {
		*nexpired = ipwd_ops_purge(o);
		*loaded -= *nexpired < *loaded ? *nexpired : *loaded;
	}
	if (l.ngone) {
		rc = ipwd_ops_record_expired(o, l.gone, l.ngone);
		if (rc != 0) {
			snprintf(err, errlen, "cannot record %zu expiries: %s",
				 l.ngone, ipw_strerror(rc));
			rc = -1;
			goto out;
		}
		*nexpired = l.ngone;
	}
	if (ipwd_subs_run(o) != 0) {
		snprintf(err, errlen, "cannot start the subscribers' threads");
		rc = -1;
	}
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
