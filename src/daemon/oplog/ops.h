/* SPDX-License-Identifier: MIT */
/*
 * The op log: the one write path, and the one ordered stream of what it
 * committed.
 *
 * Every change to the ban table (ban, unban, allow, disallow, mode,
 * expire, evict) is an op: an action with a unique, time-ordered id (a
 * UUIDv7), the wall-clock time, the actor and the origin node. The HTTP
 * handlers, the purger, the start-up load and other nodes' ops
 * (ipwd_ops_submit()) change the table through here and nowhere else.
 *
 * Group commit. Writers hand their ops to one committer thread and wait.
 * The committer takes every op queued so far (a group), applies each to
 * the table, and gives the group the next number of a gap-free sequence;
 * the durable store records the group, its sequence and the origins'
 * cursors in one transaction (one fsync with [store] sync = full). Then
 * the writers are woken: an op is acknowledged only once it is durable,
 * and N concurrent writers share one fsync. If the commit fails (a full
 * disk, an I/O error), the group's changes to the table are undone in
 * reverse order, the sequence number is not used, and every op of the
 * group fails with IPW_ENOSPC or IPW_EIO: the table and the store stay
 * equal. Checks never wait for any of this: they read the table.
 *
 * Subscribers. Each committed group is then handed, in sequence order, to
 * every subscriber (the audit log; later the kernel backends, the cluster
 * and push streams): each has a bounded queue and a thread of its own,
 * and the committer never waits for one. A subscriber whose queue is full
 * loses it and is marked for resync: its thread takes a snapshot of the
 * table at the latest sequence S (ipwd_ops_snapshot()), hands it to the
 * subscriber's resync() with the position it had, and from then on gets
 * the groups after S. At start, a subscriber whose durable position is
 * behind the store's is resynced the same way (the audit log writes the
 * missing lines from the store's op log).
 *
 * Ops from elsewhere keep their own id, node and time. For each origin
 * node the op log keeps a cursor, the highest op id it has applied from
 * that node, saved in the same transaction as the ops: an op whose id is
 * not above its origin's cursor is a duplicate and is refused before it
 * touches the table. Local ops advance this node's own cursor, which also
 * seeds the id generator at start, so ids keep increasing across restarts
 * even when the wall clock stepped back.
 *
 * Thread-safety: every function may be called from any thread, except
 * _new, _subscribe, _load and _free (start-up and exit, one thread).
 */
#ifndef IPWALL_DAEMON_OPLOG_OPS_H
#define IPWALL_DAEMON_OPLOG_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "oplog/op.h"

struct ipwd_ops;

/* A local op, as a handler asks for it. */
struct ipwd_op {
	char id[IPWD_OPID_LEN]; /* filled by ipwd_ops_apply() */
	int64_t time;		/* wall-clock seconds, filled */
	uint64_t seq;		/* its group's sequence, filled */
	enum ipwd_action action;
	const char *actor;	    /* "token:NAME", "unix:USER", "purger" */
	struct ipw_entry_spec spec; /* ban/allow: all; unban/disallow:
				       target and list */
	enum ipw_mode mode;	    /* mode ops */
};

/* A committed group: its sequence and its records, in the order they
 * were applied (each record's seq is the group's). Valid during the call
 * it is handed to. */
struct ipwd_group {
	uint64_t seq;
	size_t n;
	const struct ipwd_oprec *recs;
};

/* An origin node's cursor: the highest op id applied from it, and the
 * sequence of the group that applied it. */
struct ipwd_origin {
	char node[IPWD_NODE_MAX];
	uint8_t last_id[16];
	uint64_t seq;
};

/*
 * The durable store, as the op log uses it (oplog/store.c implements it
 * with SQLite; tests/unit/test_ops.c with a fake). Called from the
 * committer thread, and from _load at start; one call at a time.
 */
