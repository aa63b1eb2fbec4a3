// SPDX-License-Identifier: MIT
/*
 * Unit tests of the op log (src/daemon/oplog/ops.h): the committer with a
 * fake store (this file's, in memory, with its groups kept as the codec's
 * bytes so that reads go through the decoder) and subscribers of the
 * test's own.
 *
 *   group commit   writers that queue while the store is busy share one
 *                  group; every group gets the next sequence, no gaps
 *   undo           a commit the store refuses leaves the table, the
 *                  sequence, the cursors and the subscribers as they were
 *                  (ban, batch, unban, mode)
 *   subscribers    groups arrive in order, whole, once; a subscriber that
 *                  stalls is cut off at its bound without holding the
 *                  committer up, then catches up from a snapshot that
 *                  equals the table at the sequence it is given; one that
 *                  fails an apply is caught up the same way; shut-down
 *                  drains them; the op log is trimmed up to the lowest
 *                  position only
 *   evictions      a manual ban that evicts an automatic one, and entries
 *   and expiries   that expire, reach a subscriber as evict and expire
 *                  records
 *   start-up       the table, mode, sequence and cursors from the store;
 *                  entries that expired while down reach the subscribers
 *                  as a group; a subscriber behind the store catches up
 *                  from the store's op log, one ahead or without a
 *                  position starts at the store's sequence
 *   elsewhere      ops from another node keep their id, node, time and
 *                  actor; a replayed or older op is refused before it
 *                  touches the table; the cursors go to the store with
 *                  the group and come back after a failed commit
 *   ids            after a restart with the wall clock stepped back, new
 *                  ids are still above the last one stored
 *   snapshot       a snapshot at a sequence never shows half a group,
 *                  while a writer commits beside it
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

#include "oplog/codec.h"
#include "oplog/ops.h"
#include "tap.h"

/* ---- the fake store ---- */

struct fgroup {
	uint64_t seq;
	uint8_t *bytes;
	size_t len, n;
};

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct fgroup g[512];
	size_t ng;
	struct ipwd_origin origins[8];
	size_t norigins;
	struct ipwd_origin last_cur[8]; /* what the last commit was given */
	size_t nlast_cur;
	uint64_t seq;
	uint64_t indexed; /* the entries' sequence (0: seq) */
	uint64_t trimmed;
	int fail; /* the next commit fails with this */
	int commits;
	size_t max_group;
	bool gate_closed; /* commits wait while closed */
	bool in_commit;
	int mode;
	struct ipw_entry_info entries[8];
	size_t nentries;
};

static int f_commit(void *p, const struct ipwd_group *g,
		    const struct ipwd_origin *cur, size_t ncur)
{
	struct fake *f = p;
	uint8_t *buf = NULL;
	size_t cap = 0, i, k;
	int64_t len;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	f->in_commit = true;
	pthread_cond_broadcast(&f->cv);
	while (f->gate_closed)
		pthread_cond_wait(&f->cv, &f->lock);
	f->in_commit = false;
	if (f->fail) {
		rc = f->fail;
		f->fail = 0;
		goto out;
	}
	len = ipwd_codec_group_encode(g->recs, g->n, &buf, &cap);
	if (len < 0 || f->ng == 512) {
		rc = IPW_EIO;
		free(buf);
		goto out;
	}
	f->g[f->ng++] = (struct fgroup){g->seq, buf, (size_t)len, g->n};
	for (i = 0; i < ncur && i < 8; i++) {
		for (k = 0; k < f->norigins; k++)
			if (strcmp(f->origins[k].node, cur[i].node) == 0)
				break;
		if (k == f->norigins && f->norigins < 8)
			f->norigins++;
		f->origins[k] = cur[i];
		f->last_cur[i] = cur[i];
	}
	f->nlast_cur = ncur;
	f->seq = g->seq;
	f->commits++;
	if (g->n > f->max_group)
		f->max_group = g->n;
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int f_trim(void *p, uint64_t seq)
{
	struct fake *f = p;
	size_t i, k = 0;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->ng; i++) {
		if (f->g[i].seq <= seq)
			free(f->g[i].bytes);
		else
			f->g[k++] = f->g[i];
	}
	f->ng = k;
	f->trimmed = seq;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int f_load_meta(void *p, int *mode, uint64_t *indexed, uint64_t *seq,
		       int (*origin)(void *ctx, const struct ipwd_origin *o),
		       void *ctx, char *err, size_t errlen)
{
	struct fake *f = p;
	size_t i;

	(void)err, (void)errlen;
	*mode = f->mode;
	*seq = f->seq;
	*indexed = f->indexed ? f->indexed : f->seq;
	for (i = 0; i < f->norigins; i++)
		if (origin(ctx, &f->origins[i]) != 0)
			return -1;
	return 0;
}

static int f_count(void *p, int64_t n[2][2])
{
	struct fake *f = p;

	memset(n, 0, sizeof(int64_t[2][2]));
	n[0][0] = (int64_t)f->nentries;
	return 0;
}

static int f_load_entries(void *p,
			  int (*cb)(void *ctx, const struct ipw_entry_info *v,
				    size_t n),
			  void *ctx, char *err, size_t errlen)
{
	struct fake *f = p;

	(void)err, (void)errlen;
	return f->nentries ? cb(ctx, f->entries, f->nentries) : 0;
}

static int f_read(void *p, uint64_t from, uint64_t to,
		  int (*cb)(void *ctx, const struct ipwd_group *g), void *ctx)
{
	struct fake *f = p;
	uint64_t expect = from + 1;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->ng && rc == 0 && expect <= to; i++) {
		struct ipwd_oprec_buf *v;
		struct ipwd_oprec *flat;
		uint64_t count = 0, seen = 0;
		size_t pos = 0, k = 0;
		struct ipwd_group g;

		if (f->g[i].seq <= from)
			continue;
		if (f->g[i].seq != expect) {
			rc = IPW_ENOENT;
			break;
		}
		v = calloc(f->g[i].n, sizeof(*v));
		flat = calloc(f->g[i].n, sizeof(*flat));
		while (ipwd_codec_group_next(f->g[i].bytes, f->g[i].len, &pos,
					     &count, &seen, &v[k], NULL) == 1)
			k++;
		for (size_t j = 0; j < k; j++) {
			flat[j] = v[j].r;
			flat[j].seq = f->g[i].seq;
		}
		g = (struct ipwd_group){f->g[i].seq, k, flat};
		rc = k == f->g[i].n ? cb(ctx, &g) : IPW_EIO;
		free(v);
		free(flat);
		expect++;
	}
	if (rc == 0 && expect <= to)
		rc = IPW_ENOENT;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static const char *f_errmsg(void *p)
{
	(void)p;
	return "the fake store says no";
}

static const struct ipwd_store_iface fake_iface = {
	.commit = f_commit,
	.trim = f_trim,
	.load_meta = f_load_meta,
	.count = f_count,
	.load_entries = f_load_entries,
	.read = f_read,
	.errmsg = f_errmsg,
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->mode = -1;
}

static void fake_free(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->ng; i++)
		free(f->g[i].bytes);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cv);
}

