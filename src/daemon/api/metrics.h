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

#include "api/apierr.h"
#include "api/routes.h"
#include "oplog/ops.h"

/* What a write request was, for its latency histogram's label. */
enum ipwd_write_kind {
	IPWD_WRITE_BAN,
	IPWD_WRITE_UNBAN,
	IPWD_WRITE_ALLOW,
	IPWD_WRITE_DISALLOW,
	IPWD_WRITE_MODE,
	IPWD_WRITE_BATCH, /* one batch request */
	IPWD_WRITE_COUNT
};

void ipwd_metrics_init(void);

void ipwd_metric_check(const struct ipw_verdict *v, uint64_t ns);
void ipwd_metric_write(enum ipwd_write_kind k, uint64_t ns);
void ipwd_metric_rejected(enum ipwd_apierr reason);
void ipwd_metric_http(enum ipwd_route r, enum ipwd_method m, unsigned status);

/* The /metrics body (malloc'd, NUL-terminated) or NULL on ENOMEM: the
 * counters here, the write path's of @ops (NULL: none) and the table's
 * gauges. */
char *ipwd_metrics_render(struct ipw_table *t, struct ipwd_ops *ops,
			  size_t *len);

#endif /* IPWALL_DAEMON_METRICS_H */