struct ipwd_store_iface {
	/* Make @g durable in one transaction: its records, its sequence,
	 * and the cursors @cur of the origins it has ops from. 0, or
	 * IPW_ENOSPC / IPW_EIO / IPW_ENOMEM: nothing of it was stored. */
	int (*commit)(void *s, const struct ipwd_group *g,
		      const struct ipwd_origin *cur, size_t ncur);
	/* Forget the op log's groups up to @seq (every subscriber that
	 * keeps a position has them). 0 or a negative IPW_E*. */
	int (*trim)(void *s, uint64_t seq);
	/* Start-up: the stored mode (-1: never set), the sequence the
	 * stored entries are at (*@indexed), the last committed sequence
	 * (*@seq: the groups after @indexed are read back and replayed),
	 * and every origin's cursor, to @origin (a later call for a node
	 * supersedes an earlier). 0 or -1 with @err. */
	int (*load_meta)(void *s, int *mode, uint64_t *indexed, uint64_t *seq,
			 int (*origin)(void *ctx, const struct ipwd_origin *o),
			 void *ctx, char *err, size_t errlen);
	/* Start-up: how many entries, by [list][0 IPv4, 1 IPv6]. 0 or -1. */
	int (*count)(void *s, int64_t n[2][2]);
	/* Start-up: every entry (expired ones too), in batches, to @cb.
	 * 0, -1 with @err, or @cb's non-zero. */
	int (*load_entries)(void *s,
			    int (*cb)(void *ctx, const struct ipw_entry_info *v,
				      size_t n),
			    void *ctx, char *err, size_t errlen);
	/* The committed groups with sequence in (@from, @to], in order, to
	 * @cb. IPW_ENOENT when the op log no longer holds group @from + 1
	 * (trimmed); @cb's non-zero; a negative IPW_E*. Any thread, but one
	 * call at a time (the op log serialises them). */
	int (*read)(void *s, uint64_t from, uint64_t to,
		    int (*cb)(void *ctx, const struct ipwd_group *g),
		    void *ctx);
	/* The store's message for the last failure. */
	const char *(*errmsg)(void *s);
};

/*
 * ipwd_ops_new() - the op log for table @t, this node called @node, with
 * the store @si/@store (@si NULL: memory only, sequences start at 1 each
 * run). The store stays the caller's. Starts the committer thread.
 */
int ipwd_ops_new(struct ipwd_ops **out, struct ipw_table *t, const char *node,
		 const struct ipwd_store_iface *si, void *store);
/* Stop the committer (after the ops already queued), let every
 * subscriber apply what it was handed (shut-down drains them), free. */
void ipwd_ops_free(struct ipwd_ops *o);
struct ipw_table *ipwd_ops_table(struct ipwd_ops *o);
const char *ipwd_ops_node(struct ipwd_ops *o);

/*
 * Subscribers.
 *
 * position(): the last sequence the subscriber has made durable (an
 *   audit line written, a kernel map updated), *@known false when it
 *   keeps none or cannot tell (then it is resynced at start only if
 *   always_resync). Called once, from _load.
 * apply(): one committed group, in sequence order, each once, on the
 *   subscriber's thread. A non-zero return marks it for resync.
 * resync(): catch up to sequence @seq: the groups (@from, @seq] were not
 *   handed to apply(); @snap is the table at @seq (when wants_snapshot,
 *   else NULL; the op log frees it after the call). On the subscriber's
 *   thread. Then apply() gets the groups after @seq.
 * flush() (may be NULL): make what apply() did durable (a subscriber
 *   that batches its own writes: the store's index commits one
 *   transaction for many groups). Called when its queue runs empty and
 *   at stop; 0, or non-zero: it is resynced from its last flush. With a
 *   flush(), a group counts as applied (for trimming the op log, for
 *   /healthz, for ipwd_ops_wait()) once a flush after it returned 0.
 * Queue bounds: max_groups (0: 4096) groups and max_bytes (0: 64 MiB) of
 * records (about 1.2 KiB per op); a group that would pass either marks
 * the subscriber for resync (an empty queue takes one group of any
 * size).
 */
struct ipwd_subscriber {
	const char *name;
	uint64_t (*position)(void *ctx, bool *known);
	int (*apply)(void *ctx, const struct ipwd_group *g);
	int (*resync)(void *ctx, struct ipw_snapshot *snap, uint64_t from,
		      uint64_t seq);
	int (*flush)(void *ctx);
	/* With a flush(): when the queue runs empty, wait this long for more
	 * groups before flushing (0: flush at once), but flush at the latest
	 * flush_max_ms after the first unflushed apply, or at once when
	 * someone waits for it (ipwd_ops_wait()). */
	unsigned flush_idle_ms, flush_max_ms;
	bool wants_snapshot;
	bool always_resync; /* resync at every start (keeps no position) */
	size_t max_groups, max_bytes;
};

/* Add a subscriber (before ipwd_ops_load()); @s and @ctx live until
 * ipwd_ops_free(). 0 or IPW_ENOMEM. */
int ipwd_ops_subscribe(struct ipwd_ops *o, const struct ipwd_subscriber *s,
		       void *ctx);

/* Where a subscriber stands, for /metrics and /healthz. */
struct ipwd_sub_status {
	const char *name;
	uint64_t applied; /* the last sequence it applied */
	uint64_t queued;  /* groups waiting for it */
	uint64_t resyncs; /* times it fell behind and was resynced */
	bool resyncing;	  /* marked or catching up now */
	bool failing;	  /* its last apply or resync failed */
};
/* Free the committed groups kept for reuse (idle: the next burst
 * allocates again): those in the pool now, the bytes of records they
 * held, and the committer's spare after its next group. Any thread. */
