/* SPDX-License-Identifier: MIT */
/*
 * The arbiter: cluster mode's conflict rule (the op log's struct
 * ipwd_arbiter, see oplog/ops.h).
 *
 * The rule. Every target of each list, and the mode, is a register whose
 * value is the last op written to it: the op with the greatest id wins,
 * compared as 16 bytes (an id is a UUIDv7: its first 48 bits are the op's
 * time in milliseconds, then a counter, then random bits, so the greater
 * id is the later op, and two nodes never make the same id). A ban or an
 * allow sets the register to the entry its origin ended with (which
 * already merged an earlier ban of the same target that the origin knew
 * of: the later expiry); an unban or a disallow sets it to "absent". So
 * a ban on A and an unban on B of the same target at the same moment end
 * as whichever has the greater id, on every node, whatever order they
 * arrive in. Expiries and evictions are not ops of the register: each
 * node decides them from the expiry it holds.
 *
 * The arbiter keeps, for each target an op was ever applied to, the id
 * of the last one (a stamp), and admits an op from elsewhere only if its
 * id is above the stamp. Ops made here need no check: the op log raises
 * its id clock past every op from elsewhere it applies, so a local op is
 * always the latest this node has seen. Stamps of removed targets
 * (tombstones) are kept for 7 days, then dropped
 * (ipwd_arbiter_prune()).
 *
 * Memory: 40 bytes a stamp, at a load factor of 1/2 to 1/4 (80 to 160
 * bytes a target).
 *
 * Thread-safety: the op log's callbacks run on its committer thread;
 * _seed, _prune and _stats may run on any thread (a mutex).
 */
#ifndef IPWALL_DAEMON_CLUSTER_ARBITER_H
#define IPWALL_DAEMON_CLUSTER_ARBITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oplog/ops.h"

struct ipwd_arbiter_state;

int ipwd_arbiter_new(struct ipwd_arbiter_state **out);
void ipwd_arbiter_free(struct ipwd_arbiter_state *a);

/* The callbacks to hand to ipwd_ops_set_arbiter() with the state. */
extern const struct ipwd_arbiter ipwd_arbiter_ops;

/* Learn a stamp (start-up, from the store's history): kept if above the
 * one known. @list < 0: the mode's. 0 or IPW_ENOMEM. */
int ipwd_arbiter_seed(struct ipwd_arbiter_state *a, int list,
		      const struct ipw_addr *target, const uint8_t id[16],
		      bool present);

/* The stamp of (@list, @target) (@list < 0: the mode's): true with @id
 * and *@present set, false if none is known. */
bool ipwd_arbiter_stamp(struct ipwd_arbiter_state *a, int list,
			const struct ipw_addr *target, uint8_t id[16],
			bool *present);

/* Drop the tombstones whose id is older than @before_ms. Returns how
 * many. */
size_t ipwd_arbiter_prune(struct ipwd_arbiter_state *a, uint64_t before_ms);

struct ipwd_arbiter_stats {
	uint64_t stamps, tombstones, bytes;
	uint64_t admitted, superseded;
};
void ipwd_arbiter_stats(struct ipwd_arbiter_state *a,
			struct ipwd_arbiter_stats *out);

#endif /* IPWALL_DAEMON_CLUSTER_ARBITER_H */