/* The next commit fails with @rc. */
static void fail_next(struct fake *f, int rc)
{
	pthread_mutex_lock(&f->lock);
	f->fail = rc;
	pthread_mutex_unlock(&f->lock);
}

static void gate(struct fake *f, bool closed)
{
	pthread_mutex_lock(&f->lock);
	f->gate_closed = closed;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
}

/* ---- a recording subscriber ---- */

struct rsub {
	struct ipwd_subscriber def;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	uint64_t seqs[4096]; /* every sequence handed to apply() */
	size_t nseqs;
	size_t ops; /* records seen by apply() */
	char last_actor[IPWD_ACTOR_MAX];
	char last_node[IPWD_NODE_MAX];
	char last_id[IPWD_OPID_LEN];
	int64_t last_time;
	int last_action;
	bool stalled;  /* apply() waits while set */
	int fail_next; /* apply() fails this many times */
	/* resync() calls */
	int resyncs;
	uint64_t rs_from, rs_seq;
	size_t rs_snap_count; /* entries of the snapshot given */
	size_t rs_read;	      /* groups read back from the store */
	int rs_read_rc;
	bool read_back; /* resync() reads (from, seq] from the op log */
	struct ipwd_ops *o;
	uint64_t pos; /* position() */
	bool pos_known;
	unsigned apply_sleep_us;
};

static uint64_t r_position(void *ctx, bool *known)
{
	struct rsub *r = ctx;

	*known = r->pos_known;
	return r->pos;
}

static int r_apply(void *ctx, const struct ipwd_group *g)
{
	struct rsub *r = ctx;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	while (r->stalled)
		pthread_cond_wait(&r->cv, &r->lock);
	if (r->fail_next > 0) {
		r->fail_next--;
		rc = IPW_EIO;
	} else {
		if (r->nseqs < 4096)
			r->seqs[r->nseqs++] = g->seq;
		r->ops += g->n;
		if (g->n) {
			const struct ipwd_oprec *x = &g->recs[g->n - 1];

			snprintf(r->last_actor, sizeof(r->last_actor), "%s",
				 x->actor);
			snprintf(r->last_node, sizeof(r->last_node), "%s",
				 x->node);
			snprintf(r->last_id, sizeof(r->last_id), "%s", x->id);
			r->last_time = x->time;
			r->last_action = x->action;
		}
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
	if (r->apply_sleep_us)
		usleep(r->apply_sleep_us);
	return rc;
}

static int r_count_read(void *ctx, const struct ipwd_group *g)
{
	struct rsub *r = ctx;

	r->rs_read++;
	if (r->nseqs < 4096)
		r->seqs[r->nseqs++] = g->seq;
	return 0;
}

static int r_resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		    uint64_t seq)
{
	struct rsub *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->resyncs++;
	r->rs_from = from;
	r->rs_seq = seq;
	r->rs_snap_count = snap ? ipw_snapshot_count(snap) : (size_t)-1;
	pthread_mutex_unlock(&r->lock);
	if (r->read_back)
		r->rs_read_rc = ipwd_ops_read(r->o, from, seq, r_count_read, r);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rsub_init(struct rsub *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->def.name = name;
	r->def.position = r_position;
	r->def.apply = r_apply;
	r->def.resync = r_resync;
	r->def.wants_snapshot = true;
}

static void rsub_free(struct rsub *r)
{
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cv);
}

