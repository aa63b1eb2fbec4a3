/* SPDX-License-Identifier: MIT */
/*
 * History queries: read-only questions about the ops the durable store has
 * recorded (store.h, table ops), asked through a connection of their own,
 * so they never take the write path's connection or its lock. The store is
 * in WAL mode: a reader sees the last committed group and never blocks the
 * committer, nor is blocked by it.
 *
 * Thread-safety: every function but _open and _close may be called from
 * any thread; queries on one handle are serialised by its mutex (history
 * is not a hot path). A query holds a read snapshot only while it runs, so
 * checkpoints are not held back between queries.
 */
#ifndef IPWALL_DAEMON_HISTORY_H
#define IPWALL_DAEMON_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/addr.h>
#include <ipwall/table.h>

#include "oplog/op.h"

#define IPWD_HISTORY_LIMIT_DEFAULT 100
#define IPWD_HISTORY_LIMIT_MAX	   1000

struct ipwd_history;

/*
 * ipwd_history_open() - open the store file at @path read-only
 * (SQLITE_OPEN_READONLY) for history queries. The store must exist and
 * have its schema (open it with ipwd_store_open() first). Returns 0 with
 * *@out set, or -1 with a one-line message in @err.
 */
int ipwd_history_open(struct ipwd_history **out, const char *path, char *err,
		      size_t errlen);
/* Close and free; NULL is a no-op. No query may be running. */
void ipwd_history_close(struct ipwd_history *h);

/* What to list. */
struct ipwd_history_query {
	struct ipw_addr target;
	int64_t since;	/* op time >= since (wall-clock seconds); 0: any */
	bool has_until; /* and then op time < until */
	int64_t until;
	int action;	 /* an enum ipwd_action, or -1 for every action */
	size_t limit;	 /* 1..IPWD_HISTORY_LIMIT_MAX; 0: the default */
	bool has_cursor; /* continue after the op with id @cursor */
	uint8_t cursor[16];
};

/* One op as the history keeps it. Text that was not given is "". */
struct ipwd_history_op {
	char id[IPWD_OPID_LEN];
	int64_t time; /* wall-clock seconds */
	char actor[80];
	char node[64];
	char action[12]; /* ban, unban, allow, disallow, expire, evict */
	char result[12]; /* added, extended, unchanged, removed, absent */
	enum ipw_list list;
	struct ipw_addr target;
	/* The entry as the op left it, or as it was when the op removed it;
	 * has_entry false when there is neither (an absent unban). */
	bool has_entry;
	int64_t expires; /* 0: permanent */
	int64_t score;
	char reason[IPW_REASON_MAX];
	/* The entry before the op, when there was one. */
	bool has_before;
	int64_t prev_expires;
	int64_t prev_score;
	char prev_reason[IPW_REASON_MAX];
};

/*
 * ipwd_history_list() - one page of the ops about @q->target, newest
 * first: ordered by (time, id) descending, which is op id order (the
 * write path stamps the time of a group before the ids of its ops).
 *
 * Which rows. For an ADDRESS A (a /32 or /128): every op whose target is
 * A, and every op whose target is a prefix containing A (the /0 to /31
 * of an IPv4 address, /0 to /127 of an IPv6 one). For a PREFIX P: every
 * op whose target is P or a prefix containing P, and every op whose
 * target lies inside P (addresses and longer prefixes). Both lists, bans
 * and allows. Mode ops have no target and are never listed. Then the
 * filters: @since <= time < @until, the action, and the cursor.
 *
 * Cost. Each distinct covering key (the address bytes of A truncated to
 * each length; lengths that give the same bytes share one) is an index
 * seek on ops_by_target that yields its rows already in order; the rows
 * inside a prefix are one index range, sorted. The streams are merged,
 * and the merge stops after @limit + 1 rows: O(k log n + limit) for an
 * address (k covering keys, at most 33 or 129), plus the rows of the
 * range for a prefix. Never a scan of the ops table.
 *
 * @ops: out, a malloc'd array of *@n rows (freed by the caller; NULL when
 * *@n is 0); *@more: whether more rows follow (the next page starts
 * after the last row: set q->cursor to its id).
 *
 * Returns 0; IPW_ENOENT when the cursor is not the id of a stored op;
 * IPW_EINVAL for a bad query (limit, family); IPW_ENOMEM; IPW_EIO when
 * SQLite fails (busy past the timeout, I/O, a damaged file).
 */
int ipwd_history_list(struct ipwd_history *h,
		      const struct ipwd_history_query *q,
		      struct ipwd_history_op **ops, size_t *n, bool *more);

/*
 * ipwd_history_ban_count() - how many ban ops with result added or
 * extended had a target inside @within (@within itself included: an
 * address, a /24, a /64, ...) at or after @since: the auto-ban engine's
 * repeat-offender question. Bans on prefixes that contain @within are not
 * counted. One range of the ops_by_target index. Returns the count, or a
 * negative IPW_E* (IPW_EIO) on failure.
 */
int64_t ipwd_history_ban_count(struct ipwd_history *h,
			       const struct ipw_addr *within, int64_t since);

/*
 * ipwd_history_plan() - SQLite's EXPLAIN QUERY PLAN of every statement
 * the queries above run, one "STATEMENT: step" line per step, in @buf
 * (cut to @size). For tests: no plan may say "SCAN ops". Returns 0 or a
 * negative IPW_E*.
 */
int ipwd_history_plan(struct ipwd_history *h, char *buf, size_t size);

/*
 * Query parameter parsers (pure, any thread; fuzz/fuzz_history_params.c).
 *
 * ipwd_history_parse_time() - a point in time for since/until: a Unix time
 * (plain digits, at most 253402300799, the end of year 9999), or a
 * duration back from @now with at least one unit ("7d", "90m", "1h30m",
 * include/ipwall/duration.h; "600" is a Unix time, not 600 s ago). A
 * duration reaching past the epoch gives 0. The whole of @s (@len bytes,
 * not necessarily NUL-terminated) must be the value. Returns 0 with *@out
 * set, or -1.
 */
int ipwd_history_parse_time(const char *s, size_t len, int64_t now,
			    int64_t *out);

/* ipwd_history_parse_action() - an action name with a target (ban,
 * unban, allow, disallow, expire, evict) into *@out. Returns 0 or -1
 * ("mode" and unknown names). */
int ipwd_history_parse_action(const char *s, size_t len, enum ipwd_action *out);

#endif /* IPWALL_DAEMON_HISTORY_H */
