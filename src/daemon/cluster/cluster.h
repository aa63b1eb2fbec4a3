/* SPDX-License-Identifier: MIT */
/*
 * Cluster mode: many ipwalld nodes kept in step through a Redis stream
 * ([cluster], docs/cluster.md; the design is in docs/architecture.md).
 *
 * Sending. The replicator is a subscriber of the op log: every op made on
 * this node (ban, unban, allow, disallow, mode; not expiries and
 * evictions, which each node decides from the expiry it holds) is sent,
 * in the op log's codec, by a Lua script that in one step XADDs it to the
 * stream "{STREAM}:ops" (MAXLEN ~ [cluster] maxlen; one stream entry per
 * up to [cluster] batch ops) and keeps the state mirror "{STREAM}:state"
 * (a hash: target -> the op that decides it, by the arbiter's rule) so a
 * new or lagging node can load it. What was sent is remembered in
 * DATA_DIR/cluster.sent; until Redis has it, the store's op log keeps the
 * ops (it is trimmed only past every subscriber's position), so writes
 * made while Redis is down are sent when it returns, after a restart too.
 *
 * Receiving. A thread reads the stream from the last entry it applied,
 * on its own connection, with XREAD BLOCK [cluster] block_ms and a socket
 * timeout above it; ops from other nodes enter through the op log's path
 * for ops from elsewhere (ipwd_ops_submit_at()), with the stream position
 * saved in the same transaction (the pseudo-origin "~stream"). Duplicates
 * are refused by op id; the arbiter (arbiter.h) skips superseded ops.
 *
 * Gaps and resets. Redis holds a random epoch ("{STREAM}:epoch"); the
 * position carries the epoch it was read under. A node whose position is
 * from another epoch (Redis lost its data), or was never set (a new
 * node), first sends its whole table into the mirror and the stream (as
 * states), then loads the mirror; one whose position is below the
 * stream's first entry or its max-deleted-entry-id (trimmed away) loads
 * the mirror. Each
 * with a log line and ipwall_cluster_reloads_total{reason}.
 *
 * Modes: on (full member); shadow (sends every local op, reads the
 * stream into a dry run that counts where it would change this node's
 * table, changes nothing); off (nothing of this is built).
 *
 * Threads: the receiver's, the op log's subscriber thread (the sender);
 * the status functions are called from HTTP workers.
 */
#ifndef IPWALL_DAEMON_CLUSTER_CLUSTER_H
#define IPWALL_DAEMON_CLUSTER_CLUSTER_H

#include <stddef.h>

#include "base/config.h"
#include "oplog/ops.h"
#include "oplog/store.h"

struct ipwd_cluster;

/*
 * ipwd_cluster_new() - before ipwd_ops_load(): subscribes the sender to
 * @ops and sets the arbiter. *@out is NULL when [cluster]
 * mode is off. 0, or -1 (logged).
 */
int ipwd_cluster_new(struct ipwd_cluster **out, const struct ipwd_config *cfg,
		     struct ipwd_ops *ops, struct ipwd_store *store);
/* After ipwd_ops_load(): learn the stamps from the store's history, start
 * the receiver. 0 or -1 (logged). */
int ipwd_cluster_start(struct ipwd_cluster *c);
/* Stop the receiver; the sender gives up waiting for Redis (what it has
 * not sent is sent after the next start). Before ipwd_ops_free(). */
void ipwd_cluster_stop(struct ipwd_cluster *c);
/* After ipwd_ops_free(). NULL is fine. */
void ipwd_cluster_free(struct ipwd_cluster *c);

/* /metrics text (ipwall_cluster_*), its length. Any thread. */
size_t ipwd_cluster_metrics(void *ctx, char *buf, size_t size);
/* /healthz's "cluster" member: a JSON object, its length. Any thread. */
size_t ipwd_cluster_health(void *ctx, char *buf, size_t size);
/* GET /v1/cluster: a JSON object (members, their lag, the stream), its
 * length. Any thread. */
size_t ipwd_cluster_status(void *ctx, char *buf, size_t size);

#endif /* IPWALL_DAEMON_CLUSTER_CLUSTER_H */