static void stall(struct rsub *r, bool on)
{
	pthread_mutex_lock(&r->lock);
	r->stalled = on;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->lock);
}

/* The status of subscriber @i. */
static struct ipwd_sub_status status(struct ipwd_ops *o, size_t i)
{
	struct ipwd_sub_status st[16];

	memset(st, 0, sizeof(st));
	ipwd_ops_subscribers(o, st, 16);
	return st[i];
}

/* Wait (at most 20 s) until subscriber @i has applied sequence @seq and
 * is not catching up. True if it did. */
static bool caught_up(struct ipwd_ops *o, size_t i, uint64_t seq)
{
	for (int k = 0; k < 20000; k++) {
		struct ipwd_sub_status s = status(o, i);

		if (s.applied >= seq && !s.resyncing && s.queued == 0)
			return true;
		usleep(1000);
	}
	return false;
}

/* ---- helpers ---- */

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static struct ipw_table *table_new(void)
{
	struct ipw_table_opts opts = {.max_entries = 100000,
				      .clock = fake_clock};
	struct ipw_table *t;

	if (fake_now == 0)
		fake_now = (int64_t)time(NULL);
	if (ipw_table_new(&t, &opts) != 0)
		abort();
	return t;
}

static int op(struct ipwd_ops *o, enum ipwd_action a, const char *target,
	      int64_t expires, enum ipw_change *what)
{
	struct ipwd_op x = {.action = a, .actor = "token:test"};
	enum ipw_change w;

	x.spec.list = ipwd_action_list(a);
	x.spec.expires = expires;
	if (a == IPWD_ACT_MODE)
		x.mode = IPW_MODE_ALLOWLIST;
	else if (ipw_addr_parse_str(target, 0, &x.spec.target) != 0)
		abort();
	return ipwd_ops_apply(o, &x, what ? what : &w, NULL);
}

static bool present(struct ipw_table *t, enum ipw_list l, const char *target)
{
	struct ipw_entry_info e;
	struct ipw_addr a;

	if (ipw_addr_parse_str(target, 0, &a) != 0)
		abort();
	return ipw_table_get(t, l, &a, &e) == 0;
}

/* Sequences 1..n, each once, in order? */
static bool in_order(const struct rsub *r, uint64_t first, uint64_t n)
{
	if (r->nseqs != n)
		return false;
	for (size_t i = 0; i < r->nseqs; i++)
		if (r->seqs[i] != first + i)
			return false;
	return true;
}

/* ---- group commit ---- */

struct writer {
	struct ipwd_ops *o;
	int idx;
	int rc;
	int *started;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char a[32];

	snprintf(a, sizeof(a), "10.1.0.%d", w->idx + 1);
	__atomic_add_fetch(w->started, 1, __ATOMIC_RELAXED);
	w->rc = op(w->o, IPWD_ACT_BAN, a, 0, NULL);
	return NULL;
}

static void test_group_commit(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct fake f;
	struct writer w[8];
	pthread_t th[8];
	int started = 0, bad = 0, i;
	size_t loaded, expired;
	char err[200];

	fake_init(&f);
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	/* the first writer's group waits in the store; the other seven
	 * queue meanwhile, and go together in the next group */
	gate(&f, true);
	w[0] = (struct writer){o, 0, 0, &started};
	pthread_create(&th[0], NULL, writer_main, &w[0]);
	pthread_mutex_lock(&f.lock);
	while (!f.in_commit)
		pthread_cond_wait(&f.cv, &f.lock);
	pthread_mutex_unlock(&f.lock);
	for (i = 1; i < 8; i++) {
		w[i] = (struct writer){o, i, 0, &started};
		pthread_create(&th[i], NULL, writer_main, &w[i]);
	}
	while (__atomic_load_n(&started, __ATOMIC_RELAXED) < 8)
		usleep(1000);
	usleep(200000); /* let them reach the queue (not a measurement) */
	gate(&f, false);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		bad += w[i].rc != 0;
	}
	is_int(bad, 0, "8 concurrent bans are acknowledged");
	ok(f.commits == 2 && f.max_group == 7,
	   "the 7 that queued while the store was busy share one group (%d "
	   "commits, largest %zu)",
	   f.commits, f.max_group);
	is_int((int)ipwd_ops_seq(o), f.commits,
	       "one sequence number per committed group");
	ok(f.ng == 2 && f.g[0].seq == 1 && f.g[1].seq == 2,
	   "the store has groups 1 and 2");
	ipwd_ops_free(o);
	ipw_table_free(t);
	fake_free(&f);
}

/* ---- undo ---- */

