/* SPDX-License-Identifier: MIT */
/*
 * The one write path. Every change to the ban table (ban, unban, allow,
 * disallow, mode, expire, evict) is an op: an action with a unique,
 * time-ordered id (a UUIDv7), the wall-clock time, the actor and the
 * origin node. The HTTP handlers, the purger and the start-up load change
 * the table through here and nowhere else (later: the cluster and the
 * auto-ban engine too).
 *
 * Group commit. Writers hand their ops to one committer thread and wait.
 * The committer takes every op queued so far (a group), applies each to
 * the table, records the whole group in the durable store in one
 * transaction (one fsync with [store] sync = full), wakes the writers,
 * and hands the group to the audit thread, which writes its lines while
 * the committer goes on with the next group. So an op is acknowledged only once it is
 * durable, and N concurrent writers share one fsync. If the commit fails
 * (a full disk, an I/O error), the group's changes to the table are undone
 * in reverse order (ipw_table_put() of each entry as it was before, or
 * ipw_table_del() of what did not exist), and every op of the group fails
 * with IPW_ENOSPC or IPW_EIO: the table and the store stay equal. Checks
 * never wait for any of this: they read the table.
 *
 * Thread-safety: every function may be called from any thread, except
 * _new, _load and _free (start-up and exit, one thread).
 */
#ifndef IPWALL_DAEMON_OPS_H
#define IPWALL_DAEMON_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "oplog/audit.h"
#include "oplog/store.h"

struct ipwd_ops;

struct ipwd_op {
	char id[IPWD_OPID_LEN]; /* filled by ipwd_ops_apply() */
	int64_t time;		/* wall-clock seconds, filled */
	enum ipwd_action action;
	const char *actor;	    /* "token:NAME", "unix:USER", "purger" */
	struct ipw_entry_spec spec; /* ban/allow: all; unban/disallow:
				       target and list */
	enum ipw_mode mode;	    /* mode ops */
};

/*
 * ipwd_ops_new() - the write path for @t, with @store (NULL: memory only)
 * and @audit (NULL: no audit log), both still owned by the caller and used
 * by the committer thread only. Starts the committer thread.
 */
int ipwd_ops_new(struct ipwd_ops **out, struct ipw_table *t, const char *node,
		 struct ipwd_store *store, struct ipwd_audit *audit);
/* Stop the committer (after the ops already queued) and free. */
void ipwd_ops_free(struct ipwd_ops *o);
struct ipw_table *ipwd_ops_table(struct ipwd_ops *o);
const char *ipwd_ops_node(struct ipwd_ops *o);

/*
 * ipwd_ops_load() - rebuild the table from the store at start-up: every
 * stored entry that has not expired is put back exactly (created time,
 * hits, metadata); each one that expired while ipwalld was down gets an
 * expire op (history and audit log), and the stored mode is restored.
 * Call before the first writer. Returns 0, or -1 with @err.
 */
int ipwd_ops_load(struct ipwd_ops *o, size_t *loaded, size_t *expired,
		  char *err, size_t errlen);

/* A new op id (UUIDv7: 48-bit milliseconds, then a counter within the
 * millisecond, then random bits; ids from one process sort in the order
 * they were made). */
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

/* A counter that grows with every group that changed the table (readers
 * use it to tell whether a cached view is still current). */
uint64_t ipwd_ops_generation(struct ipwd_ops *o);

/* Purge expired entries (each an expire op, recorded); returns how many. */
size_t ipwd_ops_purge(struct ipwd_ops *o);

/* History retention: delete up to @max of the oldest ops made before
 * @before (Unix seconds) from the store, in a group of their own. Returns
 * how many, or a negative IPW_E*. Deleting history is not an op: the
 * current state does not change. */
int64_t ipwd_ops_prune_history(struct ipwd_ops *o, int64_t before, size_t max);

/* Reopen the audit log file (SIGHUP). */
void ipwd_ops_reopen_audit(struct ipwd_ops *o);

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
};
void ipwd_ops_counters(struct ipwd_ops *o, struct ipwd_ops_counters *out);

#endif /* IPWALL_DAEMON_OPS_H */