size_t ipwd_ops_release_pool(struct ipwd_ops *o);

/* The status of up to @max subscribers into @out; how many there are. */
size_t ipwd_ops_subscribers(struct ipwd_ops *o, struct ipwd_sub_status *out,
			    size_t max);

/* ipwd_ops_request_resync() - have subscriber @name catch up from a
 * snapshot as if it had fallen behind (its queue is dropped; its thread
 * calls resync() with the table at the latest sequence, then apply()
 * goes on after it): a periodic reconcile, serialised with apply() on the
 * subscriber's own thread. Not counted in resyncs. 0 or IPW_ENOENT. Any
 * thread. */
int ipwd_ops_request_resync(struct ipwd_ops *o, const char *name);

/* Wait until subscriber @name has applied sequence @seq (a reader that
 * must see its own writes: history queries wait for the store's index),
 * at most @timeout_ms. 0, IPW_EAGAIN (timed out), IPW_ENOENT (no such
 * subscriber). Any thread. */
int ipwd_ops_wait(struct ipwd_ops *o, const char *name, uint64_t seq,
		  unsigned timeout_ms);

/*
 * ipwd_ops_load() - rebuild the table from the store at start-up: every
 * stored entry that has not expired is put back exactly (created time,
 * hits, metadata); each one that expired while ipwalld was down gets an
 * expire op; the stored mode, the sequence and the origins' cursors are
 * restored. Then each subscriber behind the store is marked for resync,
 * and every subscriber's thread starts. Call before the first writer.
 * Returns 0, or -1 with @err.
 */
int ipwd_ops_load(struct ipwd_ops *o, size_t *loaded, size_t *expired,
		  char *err, size_t errlen);

/* A new op id (UUIDv7: 48-bit milliseconds, then a counter within the
 * millisecond, then random bits; ids from one node increase strictly,
 * across restarts too). */
void ipwd_ops_new_id(struct ipwd_ops *o, char id[IPWD_OPID_LEN]);

/*
 * ipwd_ops_apply() - apply one op and wait until it is durable. @what
 * receives the table's change; @info (may be NULL) a copy of the entry
 * after a ban/allow, or of the removed entry after an unban/disallow.
 * Returns 0 or an IPW_E* code: the table's (the op was refused, nothing
 * changed) or the store's (IPW_ENOSPC, IPW_EIO: nothing changed either).
 */
int ipwd_ops_apply(struct ipwd_ops *o, struct ipwd_op *op,
		   enum ipw_change *what, struct ipw_entry_info *info);

/*
 * ipwd_ops_add_batch() - ban/allow ops for @n specs (each carries its
 * actor), applied in order as one job of one group, and waited for.
 * @rcs, @whats: out, n each. Returns the number that failed; when the
 * store fails, all of them fail with its code.
 */
size_t ipwd_ops_add_batch(struct ipwd_ops *o,
			  const struct ipw_entry_spec *specs, size_t n,
			  int *rcs, enum ipw_change *whats);

/*
 * ipwd_ops_submit() - apply @n ops made elsewhere (another node), each
 * keeping its id, node, time and actor: ban and allow take their entry
 * from @ops[i].after (expiry, score, flags, reason, actor, source),
 * unban and disallow their target, mode their mode; expire and evict are
 * refused (IPW_EINVAL: each node decides them from the expiry it has).
 * An op whose id is not above the cursor of its node is refused with
 * IPW_EEXIST before it touches the table. One group, waited for.
 * @rcs, @whats: out, n each. Returns the number that failed.
 */
size_t ipwd_ops_submit(struct ipwd_ops *o, const struct ipwd_oprec *ops,
		       size_t n, int *rcs, enum ipw_change *whats);

/*
 * ipwd_ops_submit_at() - ipwd_ops_submit(), in the same group as the
 * cursor @at (may be NULL), a position of the caller's that must be
 * durable with the ops it applied (the cluster's place in the stream, as
 * a pseudo-origin whose name starts with '~'): it is set as given, even
 * lower than before. When @state is true, the ops are states read back
 * (a reload): the duplicate check by origin cursor is skipped (states
 * come out of order), only the arbiter decides, and no origin's cursor
 * moves (a state says nothing of the other ops of its origin). An op the arbiter finds superseded gets
 * IPWD_SUPERSEDED (> 0, not a failure) in @rcs and changes nothing.
 * Returns the number that failed (rcs < 0).
 */