static void test_undo(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct fake f;
	struct rsub r;
	struct ipw_entry_spec specs[3] = {{.list = IPW_LIST_BAN},
					  {.list = IPW_LIST_BAN},
					  {.list = IPW_LIST_BAN}};
	int rcs[3];
	enum ipw_change whats[3];
	size_t loaded, expired;
	char err[200];
	int rc;

	fake_init(&f);
	rsub_init(&r, "rec");
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_subscribe(o, &r.def, &r) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	is_int(op(o, IPWD_ACT_BAN, "192.0.2.1", 0, NULL), 0, "a ban");
	fail_next(&f, IPW_ENOSPC);
	rc = op(o, IPWD_ACT_BAN, "192.0.2.2", 0, NULL);
	ok(rc == IPW_ENOSPC && !present(t, IPW_LIST_BAN, "192.0.2.2"),
	   "a ban the store refuses fails with its code, not in the table");
	fail_next(&f, IPW_EIO);
	rc = op(o, IPWD_ACT_UNBAN, "192.0.2.1", 0, NULL);
	ok(rc == IPW_EIO && present(t, IPW_LIST_BAN, "192.0.2.1"),
	   "a refused unban leaves the entry");
	fail_next(&f, IPW_EIO);
	rc = op(o, IPWD_ACT_MODE, NULL, 0, NULL);
	ok(rc == IPW_EIO && ipw_table_mode(t) == IPW_MODE_DENYLIST,
	   "a refused mode switch leaves the mode");
	for (int i = 0; i < 3; i++)
		ipw_addr_parse_str(i == 0 ? "192.0.2.1" :
				   i == 1 ? "198.51.100.0/24" :
					    "2001:db8::1",
				   0, &specs[i].target);
	fail_next(&f, IPW_ENOSPC);
	ipwd_ops_add_batch(o, specs, 3, rcs, whats);
	ok(rcs[0] == IPW_ENOSPC && rcs[1] == IPW_ENOSPC &&
		   rcs[2] == IPW_ENOSPC &&
		   !present(t, IPW_LIST_BAN, "198.51.100.0/24") &&
		   !present(t, IPW_LIST_BAN, "2001:db8::1") &&
		   present(t, IPW_LIST_BAN, "192.0.2.1"),
	   "a refused batch fails whole and leaves the table as it was");
	ok(ipwd_ops_store_failing(o), "the store is reported failing");
	is_int((int)ipwd_ops_seq(o), 1, "no sequence number was used");
	is_int(op(o, IPWD_ACT_BAN, "192.0.2.3", 0, NULL), 0,
	       "the next ban commits");
	is_int((int)ipwd_ops_seq(o), 2, "with sequence 2: no gap");
	ok(!ipwd_ops_store_failing(o), "the store works again");
	ok(caught_up(o, 0, 2) && in_order(&r, 1, 2),
	   "the subscriber saw groups 1 and 2 only");
	ipwd_ops_free(o);
	rsub_free(&r);
	ipw_table_free(t);
	fake_free(&f);
}

/* ---- subscribers ---- */

static void test_subscribers(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct fake f;
	struct rsub a, b;
	struct ipwd_sub_status st;
	size_t loaded, expired;
	char err[200], addr[32];
	int i, bad = 0;
	bool up;

	fake_init(&f);
	rsub_init(&a, "steady");
	rsub_init(&b, "stalls");
	b.def.max_groups = 2;
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_subscribe(o, &a.def, &a) != 0 ||
	    ipwd_ops_subscribe(o, &b.def, &b) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	/* (the catch-up a start may begin is over before the stall) */
	if (!caught_up(o, 0, 0) || !caught_up(o, 1, 0))
		abort();
	stall(&b, true);
	for (i = 0; i < 10; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", i);
		bad += op(o, IPWD_ACT_BAN, addr, 0, NULL) != 0;
	}
	is_int(bad, 0,
	       "10 bans commit while a subscriber is stalled (the committer "
	       "does not wait for it)");
	st = status(o, 1);
	ok(st.resyncing && st.queued <= 2 && st.resyncs == 1,
	   "the stalled one is cut off at its bound of 2 groups and marked "
	   "for resync (queued %llu, resyncs %llu)",
	   (unsigned long long)st.queued, (unsigned long long)st.resyncs);
	ok(caught_up(o, 0, 10) && in_order(&a, 1, 10) && a.ops == 10,
	   "the steady one got groups 1..10 in order, each once");
	stall(&b, false);
	up = caught_up(o, 1, 10);
	ok(up && b.resyncs == 1 && b.rs_seq == 10 && b.rs_snap_count == 10,
	   "the stalled one catches up to 10 from a snapshot of the table "
	   "at 10 (%zu entries)",
	   b.rs_snap_count);
	ok(b.rs_from < 10, "resync() is told where it was (%llu)",
	   (unsigned long long)b.rs_from);
	is_int(op(o, IPWD_ACT_UNBAN, "203.0.113.0", 0, NULL), 0, "one more op");
	ok(caught_up(o, 1, 11) && b.seqs[b.nseqs - 1] == 11,
	   "then it gets group 11 through apply() again");

	/* a failed apply: caught up the same way (the steady one at 11
	 * first, so that the apply that fails is group 12's) */
	ok(caught_up(o, 0, 11), "the steady one is at 11");
	pthread_mutex_lock(&a.lock);
	a.fail_next = 1;
	pthread_mutex_unlock(&a.lock);
	is_int(op(o, IPWD_ACT_UNBAN, "203.0.113.1", 0, NULL), 0,
	       "an op whose apply fails in one subscriber");
	up = caught_up(o, 0, 12);
	ok(up && a.resyncs == 1 && a.rs_seq >= 12 && a.rs_from == 11,
	   "that subscriber is resynced from 11 to %llu",
	   (unsigned long long)a.rs_seq);

	/* trim: up to the lowest position only */
	stall(&b, true);
	b.def.max_groups = 2;
	is_int(op(o, IPWD_ACT_BAN, "203.0.113.50", 0, NULL), 0, "group 13");
	is_int(ipwd_ops_trim(o), 0, "trim");
	ok(f.trimmed <= 12 && f.trimmed >= 11,
	   "the op log is trimmed to the stalled subscriber's position, "
	   "not past it (%llu)",
	   (unsigned long long)f.trimmed);
	stall(&b, false);
	ok(caught_up(o, 1, 13) && caught_up(o, 0, 13),
	   "it catches up (and the steady one is at 13 too)");
	is_int(ipwd_ops_trim(o), 0, "trim again");
	is_int((int)f.trimmed, 13, "now up to 13");
	ipwd_ops_free(o);
	rsub_free(&a);
	rsub_free(&b);
	ipw_table_free(t);
	fake_free(&f);
}

