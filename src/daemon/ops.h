/* SPDX-License-Identifier: MIT */
/*
 * The one write path. Every change to the ban table (ban, unban, allow,
 * disallow, mode, expire, evict) is an op: an action with a unique,
 * time-ordered id (a UUIDv7), the wall-clock time, the actor and the
 * origin node. The HTTP handlers, the purger and (later) the store, the
 * cluster and the auto-ban engine all change the table through here and
 * nowhere else, so there is one place that counts, logs, persists and fans
 * out. Today an op is applied to the table and counted in the metrics;
 * the durable store and the enforcement backends hook in here.
 *
 * Thread-safety: every function may be called from any thread; the table
 * serialises writers, and op ids come from one mutex-protected generator.
 */
#ifndef IPWALL_DAEMON_OPS_H
#define IPWALL_DAEMON_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "metrics.h"

#define IPWD_OPID_LEN 37 /* UUID text + NUL */

struct ipwd_ops;

struct ipwd_op {
	char id[IPWD_OPID_LEN]; /* filled by ipwd_ops_* */
	int64_t time;		/* wall-clock seconds, filled */
	enum ipwd_action action;
	const char *actor;	    /* "token:NAME", "unix:USER", "purger" */
	struct ipw_entry_spec spec; /* ban/allow: all; unban/disallow:
				       target and list */
	enum ipw_mode mode;	    /* mode ops */
};

int ipwd_ops_new(struct ipwd_ops **out, struct ipw_table *t, const char *node);
void ipwd_ops_free(struct ipwd_ops *o);
struct ipw_table *ipwd_ops_table(struct ipwd_ops *o);
const char *ipwd_ops_node(struct ipwd_ops *o);

/* A new op id (UUIDv7: 48-bit milliseconds, then a counter within the
 * millisecond, then random bits; ids from one process sort in the order
 * they were made). */
void ipwd_ops_new_id(struct ipwd_ops *o, char id[IPWD_OPID_LEN]);

/*
 * ipwd_ops_apply() - apply one op. @what receives the table's change;
 * @info (may be NULL) a copy of the entry after a ban/allow, or of the
 * removed entry after an unban/disallow (valid when the change is ADDED,
 * EXTENDED, UNCHANGED or REMOVED). Returns 0 or the table's IPW_E* code
 * (the table is then unchanged).
 */
int ipwd_ops_apply(struct ipwd_ops *o, struct ipwd_op *op,
		   enum ipw_change *what, struct ipw_entry_info *info);

/*
 * ipwd_ops_add_batch() - ban/allow ops for @n specs (each carries its
 * actor), applied in order in chunks under the table's batch call.
 * Each item is an op; today they are counted but get no id of their own
 * (nothing records them yet: the durable store of the next issue will).
 * @rcs, @whats: out, n each. Returns the number that failed.
 */
size_t ipwd_ops_add_batch(struct ipwd_ops *o,
			  const struct ipw_entry_spec *specs, size_t n,
			  int *rcs, enum ipw_change *whats);

/* A counter that grows with every op that changed the table (readers
 * use it to tell whether a cached view is still current). */
uint64_t ipwd_ops_generation(struct ipwd_ops *o);

/* Purge expired entries (each an expire op); returns how many. */
size_t ipwd_ops_purge(struct ipwd_ops *o);

#endif /* IPWALL_DAEMON_OPS_H */
