/* SPDX-License-Identifier: MIT */
/*
 * The daemon's shared state: built by main.c's subsystems as they start,
 * read by the HTTP workers.
 *
 * Fields under "live" may change on SIGHUP while workers read them: each
 * is one naturally aligned word, written and read with relaxed atomics
 * (live_get/live_set), so a request sees the old or the new value of each.
 */
#ifndef IPWALL_DAEMON_API_DAEMON_H
#define IPWALL_DAEMON_API_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "api/auth.h"
#include "base/config.h"
#include "oplog/ops.h"

struct ipwd_audit;
struct ipwd_http;
struct ipwd_history;
struct ipwd_store;
struct ipwd_store_check;

struct ipwd_autoban;
struct ipwd_rl;

struct ipwd {
	struct ipwd_config cfg; /* main thread only (reload replaces it) */
	struct ipw_table *table;
	struct ipwd_ops *ops;
	struct ipwd_auth *auth;
	struct ipwd_http *http;
	struct ipwd_store *store; /* NULL: memory only */
	struct ipwd_audit *audit;
	struct ipwd_store_check *check; /* the store's background check */
	/* History queries (history.h); NULL without a store. */
	struct ipwd_history *history;
	int64_t started; /* wall-clock seconds */
	/* More of /metrics from a subsystem the API does not know (kernel
	 * enforcement): Prometheus text into @buf, its length (0: none).
	 * Set before the HTTP front starts; called from HTTP workers. */
	size_t (*metrics_more)(void *ctx, char *buf, size_t size);
	/* Packets the kernel dropped for ban @target, and the bans with the
	 * most drops (GET /v1/top): from kernel enforcement too, NULL when
	 * it is off. Same context; any HTTP worker. */
	uint64_t (*drops)(void *ctx, const struct ipw_addr *target);
	size_t (*drops_top)(void *ctx, size_t k, struct ipw_addr *targets,
			    uint64_t *drops);
	void *enforce_ctx;
	/* Auto-ban (autoban/autoban.h): POST /v1/events queues reports to
	 * it; NULL when no [rule] is configured. Set before the HTTP front
	 * starts. */
	struct ipwd_autoban *autoban;
	/* GET /v1/check's rate limit (autoban/ratelimit.h), or NULL. */
	struct ipwd_rl *ratelimit;
	/* Cluster mode (cluster/cluster.h), NULL when [cluster] mode is off
	 * or the binary has no Redis: /metrics text, /healthz's "cluster"
	 * object, GET /v1/cluster's body (each JSON or text into @buf, its
	 * length, 0 when it did not fit). Set before the HTTP front starts;
	 * called from HTTP workers. */
	void *cluster;
	size_t (*cluster_metrics)(void *ctx, char *buf, size_t size);
	size_t (*cluster_health)(void *ctx, char *buf, size_t size);
	size_t (*cluster_status)(void *ctx, char *buf, size_t size);
	struct {
		size_t max_body;
		size_t max_header; /* fixed at start */
		size_t max_batch;
		size_t protect_reads;
		unsigned max_failures; /* for the lock-out's log line */
		unsigned per_ip;       /* max_connections_per_ip, fixed */
		unsigned lockout;
		uint64_t default_ban_ttl;
		int stopping;
	} live;
};

#define live_get(d, f)	  __atomic_load_n(&(d)->live.f, __ATOMIC_RELAXED)
#define live_set(d, f, v) __atomic_store_n(&(d)->live.f, (v), __ATOMIC_RELAXED)

#endif /* IPWALL_DAEMON_API_DAEMON_H */