static void test_drain(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct rsub r;
	size_t loaded, expired;
	char err[200], addr[32];
	int i;

	rsub_init(&r, "slow");
	r.apply_sleep_us = 5000;
	r.def.max_groups = 100;
	if (ipwd_ops_new(&o, t, "n1", NULL, NULL) != 0 ||
	    ipwd_ops_subscribe(o, &r.def, &r) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	for (i = 0; i < 20; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d", i);
		op(o, IPWD_ACT_BAN, addr, 0, NULL);
	}
	ipwd_ops_free(o);
	ok(in_order(&r, 1, 20),
	   "shut-down drains: a slow subscriber applied all 20 groups "
	   "before ipwd_ops_free() returned (memory only: %zu)",
	   r.nseqs);
	rsub_free(&r);
	ipw_table_free(t);
}

/* ---- evictions and expiries reach the subscribers ---- */

/* A subscriber that keeps every record's action and target, in order. */
struct allsub {
	struct ipwd_subscriber def;
	pthread_mutex_t lock;
	char log[64][64]; /* "action target change" */
	size_t n;
};

static int all_apply(void *ctx, const struct ipwd_group *g)
{
	struct allsub *a = ctx;
	char t[IPW_ADDR_STRLEN];

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < g->n && a->n < 64; i++) {
		ipw_addr_format(&g->recs[i].target, t, sizeof(t));
		snprintf(a->log[a->n++], sizeof(a->log[0]), "%s %s %d",
			 ipwd_action_name(g->recs[i].action), t,
			 (int)g->recs[i].change);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int all_resync(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		      uint64_t seq)
{
	(void)ctx, (void)snap, (void)from, (void)seq;
	return 0;
}

static bool all_has(struct allsub *a, const char *line)
{
	bool found = false;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n; i++)
		found = found || strcmp(a->log[i], line) == 0;
	pthread_mutex_unlock(&a->lock);
	return found;
}

static void test_evict_expire(void)
{
	struct ipw_table_opts opts = {.max_entries = 3, .clock = fake_clock};
	struct ipw_table *t;
	struct ipwd_ops *o;
	struct allsub a;
	size_t loaded, expired, i;
	char err[200], line[64];
	int64_t now;
	uint64_t seq;

	if (fake_now == 0)
		fake_now = (int64_t)time(NULL);
	now = fake_clock(NULL);
	if (ipw_table_new(&t, &opts) != 0)
		abort();
	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.lock, NULL);
	a.def.name = "all";
	a.def.apply = all_apply;
	a.def.resync = all_resync;
	if (ipwd_ops_new(&o, t, "n1", NULL, NULL) != 0 ||
	    ipwd_ops_subscribe(o, &a.def, &a) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	/* three automatic bans fill the table; the oldest expires first */
	for (i = 0; i < 3; i++) {
		struct ipwd_op x = {.action = IPWD_ACT_BAN, .actor = "rule:t"};
		enum ipw_change w;
		char addr[32];

		snprintf(addr, sizeof(addr), "192.0.2.%zu", i + 1);
		x.spec.list = IPW_LIST_BAN;
		x.spec.flags = IPW_ENTRY_AUTO;
		x.spec.expires = now + 100 + (int64_t)i;
		if (ipw_addr_parse_str(addr, 0, &x.spec.target) != 0 ||
		    ipwd_ops_apply(o, &x, &w, NULL) != 0)
			abort();
	}
	/* a manual ban evicts the automatic one that expires first */
	is_int(op(o, IPWD_ACT_BAN, "198.51.100.9", 0, NULL), 0,
	       "a manual ban into a full table of automatic bans is taken");
	ok(!present(t, IPW_LIST_BAN, "192.0.2.1") &&
		   present(t, IPW_LIST_BAN, "198.51.100.9"),
	   "... 192.0.2.1 (expiring first) was evicted for it");
	/* the others expire */
	__atomic_store_n(&fake_now, now + 200, __ATOMIC_RELAXED);
	is_int(ipwd_ops_purge(o), 2, "the two other automatic bans expire");
	seq = ipwd_ops_seq(o);
	ok(caught_up(o, 0, seq), "the subscriber applied every group (%llu)",
	   (unsigned long long)seq);
	snprintf(line, sizeof(line), "evict 192.0.2.1 %d",
		 (int)IPW_CHANGE_REMOVED);
	ok(all_has(&a, line), "the subscriber got the eviction: \"%s\"", line);
	for (i = 2; i <= 3; i++) {
		snprintf(line, sizeof(line), "expire 192.0.2.%zu %d", i,
			 (int)IPW_CHANGE_REMOVED);
		ok(all_has(&a, line), "... and the expiry: \"%s\"", line);
	}
	{
		static const char *const want[] = {
			"ban 192.0.2.1 1",    "ban 192.0.2.2 1",
			"ban 192.0.2.3 1",    "evict 192.0.2.1 4",
			"ban 198.51.100.9 1", "expire 192.0.2.2 4",
			"expire 192.0.2.3 4"};
		bool same = a.n == 7;

		for (i = 0; same && i < 7; i++)
			same = strcmp(a.log[i], want[i]) == 0;
		ok(same,
		   "... in commit order and nothing else: 3 bans, the "
		   "eviction before the manual ban that made it, 2 expiries "
		   "(%zu records)",
		   a.n);
	}
	ipwd_ops_free(o);
	pthread_mutex_destroy(&a.lock);
	ipw_table_free(t);
	__atomic_store_n(&fake_now, now, __ATOMIC_RELAXED);
}

/* ---- start-up ---- */

static void test_startup(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct fake f;
	struct rsub behind, unknown, ahead;
	size_t loaded, expired, i;
	char err[200], addr[32];
	bool up;
	int n;

	/* a first life: five groups in the store */
	fake_init(&f);
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	for (n = 0; n < 5; n++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", n + 10);
		op(o, IPWD_ACT_BAN, addr, 0, NULL);
	}
	ipwd_ops_free(o);
	ipw_table_free(t);

	/* its state as the store keeps it: two entries, one expired */
	memset(f.entries, 0, sizeof(f.entries));
	ipw_addr_parse_str("192.0.2.10", 0, &f.entries[0].target);
	ipw_addr_parse_str("192.0.2.99", 0, &f.entries[1].target);
	f.entries[1].expires = fake_now - 5;
	f.entries[0].created = f.entries[1].created = fake_now - 100;
	f.nentries = 2;
	f.mode = IPW_MODE_ALLOWLIST;

	/* the second life */
	t = table_new();
	rsub_init(&behind, "behind");
	behind.pos = 3;
	behind.pos_known = true;
	behind.read_back = true;
	behind.def.wants_snapshot = false;
	rsub_init(&unknown, "unknown");
	rsub_init(&ahead, "ahead");
	ahead.pos = 9;
	ahead.pos_known = true;
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_subscribe(o, &behind.def, &behind) != 0 ||
	    ipwd_ops_subscribe(o, &unknown.def, &unknown) != 0 ||
	    ipwd_ops_subscribe(o, &ahead.def, &ahead) != 0)
		abort();
	behind.o = o;
	is_int(ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)), 0,
	       "the load works");
	ok(loaded == 1 && expired == 1 &&
		   present(t, IPW_LIST_BAN, "192.0.2.10") &&
		   !present(t, IPW_LIST_BAN, "192.0.2.99") &&
		   ipw_table_mode(t) == IPW_MODE_ALLOWLIST,
	   "the table and the mode come back; the entry that expired while "
	   "down is not put back");
	is_int((int)ipwd_ops_seq(o), 6,
	       "the sequence goes on from the store's 5: its expiry is 6");
	up = caught_up(o, 0, 6);
	ok(up && behind.resyncs == 1 && behind.rs_from == 3 &&
		   behind.rs_read_rc == 0 && behind.rs_read >= 2,
	   "a subscriber at 3 is caught up from 3, reading groups 4.. back "
	   "from the store's op log (%zu read)",
	   behind.rs_read);
	ok(caught_up(o, 1, 6) && unknown.resyncs == 0 &&
		   in_order(&unknown, 6, 1) &&
		   unknown.last_action == IPWD_ACT_EXPIRE,
	   "one without a position starts at 5 and gets the expiry group 6");
	ok(caught_up(o, 2, 6) && ahead.resyncs == 0 && in_order(&ahead, 6, 1),
	   "one ahead of the store (9) starts at 5 too");
	for (i = 0; i < f.ng; i++)
		if (f.g[i].seq == 6)
			break;
	ok(i < f.ng && f.g[i].n == 1, "the expiry is a group in the store");
	ipwd_ops_free(o);
	rsub_free(&behind);
	rsub_free(&unknown);
	rsub_free(&ahead);
	ipw_table_free(t);
	fake_free(&f);
}