#define IPWD_SUPERSEDED 1
size_t ipwd_ops_submit_at(struct ipwd_ops *o, const struct ipwd_oprec *ops,
			  size_t n, const struct ipwd_origin *at, bool state,
			  int *rcs, enum ipw_change *whats);

/*
 * The arbiter: cluster mode's rule for which op wins a target when ops
 * from several nodes cross (cluster/arbiter.c). Called on the committer
 * thread only:
 *   admit(): an op from elsewhere, after the duplicate check, before it
 *     touches the table: 1 apply it, 0 superseded (a later op on its
 *     target is applied already; its origin's cursor still moves).
 *   record(): each record of the group being built, in order, exactly
 *     once: before the next admit() (so a second op on a target in the
 *     same group sees the first) and before the commit.
 *   end(): the group was committed (true), or undone (false: what
 *     record() was told since the last end() did not happen).
 * With an arbiter, a ban or allow from elsewhere makes the entry exactly
 * the op's `after` (ipw_table_put()): the entry its origin ended with,
 * not merged with this node's, so every node ends with the same entry.
 * And this node's id clock is raised past the id of every op from
 * elsewhere it applies (a hybrid logical clock): an op made here after
 * one from elsewhere was applied always has the greater id.
 * Set before ipwd_ops_load(); @a and @ctx live until ipwd_ops_free().
 */
struct ipwd_arbiter {
	int (*admit)(void *ctx, const struct ipwd_oprec *op);
	void (*record)(void *ctx, const struct ipwd_oprec *r);
	void (*end)(void *ctx, bool committed);
};
void ipwd_ops_set_arbiter(struct ipwd_ops *o, const struct ipwd_arbiter *a,
			  void *ctx);
/* Raise this node's id clock past op id @id (16 bytes): the ids made here
 * from now on are above it. For the arbiter's owner at start (the
 * greatest op the history holds, states included). Any thread. */
void ipwd_ops_observe_id(struct ipwd_ops *o, const uint8_t id[16]);

/*
 * ipwd_ops_snapshot() - the table exactly as of sequence *@seq (the last
 * committed group): taken between groups, so writers wait for it as
 * they wait for ipw_table_snapshot(). Free with ipw_snapshot_free().
 */
int ipwd_ops_snapshot(struct ipwd_ops *o, struct ipw_snapshot **snap,
		      uint64_t *seq);

/* The sequence of the last committed group. */
uint64_t ipwd_ops_seq(struct ipwd_ops *o);

/*
 * ipwd_ops_read() - the committed groups with sequence in (@from, @to],
 * from the store's op log, in order, to @cb (for a subscriber catching
 * up; @to at most ipwd_ops_seq()). IPW_ENOENT when the op log no longer
 * holds them (trimmed: every subscriber that keeps a position had them),
 * or without a store; @cb's non-zero; a negative IPW_E*. Any thread.
 */
int ipwd_ops_read(struct ipwd_ops *o, uint64_t from, uint64_t to,
		  int (*cb)(void *ctx, const struct ipwd_group *g), void *ctx);

/* The cursor of origin @node: 0 with @out set, IPW_ENOENT if no op of it
 * was ever applied. */
int ipwd_ops_origin(struct ipwd_ops *o, const char *node,
		    struct ipwd_origin *out);

/* A counter that grows with every group that changed the table (readers
 * use it to tell whether a cached view is still current). */
uint64_t ipwd_ops_generation(struct ipwd_ops *o);

/* Purge expired entries (each an expire op, recorded); returns how many. */
size_t ipwd_ops_purge(struct ipwd_ops *o);

/* Trim the store's op log up to the lowest position a subscriber has
 * applied (a job of its own; nothing to do is cheap). 0 or IPW_E*. */
int ipwd_ops_trim(struct ipwd_ops *o);

/* Whether the last commit failed (the store is unavailable): /healthz. */
bool ipwd_ops_store_failing(struct ipwd_ops *o);

/* What the write path has done since it started, for /metrics. Counted
 * by the committer thread; read from any thread (each counter is its
 * latest or a slightly older value, never torn). */
struct ipwd_ops_counters {
	uint64_t ops[IPWD_ACT_COUNT][8]; /* committed, by result */
	uint64_t commits;		 /* store transactions */
	uint64_t committed_ops;		 /* ops in them */
	uint64_t commit_failures;	 /* groups the store refused */
	uint64_t duplicates;		 /* ops from elsewhere refused */
	uint64_t superseded;		 /* ... skipped by the arbiter */
	uint64_t seq;			 /* the last committed sequence */
	uint64_t committer_ns;		 /* CPU time of the committer */
};
void ipwd_ops_counters(struct ipwd_ops *o, struct ipwd_ops_counters *out);

#endif /* IPWALL_DAEMON_OPLOG_OPS_H */
