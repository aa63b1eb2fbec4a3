/* SPDX-License-Identifier: MIT */
/*
 * ipwalld's Prometheus metrics (docs/api.md lists the series).
 *
 * Counting happens on the request path of every HTTP worker, so counters
 * and histograms are per thread: each thread owns a shard (allocated on its
 * first count, kept until exit) and is the only writer of it; a scrape sums
 * the shards. No counter is a cache line shared between workers, so a
 * /v1/check costs no coherence traffic for its metrics. Writes and reads
 * use relaxed atomics: a scrape sees each counter's latest or a slightly
 * older value, and counters never go backwards.
 */
#ifndef IPWALL_DAEMON_METRICS_H
#define IPWALL_DAEMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/table.h>

#include "apierr.h"

enum ipwd_route {
	IPWD_ROUTE_CHECK,
	IPWD_ROUTE_BANS,
	IPWD_ROUTE_BANS_BATCH,
	IPWD_ROUTE_ALLOW,
	IPWD_ROUTE_MODE,
	IPWD_ROUTE_TOP,
	IPWD_ROUTE_STATS,
	IPWD_ROUTE_HEALTHZ,
	IPWD_ROUTE_METRICS,
	IPWD_ROUTE_HISTORY,
	IPWD_ROUTE_HISTORY_COUNT,
	IPWD_ROUTE_OTHER, /* 404s: one label, so scanners cannot grow it */
	IPWD_ROUTE_COUNT
};

enum ipwd_method {
	IPWD_METHOD_GET,
	IPWD_METHOD_POST,
	IPWD_METHOD_PUT,
	IPWD_METHOD_DELETE,
	IPWD_METHOD_OTHER,
	IPWD_METHOD_COUNT
};

/* The write actions of ops (and of write latency). */
enum ipwd_action {
	IPWD_ACT_BAN,
	IPWD_ACT_UNBAN,
	IPWD_ACT_ALLOW,
	IPWD_ACT_DISALLOW,
	IPWD_ACT_MODE,
	IPWD_ACT_EXPIRE,
	IPWD_ACT_EVICT,
	IPWD_ACT_BATCH, /* write latency only: one batch request */
	IPWD_ACT_COUNT
};

const char *ipwd_route_name(enum ipwd_route r);
const char *ipwd_action_name(enum ipwd_action a);
/* The action named by the @len bytes at @s (an op's action, not "batch"),
 * or -1. */
int ipwd_action_of(const char *s, size_t len);
enum ipwd_method ipwd_method_of(const char *method);

void ipwd_metrics_init(void);

void ipwd_metric_check(const struct ipw_verdict *v, uint64_t ns);
void ipwd_metric_write(enum ipwd_action a, uint64_t ns);
/* @n ops of action @a with result @change (enum ipw_change). */
void ipwd_metric_op(enum ipwd_action a, int change, uint64_t n);
void ipwd_metric_rejected(enum ipwd_apierr reason);
void ipwd_metric_http(enum ipwd_route r, enum ipwd_method m, unsigned status);
void ipwd_metric_expired(uint64_t n);
/* A group reached the store: committed with @ops ops, or refused. */
void ipwd_metric_commit(uint64_t ops, bool ok);

/* The /metrics body (malloc'd, NUL-terminated) or NULL on ENOMEM. */
char *ipwd_metrics_render(struct ipw_table *t, size_t *len);

/* Monotonic nanoseconds, for latencies. */
uint64_t ipwd_now_ns(void);

#endif /* IPWALL_DAEMON_METRICS_H */
