/* SPDX-License-Identifier: MIT */
/*
 * Auto-ban in the daemon: the engine (engine.h) fed with failure events
 * from the HTTP API (POST /v1/events) and the local datagram socket
 * ([autoban] socket, the wire format of wire.h, what libipwall-client
 * sends), its decisions made into ban ops through the op log.
 *
 * Three threads, each with one job, so that no intake path ever waits for
 * the store:
 *   socket   reads datagrams (recvmmsg), parses them, queues the events;
 *   engine   takes queued events in order and counts them (the engine is
 *            single-threaded by contract); its decisions go to
 *   banner   which applies them as one batch of ban ops per turn
 *            (ipwd_ops_add_batch(): durable before the next turn) and
 *            logs them; dry-run decisions are logged and counted only.
 * The event queue is bounded ([autoban] queue): an event that finds it
 * full is dropped and counted, never waited for. The decision queue is
 * bounded too (4,096); a decision that finds it full is counted.
 *
 * Safety rails (on the engine thread, before an event is counted): the
 * engine exempts loopback and the unspecified address itself; this file
 * adds every address the table allows (a check: allow wins) and the
 * node's own addresses (getifaddrs() at start), and refuses a prefix
 * decision that would contain one of the node's addresses.
 *
 * Every automatic ban carries its rule as actor ("rule:NAME"), "autoban"
 * as source, the engine's score as score, and the count and window in its
 * reason; the op log writes them to the history and the audit log.
 */
#ifndef IPWALL_DAEMON_AUTOBAN_AUTOBAN_H
#define IPWALL_DAEMON_AUTOBAN_AUTOBAN_H

#include <stddef.h>

#include <ipwall/addr.h>

#include "base/config.h"
#include "oplog/history.h"
#include "oplog/ops.h"

struct ipwd_autoban;

/* One failure report as the API decoded it (strings may be NULL; only the
 * address and the type are counted). */
struct ipwd_report {
	struct ipw_addr addr;
	const char *type;
};

/*
 * ipwd_autoban_new() - the engine for the [rule NAME] sections of @c, or
 * *@out NULL when there are none (auto-ban off). @h (may be NULL: no
 * escalation) answers how often a target was banned before. Nothing runs
 * yet. 0, or -1 with the reason logged (a rule the engine refuses names
 * its section).
 */
int ipwd_autoban_new(struct ipwd_autoban **out, const struct ipwd_config *c,
		     struct ipwd_ops *ops, struct ipwd_history *h);

/* Bind the datagram socket (if [autoban] socket) and start the threads.
 * After ipwd_ops_load(). 0 or -1 (logged). */
int ipwd_autoban_start(struct ipwd_autoban *a);

/* Stop the threads (the events still queued are counted, not waited
 * for), remove the socket, free. NULL is a no-op. */
void ipwd_autoban_free(struct ipwd_autoban *a);

/*
 * ipwd_autoban_submit() - queue @n reports for the engine; never waits.
 * Returns how many were queued: the rest found the queue full and are
 * counted as dropped. Any thread (HTTP workers).
 */
size_t ipwd_autoban_submit(void *a, const struct ipwd_report *r, size_t n);

/*
 * ipwd_autoban_ratelimit() - the rate limiter of GET /v1/check (the one
 * [rule NAME] with check_rate), or NULL. Checks call ipwd_rl_check() on
 * it; an address limited for the rule's check_sustain is reported to the
 * engine as an event of type IPWD_RATE_EVENT, which the rule bans on when
 * its events name that type.
 */
#define IPWD_RATE_EVENT "rate_limited"
struct ipwd_rl *ipwd_autoban_ratelimit(struct ipwd_autoban *a);

/* The series of auto-ban as Prometheus text into @buf; the length
 * written. Any thread. */
size_t ipwd_autoban_metrics(void *a, char *buf, size_t size);

#endif /* IPWALL_DAEMON_AUTOBAN_AUTOBAN_H */
