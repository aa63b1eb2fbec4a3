/* SPDX-License-Identifier: MIT */
/*
 * The op log's insides, shared by ops.c (the committer), subs.c (the
 * subscribers) and load.c (start-up). Not for use outside oplog/.
 *
 * Locks, in the order they may be taken:
 *   apply_lock  held by the committer from the first op of a group to the
 *               group's hand-over to the subscribers (or its undo); held
 *               by a snapshot at a sequence. So a snapshot sees no group
 *               half applied, and a subscriber resynced to sequence S gets
 *               exactly the groups after S.
 *   sub->lock   a subscriber's queue and flags
 *   qlock       the job queue (writers and the committer)
 *   id_lock     the id generator
 * The committer-only fields (group being built, cursors, counters) need
 * no lock.
 */
#ifndef IPWALL_DAEMON_OPLOG_OPS_INT_H
#define IPWALL_DAEMON_OPLOG_OPS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oplog/ops.h"

/* One op of a group, as recorded. */
struct rec {
	struct ipwd_oprec r;
	char id[IPWD_OPID_LEN];
	char actor[IPWD_ACTOR_MAX];
	char node[IPWD_NODE_MAX]; /* an op from elsewhere's node */
	bool has_before, has_after;
	struct ipw_entry_info before, after;
};

/* A committed group, shared by reference by the subscribers it is queued
 * for; freed by the last unref. */
struct grp {
	struct ipwd_group g;
	struct ipwd_ops *o; /* its pool */
	int refs;	    /* atomic */
	struct rec *recs;
	struct ipwd_oprec *flat;
	size_t n, cap;
	size_t bytes; /* of records, for the queues' bounds */
};

struct sub {
	const struct ipwd_subscriber *s;
	void *ctx;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	pthread_cond_t applied_cv; /* broadcast when applied moves */
	struct grp **q;		   /* a ring of qcap */
	size_t qhead, qlen, qcap, qbytes;
	size_t max_groups, max_bytes;
	bool resync; /* marked: its queue was dropped; catch up */
	bool stop;
	bool flush_now;	  /* a reader waits for it (ipwd_ops_wait()) */
	uint64_t applied; /* atomic: the last sequence it applied */
	uint64_t resyncs; /* atomic */
	int failing;	  /* atomic */
	int catching;	  /* atomic: in resync() now */
};

#define MAX_SUBS 16
/* groups kept for reuse: at most this many, holding at most this much */
#define POOL_GROUPS 32
#define POOL_BYTES  (64u << 20)

struct ipwd_ops {
	struct ipw_table *t;
	const struct ipwd_store_iface *si;
	void *store;
	char node[IPWD_NODE_MAX];

	pthread_mutex_t id_lock;
	uint64_t last_ms;
	uint32_t idseq;
	uint64_t rnd_state[2];

	pthread_mutex_t apply_lock;
	uint64_t seq;	     /* atomic: the last committed sequence */
	uint64_t trimmed;    /* committer: the op log is trimmed up to */
	uint64_t generation; /* atomic */
	int store_failing;   /* atomic */
	struct ipwd_ops_counters cnt; /* written by the committer only */

	/* cluster mode's arbiter (ipwd_ops_set_arbiter()), and how many
	 * records of the group being built it was told of */
	const struct ipwd_arbiter *arb;
	void *arb_ctx;
	size_t arb_fed;

	/* origins' cursors (committer; _load) */
	struct ipwd_origin *origins;
	size_t norigins, caporigins;

	struct sub subs[MAX_SUBS];
	size_t nsubs;
	pthread_mutex_t read_lock; /* one store read at a time */

	pthread_mutex_t qlock;
	pthread_cond_t qwork;
	struct job *head, **tail;
	bool stop;
	pthread_t thread;
	bool running;

	/* committer thread only: the group being built */
	struct grp *cur;
	struct grp *spare; /* a group nobody took, kept for the next */
	bool drop_spare;   /* atomic: free it instead (idle) */
	/* groups the subscribers let go, for the next (ops.c) */
	pthread_mutex_t pool_lock;
	struct grp *pool[POOL_GROUPS];
	size_t npool;
	size_t pool_bytes; /* their records' capacity */
	bool pool_closed;
};

/* committer (ops.c) */
/* Expire ops for @n entries that expired while ipwalld was down, as one
 * group (start-up). 0 or the store's error. */
int ipwd_ops_record_expired(struct ipwd_ops *o, const struct ipw_entry_info *v,
			    size_t n);
/* Set an origin's cursor (start-up); this node's also raises the id
 * generator's clock to its id. 0 or IPW_ENOMEM. */
int ipwd_ops_origin_set(struct ipwd_ops *o, const struct ipwd_origin *c);

/* subscribers (subs.c) */
void ipwd_subs_publish(struct ipwd_ops *o, struct grp *g);
/* Where each subscriber starts, against the store's sequence @seq. */
void ipwd_subs_start(struct ipwd_ops *o, uint64_t seq);
/* Wake the subscribers with groups queued (the committer, at the end of
 * a burst). */
void ipwd_subs_kick(struct ipwd_ops *o);
/* Start their threads. 0 or IPW_ENOMEM. */
int ipwd_subs_run(struct ipwd_ops *o);
/* Drain and stop them (after the committer). */
void ipwd_subs_stop(struct ipwd_ops *o);
/* The lowest sequence a subscriber has applied (the store's op log must
 * keep what follows it). */
uint64_t ipwd_subs_low(struct ipwd_ops *o);
void ipwd_grp_unref(struct grp *g);

#endif /* IPWALL_DAEMON_OPLOG_OPS_INT_H */