/* ---- ops from elsewhere ---- */

static void remote_ban(struct ipwd_oprec *r, struct ipw_entry_info *after,
		       const char *id, const char *node, const char *target)
{
	memset(r, 0, sizeof(*r));
	memset(after, 0, sizeof(*after));
	r->id = id;
	r->node = node;
	r->actor = "token:remote";
	r->time = 1700000000;
	r->action = IPWD_ACT_BAN;
	r->list = IPW_LIST_BAN;
	r->change = IPW_CHANGE_ADDED;
	ipw_addr_parse_str(target, 0, &r->target);
	after->target = r->target;
	after->score = 7;
	snprintf(after->reason, sizeof(after->reason), "from b");
	snprintf(after->actor, sizeof(after->actor), "token:remote");
	r->after = after;
}

static void test_remote(void)
{
	static const char id1[] = "0190f5e2-7c3a-7abc-8def-000000000001";
	static const char id2[] = "0190f5e2-7c3a-7abc-8def-000000000002";
	static const char id0[] = "0190f5e2-7c3a-7abc-8def-000000000000";
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct fake f;
	struct rsub r;
	struct ipwd_oprec op1, op2;
	struct ipw_entry_info a1, a2;
	struct ipwd_origin cur;
	enum ipw_change w[2];
	size_t loaded, expired;
	char err[200];
	int rc[2];

	fake_init(&f);
	rsub_init(&r, "rec");
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_subscribe(o, &r.def, &r) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	remote_ban(&op1, &a1, id1, "node-b", "203.0.113.7");
	is_int((int)ipwd_ops_submit(o, &op1, 1, rc, w), 0,
	       "a ban from node-b is applied");
	ok(rc[0] == 0 && w[0] == IPW_CHANGE_ADDED &&
		   present(t, IPW_LIST_BAN, "203.0.113.7"),
	   "... added to the table");
	ok(caught_up(o, 0, 1) && strcmp(r.last_id, id1) == 0 &&
		   strcmp(r.last_node, "node-b") == 0 &&
		   strcmp(r.last_actor, "token:remote") == 0 &&
		   r.last_time == 1700000000,
	   "the subscriber sees it with its own id, node, actor and time");
	ok(ipwd_ops_origin(o, "node-b", &cur) == 0 &&
		   memcmp(cur.last_id, "\x01\x90\xf5\xe2", 4) == 0 &&
		   cur.last_id[15] == 1 && cur.seq == 1,
	   "node-b's cursor is its id, at sequence 1");
	ok(f.nlast_cur == 1 && strcmp(f.last_cur[0].node, "node-b") == 0 &&
		   f.last_cur[0].last_id[15] == 1,
	   "the cursor went to the store with the group");

	/* removed here, then replayed: refused before it touches the table */
	is_int(op(o, IPWD_ACT_UNBAN, "203.0.113.7", 0, NULL), 0,
	       "a local unban");
	ipwd_ops_submit(o, &op1, 1, rc, w);
	ok(rc[0] == IPW_EEXIST && !present(t, IPW_LIST_BAN, "203.0.113.7"),
	   "the same op again is a duplicate: IPW_EEXIST, the ban is not "
	   "put back");
	remote_ban(&op2, &a2, id0, "node-b", "203.0.113.8");
	ipwd_ops_submit(o, &op2, 1, rc, w);
	ok(rc[0] == IPW_EEXIST && !present(t, IPW_LIST_BAN, "203.0.113.8"),
	   "an older op of node-b is refused too");
	{
		struct ipwd_ops_counters c;

		ipwd_ops_counters(o, &c);
		is_int((int)c.duplicates, 2, "two duplicates counted");
	}

	/* a failed commit puts the cursor back */
	remote_ban(&op2, &a2, id2, "node-b", "203.0.113.9");
	fail_next(&f, IPW_EIO);
	ipwd_ops_submit(o, &op2, 1, rc, w);
	ok(rc[0] == IPW_EIO && !present(t, IPW_LIST_BAN, "203.0.113.9"),
	   "an op of node-b the store refuses fails");
	ok(ipwd_ops_origin(o, "node-b", &cur) == 0 && cur.last_id[15] == 1,
	   "... and node-b's cursor is back at its previous op");
	ipwd_ops_submit(o, &op2, 1, rc, w);
	ok(rc[0] == 0 && present(t, IPW_LIST_BAN, "203.0.113.9"),
	   "so the same op applies when it comes again");

	/* two in one submission: the second replays the first */
	remote_ban(&op1, &a1, "0190f5e2-7c3a-7abc-8def-000000000005", "node-c",
		   "198.51.100.1");
	{
		struct ipwd_oprec two[2] = {op1, op1};

		ipwd_ops_submit(o, two, 2, rc, w);
		ok(rc[0] == 0 && rc[1] == IPW_EEXIST,
		   "within one submission, a repeat is a duplicate too");
	}
	/* not from elsewhere: expiries, bad ids */
	op2.action = IPWD_ACT_EXPIRE;
	op2.id = "0190f5e2-7c3a-7abc-8def-000000000009";
	ipwd_ops_submit(o, &op2, 1, rc, w);
	is_int(rc[0], IPW_EINVAL, "an expiry from elsewhere is refused");
	op2.action = IPWD_ACT_BAN;
	op2.id = "not an id";
	ipwd_ops_submit(o, &op2, 1, rc, w);
	is_int(rc[0], IPW_EINVAL, "an op without a valid id is refused");
	ipwd_ops_free(o);
	rsub_free(&r);
	ipw_table_free(t);
	fake_free(&f);
}

/* ---- ids across a restart with the clock stepped back ---- */

static void test_ids(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct fake f;
	size_t loaded, expired;
	char err[200], id[IPWD_OPID_LEN], stored[IPWD_OPID_LEN];
	uint8_t b[16];
	uint64_t ms = ((uint64_t)time(NULL) + 86400) * 1000; /* a day ahead */
	int i, bad = 0;

	fake_init(&f);
	f.seq = 3;
	snprintf(f.origins[0].node, sizeof(f.origins[0].node), "n1");
	for (i = 0; i < 6; i++)
		f.origins[0].last_id[i] = (uint8_t)(ms >> (40 - 8 * i));
	f.origins[0].last_id[6] = 0x7f; /* counter at its top */
	f.origins[0].last_id[7] = 0xff;
	f.origins[0].last_id[8] = 0x80;
	f.norigins = 1;
	ipwd_opid_format(f.origins[0].last_id, stored);
	if (ipwd_ops_new(&o, t, "n1", &fake_iface, &f) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	for (i = 0; i < 5000; i++) {
		ipwd_ops_new_id(o, id);
		if (strcmp(id, stored) <= 0)
			bad++;
		snprintf(stored, sizeof(stored), "%s", id);
	}
	is_int(bad, 0,
	       "5000 new ids, each above the one before, starting above the "
	       "last id stored a day ahead of the clock");
	ipwd_opid_parse(id, 36, b);
	ok(ipwd_opid_ms(b) >= ms, "they borrow milliseconds past it");
	ipwd_ops_free(o);
	ipw_table_free(t);
	fake_free(&f);

	/* Without a stored id ahead of it, ids follow the clock: 3000
	 * single-op groups (each moves this node's cursor) must not push
	 * them ahead (a cursor that re-seeded the generator at every group
	 * would borrow a millisecond each: 3 s ahead). */
	t = table_new();
	if (ipwd_ops_new(&o, t, "n1", NULL, NULL) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	for (i = 0; i < 3000; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.2.%d.%d", i / 256, i % 256);
		op(o, IPWD_ACT_BAN, a, 0, NULL);
	}
	ipwd_ops_new_id(o, id);
	ipwd_opid_parse(id, 36, b);
	ok(ipwd_opid_ms(b) <= (uint64_t)time(NULL) * 1000 + 1000,
	   "3000 groups later, ids are still at the clock, not ahead of it");
	ipwd_ops_free(o);
	ipw_table_free(t);
}

/* ---- snapshot at a sequence ---- */

struct batcher {
	struct ipwd_ops *o;
	int groups;
};

static void *batcher_main(void *arg)
{
	struct batcher *b = arg;
	struct ipw_entry_spec specs[100];
	int rcs[100];
	enum ipw_change whats[100];
	int g, i;

	for (g = 0; g < b->groups; g++) {
		for (i = 0; i < 100; i++) {
			memset(&specs[i], 0, sizeof(specs[i]));
			ipw_addr_from_v4(&specs[i].target,
					 0x0a000000u + (uint32_t)(g * 100 + i),
					 32);
		}
		ipwd_ops_add_batch(b->o, specs, 100, rcs, whats);
	}
	return NULL;
}

static void test_snapshot(void)
{
	struct ipw_table *t = table_new();
	struct ipwd_ops *o;
	struct batcher b;
	pthread_t th;
	size_t loaded, expired;
	char err[200];
	int k, bad = 0, taken = 0;

	if (ipwd_ops_new(&o, t, "n1", NULL, NULL) != 0 ||
	    ipwd_ops_load(o, &loaded, &expired, err, sizeof(err)) != 0)
		abort();
	b = (struct batcher){o, 200};
	pthread_create(&th, NULL, batcher_main, &b);
	for (k = 0; k < 400 && ipwd_ops_seq(o) < 200; k++) {
		struct ipw_snapshot *s;
		uint64_t seq;

		if (ipwd_ops_snapshot(o, &s, &seq) != 0)
			abort();
		/* one writer, one batch of 100 new entries per group */
		if (ipw_snapshot_count(s) != seq * 100)
			bad++;
		taken++;
		ipw_snapshot_free(s);
	}
	pthread_join(th, NULL);
	is_int(bad, 0,
	       "each of %d snapshots taken while batches commit holds exactly "
	       "100 entries per group up to its sequence",
	       taken);
	ipwd_ops_free(o);
	ipw_table_free(t);
}

int main(void)
{
	test_group_commit();
	test_undo();
	test_subscribers();
	test_drain();
	test_evict_expire();
	test_startup();
	test_remote();
	test_ids();
	test_snapshot();
	return done_testing();
}
